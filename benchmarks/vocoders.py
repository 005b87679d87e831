"""Vocoder quality and speed, side by side, on held-out real recordings.

For one set of /work/shared/datasets (or any folder of audio), files are split by index: two thirds
train the corpus index, the held-out third is rendered. Each held-out file's canonical log-mel goes
through every available vocoder; the result is scored against the original by the mel round-trip
L1 and a multi-resolution STFT distance. Griffin-Lim (64 iterations on a least-squares mel inverse)
is the floor, the original audio the ceiling (0 by construction: it checks the measurement). Speed:
real-time factor for 30 s of audio, and peak memory (the growth of the peak RSS while rendering it).

    uv run --no-sync python benchmarks/vocoders.py drums loops ambient
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
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


def split_set(folder: Path, max_files: int = 0) -> tuple[list[Path], list[Path]]:
    """``(train, held_out)``: the folder's audio files in name order (the first ``max_files`` when > 0);
    every third file (index i % 3 == 2) is held out."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".flac", ".wav", ".ogg"})
    if max_files:
        files = files[:max_files]
    return [f for i, f in enumerate(files) if i % 3 != 2], [f for i, f in enumerate(files) if i % 3 == 2]


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


def _proc_status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise OSError(f"no {field} in /proc/self/status")


def _timed_render(vocoder: Vocoder, mel: torch.Tensor) -> tuple[float, float]:
    """Seconds to render ``mel`` and the growth of this process's peak RSS meanwhile (MiB; Linux only)."""
    linux = sys.platform.startswith("linux")
    if linux:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        base = _proc_status_kib("VmRSS")
    t0 = time.perf_counter()
    vocoder.synthesize(mel)
    seconds = time.perf_counter() - t0
    return seconds, (_proc_status_kib("VmHWM") - base) / 1024 if linux else float("nan")


def _timed_render_in_child(vocoder: Vocoder, mel: torch.Tensor, queue: Any) -> None:
    queue.put(_timed_render(vocoder, mel))


def speed_and_memory(vocoder: Vocoder, mel: torch.Tensor) -> tuple[float, float]:
    """Real-time factor for ``mel`` and peak memory growth (MiB) while rendering it.

    On Linux with one torch thread the render runs in a forked child, which starts from a clean peak
    of its own. With more threads it runs here (forking a process whose thread pool runs several
    threads can deadlock); memory freed by earlier renders and kept by the allocator makes that figure
    lower. On CUDA the allocator's peak is used; elsewhere only the time is measured.
    """
    seconds_of_audio = mel.shape[1] * CONFIG.hop_length / CONFIG.sampling_rate
    device = getattr(vocoder, "device", torch.device("cpu"))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        t0 = time.perf_counter()
        vocoder.synthesize(mel)
        torch.cuda.synchronize(device)
        peak = (torch.cuda.max_memory_allocated(device) - base) / 2**20
        return (time.perf_counter() - t0) / seconds_of_audio, peak
    if sys.platform.startswith("linux") and torch.get_num_threads() == 1:
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        proc = ctx.Process(target=_timed_render_in_child, args=(vocoder, mel, queue))
        proc.start()
        seconds, mem = queue.get()
        proc.join()
    else:
        seconds, mem = _timed_render(vocoder, mel)
    return seconds / seconds_of_audio, mem


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


def train_hifigan(files: list[Path], minutes: float, seed: int = 0, device: str = "cpu",
                  save_to: Path | None = None) -> tuple[Vocoder, int, float]:
    """A per-model HiFi-GAN trained on ``files`` for ``minutes`` through the engine's vocoder stage, on ``device``:
    ``(vocoder, steps, training minutes)``.

    With ``save_to``, the generator is kept there (safetensors, its config and step count in the metadata) so
    the measurement can be repeated with ``--hifigan-from`` without training again.
    """
    from safetensors.torch import save_file

    from sda_audio.atomic import atomic_path
    from sda_audio.progress import ignore_events
    from sda_engine.train.vocoder import train_vocoder_for
    from sda_engine.train.vocoder_stage import VocoderPlan, vocoder_training_data
    from sda_models.vocoders.hifigan import HifiGanVocoder

    data = vocoder_training_data(files, seed)
    tensors, meta = train_vocoder_for(data, torch.device(device), VocoderPlan(minutes=minutes), ignore_events, None,
                                      seed=seed)
    log.info("hifigan: %d steps in %.1f min on %s", meta["steps"], meta["minutes"], device)
    if save_to is not None:
        save_to.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(save_to) as tmp:
            save_file(tensors, str(tmp), metadata={"config": json.dumps(meta["config"]), "steps": str(meta["steps"]),
                                                  "minutes": f"{meta['minutes']:.2f}"})
    vocoder = HifiGanVocoder.from_tensors(tensors, meta["config"], device=device)
    return vocoder, int(meta["steps"]), float(meta["minutes"])


def load_hifigan(path: Path, device: str = "cpu") -> tuple[Vocoder, int, float]:
    """A generator kept by :func:`train_hifigan`: ``(vocoder, steps, training minutes)``."""
    from safetensors import safe_open

    from sda_models.vocoders.hifigan import HifiGanVocoder

    with safe_open(str(path), "pt") as handle:
        meta = handle.metadata()
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    vocoder = HifiGanVocoder.from_tensors(tensors, json.loads(meta["config"]), device=device)
    return vocoder, int(meta["steps"]), float(meta["minutes"])


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
    parser.add_argument("--hifigan-from", type=Path, default=None,
                        help="measure a generator kept by an earlier --hifigan-minutes run instead of training one")
    parser.add_argument("--device", default="cpu",
                        help="where the per-model HiFi-GAN trains and renders (cpu, cuda, mps)")
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
    train, held = split_set(folder, args.max_files)
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
    if args.hifigan_from is not None or args.hifigan_minutes > 0:
        if args.hifigan_from is not None:
            hifigan, steps, minutes = load_hifigan(args.hifigan_from, args.device)
        else:
            kept = OUT.parent / f"hifigan-{folder.name}.safetensors"
            hifigan, steps, minutes = train_hifigan(train, args.hifigan_minutes, device=args.device, save_to=kept)
        missing = [m for m in missing if not m.startswith("hifigan")]
        where = "" if args.device == "cpu" else f" on {args.device}"
        makers.append((f"hifigan ({minutes:.1f} min{where}, {steps} steps)", lambda: hifigan))
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
