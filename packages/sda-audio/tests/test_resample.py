"""resample: identity, shapes/types, transparent round trip, no aliasing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sda_audio.resample import resample


def _tone(freq: float, sr: int, seconds: float = 1.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return np.tile(np.sin(2 * np.pi * freq * t).astype(np.float32), (channels, 1))


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2)))


def test_equal_rates_is_identity() -> None:
    x = _tone(440, 44100)
    assert resample(x, 44100, 44100) is x


def test_numpy_in_numpy_out_with_expected_length() -> None:
    x = _tone(440, 44100, channels=2)
    y = resample(x, 44100, 48000)
    assert isinstance(y, np.ndarray) and y.dtype == np.float32
    assert y.shape == (2, 48000)


def test_torch_in_torch_out_keeps_dtype() -> None:
    x = torch.from_numpy(_tone(440, 48000)).double()
    y = resample(x, 48000, 44100)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float64
    assert y.shape == (1, 44100)


def test_sine_survives_round_trip() -> None:
    x = _tone(1000, 44100)
    y = resample(resample(x, 44100, 48000), 48000, 44100)
    assert y.shape == x.shape
    interior = slice(2000, -2000)  # the filter's edge transients
    error = np.max(np.abs(y[:, interior] - x[:, interior]))
    assert error < 1e-3, error


def test_passband_is_flat() -> None:
    x = _tone(10000, 48000)
    y = resample(x, 48000, 32000)
    gain_db = 20 * np.log10(_rms(y[:, 2000:-2000]) / _rms(x[:, 2000:-2000]))
    assert abs(gain_db) < 0.1


def test_no_aliasing_above_new_nyquist() -> None:
    x = _tone(20000, 48000)
    y = resample(x, 48000, 32000)  # new Nyquist 16 kHz: 20 kHz must vanish, not fold to 12 kHz
    attenuation_db = 20 * np.log10(_rms(y[:, 2000:-2000]) / _rms(x))
    assert attenuation_db < -60, attenuation_db


def test_rejects_bad_rates() -> None:
    with pytest.raises(ValueError):
        resample(_tone(440, 44100), 0, 48000)
