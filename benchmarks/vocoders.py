"""Vocoder quality and speed, side by side, on held-out real recordings.

For one set of /work/shared/datasets (or any folder of audio), files are split by index: two thirds
train the corpus index, the held-out third is rendered. Each held-out file's canonical log-mel goes
through every available vocoder; the result is scored against the original by the mel round-trip
L1 and a multi-resolution STFT distance. Griffin-Lim (64 iterations on a least-squares mel inverse)
is the floor, the original audio the ceiling (0 by construction: it checks the measurement). Speed:
real-time factor for 30 s of audio, and peak memory (the growth of the peak RSS of a forked
process rendering it).

    uv run --no-sync python benchmarks/vocoders.py drums loops ambient
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
import torchaudio

from sda_audio.atomic import atomic_write_text
from sda_models.mel import LogMel, MelConfig
from sda_models.vocoders.base import Vocoder
from sda_models.vocoders.corpus import CorpusVocoder, GrainSettings
from sda_models.vocoders.corpus_index import CorpusIndex
from sda_models.vocoders.floor import GriffinLimFloor, mrstft_distance

log = logging.getLogger("benchmarks.vocoders")
DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
OUT = Path(__file__).resolve().parent / "out" / "vocoders.md"
CONFIG = MelConfig()
FIGURE_CLIPS = 3


def load_mono(path: Path) -> np.ndarray:
    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    x = torch.from_numpy(data.mean(axis=1))
    if sr != CONFIG.sampling_rate:
        x = torchaudio.functional.resample(x, sr, CONFIG.sampling_rate)
    x = x.numpy()
    return x[: len(x) // CONFIG.hop_length * CONFIG.hop_length]


class RefinementOnly(Vocoder):
    """A control: the mel refinement every corpus render ends with (:func:`refine_stft`, 48 iterations),
    started from seeded white noise instead of grains. What it scores is what the refinement alone
    achieves; a vocoder's own contribution is how far it gets below this."""

    name = "refinement-only"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def synthesize(self, log_mel: torch.Tensor) -> np.ndarray:
        from sda_models.vocoders.mel_correction import refine_stft

        g = torch.Generator().manual_seed(self.seed)
        noise = torch.randn(log_mel.shape[1] * CONFIG.hop_length, generator=g) * 0.01
        return refine_stft(noise, log_mel).numpy().astype(np.float32)


class OriginalAudio(Vocoder):
    """The ceiling: hands back the recording the mel came from."""

    name = "original"

    def __init__(self) -> None:
        self.current: np.ndarray | None = None

    def synthesize(self, log_mel: torch.Tensor) -> np.ndarray:
        assert self.current is not None
        return self.current


def _measure(vocoder: Vocoder, mel: torch.Tensor, queue: Any) -> None:
    rss0 = _rss_kib()
    t0 = time.perf_counter()
    vocoder.synthesize(mel)
    seconds = time.perf_counter() - t0
    queue.put((seconds, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024))


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise OSError("no VmRSS")


def speed_and_memory(vocoder: Vocoder, mel: torch.Tensor) -> tuple[float, float]:
    """Real-time factor for ``mel`` and peak memory growth (MiB) while rendering it.

    On Linux the render runs in a forked child so its peak RSS is its own; elsewhere only the
    time is measured.
    """
    seconds_of_audio = mel.shape[1] * CONFIG.hop_length / CONFIG.sampling_rate
    if sys.platform.startswith("linux"):
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        proc = ctx.Process(target=_measure, args=(vocoder, mel, queue))
        proc.start()
        seconds, mem = queue.get()
        proc.join()
        return seconds / seconds_of_audio, mem
    t0 = time.perf_counter()
    vocoder.synthesize(mel)
    return (time.perf_counter() - t0) / seconds_of_audio, float("nan")


def neural_vocoders() -> tuple[list[tuple[str, Callable[[], Vocoder]]], list[str]]:
    """BigVGAN when its weights are on this machine; HiFi-GAN needs a model trained with it."""
    found: list[tuple[str, Callable[[], Vocoder]]] = []
    missing = ["hifigan: not available: per-model HiFi-GAN needs a trained model (sda train-vocoder MODEL)"]
    try:
        from sda_models.vocoders.select import find_bigvgan_weights, load_bigvgan
    except ImportError as exc:
        missing.append(f"bigvgan: not available: {exc}")
        return found, missing
    path = find_bigvgan_weights()
    if path is None:
        missing.append("bigvgan: not available: weights not on this machine (sda vocoder download)")
    else:
        found.append(("bigvgan", lambda: load_bigvgan(path, torch.device("cpu"))))
    return found, missing


