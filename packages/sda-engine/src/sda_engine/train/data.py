"""Training data: audio files → seeded random segments (augmented) → log-mel batches.

- Every file is read mono at the mel sample rate (:class:`~sda_models.mel.MelConfig`, 44.1 kHz) by
  :func:`load_mono`, the same reading the corpus index uses (:func:`sda_audio.io.read_audio`). Files shorter
  than a training segment are followed by silence up to the segment length (``pad_short``, the cached recipe)
  or looped (the first recipe) and named in an event.
- Validation is split **by file** (seeded). With fewer than :data:`MIN_FILES_FOR_FILE_SPLIT` files,
  a window at the end of each long-enough file is held out instead, and an ``info`` event says so.
- Segments are drawn with a seeded CPU ``torch.Generator`` (its state is checkpointed, so a resumed
  run draws the same segments); augmentation runs on the waveform before the log-mel.
- Normalisation statistics (:class:`~sda_models.normalization.MelStats`) come from the training
  audio only.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sda_audio.errors import SdaError
from sda_audio.progress import ProgressCallback, ProgressEvent, ignore_events
from sda_models.mel import MelConfig

log = logging.getLogger(__name__)

SAMPLE_RATE = MelConfig().sampling_rate
HOP = MelConfig().hop_length
MIN_FILES_FOR_FILE_SPLIT = 6

Augment = Callable[[torch.Tensor, int, torch.Generator], torch.Tensor]


def list_dataset_files(folder_or_files: str | Path | Sequence[str | Path]) -> list[Path]:
    """Audio files of a dataset folder (recursive, sorted) or an explicit list of files."""
    from sda_audio.dataset import list_audio_files

    return [Path(p) for p in list_audio_files(folder_or_files)]


def load_mono(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read ``path`` as mono float32 at ``sample_rate``: shape ``(T,)``.

    Channels are averaged, then resampled with the anti-aliased sinc resampler
    (:func:`sda_audio.io.read_audio`); the corpus index reads its files the same way, so a model's training
    audio and its corpus grains are the same samples.
    """
    from sda_audio.io import read_audio

    clip = read_audio(path, sample_rate=sample_rate, mono=True)
    return np.ascontiguousarray(np.asarray(clip.samples, dtype=np.float32).reshape(-1))


@dataclass
class AudioItem:
    """One file's audio used for training or validation.

    Attributes:
        path: the source file.
        samples: mono float32 ``(T,)`` at :data:`SAMPLE_RATE` (looped up to a segment if it was shorter).
        looped: whether the file was shorter than a segment and had to be looped.
    """

    path: Path
    samples: np.ndarray
    looped: bool = False
    length: int | None = None
    """Samples of the file before it was looped (``None``: all of :attr:`samples`)."""

    @property
    def original(self) -> np.ndarray:
        """The file's audio as it is, not looped."""
        return self.samples if self.length is None else self.samples[: self.length]


@dataclass(frozen=True)
class SplitInfo:
    """How validation was split: ``"files"`` or ``"tail-windows"`` (or ``"none"``)."""

    method: str
    train_files: tuple[str, ...]
    val_files: tuple[str, ...]


NAMED_IN_A_LINE = 20
"""At most this many file names in one event line (a corpus of thousands of short notes would fill a screen);
the event's data keeps every name."""


def _some(names: list[str]) -> str:
    shown = ", ".join(names[:NAMED_IN_A_LINE])
    return shown if len(names) <= NAMED_IN_A_LINE else f"{shown} and {len(names) - NAMED_IN_A_LINE} more"


def _pad_to(samples: np.ndarray, length: int) -> np.ndarray:
    return np.concatenate([samples, np.zeros(max(0, length - len(samples)), np.float32)]).astype(np.float32)


def _loop_to(samples: np.ndarray, length: int) -> np.ndarray:
    if len(samples) == 0:
        return np.zeros(length, np.float32)
    reps = math.ceil(length / len(samples))
    return np.tile(samples, reps)[:length].astype(np.float32)


