"""Score the labelled DSP assists alone on real recordings (issue 15): a fast loop with no model.

For each data set (the folders in ``../shared/datasets`` and the demo data), the files are read mono at
44.1 kHz (the rate the assists and the evaluation work at) and cut into 3 s windows the way the control
fit does (half overlapping, whole file when shorter); the spread of each descriptor over those windows is
the reference sigma. Three windows (from three different files, chosen with a seeded generator; a file
shorter than 3 s is looped to 3 s, as the engine's training data loops short files) stand in for three
seeds of a render. Every assisted control is swept over 7 positions on them and scored with
:func:`sda_control.evaluate.evaluate_controls` (rho / effect / cross-talk, targets 0.9 / 1 / 0.5).

This measures the assist on recorded material, not on a model's renders: an approximation of what
``sda controls evaluate`` reports for an assisted control.

    uv run --no-sync python benchmarks/assist_sweep.py                   # every set, every assist
    uv run --no-sync python benchmarks/assist_sweep.py --sets drums --controls pulse reverb --json out.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sda_audio.atomic import atomic_write_json
from sda_audio.demo import make_demo_dataset
from sda_audio.descriptors import DESCRIPTOR_NAMES, describe
from sda_audio.files import list_audio_files
from sda_audio.io import read_audio
from sda_control.assists import SAMPLE_RATE, apply_assists
from sda_control.evaluate import TARGETS, evaluate_controls

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
CONTROLS = ("brightness", "warmth", "roughness", "tension", "rhythmic", "pulse", "reverb")  # density: engine
WINDOW_S = 3.0
MAX_WINDOWS_PER_FILE = 4


def _read(path: Path) -> np.ndarray:
    clip = read_audio(path, sample_rate=SAMPLE_RATE, mono=True)
    return np.ascontiguousarray(np.asarray(clip.samples, np.float32).reshape(-1))


def _windows(audio: np.ndarray, length: int) -> list[np.ndarray]:
    if len(audio) <= length:
        return [audio]
    n = min(MAX_WINDOWS_PER_FILE, 1 + (len(audio) - length) // (length // 2))
    return [audio[s:s + length] for s in np.linspace(0, len(audio) - length, n).astype(int)]


def _looped(audio: np.ndarray, length: int) -> np.ndarray:
    reps = -(-length // len(audio))
    return np.tile(audio, reps)[:length]


def load_set(folder: Path, n_clips: int, seed: int = 0) -> tuple[dict[str, float], list[np.ndarray]]:
    """Reference sigma per descriptor (over the 3 s windows) and ``n_clips`` 3 s clips from different files."""
    length = int(WINDOW_S * SAMPLE_RATE)
    audios = [a for a in (_read(p) for p in list_audio_files(folder)) if np.sqrt(np.mean(a ** 2)) > 1e-5]
    descs = [describe(w, SAMPLE_RATE) for a in audios for w in _windows(a, length)]
    std = {k: float(np.std([d[k] for d in descs])) for k in DESCRIPTOR_NAMES}
    order = np.random.default_rng(seed).permutation(len(audios))[:n_clips]
    clips = []
    for i in order:
        a = audios[int(i)]
        mid = max(0, (len(a) - length) // 2)
        clips.append(_looped(a[mid:mid + length], length))
    return std, clips


def sweep(clips: list[np.ndarray], std: dict[str, float], controls: tuple[str, ...], aim: bool = True
          ) -> dict[str, Any]:
    """Score each control's assist; ``aim``: the assists are given the set's spread (as the engine does)."""
    def render(values: dict[str, float], seed: int) -> np.ndarray:
        return apply_assists(clips[seed], values, seed=seed, reference_std=std if aim else None)

    report = evaluate_controls(render, names=controls, seeds=tuple(range(len(clips))), reference_std=std)
    return report.to_dict()


def _cell(score: dict[str, Any]) -> str:
    mark = "*" if score["passes"] else " "
    return (f"{mark}{score['rho']:+.2f}/{score['effect']:+.1f}/{score['crosstalk']:.2f} "
            f"{score['crosstalk_with'][:5]:<5}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="*", default=["ambient", "drums", "loops", "demo"])
    parser.add_argument("--controls", nargs="*", default=list(CONTROLS))
    parser.add_argument("--clips", type=int, default=3, help="windows (= seeds) per set")
    parser.add_argument("--demo", type=Path, default=None, help="demo data folder (made in a temp folder if absent)")
    parser.add_argument("--no-aim", action="store_true", help="do not give the assists the data's spread")
    parser.add_argument("--json", type=Path, default=None, help="write every score here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    started = time.perf_counter()
    tmp = None
    results: dict[str, Any] = {}
    for name in args.sets:
        if name == "demo":
            folder = args.demo
            if folder is None or not folder.is_dir():
                tmp = tempfile.TemporaryDirectory()
                folder = Path(tmp.name)
                make_demo_dataset(folder, seed=0)
        else:
            folder = SHARED / name
            if not folder.is_dir():
                print(f"skip {name}: {folder} missing", file=sys.stderr)
                continue
        std, clips = load_set(folder, args.clips)
        results[name] = sweep(clips, std, tuple(args.controls), aim=not args.no_aim)
        print(f"  {name}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    if tmp is not None:
        tmp.cleanup()
    sets = list(results)
    print(f"cells: rho / effect (data-sigma) / cross-talk, worst other descriptor; * = meets "
          f"rho>={TARGETS['rho']}, effect>={TARGETS['effect']}, cross-talk<={TARGETS['crosstalk']}")
    print(f"{'control':<11}" + "".join(f"{s:<28}" for s in sets))
    for c in args.controls:
        print(f"{c:<11}" + "".join(f"{_cell(results[s]['controls'][c]):<28}" for s in sets))
    passed = sum(results[s]["controls"][c]["passes"] for s in sets for c in args.controls)
    print(f"passing: {passed} of {len(sets) * len(args.controls)}   ({time.perf_counter() - started:.0f} s)")
    if args.json is not None:
        atomic_write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
