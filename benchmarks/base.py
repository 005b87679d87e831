"""From scratch against fine-tuned from the base model, at equal minutes (issue 27's proof).

For each set (``../shared/datasets/{drums,loops,ambient}`` and the demo data) the files are split as the yardstick
splits them (seeded: a training two-thirds, a held-out third). For each budget (CPU minutes of the whole job, as
``sda train --max-minutes``) two models are trained on the training part through the same code path as
``sda train``: one from scratch (``--from-scratch``), one starting from the base (``--base FILE``), with the same
seed, size and recipe. Each is measured on:

- held-out reconstruction: the mean absolute error of the encoded-then-decoded log-mel of the held-out files
  (log-mel nats, de-normalised, so models with other normalisation statistics compare), next to the error of
  always predicting the mean frame, and the same on the training files;
- the yardstick's bar (benchmarks/sound_quality.py, corpus vocoder): FD against the controls and shuffled
  grains, onset rate, quiet floor, novelty, hygiene, counted as criteria passed;
- the controls fit's cross-validated R^2 per descriptor (does the latent carry brightness, warmth, ...?).

Spectrograms: per set, held-out real files beside reconstructions and generations of both models at the
longest budget (docs/base/<set>.png). Results: docs/base/results.json (resumable: a cell already measured with
the same base hash is kept; ``--force`` measures again) and the section "Fine-tuned against from scratch" of
docs/base.md.

    uv run --no-sync python benchmarks/base.py --base packages/sda-base/src/sda_base/weights/base-tiny-rvq.sda
    uv run --no-sync python benchmarks/base.py --base B.sda --sets demo --minutes 0.5 --quick   # smoke run
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shlex
import shutil
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sound_quality as sq  # noqa: E402
from _doc_sections import replace_section  # noqa: E402
from _quality_controls import training_log_mels  # noqa: E402
from _spectrograms import Panel, render_figure  # noqa: E402
from reconstruction import held_out_errors  # noqa: E402

log = logging.getLogger("benchmarks.base")

ROOT = Path(__file__).resolve().parents[1]
SETS = ("drums", "loops", "ambient", "demo")
MINUTES = (1.0, 5.0, 15.0)
MODES = ("scratch", "base")
HEADING = "## Fine-tuned against from scratch"
DESCRIPTORS = ("brightness", "warmth", "roughness", "tension", "rhythmic", "pulse", "density", "reverberance")
FIGURE_FILES = 2


@dataclass(frozen=True)
class Options:
    base: Path
    sets: tuple[str, ...]
    minutes: tuple[float, ...]
    clips: int
    clip_seconds: float
    seed: int
    work: Path
    results: Path
    doc: Path
    figures: Path
    force: bool
    device: str
    modes: tuple[str, ...] = MODES
    base_sha: str = ""


def sha256(path: Path) -> str:
    from sda_base import file_sha256

    return file_sha256(path)


def base_size(path: Path) -> tuple[str, str]:
    from sda_models.model_file import read_metadata

    meta = read_metadata(path)
    info = meta.get("base") or {}
    return str(info.get("size", "tiny")), str(meta.get("kind", "rvq"))


def yardstick_options(opts: Options, minutes: float) -> sq.Options:
    return sq.Options(sets=opts.sets, kinds=("rvq",), minutes=minutes, clips=opts.clips,
                      clip_seconds=opts.clip_seconds, seed=opts.seed, out=opts.work / "unused.md",
                      datasets=sq.DATASETS, vocoder_minutes=0.0, device=opts.device, work=opts.work)


def train(set_name: str, mode: str, minutes: float, files: list[Path], home: Path, opts: Options) -> Any:
    from sda_engine.train import TrainOptions, plan, run

    size, kind = base_size(opts.base)
    options = TrainOptions(name=f"b-{set_name}-{mode}", dataset=tuple(str(p) for p in files), kind=kind, size=size,
                           max_minutes=minutes, device=opts.device, seed=opts.seed,
                           base="none" if mode == "scratch" else str(opts.base))
    on_event = sq._events_logger(f"[{set_name}/{mode}/{minutes:g}]")
    return run(plan(options, home, on_event), on_event, home=home)


def cv_r2(model_path: Path) -> dict[str, float | None]:
    from sda_models.model_file import read_metadata

    control = ((read_metadata(model_path).get("configs") or {}).get("control") or {})
    values = control.get("cv_r2") or {}
    return {d: (float(values[d]) if d in values else None) for d in DESCRIPTORS}


def reconstructions(model_path: Path, files: list[Path], home: Path, opts: Options) -> list[np.ndarray]:
    """The files as the model hears them: encode -> decode -> the default vocoder (``sda reconstruct``'s path)."""
    from sda_engine.generate.reconstruct import reconstruct_files
    from sda_engine.generate.request import GenerationRequest
    from sda_engine.generate.session import ModelSession
    from sda_engine.store.home import SdaHome

    session = ModelSession.open(model_path, opts.device, SdaHome(home))
    request = GenerationRequest().replace(format="wav", sample_rate=sq.SAMPLE_RATE, bit_depth=24)
    out = home / "reconstructed"
    results = reconstruct_files(session, files, out, request, overwrite=True)
    return [sq.load_mono(r.path) for r in results]


def measure_cell(set_name: str, mode: str, minutes: float, split: tuple[list[Path], list[Path]],
                 context: dict[str, Any], opts: Options) -> tuple[dict[str, Any], list[np.ndarray]]:
    train_files, held_files = split
    home = opts.work / f"home-{set_name}-{mode}-{minutes:g}"
    shutil.rmtree(home, ignore_errors=True)
    t0 = time.monotonic()
    result = train(set_name, mode, minutes, train_files, home, opts)
    model_path = Path(result.model_path)
    seconds = time.monotonic() - t0
    held_l1, held_mean = held_out_errors(model_path, held_files)
    train_l1, train_mean = held_out_errors(model_path, train_files)
    row, generated = sq.evaluate_vocoder(set_name, "rvq", "corpus", model_path, home, yardstick_options(opts, minutes),
                                         context["refs"], context["train_emb"], context["held_emb"],
                                         context["mel_pool"], opts.work / "generated" / f"{mode}-{minutes:g}")
    criteria = row["criteria"]
    cell = {
        "set": set_name, "mode": mode, "minutes": minutes, "base_sha256": opts.base_sha if mode == "base" else None,
        "train_seconds": seconds, "size": result.size,
        "autoencoder_steps": (result.stages.get("autoencoder") or {}).get("steps"),
        "prior_steps": (result.stages.get("prior") or {}).get("steps"),
        "held_out_l1": held_l1, "held_out_mean_frame_l1": held_mean, "train_l1": train_l1,
        "train_mean_frame_l1": train_mean,
        "bar_passed": sum(1 for c in criteria if c["passed"]), "bar_total": len(criteria),
        "bar_misses": [c["name"] for c in criteria if not c["passed"]],
        "fd_generated": row["fd_generated"], "onset_rate": row["onset_rate"], "quiet_floor_db": row["quiet_floor_db"],
        "novelty": row["novelty"], "hygiene_failures": row["hygiene_failures"],
        "cv_r2": cv_r2(model_path),
        "model_path": str(model_path),
    }
    return cell, generated


def load_results(path: Path) -> dict[str, Any]:
    if path.is_file():
        return json.loads(path.read_text())
    return {"cells": []}


def save_results(path: Path, results: dict[str, Any]) -> None:
    from sda_audio.atomic import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(results, indent=1, default=float))


