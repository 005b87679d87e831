"""Onsets, events, pulse, floor and tail on synthetic signals whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sda_audio.errors import SdaError
from sda_audio.events import (
    FLOOR_DB,
    detect_events,
    envelope_db,
    estimate_tempo,
    inter_onset_intervals,
    ioi_cv,
    onset_strength,
    quiet_floor_db,
    tail_level_db,
)

SR = 22050


def hit(seconds: float = 0.4, decay: float = 0.06, freq: float = 180.0, seed: int = 0) -> np.ndarray:
    """A drum-like hit: a tone plus a noise burst, both decaying exponentially from sample 0."""
    t = np.arange(int(seconds * SR)) / SR
    noise = np.random.default_rng(seed).standard_normal(t.size)
    return np.exp(-t / decay) * (np.sin(2 * np.pi * freq * t) + 0.5 * noise * np.exp(-t / 0.01))


def place(total: float, times: list[float], voice: np.ndarray, gains: list[float] | None = None) -> np.ndarray:
    out = np.zeros(int(total * SR))
    for i, when in enumerate(times):
        s = int(when * SR)
        n = min(voice.size, out.size - s)
        out[s:s + n] += voice[:n] * (gains[i] if gains else 1.0)
    return out


def click_train(bpm: float = 120.0, seconds: float = 8.0) -> tuple[np.ndarray, list[float]]:
    period = 60.0 / bpm
    times = [float(t) for t in np.arange(0.1, seconds - 0.2, period)]
    return place(seconds, times, hit(0.3, decay=0.03)), times


def test_click_train_at_120_bpm() -> None:
    x, times = click_train()
    m = detect_events(x, SR)
    assert len(m.events) == len(times)
    np.testing.assert_allclose(m.onsets, times, atol=0.012)
    assert m.tempo_bpm is not None and abs(m.tempo_bpm - 120.0) <= 2.0
    assert m.tempo_confidence > 0.8
    assert m.ioi_cv < 0.05
    np.testing.assert_allclose(m.iois, 0.5, atol=0.012)
    assert all(e.decayed and e.gap_db < -30 for e in m.events[:-1])  # real gaps between the clicks
    assert np.all(np.abs(m.accents) < 1.0)  # equal hits, equal accents


def test_single_decaying_hit() -> None:
    x = hit(1.0, decay=0.1)
    m = detect_events(x, SR)
    assert len(m.events) == 1
    e = m.events[0]
    assert e.onset < 0.006 and e.attack < 0.010 and e.rise < 0.010
    assert e.decayed and e.end < 0.9 and e.accent == 0.0
    assert m.tail_db < -30  # the last 50 ms are far below the peak
    assert m.tempo_confidence < 0.3


def test_two_hits_second_onset_found_with_its_accent() -> None:
    x = place(1.5, [0.05, 0.7], hit(0.6), gains=[1.0, 0.5])
    m = detect_events(x, SR)
    assert len(m.events) == 2
    np.testing.assert_allclose(m.onsets, [0.05, 0.7], atol=0.012)
    assert m.events[1].accent == pytest.approx(-6.0, abs=1.0)
    assert m.events[0].end <= m.events[1].onset + 1e-9
    assert m.events[1].rise_db > 20


def test_hit_over_a_ringing_tail_is_a_second_event() -> None:
    x = place(2.0, [0.0, 0.5], hit(1.5, decay=0.5))  # the first still rings when the second comes
    m = detect_events(x, SR)
    assert len(m.events) == 2
    assert -12 < m.events[0].gap_db < -3 and not m.events[0].decayed


def test_pink_noise_has_no_onsets_after_its_start() -> None:
    white = np.random.default_rng(1).standard_normal(4 * SR)
    spec = np.fft.rfft(white)
    spec[1:] /= np.sqrt(np.arange(1, spec.size))
    pink = np.fft.irfft(spec, white.size)
    m = detect_events(pink, SR)
    assert all(e.onset < 0.05 for e in m.events)
    assert m.floor_db > m.peak_db - 10  # a continuous level
    assert m.sound_start < 0.02 and m.sound_end > 3.9


def test_gain_does_not_change_the_events() -> None:
    x = place(2.0, [0.1, 0.6, 1.2], hit())
    loud, soft = detect_events(x, SR), detect_events(x * 10 ** (-40 / 20), SR)
    np.testing.assert_allclose(loud.onsets, soft.onsets)
    assert soft.peak_db == pytest.approx(loud.peak_db - 40, abs=0.01)
    assert [e.gap_db for e in soft.events] == pytest.approx([e.gap_db for e in loud.events], abs=0.01)


def test_leading_silence_is_outside_the_sound() -> None:
    x = place(1.0, [0.3], hit(0.6))
    m = detect_events(x, SR)
    assert m.sound_start == pytest.approx(0.3, abs=0.012)
    assert m.events[0].onset == pytest.approx(0.3, abs=0.012)


def test_silence_and_shapes() -> None:
    m = detect_events(np.zeros(SR), SR)
    assert m.events == () and m.tempo_bpm is None and m.peak_db == FLOOR_DB
    stereo = np.stack([hit(), hit()])
    assert detect_events(stereo, SR).onsets == pytest.approx(detect_events(hit(), SR).onsets)
    assert detect_events(torch.from_numpy(hit()).float(), SR).events
    with pytest.raises(SdaError, match="NaN"):
        detect_events(np.full(100, np.nan), SR)
    with pytest.raises(SdaError, match="shaped"):
        detect_events(np.zeros((1, 2, 3)), SR)


def test_deterministic() -> None:
    x, _ = click_train(100.0, 4.0)
    a, b = detect_events(x, SR), detect_events(x, SR)
    assert a == b
    np.testing.assert_array_equal(a.strength, b.strength)


def test_helpers() -> None:
    assert inter_onset_intervals(np.array([1.0, 0.0, 0.5])) == pytest.approx([0.5, 0.5])
    assert ioi_cv(np.array([0.5, 0.5, 0.5])) == 0.0
    assert np.isnan(ioi_cv(np.array([0.5])))
    assert quiet_floor_db(np.arange(100.0), 10) == pytest.approx(9.9)
    x = hit(1.0, decay=0.1)
    assert tail_level_db(x, SR) < -30
    assert tail_level_db(np.ones(SR) * 0.5, SR) == pytest.approx(0.0, abs=0.1)
    env = envelope_db(x, SR)
    assert env.max() <= 0.0 and env.min() >= FLOOR_DB
    assert len(onset_strength(x, SR)) == len(env)
    bpm, conf = estimate_tempo(np.zeros(10), 100.0)
    assert bpm is None and conf == 0.0
