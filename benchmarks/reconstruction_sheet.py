"""Spectrograms of real files beside what a model reconstructs of them and what it generates (one-shots).

    uv run python benchmarks/reconstruction_sheet.py MODEL OUT.png FILE... [--device cpu]

Runs ``sda reconstruct MODEL FILE... -o TMP/heard`` and ``sda generate MODEL --variations N -o TMP/pack/`` (N =
number of files) through the CLI, then draws three rows: real, reconstructed, generated. Look at it before
believing any distance: a model that loses a cowbell's partials here cannot generate a cowbell.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib
import numpy as np
import soundfile as sf
from scipy.signal import spectrogram

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the Agg backend)


def _sda(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "sda_cli.main", *args], check=True)


def _draw(axis: object, path: Path, title: str) -> None:
    samples, rate = sf.read(str(path))
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    freqs, times, power = spectrogram(mono, rate, nperseg=1024, noverlap=768)
    db = 10 * np.log10(power + 1e-12)
    axis.pcolormesh(times, freqs, np.maximum(db - db.max(), -80), shading="auto")  # type: ignore[attr-defined]
    axis.set_yscale("symlog", linthresh=200)  # type: ignore[attr-defined]
    axis.set_ylim(50, rate / 2)  # type: ignore[attr-defined]
    axis.set_title(title, fontsize=8)  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("out", type=Path)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        heard, pack = Path(tmp) / "heard", Path(tmp) / "pack"
        _sda("reconstruct", args.model, *map(str, args.files), "-o", str(heard), "--device", args.device)
        _sda("generate", args.model, "--variations", str(len(args.files)), "-o", f"{pack}/", "--device", args.device)
        generated = sorted(pack.glob("*.wav"))
        rows = [("real", list(args.files)), ("reconstructed", [heard / f"{f.stem}.wav" for f in args.files]),
                ("generated", generated)]
        fig, axes = plt.subplots(3, len(args.files), figsize=(4 * len(args.files), 9), squeeze=False)
        for r, (label, paths) in enumerate(rows):
            for c, path in enumerate(paths):
                _draw(axes[r, c], path, f"{label}: {path.name}")
        fig.tight_layout()
        fig.savefig(args.out, dpi=70)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