def run_set(set_name: str, opts: Options, results: dict[str, Any]) -> None:
    yopts = yardstick_options(opts, max(opts.minutes))
    files = sq.set_files(set_name, yopts, opts.work)
    if files is None:
        return
    split = sq.split_files(files, opts.seed)
    train_audio = [sq.load_mono(p) for p in split[0]]
    held_audio = [sq.load_mono(p) for p in split[1]]
    refs, train_emb, held_emb = sq.set_references(train_audio, held_audio, yopts)
    context = {"refs": refs, "train_emb": train_emb, "held_emb": held_emb, "mel_pool": training_log_mels(train_audio)}
    results.setdefault("references", {})[set_name] = refs
    figure_rows: list[tuple[str, list[Panel]]] = [
        ("real (held out)", [Panel(p.name, w) for p, w in list(zip(split[1], held_audio))[:FIGURE_FILES]])]
    longest = max(opts.minutes)
    for minutes in opts.minutes:
        for mode in opts.modes:
            key = (set_name, mode, minutes)
            done = [c for c in results["cells"] if (c["set"], c["mode"], c["minutes"]) == key
                    and (mode == "scratch" or c.get("base_sha256") == opts.base_sha)]
            if done and not opts.force and minutes != longest:
                print(f"[{set_name}/{mode}/{minutes:g}] kept from an earlier run")
                continue
            if done and not opts.force and minutes == longest and Path(done[0]["model_path"]).is_file():
                cell, generated = done[0], []
            else:
                cell, generated = measure_cell(set_name, mode, minutes, split, context, opts)
                results["cells"] = [c for c in results["cells"] if (c["set"], c["mode"], c["minutes"]) != key]
                results["cells"].append(cell)
                save_results(opts.results, results)
                print(f"[{set_name}/{mode}/{minutes:g}] held-out L1 {cell['held_out_l1']:.3f} "
                      f"(mean frame {cell['held_out_mean_frame_l1']:.3f}), bar {cell['bar_passed']}/"
                      f"{cell['bar_total']}, steps {cell['autoencoder_steps']}")
            if minutes == longest:
                recon = reconstructions(Path(cell["model_path"]), split[1][:FIGURE_FILES],
                                        opts.work / f"home-{set_name}-{mode}-{minutes:g}", opts)
                figure_rows.append((f"{mode} {minutes:g} min: reconstruction",
                                    [Panel(f"{p.name} via {mode}", w) for p, w in zip(split[1], recon)]))
                if generated:
                    figure_rows.append((f"{mode} {minutes:g} min: generated",
                                        [Panel(f"{mode} gen{i}", g) for i, g in enumerate(generated[:FIGURE_FILES])]))
    opts.figures.mkdir(parents=True, exist_ok=True)
    render_figure(figure_rows, opts.figures / f"{set_name}.png", max_seconds=opts.clip_seconds,
                  title=f"{set_name}: held-out real files, from scratch and from the base ({longest:g} min)")


