"""The sound-quality yardstick (issue 10): train on each set, generate, and measure against the real thing.

For each set (``../shared/datasets/{ambient,loops,drums}`` and the built-in demo data) the files are split
(seeded) into a training two-thirds and a held-out third. For each model kind (``vae``, ``rvq``) a model is
trained on the training part through the same code path as ``sda train``
(:func:`sda_engine.train.planner.plan` + :func:`sda_engine.train.trainer.run`, default recipe, ``size="auto"``, a fixed CPU budget), then N
clips are generated through the same path as ``sda generate`` (:func:`sda_engine.generate.pipeline.generate_files`) with
every vocoder that works offline (corpus resynthesis always; the model's own HiFi-GAN when one was trained
with ``--vocoder-minutes``; BigVGAN only when its weights are already on this machine). The generations are measured with :mod:`sda_audio.quality` against

- the held-out real files (the ceiling), pink noise (the floor) and shuffled 50 ms grains of the training
  files (timbre without structure);
- two controls that isolate the model: the same vocoder fed randomly picked training log-mel frames (the
  vocoder alone) and the model's own generated log-mel frames shuffled in time (its timbre without its
  temporal structure), both vocoded by the very vocoder object the generation used;
- temporal structure (onset rate, quiet floor) against the held-out real files; novelty; hygiene per file.

The verdicts follow :mod:`_quality_bar`. Results: ``docs/quality.md`` (tables, the command, the machine,
spectrogram PNGs in ``docs/quality/``, and a preserved "Changes and their effect" section) and
``docs/quality/results.json``.

    uv run nox -s quality                                   # full run (15 min per set and kind)
    uv run --no-sync python benchmarks/sound_quality.py --minutes 0.3 --sets demo --kinds rvq --clips 2 \\
        --clip-seconds 3                                    # smoke run
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
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _quality_bar import BAR, judge  # noqa: E402
from _quality_controls import capture_rendering, control_clips, rerender, training_log_mels  # noqa: E402
from _quality_report import write_report  # noqa: E402
from _spectrograms import Panel, render_figure  # noqa: E402

from sda_audio import quality  # noqa: E402
from sda_audio.atomic import atomic_write_json  # noqa: E402

log = logging.getLogger("benchmarks.sound_quality")

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
SETS = ("ambient", "loops", "drums", "demo")
KINDS = ("vae", "rvq")
SAMPLE_RATE = 44100
HOP = 512
DEFAULT_MINUTES = 15.0
DEFAULT_CLIPS = 8
DEFAULT_CLIP_SECONDS = 8.0
FIGURE_CLIPS = 3


@dataclass(frozen=True)
class Options:
    """What one run of the yardstick does (see ``--help``)."""

    sets: tuple[str, ...]
    kinds: tuple[str, ...]
    minutes: float
    clips: int
    clip_seconds: float
    seed: int
    out: Path
    datasets: Path
    vocoder_minutes: float
    device: str
    work: Path | None
    render_only: bool = False
    reuse: bool = False
    from_scratch: bool = False

    @property
    def smoke(self) -> bool:
        """Below the default budget or clip count: numbers for checking the machinery, not the bar."""
        return (self.minutes < DEFAULT_MINUTES or self.clips < DEFAULT_CLIPS
                or self.clip_seconds < DEFAULT_CLIP_SECONDS)


# ---------------------------------------------------------------------------------------------- data


def load_mono(path: Path) -> np.ndarray:
    """A file as mono float32 at 44.1 kHz (``sda_audio.io``, anti-aliased resampling)."""
    from sda_audio.io import read_audio

    clip = read_audio(path, sample_rate=SAMPLE_RATE, mono=True)
    return np.asarray(clip.samples, dtype=np.float32).reshape(-1)


def split_files(files: list[Path], seed: int) -> tuple[list[Path], list[Path]]:
    """A seeded split into a training two-thirds and a held-out third (at least one file each)."""
    files = sorted(files)
    if len(files) < 2:
        raise ValueError(f"need at least 2 files to split, got {len(files)}")
    order = np.random.default_rng(seed).permutation(len(files))
    n_train = min(len(files) - 1, max(1, int(round(len(files) * 2 / 3))))
    train = sorted(files[i] for i in order[:n_train])
    held = sorted(files[i] for i in order[n_train:])
    return train, held


def set_files(name: str, opts: Options, scratch: Path) -> list[Path] | None:
    """The files of one set (the demo set is written into ``scratch``); ``None`` when the set is absent."""
    if name == "demo":
        from sda_audio.demo import make_demo_dataset

        return make_demo_dataset(scratch / "demo-data", seed=opts.seed)
    from sda_audio.files import list_audio_files

    folder = opts.datasets / name
    if not folder.is_dir():
        print(f"[skip] set '{name}': {folder} does not exist")
        return None
    files = list_audio_files(folder)
    if len(files) < 3:
        print(f"[skip] set '{name}': {len(files)} audio files in {folder}, need at least 3")
        return None
    return list(files)


# ------------------------------------------------------------------------------------------ measures


def pooled_onset_rate(clips: list[np.ndarray]) -> float:
    """Strokes per second over a set of clips (all onsets over all seconds)."""
    onsets = sum(len(quality.onset_times(c, SAMPLE_RATE)) for c in clips)
    seconds = sum(len(c) for c in clips) / SAMPLE_RATE
    return float(onsets / max(seconds, 1e-9))


def mean_quiet_floor(clips: list[np.ndarray]) -> float:
    return float(np.mean([quality.quiet_floor_db(c, SAMPLE_RATE) for c in clips]))


def fd_to(reference: np.ndarray, clips: list[np.ndarray]) -> float:
    return quality.frechet_distance(quality.embed_set([(c, SAMPLE_RATE) for c in clips]), reference)


def set_references(train: list[np.ndarray], held: list[np.ndarray], opts: Options) -> tuple[dict[str, Any],
                                                                                               np.ndarray,
                                                                                               np.ndarray]:
    """Per-set numbers every run of the set is judged against, the training and held-out embeddings."""
    train_emb = quality.embed_set([(w, SAMPLE_RATE) for w in train])
    held_emb = quality.embed_set([(w, SAMPLE_RATE) for w in held])
    n = int(round(opts.clip_seconds * SAMPLE_RATE))
    pink = [quality.pink_noise(n, opts.seed + 1000 + i).astype(np.float32) for i in range(opts.clips)]
    grains = [quality.shuffled_grains(w, SAMPLE_RATE, seed=opts.seed + 2000 + i) for i, w in enumerate(train)]
    refs = {
        "fd_held_out": quality.frechet_distance(held_emb, train_emb),
        "fd_pink_noise": fd_to(train_emb, pink),
        "fd_shuffled_grains": fd_to(train_emb, grains),
        "fd_shuffled_grains_held_out": fd_to(train_emb, [quality.shuffled_grains(w, SAMPLE_RATE, seed=opts.seed + 4000 + i)
                                                         for i, w in enumerate(held)]),
        "onset_rate_real": pooled_onset_rate(held),
        "onset_rate_train": pooled_onset_rate(train),
        "quiet_floor_real_db": mean_quiet_floor(held),
        "quiet_floor_train_db": mean_quiet_floor(train),
        "set_level_db": float(np.median([quality.rms_db(w) for w in train])),
        "set_silent_fraction": float(np.mean([quality.silent_fraction(w, SAMPLE_RATE) for w in train])),
        "novelty_held_out": 1.0,
        "train_windows": int(train_emb.shape[0]),
        "held_out_windows": int(held_emb.shape[0]),
    }
    return refs, train_emb, held_emb


# ------------------------------------------------------------------------------------- one model run


def _events_logger(prefix: str) -> Any:
    def on_event(event: Any) -> None:
        if event.kind in ("start", "done", "warning", "info"):
            log.info("%s %s %s: %s", prefix, event.job, event.kind, event.message)
    return on_event


def train_one(set_name: str, kind: str, train_files: list[Path], home: Path, opts: Options) -> Any:
    from sda_engine.train import TrainOptions, plan, run

    # the budget is wall time for the whole job; the vocoder's minutes come on top of the model's
    options = TrainOptions(name=f"q-{set_name}-{kind}", dataset=tuple(str(p) for p in train_files), kind=kind,
                           size="auto", max_minutes=opts.minutes + opts.vocoder_minutes,
                           vocoder_minutes=opts.vocoder_minutes, device=opts.device, seed=opts.seed,
                           base="none" if opts.from_scratch else None)
    on_event = _events_logger(f"[{set_name}/{kind}]")
    return run(plan(options, home, on_event), on_event, home=home)


def offline_vocoders(model_path: Path) -> list[str]:
    """Vocoders that work without a network: corpus resynthesis always, the model's own HiFi-GAN when it
    has one, BigVGAN when its weights are already on this machine (never downloaded here)."""
    from sda_models.model_file import load_model
    from sda_models.vocoders.select import find_bigvgan_weights

    names = ["corpus"]
    if load_model(model_path, "cpu").vocoder_tensors:
        names.append("hifigan")
    if find_bigvgan_weights() is not None:
        names.append("bigvgan")
    return names


def evaluate_vocoder(set_name: str, kind: str, voc_choice: str, model_path: Path, home: Path, opts: Options,
                     refs: dict[str, Any], train_emb: np.ndarray, held_emb: np.ndarray, mel_pool: torch.Tensor,
                     out_dir: Path) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Generate with one vocoder and measure everything; returns the row and the generated audio."""
    from sda_engine.generate.pipeline import generate_files
    from sda_engine.generate.request import GenerationRequest
    from sda_engine.generate.session import ModelSession
    from sda_engine.store.home import SdaHome

    sda_home = SdaHome(home)
    request = GenerationRequest().replace(duration=opts.clip_seconds, seed=opts.seed, variations=opts.clips,
                                          vocoder=voc_choice, format="wav", sample_rate=SAMPLE_RATE, bit_depth=24,
                                          channels="mono")
    t0 = time.monotonic()
    with capture_rendering() as captured:
        session = ModelSession.open(model_path, opts.device, sda_home)
        results = generate_files(session, request, out_dir / f"{set_name}-{kind}-{voc_choice}", overwrite=True,
                                 on_event=_events_logger(f"[{set_name}/{kind}/{voc_choice}]"))
    gen_seconds = time.monotonic() - t0
    generated = [load_mono(r.path) for r in results]
    voc_name, voc_reason = results[0].vocoder, results[0].vocoder_reason
    mels, vocoder, source = captured.mels, captured.vocoder, "captured from the generation"
    if len(mels) != len(results) or vocoder is None:
        # The engine renders differently than expected: rebuild the same log-mels and vocoder instead.
        mels, vocoder = rerender(results, model_path, voc_choice, sda_home, opts.device)
        source = "re-rendered with the generation's settings"
    durations = [float(r.parameters.get("duration", opts.clip_seconds)) for r in results]
    vocoder_alone, model_shuffled = control_clips(vocoder, mels, durations, mel_pool, opts.seed + 3000)

    gen_emb = quality.embed_set([(c, SAMPLE_RATE) for c in generated])
    hyg = [quality.hygiene(c, SAMPLE_RATE, refs["set_level_db"], refs["set_silent_fraction"]) for c in generated]
    row: dict[str, Any] = {
        "vocoder": voc_name,
        "vocoder_reason": voc_reason,
        "controls_source": source,
        "n_generated": len(generated),
        "generation_seconds": gen_seconds,
        "real_time_factor": gen_seconds / max(1e-9, len(generated) * opts.clip_seconds),
        "fd_generated": quality.frechet_distance(gen_emb, train_emb),
        "fd_vocoder_random_frames": fd_to(train_emb, vocoder_alone),
        "fd_model_frames_shuffled": fd_to(train_emb, model_shuffled),
        "onset_rate": pooled_onset_rate(generated),
        "quiet_floor_db": mean_quiet_floor(generated),
        "novelty": quality.novelty(gen_emb, train_emb, held_emb),
        "generated_level_db": float(np.median([quality.rms_db(c) for c in generated])),
        "hygiene": [{"file": r.path.name, **h.to_dict()} for r, h in zip(results, hyg)],
        "hygiene_failures": sum(1 for h in hyg if not h.ok),
    }
    criteria = judge(row, refs)
    row["criteria"] = [c.to_dict() for c in criteria]
    row["passed"] = all(c.passed for c in criteria)
    return row, generated


