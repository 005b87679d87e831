"""sda's own synthesis for the base corpus: deterministic per seed, and each sound has the properties its name
promises (a pluck decays at its pitch, a noise band stays in its band, a room adds a decaying tail)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sda_audio import synth, synth_corpus

SR = synth.SAMPLE_RATE


def _centroid(x: np.ndarray) -> float:
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / SR)
    return float(np.sum(freqs * power) / np.sum(power))


def _f0(x: np.ndarray, low: float = 50.0, high: float = 2000.0) -> float:
    """Autocorrelation pitch estimate (the strongest lag between 1/high and 1/low seconds, refined by a parabola)."""
    x = x - x.mean()
    ac = np.fft.irfft(np.abs(np.fft.rfft(x, 2 * x.size)) ** 2)[: x.size]
    lo, hi = int(SR / high), int(SR / low)
    lag = lo + int(np.argmax(ac[lo:hi]))
    a, b, c = ac[lag - 1], ac[lag], ac[lag + 1]
    shift = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
    return SR / (lag + shift)


@pytest.mark.parametrize("kind", synth_corpus.KINDS)
def test_recipes_are_deterministic_per_seed_and_json(kind: str) -> None:
    seed = synth_corpus.recipe_seed(0, kind, 3)
    assert seed == synth_corpus.recipe_seed(0, kind, 3) != synth_corpus.recipe_seed(1, kind, 3)
    params = synth_corpus.draw_recipe(kind, seed, short=True)
    assert params == synth_corpus.draw_recipe(kind, seed, short=True)
    assert json.loads(json.dumps(params)) == params  # a manifest can hold it as it is
    a = synth_corpus.render_recipe(kind, params, seed)
    b = synth_corpus.render_recipe(kind, params, seed)
    assert np.array_equal(a, b)
    seed2 = synth_corpus.recipe_seed(0, kind, 4)
    other = synth_corpus.render_recipe(kind, synth_corpus.draw_recipe(kind, seed2, short=True), seed2)
    assert not (a.shape == other.shape and np.array_equal(a, other))
    assert a.ndim == 1 and np.isfinite(a).all() and a.size > 0.5 * SR
    assert 20 * np.log10(np.max(np.abs(a))) == pytest.approx(params["peak_dbfs"], abs=0.01)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown synthesis kind"):
        synth_corpus.draw_recipe("theremin", 0)


def test_noise_band_centroid_lies_in_its_band() -> None:
    rng = np.random.default_rng(0)
    for low, high in ((200.0, 400.0), (1000.0, 4000.0), (6000.0, 12000.0)):
        x = synth.noise_band(rng, SR, low, high)
        assert low < _centroid(x) < high
        power = np.abs(np.fft.rfft(x)) ** 2
        freqs = np.fft.rfftfreq(x.size, 1 / SR)
        outside = power[(freqs < low) | (freqs > high)].sum()
        assert outside < 1e-6 * power.sum()


def test_pluck_decays_at_its_pitch() -> None:
    x = synth.karplus_strong(np.random.default_rng(1), 220.0, 2.0, decay=0.996, brightness=0.8)
    first, last = x[: SR // 5], x[-SR // 5:]
    assert np.sqrt(np.mean(last**2)) < 0.1 * np.sqrt(np.mean(first**2))
    assert _f0(x[SR // 10: SR // 10 + 4096]) == pytest.approx(220.0, rel=0.01)
    high = synth.karplus_strong(np.random.default_rng(1), 1046.5, 1.0)
    assert _f0(high[2000:6096], low=300.0, high=3000.0) == pytest.approx(1046.5, rel=0.01)


def test_fm_and_additive_sound_at_their_pitch() -> None:
    t = synth.times(0.5)
    assert _f0(synth.fm_tone(t, 330.0, 1.0, 2.0)) == pytest.approx(330.0, rel=0.01)
    tone = synth.additive(t, 110.0, 1.0 / np.arange(1, 9), rng=np.random.default_rng(0))
    assert _f0(tone) == pytest.approx(110.0, rel=0.01)


def test_bowed_and_blown_swell_in_and_out() -> None:
    rng = np.random.default_rng(2)
    for x in (synth.bowed(rng, 196.0, 2.0, 0.6, 0.6), synth.blown(rng, 440.0, 2.0, 0.6, 0.6)):
        def rms(a: np.ndarray) -> float:
            return float(np.sqrt(np.mean(a**2)))

        start, middle, end = x[: SR // 20], x[SR - SR // 20: SR + SR // 20], x[-SR // 20:]
        assert rms(start) < 0.3 * rms(middle) and rms(end) < 0.3 * rms(middle)


def test_granular_texture_fills_its_length() -> None:
    rng = np.random.default_rng(3)
    source = synth.noise_band(rng, SR, 500.0, 2000.0)
    x = synth.granular(rng, source, 2.0, grain=0.05, density=100.0)
    assert x.size == 2 * SR
    quarters = [np.sqrt(np.mean(q**2)) for q in np.array_split(x, 4)]
    assert min(quarters) > 0.3 * max(quarters)


def test_room_adds_an_exponentially_decaying_tail() -> None:
    rng = np.random.default_rng(4)
    ir = synth.room_impulse(rng, rt60=1.0, predelay=0.0)
    early, late = ir[: SR // 10], ir[int(0.8 * SR): int(0.9 * SR)]
    level = 20 * np.log10(np.sqrt(np.mean(late**2)) / np.sqrt(np.mean(early**2)))
    assert -60 < level < -35  # 60 dB over rt60: about -48 dB between 0.05 s and 0.85 s
    dry = synth.fade(synth.additive(synth.times(0.3), 220.0, np.ones(4)), 0.005, 0.01)
    wet = synth.in_room(rng, dry, rt60=1.0, wet=0.5)
    assert wet.size > dry.size + SR // 2


def test_trim_tail_cuts_below_minus_60_db() -> None:
    t = synth.times(3.0)
    x = np.sin(2 * np.pi * 440 * t) * np.exp(-t / 0.2)  # 60 dB down after 0.2 * ln(1000) = 1.38 s
    trimmed = synth.trim_tail(np.concatenate([x, np.zeros(SR)]))
    assert trimmed.size / SR == pytest.approx(1.38, abs=0.03)
    assert synth.trim_tail(np.zeros(100)).size == 0