def table(results: dict[str, Any], opts: Options) -> str:
    cells = sorted(results["cells"], key=lambda c: (SETS.index(c["set"]) if c["set"] in SETS else 9, c["minutes"],
                                                    MODES.index(c["mode"])))
    lines = ["| set | minutes | start | AE steps | held-out L1 (mean frame) | training L1 | bar passed | misses | "
             "cv R^2 brightness / warmth / roughness / tension / rhythmic / pulse / density / reverberance |",
             "|---|---|---|---|---|---|---|---|---|"]
    for c in cells:
        r2 = " / ".join("-" if c["cv_r2"].get(d) is None else f"{c['cv_r2'][d]:.2f}" for d in DESCRIPTORS)
        lines.append(f"| {c['set']} | {c['minutes']:g} | {c['mode']} | {c['autoencoder_steps']} | "
                     f"{c['held_out_l1']:.3f} ({c['held_out_mean_frame_l1']:.3f}) | {c['train_l1']:.3f} | "
                     f"{c['bar_passed']}/{c['bar_total']} | {', '.join(c['bar_misses']) or '-'} | {r2} |")
    return "\n".join(lines)


def wins(results: dict[str, Any]) -> list[str]:
    """Per budget: on how many sets the base's held-out error is lower, and its bar count at least as high."""
    out = []
    by = {(c["set"], c["mode"], c["minutes"]): c for c in results["cells"]}
    for minutes in sorted({c["minutes"] for c in results["cells"]}):
        sets = sorted({s for s, m, mi in by if mi == minutes and (s, "scratch", mi) in by and (s, "base", mi) in by})
        recon = [s for s in sets if by[(s, "base", minutes)]["held_out_l1"] < by[(s, "scratch", minutes)]["held_out_l1"]]
        bar = [s for s in sets if by[(s, "base", minutes)]["bar_passed"] >= by[(s, "scratch", minutes)]["bar_passed"]]
        passed = {m: sum(by[(s, m, minutes)]["bar_passed"] for s in sets) for m in MODES}
        r2 = {m: float(np.mean([v for s in sets for v in by[(s, m, minutes)]["cv_r2"].values() if v is not None]))
              for m in MODES} if sets else {}
        out.append(f"- {minutes:g} min: the base reconstructs held-out files better on {len(recon)} of {len(sets)} "
                   f"sets ({', '.join(recon) or 'none'}); its bar count is at least scratch's on {len(bar)} of "
                   f"{len(sets)} ({', '.join(bar) or 'none'}), {passed['base']} against {passed['scratch']} criteria "
                   f"passed in all; mean cv R^2 over the descriptors {r2.get('base', 0):.2f} against "
                   f"{r2.get('scratch', 0):.2f}")
    return out