def run_set(set_name: str, opts: Options, scratch: Path, figure_dir: Path) -> dict[str, Any] | None:
    files = set_files(set_name, opts, scratch)
    if files is None:
        return None
    train_files, held_files = split_files(files, opts.seed)
    print(f"[{set_name}] {len(files)} files: {len(train_files)} training, {len(held_files)} held out")
    train = [load_mono(p) for p in train_files]
    held = [load_mono(p) for p in held_files]
    refs, train_emb, held_emb = set_references(train, held, opts)
    mel_pool = training_log_mels(train)
    entry: dict[str, Any] = {
        "name": set_name,
        "source": "sda_audio.demo.make_demo_dataset" if set_name == "demo" else str(opts.datasets / set_name),
        "train_files": [p.name for p in train_files],
        "held_out_files": [p.name for p in held_files],
        "train_seconds": sum(len(w) for w in train) / SAMPLE_RATE,
        "held_out_seconds": sum(len(w) for w in held) / SAMPLE_RATE,
        "references": refs,
        "runs": [],
    }
    rows_for_figure: list[tuple[str, list[Panel]]] = [
        ("real (held out)", [Panel(p.name, w) for p, w in list(zip(held_files, held))[:FIGURE_CLIPS]])]
    for kind in opts.kinds:
        run: dict[str, Any] = {"kind": kind, "vocoders": []}
        entry["runs"].append(run)
        home = scratch / f"home-{set_name}-{kind}"
        record = home / "yardstick-training.json"
        try:
            if opts.reuse and record.is_file():  # the model a run before trained here: compare generation only
                kept = json.loads(record.read_text(encoding="utf-8"))
                run["training"] = {**kept["training"], "reused": True}
                model_path = Path(kept["model_path"])
            else:
                shutil.rmtree(home, ignore_errors=True)  # a fresh library each run (ours: made by this script)
                t0 = time.monotonic()
                result = train_one(set_name, kind, train_files, home, opts)
                run["training"] = {"size": result.size, "size_reason": result.size_reason,
                                   "device": result.device, "seconds": time.monotonic() - t0,
                                   "stages": result.stages, "warnings": list(result.warnings)[:10],
                                   "vocoder": result.vocoder}
                model_path = Path(result.model_path)
                atomic_write_json(record, {"training": run["training"], "model_path": str(model_path)})
        except Exception as exc:  # noqa: BLE001 - one broken run must not hide the others
            log.exception("training %s/%s failed", set_name, kind)
            run["error"] = f"training failed: {type(exc).__name__}: {exc}"
            print(f"[{set_name}/{kind}] {run['error']}")
            continue
        for voc in offline_vocoders(model_path):
            try:
                row, generated = evaluate_vocoder(set_name, kind, voc, model_path, home, opts, refs, train_emb,
                                                  held_emb, mel_pool, scratch / "generated")
            except Exception as exc:  # noqa: BLE001
                log.exception("generating %s/%s/%s failed", set_name, kind, voc)
                run["vocoders"].append({"vocoder": voc, "error": f"{type(exc).__name__}: {exc}"})
                print(f"[{set_name}/{kind}/{voc}] generation failed: {type(exc).__name__}: {exc}")
                continue
            run["vocoders"].append(row)
            print_verdict(set_name, kind, row)
            rows_for_figure.append((f"{kind} / {row['vocoder']}",
                                    [Panel(f"{kind} {row['vocoder']} gen{i}", g)
                                     for i, g in enumerate(generated[:FIGURE_CLIPS])]))
    try:
        figure = figure_dir / f"{set_name}.png"
        render_figure(rows_for_figure, figure, max_seconds=opts.clip_seconds,
                      title=f"{set_name}: held-out real files and generations (mel, dB re peak)")
        entry["figure"] = figure.name
    except Exception as exc:  # noqa: BLE001
        log.exception("figure for %s failed", set_name)
        entry["figure_error"] = f"{type(exc).__name__}: {exc}"
    return entry


