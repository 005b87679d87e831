"""The sound-quality yardstick ranks known cases correctly, so its verdicts can be trusted."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio

from sda_audio import quality as q

SR = 44100


def _plucks(seed: int, seconds: float = 3.0) -> np.ndarray:
    """A phrase of plucked harmonic notes with noisy attacks at irregular times."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * SR))
    t = np.arange(int(0.8 * SR)) / SR
    start = 0
    while start < out.size:
        f0 = 110.0 * 2 ** (rng.integers(0, 24) / 12)
        note = sum((0.6**k) * np.sin(2 * np.pi * f0 * (k + 1) * t) for k in range(12) if f0 * (k + 1) < 18000)
        note = note * np.exp(-t * rng.uniform(3, 8))
        note[:200] += rng.standard_normal(200) * np.linspace(1, 0, 200) * 0.5
        end = min(out.size, start + note.size)
        out[start:end] += note[: end - start]
        start += int(rng.uniform(0.2, 0.6) * SR)
    return out / np.abs(out).max() * 0.5


@pytest.fixture(scope="module")
def phrase_set() -> list[tuple[np.ndarray, int]]:
    return [(_plucks(seed), SR) for seed in range(6)]


def _distance(clips: list[tuple[np.ndarray, int]], reference: list[tuple[np.ndarray, int]]) -> float:
    return q.frechet_distance(q.embed_set(clips), q.embed_set(reference))


def _lowpass(x: np.ndarray, sr: int, cutoff: float) -> np.ndarray:
    return torchaudio.functional.lowpass_biquad(torch.from_numpy(x), sr, cutoff).numpy()


def _assert_ranking(reference: list[tuple[np.ndarray, int]]) -> None:
    copies = _distance(reference, reference)
    lowpassed = _distance([(_lowpass(x, sr, 8000.0), sr) for x, sr in reference], reference)
    shuffled = _distance([(q.shuffled_grains(x, sr, seed=i), sr) for i, (x, sr) in enumerate(reference)], reference)
    noise = _distance([(q.pink_noise(x.size, seed=i), sr) for i, (x, sr) in enumerate(reference)], reference)
    assert copies < lowpassed < shuffled < noise, (copies, lowpassed, shuffled, noise)
    assert abs(copies) < 1e-3


def test_frechet_ranks_copies_lowpassed_shuffled_noise(phrase_set) -> None:
    _assert_ranking(phrase_set)


def test_frechet_ranks_real_recordings(shared_datasets) -> None:
    clips = []
    for path in sorted((shared_datasets / "ambient").glob("*.flac"))[:6]:
        audio, sr = sf.read(path, dtype="float32", always_2d=True)
        clips.append((audio.T.mean(axis=0).astype(np.float64), sr))
    _assert_ranking(clips)


def test_embedding_ignores_playback_level(phrase_set) -> None:
    x, sr = phrase_set[0]
    np.testing.assert_allclose(q.window_embeddings(x, sr), q.window_embeddings(x * 0.05, sr), atol=1e-6)


def test_click_train_onset_rate_is_counted_right() -> None:
    x = np.zeros(SR * 4)
    x[:: SR // 4] = 1.0
    assert q.onset_rate(x, SR) == pytest.approx(4.0, rel=0.05)
    x2 = np.zeros(SR * 4)
    x2[:: SR // 10] = 1.0
    assert q.onset_rate(x2, SR) == pytest.approx(10.0, rel=0.05)


def test_steady_drone_has_no_strokes_and_a_shallow_floor() -> None:
    t = np.arange(SR * 3) / SR
    drone = 0.3 * np.sin(2 * np.pi * 110 * t) + 0.1 * np.sin(2 * np.pi * 220 * t)
    assert q.onset_rate(drone, SR) <= 1 / 3 + 1e-9  # at most the start
    bursts = np.zeros(SR * 3)
    burst = np.random.default_rng(1).standard_normal(int(0.06 * SR)) * np.exp(-np.arange(int(0.06 * SR)) / 800)
    for start in range(0, bursts.size - burst.size, SR // 4):
        bursts[start: start + burst.size] += burst
    assert q.quiet_floor_db(drone, SR) < 3.0
    assert q.quiet_floor_db(bursts, SR) > 40.0


def test_near_silent_dc_signal_fails_hygiene(phrase_set) -> None:
    levels = [q.rms_db(x) for x, _ in phrase_set]
    silent = float(np.mean([q.silent_fraction(x, sr) for x, sr in phrase_set]))
    dc = np.full(SR * 3, 0.004) + np.random.default_rng(0).standard_normal(SR * 3) * 4e-4
    report = q.hygiene(dc, SR, set_level_db=float(np.median(levels)), set_silent_fraction=silent)
    assert not report.ok
    assert any("DC" in f for f in report.failures)
    assert any("level" in f for f in report.failures)
    good = q.hygiene(phrase_set[1][0], SR, set_level_db=float(np.median(levels)), set_silent_fraction=silent)
    assert good.ok, good.failures


def test_hygiene_flags_clipping_and_ultrasonic_energy(phrase_set) -> None:
    x, sr = phrase_set[0]
    clipped = np.clip(x * 20, -1, 1)
    assert any("clipping" in f for f in q.hygiene(clipped, sr, q.rms_db(x), 0.0).failures)
    t = np.arange(sr * 2) / sr
    whistle = 0.3 * np.sin(2 * np.pi * 21000 * t)
    assert any("20 kHz" in f for f in q.hygiene(whistle, sr, q.rms_db(whistle), 0.0).failures)


def test_novelty_separates_copies_from_new_material(phrase_set) -> None:
    training = q.embed_set(phrase_set[:4])
    held_out = q.embed_set(phrase_set[4:])
    copies = q.novelty(q.embed_set(phrase_set[:2]), training, held_out)
    new = q.novelty(q.embed_set([(_plucks(seed), SR) for seed in (10, 11)]), training, held_out)
    assert copies < 0.05
    assert 0.5 < new < 2.0
