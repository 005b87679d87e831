"""Held-out mel reconstruction of the ``tiny`` model size against a trivial baseline (issue 3's bar).

For each set: split the files 2/3 training, 1/3 held out (seeded, by file), train a tiny model through
the same code path as ``sda train`` for at most ``--minutes`` of CPU time, then measure on the held-out
files the mean absolute error of the reconstructed log-mel (nats, the canonical BigVGAN-v2 log-mel)
next to the error of the trivial baseline that always predicts the training set's mean mel frame.

    uv run --no-sync python benchmarks/reconstruction.py [--sets drums,loops,ambient] [--kinds rvq,vae]

Prints a markdown table and writes it to benchmarks/out/reconstruction.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("SDA_SHARED_DATASETS", ROOT.parent / "shared" / "datasets"))


AUDIO = {".flac", ".wav", ".ogg", ".aiff", ".aif", ".mp3"}


def set_files(name: str, scratch: Path) -> list[Path]:
    """The files of a shared set (recursively), or the demo data (made in ``scratch``, seeded): the sets that
    benchmarks/learning_curves.py and benchmarks/reconstruction_proof.py split with :func:`split`."""
    if name == "demo":
        from sda_audio.demo import make_demo_dataset

        return sorted(make_demo_dataset(scratch / "demo", seed=0))
    return sorted(p for p in (DATASETS / name).rglob("*") if p.suffix.lower() in AUDIO)


def split(files: list[Path], seed: int) -> tuple[list[Path], list[Path]]:
    order = np.random.default_rng(seed).permutation(len(files))
    n_held = max(1, len(files) // 3)
    held = sorted(files[i] for i in order[:n_held])
    return sorted(files[i] for i in order[n_held:]), held


@torch.no_grad()
def held_out_errors(model_path: Path, files: list[Path]) -> tuple[float, float]:
    """(model L1, mean-frame baseline L1) over all held-out frames, in log-mel nats."""
    from sda_audio.io import read_audio
    from sda_models.mel import LogMel
    from sda_models.model_file import load_model

    bundle = load_model(model_path, "cpu")
    mel = LogMel()
    model_err, base_err, frames = 0.0, 0.0, 0
    for path in files:
        wave = torch.from_numpy(read_audio(path, sample_rate=44100, mono=True).samples[0])
        if wave.shape[-1] < 4096:
            wave = torch.nn.functional.pad(wave, (0, 4096 - wave.shape[-1]))
        target = mel(wave[None])
        recon = bundle.stats.denormalize(bundle.autoencoder(bundle.stats.normalize(target)).recon)
        n = target.shape[-1]
        model_err += float((recon[..., :n] - target).abs().sum())
        base_err += float((bundle.stats.mean[None, :, None] - target).abs().sum())
        frames += target.numel()
    return model_err / frames, base_err / frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="drums,loops,ambient")
    parser.add_argument("--kinds", default="rvq,vae")
    parser.add_argument("--minutes", type=float, default=10.0, help="CPU training budget per model")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    from sda_engine.train import TrainOptions, plan, run

    rows = []
    with tempfile.TemporaryDirectory(prefix="sda-recon-") as work:
        for name in args.sets.split(","):
            files = sorted(p for p in (DATASETS / name).glob("*") if p.suffix.lower() in {".flac", ".wav"})
            if not files:
                print(f"[skip] {name}: no files in {DATASETS / name}")
                continue
            train, held = split(files, args.seed)
            for kind in args.kinds.split(","):
                t0 = time.monotonic()
                home = Path(work) / f"{name}-{kind}"
                options = TrainOptions(name=f"recon-{name}-{kind}", dataset=tuple(str(p) for p in train), kind=kind,
                                       size="tiny", max_minutes=args.minutes, seed=args.seed)
                result = run(plan(options, home), home=home)
                minutes = (time.monotonic() - t0) / 60
                model_l1, base_l1 = held_out_errors(result.model_path, held)
                steps = result.stages["autoencoder"]["steps"]
                rows.append(f"| {name} | {kind} | {len(train)}/{len(held)} | {steps} | {minutes:.1f} | "
                            f"{model_l1:.3f} | {base_l1:.3f} | {model_l1 / base_l1:.2f} |")
                print(rows[-1], flush=True)
    table = "\n".join([
        "| set | kind | files train/held-out | AE steps | wall min (whole `train`) | held-out mel L1 | "
        "mean-frame baseline L1 | ratio |", "|---|---|---|---|---|---|---|---|", *rows])
    out = ROOT / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "reconstruction.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