def train_hifigan(files: list[Path], minutes: float, seed: int = 0) -> tuple[Vocoder, int]:
    """A per-model HiFi-GAN trained on ``files`` for ``minutes`` through the engine's vocoder stage."""
    from sda_audio.progress import ignore_events
    from sda_engine.data import TrainingData
    from sda_engine.finishing import train_vocoder_for
    from sda_models.vocoders.hifigan import HifiGanVocoder

    data = TrainingData(files, 64 * 512, seed=seed, augment=None, job="train.vocoder")
    tensors, meta = train_vocoder_for(data, torch.device("cpu"), minutes, ignore_events, None, seed=seed)
    log.info("hifigan: %d steps in %.1f min", meta["steps"], meta["minutes"])
    return HifiGanVocoder.from_tensors(tensors, meta["config"], device="cpu"), int(meta["steps"])


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="*", default=["drums"],
                        help="set names under shared/datasets, or folders (one table each)")
    parser.add_argument("--max-files", type=int, default=0, help="use at most this many files (0 = all)")
    parser.add_argument("--gl-iters", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0 = torch default)")
    parser.add_argument("--out", type=Path, default=OUT, help="markdown file to write")
    parser.add_argument("--hifigan-minutes", type=float, default=0.0,
                        help="> 0: train a per-model HiFi-GAN on the index files for this long and measure it")
    parser.add_argument("--figures", type=Path, default=None,
                        help="folder for one spectrogram PNG per set: held-out files through every vocoder")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    text = "\n".join(run_set(Path(d) if Path(d).is_dir() else DATASETS / d, args) for d in args.datasets)
    atomic_write_text(args.out, text)
    sys.stdout.write(text)
    return text


def run_set(folder: Path, args: argparse.Namespace) -> str:
    """Benchmark one folder of recordings; returns its markdown section."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".flac", ".wav", ".ogg"})
    if args.max_files:
        files = files[: args.max_files]
    train = [f for i, f in enumerate(files) if i % 3 != 2]
    held = [f for i, f in enumerate(files) if i % 3 == 2]
    logmel = LogMel(CONFIG)
    t0 = time.perf_counter()
    index = CorpusIndex.build(train, CONFIG)
    build_s = time.perf_counter() - t0
    original = OriginalAudio()
    makers: list[tuple[str, Callable[[], Vocoder]]] = [
        ("original (ceiling)", lambda: original),
        ("corpus", lambda: CorpusVocoder(index, GrainSettings())),
    ]
    found, missing = neural_vocoders()
    if args.hifigan_minutes > 0:
        hifigan, steps = train_hifigan(train, args.hifigan_minutes)
        missing = [m for m in missing if not m.startswith("hifigan")]
        makers.append((f"hifigan ({args.hifigan_minutes:g} min, {steps} steps)", lambda: hifigan))
    makers += found
    makers.append(("refinement alone, from noise (control)", lambda: RefinementOnly()))
    makers.append((f"griffin-lim {args.gl_iters} it (floor)", lambda: GriffinLimFloor(args.gl_iters)))
    clips = [load_mono(f) for f in held]
    mels = [logmel(torch.from_numpy(x)) for x in clips]
    frames_30s = int(30 * CONFIG.sampling_rate // CONFIG.hop_length)
    long_mel = torch.cat(mels * (frames_30s // sum(m.shape[1] for m in mels) + 1), dim=1)[:, :frames_30s]
    rows = []
    panels: list[tuple[str, list[Any]]] = []
    for name, make in makers:
        vocoder = make()
        l1s, mrs = [], []
        panels.append((name.split(" (")[0], []))
        for i, (x, m) in enumerate(zip(clips, mels)):
            original.current = x
            y = vocoder.synthesize(m)
            assert y.shape == x.shape, (name, y.shape, x.shape)
            if i < FIGURE_CLIPS:
                panels[-1][1].append((held[i].name, y))
            l1s.append(float((logmel(torch.from_numpy(y)) - m).abs().mean()))
            mrs.append(mrstft_distance(y, x))
        rtf, mem = (0.0, float("nan")) if name.startswith("original") else speed_and_memory(vocoder, long_mel)
        rows.append((name, np.mean(l1s), np.mean(mrs), rtf, mem))
        log.info("%s: mel L1 %.3f, MR-STFT %.3f, RTF %.3f", name, rows[-1][1], rows[-1][2], rtf)
    lines = [
        f"# Vocoders on held-out `{folder.name}` recordings",
        "",
        f"{len(train)} files index the corpus ({index.num_frames} frames, {index.duration_seconds:.1f} s, "
        f"built in {build_s:.1f} s); {len(held)} held-out files ({sum(len(c) for c in clips) / 44100:.1f} s) "
        f"are rendered from their log-mel. Lower is better. RTF = seconds per second of audio for 30 s; "
        f"memory = peak RSS growth while rendering those 30 s (MiB). CPU: {torch.get_num_threads()} threads.",
        "",
        "| vocoder | mel L1 | MR-STFT | RTF (30 s) | peak memory MiB |",
        "|---|---|---|---|---|",
    ]
    for name, l1, mr, rtf, mem in rows:
        mem_s = "-" if np.isnan(mem) else f"{mem:.0f}"
        lines.append(f"| {name} | {l1:.3f} | {mr:.3f} | {rtf:.3f} | {mem_s} |")
    lines += ["", *[f"- {m}" for m in missing], ""]
    if args.figures is not None:
        from _spectrograms import Panel, render_figure

        path = render_figure([(label, [Panel(title, y) for title, y in row]) for label, row in panels],
                             args.figures / f"{folder.name}.png",
                             title=f"held-out {folder.name}: the original and each vocoder's rendering of its mel")
        lines += [f"![held-out {folder.name} through each vocoder]({path.name})", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main()
