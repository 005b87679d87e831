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

from reconstruction import held_out_errors, split  # noqa: E402  (a sibling benchmark script)

ROOT = HERE.parent
DATASETS = Path(os.environ.get("SDA_SHARED_DATASETS", ROOT.parent / "shared" / "datasets"))
RESULTS = ROOT / "docs" / "quality" / "learning_curves.json"
AUDIO = {".flac", ".wav", ".ogg", ".aiff", ".aif", ".mp3"}


def set_files(name: str, scratch: Path) -> list[Path]:
    """The files of a shared set, or the demo data (made here, seeded)."""
    if name == "demo":
        from sda_audio.demo import make_demo_dataset

        return sorted(make_demo_dataset(scratch / "demo", seed=0))
    return sorted(p for p in (DATASETS / name).rglob("*") if p.suffix.lower() in AUDIO)


def load_results() -> list[dict[str, Any]]:
    return json.loads(RESULTS.read_text())["points"] if RESULTS.is_file() else []


def save_results(points: list[dict[str, Any]]) -> None:
    from sda_audio.atomic import atomic_write_json

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(RESULTS, {"about": __doc__.split("\n\n")[0], "points": points})


def train_point(set_name: str, size: str, minutes: float, train: list[Path], held: list[Path], work: Path,
                seed: int, threads: int) -> dict[str, Any]:
    from sda_engine.train import TrainOptions, plan, run

    home = work / f"{set_name}-{size}-{minutes:g}"
    name = f"curve-{set_name}-{size}"
    load_before = os.getloadavg()[0]
    t0 = time.monotonic()
    options = TrainOptions(name=name, dataset=tuple(str(p) for p in train), kind="rvq", size=size,
                           max_minutes=minutes, seed=seed, controls=False, device="cpu")
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


def plot(points: list[dict[str, Any]]) -> list[Path]:
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
        base = sum(p["held_out_baseline"] for p in rows) / len(rows)
        ax.axhline(base, color="grey", ls="--", lw=1, label="mean-frame baseline (held out)")
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="drums,loops,ambient,demo")
    parser.add_argument("--sizes", default="tiny,small")
    parser.add_argument("--minutes", default="1,2,5,10", help="budgets, comma-separated (20,40 for the long points)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=max(1, torch.get_num_threads()))
    parser.add_argument("--plot", action="store_true", help="only redraw the figures from the results")
    args = parser.parse_args(argv)
    points = load_results()
    if not args.plot:
        torch.set_num_threads(args.threads)
        done = {(p["set"], p["size"], p["minutes"], p["seed"]) for p in points}
        with tempfile.TemporaryDirectory(prefix="sda-curves-") as tmp:
            work = Path(tmp)
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
                        points.append(point)
                        save_results(points)
                        print(json.dumps(point), flush=True)
    for path in plot(points):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
