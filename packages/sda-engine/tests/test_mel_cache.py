"""The cached recipe's data: windows equal the log-mel of the audio they cover, short files end in silence (not a
loop), one-shot windows start at onsets, the memory bound holds, and a seeded generator draws the same windows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sda_audio.augment import default_augmentation
from sda_engine.train.data import HOP, SAMPLE_RATE, AudioItem
from sda_engine.train.mel_cache import MelCache
from sda_models.mel import LogMel

MEL = LogMel()
SEG = 32


def _to_mel(wave: torch.Tensor) -> torch.Tensor:
    return MEL(wave)  # not normalised: the test compares log-mels directly


def _hit(seconds: float, onset: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    x = rng.standard_normal(t.size) * np.exp(-np.maximum(t - onset, 0) / 0.05) * (t >= onset)
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def _items() -> list[AudioItem]:
    long = AudioItem(Path("long.wav"), _hit(2.0, 0.5, 1))
    short_audio = _hit(0.1, 0.0, 2)  # shorter than a window: padded (by TrainingData) and cached as it is
    short = AudioItem(Path("short.wav"), np.concatenate([short_audio, np.zeros(SEG * HOP, np.float32)]),
                      looped=True, length=short_audio.size)
    return [long, short]


def test_windows_are_the_audio_log_mels_and_short_files_end_in_silence() -> None:
    items = _items()
    cache = MelCache(items, _to_mel, SEG, 0, 512, None, 0, HOP)
    full = _to_mel(torch.from_numpy(items[0].original)[None])[0]
    g = torch.Generator().manual_seed(0)
    batch = cache.sample(64, g)
    assert batch.shape == (64, full.shape[0], SEG)
    # every window from the long file is a slice of its log-mel
    found_long = found_short = 0
    for w in batch:
        starts = [s for s in range(full.shape[-1] - SEG + 1) if torch.equal(full[:, s:s + SEG], w)]
        if starts:
            found_long += 1
            continue
        short = _to_mel(torch.from_numpy(items[1].original)[None])[0]
        assert torch.equal(w[:, :short.shape[-1]], short)  # the short file, from its start
        assert torch.equal(w[:, short.shape[-1]:], cache.silence[:, None].expand(-1, SEG - short.shape[-1]))
        found_short += 1
    assert found_long and found_short
    silent = _to_mel(torch.zeros(1, 4 * HOP))[0]
    assert torch.allclose(cache.silence, silent[:, 0])


def test_the_same_generator_draws_the_same_windows() -> None:
    cache = MelCache(_items(), _to_mel, SEG, 2, 512, default_augmentation(), 3, HOP)
    a = cache.sample(8, torch.Generator().manual_seed(5))
    b = cache.sample(8, torch.Generator().manual_seed(5))
    c = cache.sample(8, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    again = MelCache(_items(), _to_mel, SEG, 2, 512, default_augmentation(), 3, HOP)
    assert all(torch.equal(x, y) for cx, cy in zip(cache.copies, again.copies) for x, y in zip(cx, cy))


def test_the_memory_bound_limits_the_augmented_copies() -> None:
    items = _items()
    per_copy = sum(_to_mel(torch.from_numpy(it.original)[None]).numel() for it in items) * 4 / 2**20
    cache = MelCache(items, _to_mel, SEG, 8, per_copy * 3.5, default_augmentation(), 0, HOP)
    assert cache.report.variants == 2 and cache.report.wanted == 8 and len(cache.copies) == 3
    assert "of 8 asked: the memory bound" in cache.report.describe()
    assert cache.report.megabytes == pytest.approx(3 * per_copy)
    none = MelCache(items, _to_mel, SEG, 8, per_copy * 3.5, None, 0, HOP)  # no augmentation: no copies
    assert none.report.variants == 0 and len(none.copies) == 1


def test_onset_windows_start_just_before_an_onset() -> None:
    items = [AudioItem(Path("late.wav"), _hit(2.0, 1.0, 4))]
    cache = MelCache(items, _to_mel, SEG, 0, 512, None, 0, HOP, onset_share=1.0)
    assert cache.onsets[0], "the hit's onset was found"
    onset_frame = int(1.0 * SAMPLE_RATE) // HOP
    full = _to_mel(torch.from_numpy(items[0].original)[None])[0]
    for w in cache.sample(8, torch.Generator().manual_seed(0)):
        start = next(s for s in range(full.shape[-1] - SEG + 1) if torch.equal(full[:, s:s + SEG], w))
        assert onset_frame - 6 <= start <= onset_frame  # a few frames of lead-in before the attack
