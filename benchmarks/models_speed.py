"""Speed and memory of the mel autoencoders for every preset x kind.

Run: ``uv run --no-sync python benchmarks/models_speed.py [--steps 5] [--threads 1] [--device cpu]
[--presets tiny,small,full]``. Each preset/kind runs in a fresh process so that its peak RSS is its own.
Prints a markdown table: parameters, training steps/s at the preset's batch and segment size, peak RSS, and
the time to go from one minute of 44.1 kHz audio to a log-mel, encode it and decode it (no vocoder).
Not a test: numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time
from typing import Any

SR = 44100


def _measure(preset: str, kind: str, steps: int, threads: int, device_name: str) -> dict[str, Any]:
    import torch

    from sda_models.autoencoder import build_autoencoder, count_parameters
    from sda_models.configs import preset_config
    from sda_models.mel import LogMel
    from sda_models.normalization import MelStats
    from sda_models.training import make_optimizer, train_step

    torch.set_num_threads(threads)
    device = torch.device(device_name)
    cfg = preset_config(preset, kind, n_files=50)
    model = build_autoencoder(cfg.autoencoder).to(device)
    optimizer = make_optimizer(model, cfg.training)
    gen = torch.Generator().manual_seed(0)
    batch = torch.randn(cfg.training.batch_size, 128, cfg.training.segment_frames, generator=gen).to(device)
    train_step(model, optimizer, batch, cfg.autoencoder, 0)  # warm-up (and k-means init for RVQ)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for step in range(1, steps + 1):
        train_step(model, optimizer, batch, cfg.autoencoder, step)
    if device.type == "cuda":
        torch.cuda.synchronize()
    steps_per_s = steps / (time.perf_counter() - start)

    wave = 0.1 * torch.randn(1, 60 * SR, generator=gen)
    model.eval()
    with torch.no_grad():
        start = time.perf_counter()
        mel = LogMel().to(device)(wave.to(device))
        stats = MelStats.from_mels([mel[0]])
        mel_s = time.perf_counter() - start
        norm = stats.to(device).normalize(mel)
        start = time.perf_counter()
        latent = model.encode(norm)
        encode_s = time.perf_counter() - start
        start = time.perf_counter()
        model.decode(latent)
        if device.type == "cuda":
            torch.cuda.synchronize()
        decode_s = time.perf_counter() - start
    return {
        "preset": preset, "kind": kind, "params": count_parameters(model),
        "batch": f"{cfg.training.batch_size}x{cfg.training.segment_frames}", "steps_per_s": steps_per_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "mel_s": mel_s, "encode_s": encode_s, "decode_s": decode_s,
    }


def _child(queue: Any, *args: Any) -> None:
    queue.put(_measure(*args))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=5, help="timed training steps per preset")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--presets", default="tiny,small,full")
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    rows = []
    for preset in args.presets.split(","):
        for kind in ("vae", "rvq"):
            queue = ctx.Queue()
            proc = ctx.Process(target=_child, args=(queue, preset, kind, args.steps, args.threads, args.device))
            proc.start()
            rows.append(queue.get())
            proc.join()
    out = sys.stdout
    out.write(f"device {args.device}, {args.threads} thread(s), {args.steps} timed steps\n\n")
    out.write("| preset | kind | params | batch x frames | train steps/s | peak RSS MB | "
              "1 min audio: mel s | encode s | decode s |\n|---|---|---|---|---|---|---|---|---|\n")
    for r in rows:
        out.write(f"| {r['preset']} | {r['kind']} | {r['params'] / 1e6:.2f} M | {r['batch']} | "
                  f"{r['steps_per_s']:.2f} | {r['peak_rss_mb']:.0f} | {r['mel_s']:.2f} | {r['encode_s']:.2f} | "
                  f"{r['decode_s']:.2f} |\n")


if __name__ == "__main__":
    main()
