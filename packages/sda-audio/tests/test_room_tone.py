"""Room tone: measured from the quiet floor of a set, re-synthesised at a level and colour."""

from __future__ import annotations

import numpy as np
import pytest

from sda_audio.room_tone import RoomTone, lay_under, measure_room_tone, render_room_tone

SR = 44100


def _band_db(x: np.ndarray, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1.0 / SR)
    return float(10 * np.log10(spec[(f >= lo) & (f < hi)].mean()))


def _strokes_on_hiss(floor_db: float, seed: int, lowpass: bool = False) -> np.ndarray:
    """Four decaying tone strokes over stationary noise ``floor_db`` under the loudest frame."""
    rng = np.random.default_rng(seed)
    n = int(2.0 * SR)
    hiss = rng.standard_normal(n)
    if lowpass:  # a dark floor: most of its energy below ~1 kHz
        spec = np.fft.rfft(hiss)
        spec[np.fft.rfftfreq(n, 1.0 / SR) > 1000] *= 0.01
        hiss = np.fft.irfft(spec, n)
    hiss /= np.sqrt(np.mean(hiss**2))
    t = np.arange(int(0.25 * SR)) / SR
    stroke = np.sin(2 * np.pi * 220 * t) * np.exp(-t / 0.02) * np.sqrt(2)  # RMS 1 at its start
    x = hiss * 10 ** (floor_db / 20)
    for k in range(4):
        s = int(k * 0.5 * SR)
        x[s:s + stroke.size] += stroke
    return x


def test_measures_the_level_and_colour_of_the_floor() -> None:
    tone = measure_room_tone([(_strokes_on_hiss(-45.0, s, lowpass=True), SR) for s in range(3)])
    assert tone is not None and tone.files == 3
    assert -49.0 < tone.level_db < -41.0  # the hiss, re the loudest frame
    hz, db = np.asarray(tone.band_hz), np.asarray(tone.band_db)
    assert db[hz < 800].mean() - db[hz > 3000].mean() > 20  # dark, as the floor was
    assert abs(db.mean()) < 1e-6


def test_silent_or_empty_sets_have_no_room_tone() -> None:
    assert measure_room_tone([(np.zeros(SR), SR)]) is None
    assert measure_room_tone([]) is None


def test_renders_at_the_level_with_the_colour_and_the_seed() -> None:
    tone = RoomTone(level_db=-40.0, band_hz=(100.0, 1000.0, 10000.0), band_db=(10.0, 0.0, -10.0), files=1)
    a = render_room_tone(tone, SR, SR, 2, -50.0, [3, 4])
    assert a.shape == (2, SR) and a.dtype == np.float32
    rms_db = 20 * np.log10(np.sqrt(np.mean(a.astype(np.float64) ** 2, axis=1)))
    np.testing.assert_allclose(rms_db, -50.0, atol=0.05)
    assert not np.allclose(a[0], a[1])  # each channel its own noise
    np.testing.assert_array_equal(a, render_room_tone(tone, SR, SR, 2, -50.0, [3, 4]))
    assert not np.array_equal(a, render_room_tone(tone, SR, SR, 2, -50.0, [3, 5]))
    tilt = _band_db(a[0], 80, 120) - _band_db(a[0], 8000, 12000)
    assert 15.0 < tilt < 25.0  # 20 dB of colour from 100 Hz to 10 kHz


def test_lay_under_keeps_the_sound_and_fills_the_gaps() -> None:
    tone = RoomTone(level_db=-30.0, band_hz=(100.0, 10000.0), band_db=(0.0, 0.0), files=1)
    x = np.zeros((1, SR), dtype=np.float32)
    x[0, :1000] = 0.5
    y = lay_under(x, tone, -6.0, SR, 0)
    gap = y[0, SR // 2:]
    assert np.all(gap != 0.0)
    assert 20 * np.log10(np.sqrt(np.mean(gap.astype(np.float64) ** 2))) == pytest.approx(-36.0, abs=0.5)
    assert np.abs(y[0, :1000] - 0.5).max() < 0.1


@pytest.mark.parametrize("bad", [None, {}, {"level_db": "x", "band_hz": [1], "band_db": [1]},
                                 {"level_db": -30, "band_hz": [1, 2], "band_db": [1]},
                                 {"level_db": float("nan"), "band_hz": [1], "band_db": [1]}])
def test_from_dict_refuses_what_is_not_a_room_tone(bad: object) -> None:
    assert RoomTone.from_dict(bad) is None


def test_round_trips_through_json_dicts() -> None:
    tone = measure_room_tone([(_strokes_on_hiss(-40.0, 0), SR)])
    assert tone is not None
    back = RoomTone.from_dict(tone.to_dict())
    assert back is not None and back.level_db == pytest.approx(tone.level_db, abs=1e-3)
    np.testing.assert_allclose(back.band_db, tone.band_db, atol=1e-3)


def test_nothing_above_the_measured_bands() -> None:
    tone = RoomTone(level_db=-40.0, band_hz=(100.0, 17000.0), band_db=(0.0, 0.0), files=1)
    x = render_room_tone(tone, 48000, 48000, 1, -40.0, 1)[0].astype(np.float64)
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1.0 / 48000)
    assert spec[f > 20000].sum() / spec.sum() < 1e-6 and spec[f < 20].sum() / spec.sum() < 1e-6