def print_verdict(set_name: str, kind: str, row: dict[str, Any]) -> None:
    verdict = "PASS" if row["passed"] else "MISS"
    print(f"[{set_name}/{kind}/{row['vocoder']}] {verdict}")
    for c in row["criteria"]:
        print(f"    {'PASS' if c['passed'] else 'MISS'}  {c['name']:<28} {c['detail']}")


# ------------------------------------------------------------------------------------------------ cli


def machine() -> dict[str, Any]:
    return {"platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "cuda_available": torch.cuda.is_available()}


def parse_args(argv: list[str] | None = None) -> Options:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, from {', '.join(SETS)}")
    ap.add_argument("--kinds", default=",".join(KINDS), help="comma-separated model kinds: vae, rvq")
    ap.add_argument("--minutes", type=float, default=DEFAULT_MINUTES, help="training budget per set and kind")
    ap.add_argument("--clips", type=int, default=DEFAULT_CLIPS, help="generated clips per vocoder")
    ap.add_argument("--clip-seconds", type=float, default=DEFAULT_CLIP_SECONDS, help="seconds per generated clip")
    ap.add_argument("--seed", type=int, default=0, help="split, training, generation and control seed")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "quality.md", help="the report to write")
    ap.add_argument("--datasets", type=Path, default=DATASETS, help="folder holding the sets")
    ap.add_argument("--vocoder-minutes", type=float, default=0.0,
                    help="> 0 also trains each model's HiFi-GAN for that long and measures it")
    ap.add_argument("--device", default="cpu", help="training/generation device (the budget is a CPU budget)")
    ap.add_argument("--work", type=Path, default=None, help="keep models and audio here (default: a temp folder)")
    ap.add_argument("--reuse", action="store_true",
                    help="with --work: generate from the models a run before trained there (no training)")
    ap.add_argument("--from-scratch", action="store_true",
                    help="train without the shipped base model (sda train --from-scratch)")
    ap.add_argument("--render-only", action="store_true",
                    help="only rewrite the report from <out folder>/<out stem>/results.json (no training)")
    a = ap.parse_args(argv)
    sets = tuple(s.strip() for s in a.sets.split(",") if s.strip())
    kinds = tuple(k.strip() for k in a.kinds.split(",") if k.strip())
    bad = [s for s in sets if s not in SETS] + [k for k in kinds if k not in KINDS]
    if bad:
        ap.error(f"unknown set or kind: {', '.join(bad)}")
    if a.clips < 2 or not (0.5 <= a.clip_seconds <= 600) or not (a.minutes > 0):
        ap.error("need --clips >= 2, --clip-seconds in 0.5..600 and --minutes > 0")
    return Options(sets=sets, kinds=kinds, minutes=a.minutes, clips=a.clips, clip_seconds=a.clip_seconds,
                   seed=a.seed, out=a.out.resolve(), datasets=a.datasets, vocoder_minutes=a.vocoder_minutes,
                   device=a.device, work=a.work, render_only=a.render_only,
                   reuse=a.reuse, from_scratch=a.from_scratch)


