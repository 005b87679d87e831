"""Learning curves of the default recipe: held-out reconstruction after 1, 2, 5, 10 (20, 40) minutes, per set and size.

For each set (the shared sets and the demo data) the files are split 2/3 training, 1/3 held out (seeded, by file,
as benchmarks/reconstruction.py does). For each model size and each budget a model is trained from scratch through
the engine exactly as ``sda train TRAIN_FILES -m NAME --size SIZE --max-minutes M --no-controls`` would (the
budget-driven recipe: cached log-mels, learning rate decaying over the time, convergence stop), then measured:

- held-out and training log-mel L1 (nats, the canonical log-mel) of encode -> decode, next to the mean-frame
  baseline (a model that learned nothing but the average spectrum scores it);
- the steps it took, why it stopped, and the wall time of the whole job.

Every finished point is appended to ``docs/quality/learning_curves.json`` at once, so a stopped run continues
where it was (``--minutes 20,40`` later adds the long points); ``--plot`` redraws one figure per set,
``docs/quality/curve-<set>.png``, from whatever is there.

    uv run --no-sync python benchmarks/learning_curves.py --sets drums --sizes tiny,small --minutes 1,2,5,10
    uv run --no-sync python benchmarks/learning_curves.py --plot

The budget is wall time on this machine with ``--threads`` torch threads; the JSON records the machine's load
average at the start and end of each run: a busy machine gives fewer steps in the same minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _doc_sections import replace_section  # noqa: E402
from reconstruction import held_out_errors, set_files, split  # noqa: E402  (a sibling benchmark script)

ROOT = HERE.parent
RESULTS = ROOT / "docs" / "quality" / "learning_curves.json"
DOC = ROOT / "docs" / "quality.md"
HEADING = "## Learning curves (benchmarks/learning_curves.py)"


def load_results() -> list[dict[str, Any]]:
    return json.loads(RESULTS.read_text())["points"] if RESULTS.is_file() else []


def _key(point: dict[str, Any]) -> tuple[Any, ...]:
    return point["set"], point["size"], point["minutes"], point["seed"]


def save_point(point: dict[str, Any]) -> list[dict[str, Any]]:
    """Add ``point`` to the results file (read again and merged under a lock: several runs, e.g. one per set,
    may write at once); returns all points."""
    import fcntl

    from sda_audio.atomic import atomic_write_json

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with open(RESULTS.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        merged = {_key(p): p for p in load_results()}
        merged[_key(point)] = point
        points = sorted(merged.values(), key=lambda p: (p["set"], p["size"], p["minutes"], p["seed"]))
        atomic_write_json(RESULTS, {"about": __doc__.split("\n\n")[0], "points": points})
    return points


def train_point(set_name: str, size: str, minutes: float, train: list[Path], held: list[Path], work: Path,
                seed: int, threads: int) -> dict[str, Any]:
    from sda_engine.train import TrainOptions, plan, run

    home = work / f"{set_name}-{size}-{minutes:g}"  # the library holds the model (kept when ``work`` is kept)
    name = f"curve-{set_name}-{size}"
    load_before = os.getloadavg()[0]
    t0 = time.monotonic()
    options = TrainOptions(name=name, dataset=tuple(str(p) for p in train), kind="rvq", size=size,
                           max_minutes=minutes, seed=seed, controls=False, device="cpu", overwrite=True)
    result = run(plan(options, home), home=home)
    wall = time.monotonic() - t0
    model = home / "models" / f"{name}.sda"
    held_l1, held_base = held_out_errors(model, held)
    train_l1, train_base = held_out_errors(model, train)
    ae = result.stages.get("autoencoder", {})
    prior = result.stages.get("prior", {})
    return {
        "set": set_name, "size": size, "minutes": minutes, "seed": seed, "threads": threads,
        "held_out_l1": round(held_l1, 4), "held_out_baseline": round(held_base, 4),
        "train_l1": round(train_l1, 4), "train_baseline": round(train_base, 4),
        "autoencoder_steps": ae.get("steps"), "autoencoder_stop": ae.get("stop_reason"),
        "autoencoder_minutes": round(float(ae.get("minutes") or 0.0), 3),
        "prior_steps": prior.get("steps"), "prior_stop": prior.get("stop_reason"),
        "wall_seconds": round(wall, 1), "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
        "files": {"train": len(train), "held_out": len(held)},
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs", "date": datetime.now(UTC).isoformat(),
    }


@torch.no_grad()
def mean_frame_baseline(train: list[Path], held: list[Path]) -> float:
    """Held-out log-mel L1 of always predicting the training files' mean frame (the files as they are: the
    per-point ``held_out_baseline`` uses the model's statistics, which include the silence short files are
    padded with, so it differs between sizes)."""
    from sda_audio.io import read_audio
    from sda_models.mel import LogMel

    mel = LogMel()

    def mels(files: list[Path]) -> list[torch.Tensor]:
        out = []
        for path in files:
            wave = torch.from_numpy(read_audio(path, sample_rate=44100, mono=True).samples[0])
            out.append(mel(torch.nn.functional.pad(wave, (0, max(0, 4096 - wave.shape[-1])))[None])[0])
        return out

    mean = torch.cat(mels(train), dim=-1).mean(dim=-1, keepdim=True)
    held_mels = mels(held)
    return float(sum(float((m - mean).abs().sum()) for m in held_mels) / sum(m.numel() for m in held_mels))


def baselines_of(set_names: list[str], seed: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="sda-curves-") as tmp:
        out = {}
        for name in set_names:
            files = set_files(name, Path(tmp))
            if len(files) >= 3:
                out[name] = mean_frame_baseline(*split(files, seed))
        return out


def plot(points: list[dict[str, Any]], baselines: dict[str, float]) -> list[Path]:
    """One figure per set: held-out (solid) and training (dotted) L1 against minutes, per size; the baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for set_name in sorted({p["set"] for p in points}):
        rows = [p for p in points if p["set"] == set_name]
        fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=110)
        for size in sorted({p["size"] for p in rows}):
            pts = sorted((p for p in rows if p["size"] == size), key=lambda p: p["minutes"])
            xs = [p["minutes"] for p in pts]
            line, = ax.plot(xs, [p["held_out_l1"] for p in pts], "o-", label=f"{size}: held out")
            ax.plot(xs, [p["train_l1"] for p in pts], "o:", color=line.get_color(), label=f"{size}: training")
        base = baselines.get(set_name)
        if base is not None:
            ax.axhline(base, color="grey", ls="--", lw=1, label="mean training frame (held out)")
        ax.set_xscale("log")
        ticks = sorted({p["minutes"] for p in rows})
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.set_xlabel("training budget, wall-clock minutes (whole job)")
        ax.set_ylabel("log-mel L1 (nats)")
        ax.set_title(f"{set_name}: reconstruction by budget (rvq, default recipe)")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = RESULTS.parent / f"curve-{set_name}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written


