"""The default recipe's data pipeline: the training audio's log-mels computed once, sampled many times.

The first recipe augmented waveform segments and computed their log-mels at every step; on a CPU that cost more
than the step of a tiny model, so in a fixed time the model saw a tenth of the windows it could have
(docs/benchmarks.md). :class:`MelCache` computes, before the first step:

- the normalised log-mel of every training file as it is (variant 0), short files **not** looped: a window
  that runs past a file's end is filled with silence (the normalised log-mel of a silent frame), so a one-shot's
  decay to silence is what the model learns, not a loop's restart;
- the same for ``variants`` augmented copies of every file (the whole file through the augmentation chain, each
  copy with its own seeded generator), as many as fit in ``max_megabytes`` (the clean copy always counts).

A step draws ``batch`` windows with the checkpointed sampler generator: a file (weighted by its length), a copy
(uniformly), an offset (uniformly; with ``onset_share`` > 0, that share of windows starts just before one of the
file's onsets, so the attacks of a one-shot set sit at a window's start as they will when it is generated). A
window of the cache equals the log-mel of the same stretch of audio except in its first and last two frames
(the STFT's centred edges), which the model sees either way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from sda_audio.events import detect_events
from sda_engine.train.data import SAMPLE_RATE, AudioItem

Augment = Callable[[torch.Tensor, int, torch.Generator], torch.Tensor]

ONSET_PREROLL_FRAMES = 2
"""Frames before an onset where an onset-aligned window starts (~12 ms at hop 256)."""


@dataclass(frozen=True)
class CacheReport:
    """What was cached: ``variants`` augmented copies (besides the clean one) of ``seconds`` of audio in
    ``megabytes``, built in ``build_seconds``; ``wanted``: the copies asked for."""

    variants: int
    wanted: int
    seconds: float
    megabytes: float
    build_seconds: float
    onset_share: float

    def describe(self) -> str:
        fitted = "" if self.variants == self.wanted else f" (of {self.wanted} asked: the memory bound)"
        onsets = f"; {self.onset_share:.0%} of windows start at an onset" if self.onset_share else ""
        return (f"log-mels of {self.seconds:.0f} s of training audio cached with {self.variants} augmented "
                f"copies{fitted}: {self.megabytes:.0f} MB, built in {self.build_seconds:.1f} s{onsets}")


def frames_of(items: Sequence[AudioItem], hop: int) -> int:
    """Log-mel frames of the items' audio as it is (centred STFT: one frame per hop, plus one)."""
    return sum(len(it.original) // hop + 1 for it in items)


class MelCache:
    """Normalised log-mels of the training files and their augmented copies (see the module).

    Args:
        items: the training files' audio (their :attr:`~sda_engine.train.data.AudioItem.original` is cached).
        to_mel: waveform ``(1, T)`` -> normalised log-mel ``(1, n_mels, F)`` (CPU).
        segment_frames: the window length in frames.
        variants: augmented copies wanted; ``augment``: the chain (``None``: none are made).
        max_megabytes: memory bound of the whole cache.
        seed: seeds the copies (copy ``v`` uses its own generator seeded from ``seed`` and ``v``).
        onset_share: share of windows that start just before an onset (one-shot sets).
    """

    def __init__(self, items: Sequence[AudioItem], to_mel: Callable[[torch.Tensor], torch.Tensor],
                 segment_frames: int, variants: int, max_megabytes: float, augment: Augment | None,
                 seed: int, hop: int, onset_share: float = 0.0) -> None:
        t0 = time.monotonic()
        self.segment_frames = int(segment_frames)
        self.hop = hop
        with torch.no_grad():
            silence = to_mel(torch.zeros(1, 4 * hop))[0]
            self.silence = silence[:, silence.shape[-1] // 2].clone()  # (n_mels,): a silent frame, normalised
            clean = [to_mel(torch.from_numpy(np.ascontiguousarray(it.original))[None])[0].contiguous()
                     for it in items]
        per_copy = sum(m.numel() for m in clean) * 4 / 2**20
        fit = max(0, int(max_megabytes // max(per_copy, 1e-9)) - 1)
        wanted = variants if augment is not None else 0
        n_copies = min(wanted, fit)
        self.copies: list[list[torch.Tensor]] = [clean]
        for v in range(1, n_copies + 1):
            g = torch.Generator().manual_seed(int(seed) * 1009 + v)
            with torch.no_grad():
                copy = []
                for it in items:
                    assert augment is not None
                    wave = augment(torch.from_numpy(np.ascontiguousarray(it.original))[None], SAMPLE_RATE, g)
                    copy.append(to_mel(wave.reshape(1, -1))[0].contiguous())
            self.copies.append(copy)
        self.onset_share = float(onset_share)
        self.onsets = [self._onset_frames(it) for it in items] if onset_share > 0 else [[] for _ in items]
        lengths = np.array([max(1, m.shape[-1] - self.segment_frames + 1) for m in clean], np.float64)
        self.weights = torch.from_numpy(lengths)
        self.report = CacheReport(
            variants=n_copies, wanted=wanted, seconds=sum(len(it.original) for it in items) / SAMPLE_RATE,
            megabytes=per_copy * (n_copies + 1), build_seconds=time.monotonic() - t0, onset_share=self.onset_share)

    def _onset_frames(self, item: AudioItem) -> list[int]:
        events = detect_events(item.original, SAMPLE_RATE)
        return sorted({max(0, int(e.onset * SAMPLE_RATE) // self.hop - ONSET_PREROLL_FRAMES) for e in events.events})

    def sample(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        """``(batch, n_mels, segment_frames)`` windows drawn with ``generator`` (see the module)."""
        g, seg = generator, self.segment_frames
        idx = torch.multinomial(self.weights, batch, replacement=True, generator=g).tolist()
        copy = torch.randint(0, len(self.copies), (batch,), generator=g).tolist()
        pick = torch.rand(batch, generator=g).tolist()
        where = torch.rand(batch, generator=g).tolist()
        out = self.silence[None, :, None].repeat(batch, 1, seg)
        for b in range(batch):
            mel = self.copies[copy[b]][idx[b]]
            frames = mel.shape[-1]
            onsets = self.onsets[idx[b]]
            if onsets and pick[b] < self.onset_share:
                scale = frames / self.copies[0][idx[b]].shape[-1]  # a time-stretched copy moves its onsets
                start = min(frames - 1, int(onsets[int(where[b] * len(onsets))] * scale))
            else:
                start = int(where[b] * max(1, frames - seg + 1))
            part = mel[:, start:start + seg]
            out[b, :, :part.shape[-1]] = part
        return out