def command_line(argv: list[str] | None) -> str:
    args = sys.argv[1:] if argv is None else argv
    return " ".join(["uv run --no-sync python benchmarks/sound_quality.py", *map(shlex.quote, args)])


def build_report(opts: Options, argv: list[str] | None, started: datetime, sets: list[dict[str, Any]],
                 complete: bool) -> dict[str, Any]:
    return {
        "command": command_line(argv),
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "complete": complete,
        "machine": machine(),
        "settings": {"sets": list(opts.sets), "kinds": list(opts.kinds), "minutes": opts.minutes,
                     "clips": opts.clips, "clip_seconds": opts.clip_seconds, "seed": opts.seed,
                     "vocoder_minutes": opts.vocoder_minutes, "device": opts.device},
        "smoke": opts.smoke,
        "bar": BAR.to_dict(),
        "sets": sets,
    }


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO if os.environ.get("SDA_QUALITY_VERBOSE") else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s")
    opts = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    started = datetime.now(UTC)
    figure_dir = opts.out.parent / opts.out.stem
    if opts.render_only:
        saved = figure_dir / "results.json"
        if not saved.is_file():
            print(f"--render-only: {saved} does not exist; run the yardstick first")
            return 1
        write_report(json.loads(saved.read_text(encoding="utf-8")), opts.out, figure_dir)
        print(f"rewrote {opts.out} from {saved}")
        return 0
    sets: list[dict[str, Any]] = []
    complete = False
    try:
        with tempfile.TemporaryDirectory(prefix="sda-quality-") as tmp:
            scratch = opts.work.resolve() if opts.work else Path(tmp)
            scratch.mkdir(parents=True, exist_ok=True)
            os.environ.setdefault("SDA_HOME", str(scratch / "sda-home"))
            for i, name in enumerate(opts.sets):
                entry = run_set(name, opts, scratch, figure_dir)
                if entry is not None:
                    sets.append(entry)
                if i + 1 < len(opts.sets) and sets:  # a long run keeps what it has measured so far
                    write_report(build_report(opts, argv, started, sets, complete=False), opts.out, figure_dir)
        complete = True
    except KeyboardInterrupt:
        print("interrupted: writing what was measured so far")
    write_report(build_report(opts, argv, started, sets, complete=complete), opts.out, figure_dir)
    print(f"wrote {opts.out} and {figure_dir / 'results.json'}")
    runs = [v for s in sets for r in s["runs"] for v in r["vocoders"]]
    errors = [r for s in sets for r in s["runs"] if "error" in r] + [v for v in runs if "error" in v]
    return 1 if errors or not runs or not complete else 0


if __name__ == "__main__":
    sys.exit(main())