def section(points: list[dict[str, Any]], baselines: dict[str, float]) -> str:
    """The docs/quality.md section: what was run, a table per set, the figures."""
    lines = [HEADING, "",
             "Each point is one model trained from scratch with the default recipe (`sda train` with `--size SIZE "
             "--max-minutes M --no-controls`, rvq) on 2/3 of the set's files (seed 0), then measured on the 1/3 "
             "held out: log-mel L1 of encode -> decode (nats; the mean training frame as a baseline), and on the "
             "training files. Minutes are wall-clock time of the whole job on this 2-core CPU, one torch thread "
             "per run, with other jobs running (the load average is in docs/quality/learning_curves.json): on an "
             "idle machine with both cores a model gets 2-4x the steps in the same minutes. Rerun: "
             "`uv run --no-sync python benchmarks/learning_curves.py --sets SET --sizes tiny,small --minutes "
             "1,2,5,10`.", ""]
    for set_name in sorted({p["set"] for p in points}):
        rows = sorted((p for p in points if p["set"] == set_name), key=lambda p: (p["size"], p["minutes"]))
        base = baselines.get(set_name)
        lines += [f"### {set_name}" + (f" (mean-frame baseline {base:.3f})" if base is not None else ""), "",
                  "| size | minutes | held-out L1 | training L1 | autoencoder steps (min) | stopped | prior steps | "
                  "job wall s | load |", "|---|---|---|---|---|---|---|---|---|"]
        for p in rows:
            stop = "converged" if str(p["autoencoder_stop"]).startswith(("early stop", "converged")) else "budget"
            lines.append(f"| {p['size']} | {p['minutes']:g} | {p['held_out_l1']:.3f} | {p['train_l1']:.3f} | "
                         f"{p['autoencoder_steps']} ({p['autoencoder_minutes']:.1f}) | {stop} | {p['prior_steps']} | "
                         f"{p['wall_seconds']:.0f} | {p['load_before']:.1f} |")
        lines += ["", f"![{set_name} learning curves](quality/curve-{set_name}.png)", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="drums,loops,ambient,demo")
    parser.add_argument("--sizes", default="tiny,small")
    parser.add_argument("--minutes", default="1,2,5,10", help="budgets, comma-separated (20,40 for the long points)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=max(1, torch.get_num_threads()))
    parser.add_argument("--plot", action="store_true", help="only redraw the figures from the results")
    parser.add_argument("--keep", default=None,
                        help="keep the trained models here (SET-SIZE-MINUTES/models/curve-SET-SIZE.sda, trained on "
                             "the seed's 2/3 split: benchmarks/reconstruction_proof.py can reuse them)")
    args = parser.parse_args(argv)
    points = load_results()
    if not args.plot:
        torch.set_num_threads(args.threads)
        done = {_key(p) for p in points}
        with tempfile.TemporaryDirectory(prefix="sda-curves-") as tmp:
            work = Path(args.keep) if args.keep else Path(tmp)
            for set_name in args.sets.split(","):
                files = set_files(set_name, work)
                if len(files) < 3:
                    print(f"[skip] {set_name}: {len(files)} files")
                    continue
                train, held = split(files, args.seed)
                for minutes in (float(m) for m in args.minutes.split(",")):
                    for size in args.sizes.split(","):
                        if (set_name, size, minutes, args.seed) in done:
                            continue
                        point = train_point(set_name, size, minutes, train, held, work, args.seed, args.threads)
                        points = save_point(point)
                        print(json.dumps(point), flush=True)
    sets = sorted({p["set"] for p in points})
    baselines = baselines_of(sets, args.seed)
    for path in plot(points, baselines):
        print(f"wrote {path}")
    replace_section(DOC, HEADING, section(points, baselines))
    print(f"wrote the section '{HEADING}' of {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