class TrainingData:
    """Seeded segment sampler over a set of audio files.

    Args:
        files: audio files (any format sda can read; read by :func:`load_mono`).
        segment_samples: training segment length in samples (a multiple of the mel hop).
        seed: seeds the validation split and the segment generator.
        augment: waveform augmentation ``(C, T), sr, generator -> (C, T)``, or ``None`` for none.
        val_fraction: share of files (or of each file's length) held out for validation.
        on_event / job: receive ``warning``/``info`` events about the audio (looped files, the split).
        pad_short: fill files shorter than a segment with silence (the cached recipe: a one-shot's decay to
            silence is what it is) instead of looping them (the first recipe).
    """

    def __init__(
        self,
        files: Sequence[str | Path],
        segment_samples: int,
        seed: int = 0,
        augment: Augment | None = None,
        val_fraction: float = 0.15,
        on_event: ProgressCallback = ignore_events,
        job: str = "train",
        pad_short: bool = False,
    ) -> None:
        if not files:
            raise SdaError("no audio files to train on", hint="add 5 or more recordings to the dataset folder")
        self.segment_samples = int(segment_samples)
        self.seed = int(seed)
        self.augment = augment
        self.generator = torch.Generator(device="cpu")
        self.generator.manual_seed(self.seed)
        items = [AudioItem(Path(f), load_mono(f)) for f in files]
        short = []
        for it in items:
            if len(it.samples) < self.segment_samples:
                short.append(it.path.name)
                it.length = len(it.samples)
                it.samples = (_pad_to if pad_short else _loop_to)(it.samples, self.segment_samples)
                it.looped = True
        if short and pad_short:
            on_event(ProgressEvent(job, "info", message=(
                f"{len(short)} file(s) shorter than a training segment "
                f"({self.segment_samples / SAMPLE_RATE:.2f} s) are followed by silence to fill it: "
                f"{_some(short)}"), data={"padded_files": short}))
        elif short:
            on_event(ProgressEvent(job, "warning", message=(
                f"{len(short)} file(s) shorter than a training segment "
                f"({self.segment_samples / SAMPLE_RATE:.2f} s) were looped to fill it: {_some(short)}"),
                data={"looped_files": short}))
        self.all_items = items
        self.train_items, self.val_items, self.split = self._split(items, val_fraction)
        if self.split.method == "tail-windows":
            on_event(ProgressEvent(job, "info", message=(
                f"only {len(items)} files: validation uses a window held out from the end of each file "
                "instead of whole files, so it checks fit rather than generalisation"),
                data={"split": "tail-windows"}))
        elif self.split.method == "none":
            on_event(ProgressEvent(job, "warning", message=(
                "files are too short to hold any audio out for validation; early stopping and overfitting "
                "warnings are off"), data={"split": "none"}))
        lengths = np.array([len(it.samples) - self.segment_samples + 1 for it in self.train_items], np.float64)
        self._weights = torch.from_numpy(np.maximum(lengths, 1.0))

    # -- splitting ---------------------------------------------------------------------------
    def _split(self, items: list[AudioItem], val_fraction: float
               ) -> tuple[list[AudioItem], list[AudioItem], SplitInfo]:
        if len(items) >= MIN_FILES_FOR_FILE_SPLIT:
            n_val = max(1, round(val_fraction * len(items)))
            order = np.random.default_rng(self.seed).permutation(len(items))
            val_idx = set(order[:n_val].tolist())
            train = [it for i, it in enumerate(items) if i not in val_idx]
            val = [it for i, it in enumerate(items) if i in val_idx]
            return train, val, SplitInfo("files", tuple(str(i.path) for i in train), tuple(str(i.path) for i in val))
        train, val = [], []
        for it in items:
            n = len(it.samples)
            hold = max(self.segment_samples, int(val_fraction * n))
            if not it.looped and n - hold >= self.segment_samples:
                train.append(AudioItem(it.path, it.samples[: n - hold], False))
                val.append(AudioItem(it.path, it.samples[n - hold:], False))
            else:
                train.append(it)
        method = "tail-windows" if val else "none"
        names = tuple(str(i.path) for i in items)
        return train, val, SplitInfo(method, names, tuple(str(i.path) for i in val))

    # -- sampling ----------------------------------------------------------------------------
    def sample_waves(self, batch_size: int, augment: bool = True) -> torch.Tensor:
        """A batch of random training segments ``(B, segment_samples)`` (CPU, float32)."""
        g = self.generator
        idx = torch.multinomial(self._weights, batch_size, replacement=True, generator=g)
        out = torch.empty(batch_size, self.segment_samples)
        for b, i in enumerate(idx.tolist()):
            samples = self.train_items[i].samples
            max_off = len(samples) - self.segment_samples
            off = int(torch.randint(0, max_off + 1, (1,), generator=g).item()) if max_off > 0 else 0
            seg = torch.from_numpy(samples[off: off + self.segment_samples].copy())
            augmenter = self.augment
            if augment and augmenter is not None:
                seg = augmenter(seg.unsqueeze(0), SAMPLE_RATE, g).reshape(-1)
                seg = _fit(seg, self.segment_samples)
            out[b] = seg
        return out

    def validation_waves(self, max_windows: int = 16) -> torch.Tensor:
        """Fixed, non-overlapping validation windows ``(N, segment_samples)`` (no augmentation)."""
        return _windows(self.val_items, self.segment_samples, max_windows)

    def train_windows(self, max_windows: int = 16) -> torch.Tensor:
        """Fixed windows from the training files (for reconstruction reports), ``(N, segment_samples)``."""
        return _windows(self.train_items, self.segment_samples, max_windows)

    def training_audio(self, max_seconds_per_file: float = 60.0) -> list[torch.Tensor]:
        """Training audio per file (capped), for statistics, code extraction and corpus indexes."""
        cap = int(max_seconds_per_file * SAMPLE_RATE)
        return [torch.from_numpy(it.samples[:cap].copy()) for it in self.train_items]

    def mel_stats(self, mel: Callable[[torch.Tensor], torch.Tensor], max_seconds_per_file: float = 60.0):
        """:class:`MelStats` over the training audio (``mel``: wave ``(B, T)`` → ``(B, 128, F)``)."""
        from sda_models.normalization import MelStats

        with torch.no_grad():
            mels = [mel(w.unsqueeze(0))[0] for w in self.training_audio(max_seconds_per_file)]
        return MelStats.from_mels(mels)

    def loudness_quantiles(self, mel: Callable[[torch.Tensor], torch.Tensor],
                           max_seconds_per_file: float = 60.0) -> list[float]:
        """Quantiles of frame loudness over the training audio (see :mod:`sda_models.loudness_match`)."""
        from sda_models.loudness_match import loudness_quantiles

        with torch.no_grad():
            return loudness_quantiles(mel(w.unsqueeze(0))[0] for w in self.training_audio(max_seconds_per_file))

    @property
    def total_seconds(self) -> float:
        return float(sum(len(it.samples) for it in self.all_items)) / SAMPLE_RATE


def _fit(seg: torch.Tensor, length: int) -> torch.Tensor:
    if seg.numel() >= length:
        return seg[:length]
    return torch.nn.functional.pad(seg, (0, length - seg.numel()))


def _windows(items: list[AudioItem], length: int, max_windows: int) -> torch.Tensor:
    wins: list[np.ndarray] = []
    per_file = [list(range(0, max(1, len(it.samples) - length + 1), length)) for it in items]
    # round-robin across files so every file is represented
    depth = 0
    while len(wins) < max_windows and any(depth < len(p) for p in per_file):
        for it, offs in zip(items, per_file):
            if depth < len(offs) and len(wins) < max_windows:
                seg = it.samples[offs[depth]: offs[depth] + length]
                if len(seg) == length:
                    wins.append(seg)
        depth += 1
    if not wins:
        return torch.zeros(0, length)
    return torch.from_numpy(np.stack(wins).astype(np.float32))
