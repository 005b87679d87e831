"""How fast a per-model HiFi-GAN learns: held-out quality against training time, next to the Griffin-Lim floor.

The same split as ``benchmarks/vocoders.py`` (files with index i % 3 != 2 train, the rest are held out), the
engine's vocoder data and batches (``vocoder_training_data``, ``draw_batch``), and :class:`~sda_models.vocoders.hifigan_training.HifiGanTrainer`
with its default recipe (``--warmup`` overrides the non-adversarial warm-up length). Every ``--eval-every``
minutes of training time the current generator renders each held-out file from its log-mel and is scored
like every vocoder there (``round_trip_scores``: mel round-trip L1, MR-STFT distance); evaluation time is not counted as training.

    uv run --no-sync python benchmarks/hifigan_curve.py drums --minutes 20 --threads 2
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
from pathlib import Path

import torch

from sda_audio.atomic import atomic_write_text
from sda_engine.train.vocoder_stage import VocoderPlan, draw_batch, vocoder_training_data
from sda_models.mel import LogMel
from sda_models.vocoders.floor import GriffinLimFloor, RoundTripScores, round_trip_scores
from sda_models.vocoders.hifigan import HifiGanVocoder
from sda_models.vocoders.hifigan_training import HifiGanTrainer, HifiGanTrainingConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vocoders import CONFIG, DATASETS, load_mono, split_set  # noqa: E402

log = logging.getLogger("benchmarks.hifigan_curve")
OUT = Path(__file__).resolve().parent / "out" / "hifigan_curve.md"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", nargs="?", default="drums", help="a set under shared/datasets, or a folder")
    parser.add_argument("--minutes", type=float, default=5.0, help="training time")
    parser.add_argument("--eval-every", type=float, default=1.0, help="minutes of training between scores")
    parser.add_argument("--warmup", type=int, default=None, help="non-adversarial steps (default: the recipe's)")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    folder = Path(args.dataset) if Path(args.dataset).is_dir() else DATASETS / args.dataset
    train, held = split_set(folder)
    clips = [load_mono(f) for f in held]

    config = HifiGanTrainingConfig(seed=args.seed)
    if args.warmup is not None:
        config = dataclasses.replace(config, warmup_steps=args.warmup)
    device = torch.device(args.device)
    trainer = HifiGanTrainer(config, device=device)
    plan = VocoderPlan(minutes=args.minutes)
    data = vocoder_training_data(train, args.seed)
    train_mel = LogMel(CONFIG).to(device)

    floor = round_trip_scores(GriffinLimFloor(), clips)
    log.info("griffin-lim floor: mel L1 %.3f, MR-STFT %.3f", floor.mel_l1, floor.mrstft)

    def current() -> RoundTripScores:
        """The generator as it is now, rendered the way generation renders it (chunked, eval mode)."""
        with torch.no_grad():
            result = round_trip_scores(HifiGanVocoder(trainer.generator, device=device), clips)
        trainer.generator.train()
        return result

    rows: list[tuple[float, int, bool, float, float]] = []
    spent, next_eval = 0.0, args.eval_every * 60.0
    while spent < args.minutes * 60.0:
        t0 = time.monotonic()
        trainer.step(*draw_batch(data, plan, train_mel, device))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        spent += time.monotonic() - t0
        if spent >= next_eval or spent >= args.minutes * 60.0:
            next_eval += args.eval_every * 60.0
            now = current()
            rows.append((spent / 60.0, trainer.step_count, trainer.step_count > config.warmup_steps, now.mel_l1,
                         now.mrstft))
            log.info("%.1f min, step %d: mel L1 %.3f, MR-STFT %.3f", spent / 60.0, trainer.step_count, now.mel_l1,
                     now.mrstft)

    lines = [
        f"# Per-model HiFi-GAN learning curve on held-out `{folder.name}`",
        "",
        f"{len(train)} training files, {len(held)} held out ({sum(len(c) for c in clips) / CONFIG.sampling_rate:.1f} s); "
        f"batch {plan.batch_size} x {plan.segment_samples} samples; warm-up {config.warmup_steps} steps; "
        f"device {device}, {torch.get_num_threads()} CPU threads. Lower is better.",
        "",
        "| training min | steps | objective so far | mel L1 | MR-STFT |",
        "|---|---|---|---|---|",
        *[f"| {m:.1f} | {s} | {'warm-up, then adversarial' if adv else 'warm-up'} | {l1:.3f} | {mr:.3f} |"
          for m, s, adv, l1, mr in rows],
        f"| griffin-lim 64 it (floor) | - | - | {floor.mel_l1:.3f} | {floor.mrstft:.3f} |",
        "",
    ]
    text = "\n".join(lines)
    atomic_write_text(args.out, text)
    sys.stdout.write(text)
    return text


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main()
