"""How long sda_audio.descriptors.describe takes per hour of 44.1 kHz stereo audio.

Run: ``uv run --no-sync python benchmarks/descriptors_speed.py [--minutes 10] [--threads 2]``.
Describes a synthetic mix (pink-ish noise bursts, tones, clicks) of the given length and prints
wall-clock and CPU seconds per hour of audio. Not a test: numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from sda_audio.descriptors import describe

SR = 44100


def signal(minutes: float, seed: int = 0) -> np.ndarray:
    """Stereo ``(2, T)`` float32 test material: tones, noise and a 2 Hz click pattern."""
    rng = np.random.default_rng(seed)
    n = int(minutes * 60 * SR)
    t = np.arange(n, dtype=np.float64) / SR
    x = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 331 * t)
    x += 0.05 * rng.standard_normal(n) * (np.sin(2 * np.pi * 0.5 * t) > 0)
    x[(np.arange(n) % (SR // 2)) < 64] += 0.5
    return np.stack([x, np.roll(x, 100)]).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the test signal")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x = signal(args.minutes)
    describe(x[:, : SR * 5], SR)  # warm-up
    wall, cpu = time.perf_counter(), time.process_time()
    values = describe(x, SR)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    scale = 60.0 / args.minutes
    print(f"describe: {args.minutes:g} min of 44.1 kHz stereo, {args.threads} thread(s)")
    print(f"  wall {wall * scale:.1f} s per hour of audio, CPU {cpu * scale:.1f} s per hour")
    print("  values: " + ", ".join(f"{k}={v:.3g}" for k, v in values.items()))


if __name__ == "__main__":
    main()