def write_doc(results: dict[str, Any], opts: Options, argv: list[str] | None) -> None:
    meta = results.get("run", {})
    text = "\n".join([
        HEADING, "",
        f"Written by `benchmarks/base.py` (`{meta.get('command')}`), {meta.get('date')}, on {meta.get('machine')}. "
        f"Base: `{opts.base.name}` (sha256 `{opts.base_sha[:12]}`, {meta.get('base_steps')} steps on the corpus). "
        "Each row is one `sda train` of the set's training two-thirds with that many minutes of wall time for the "
        "whole job, from scratch or from the base, same seed and size; held-out L1 is the mean absolute error of "
        "the reconstructed log-mel of the held-out third (nats; the mean-frame baseline in brackets); the bar is "
        "the yardstick's (docs/quality.md) on 8 generated clips through the corpus vocoder.", "",
        table(results, opts), "",
        "What the numbers say:", "", *wins(results), "",
        "Spectrograms (held-out real files, their reconstructions and generations, from scratch and from the base, "
        "at the longest budget): " + ", ".join(f"[{s}](base/{s}.png)" for s in opts.sets) + ".", ""])
    replace_section(opts.doc, HEADING, text)


def parse_args(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", type=Path, required=True, help="the base model file (sda base train writes one)")
    p.add_argument("--sets", default=",".join(SETS))
    p.add_argument("--minutes", default=",".join(f"{m:g}" for m in MINUTES))
    p.add_argument("--clips", type=int, default=8)
    p.add_argument("--clip-seconds", type=float, default=8.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "sda-base-bench")
    p.add_argument("--results", type=Path, default=ROOT / "docs" / "base" / "results.json")
    p.add_argument("--doc", type=Path, default=ROOT / "docs" / "base.md")
    p.add_argument("--quick", action="store_true", help="2 clips of 3 s: checks the machinery, not the claim")
    p.add_argument("--force", action="store_true", help="measure cells again that the results already hold")
    p.add_argument("--device", default="cpu")
    p.add_argument("--modes", default=",".join(MODES), help="scratch, base or both (cells of the other are kept)")
    a = p.parse_args(argv)
    opts = Options(base=a.base.resolve(), sets=tuple(s for s in a.sets.split(",") if s),
                   minutes=tuple(float(m) for m in a.minutes.split(",") if m), clips=2 if a.quick else a.clips,
                   clip_seconds=3.0 if a.quick else a.clip_seconds, seed=a.seed, work=a.work, results=a.results,
                   doc=a.doc, figures=a.results.parent, force=a.force, device=a.device,
                   modes=tuple(m for m in a.modes.split(",") if m in MODES))
    return opts


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    opts = parse_args(argv)
    if not opts.base.is_file():
        print(f"no base model file at {opts.base}: train one with sda base train CORPUS OUT/", file=sys.stderr)
        return 2
    opts = replace(opts, base_sha=sha256(opts.base))
    opts.work.mkdir(parents=True, exist_ok=True)
    results = load_results(opts.results)
    from sda_models.model_file import read_metadata

    results["run"] = {"command": "uv run --no-sync python benchmarks/base.py " + shlex.join(argv or sys.argv[1:]),
                      "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                      "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                                 f"torch {torch.__version__}, {torch.get_num_threads()} threads",
                      "base": opts.base.name, "base_sha256": opts.base_sha,
                      "base_steps": (read_metadata(opts.base).get("base") or {}).get("steps")}
    for set_name in opts.sets:
        run_set(set_name, opts, results)
        save_results(opts.results, results)
        write_doc(results, opts, argv)
    print(f"results: {opts.results}; section '{HEADING[3:]}' of {opts.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
