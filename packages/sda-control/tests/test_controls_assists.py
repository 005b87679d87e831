"""The DSP assists: identity at 0, same length, and each moves its own descriptor the right way."""

from __future__ import annotations

import numpy as np
import pytest

from sda_audio.descriptors import describe
from sda_control.assists import apply_assists
from sda_control.names import CONTROL_NAMES, descriptor_of

SR = 44100


def _material(seconds: float = 2.5) -> np.ndarray:
    """A plucked harmonic tone every 0.35 s over a little noise: some of every quality."""
    rng = np.random.default_rng(1)
    t = np.arange(int(seconds * SR)) / SR
    x = 0.02 * rng.standard_normal(t.shape[0])
    for start in np.arange(0.0, seconds - 0.3, 0.37):
        seg = t[(t >= start)] - start
        note = sum(np.sin(2 * np.pi * 196.0 * h * seg) / h for h in range(1, 8)) * np.exp(-seg / 0.12)
        x[t >= start] += 0.3 * note
    return x.astype(np.float32)


def test_zero_is_identity_and_length_is_kept() -> None:
    x = _material(1.0)
    assert np.array_equal(apply_assists(x, {}, seed=0), x)
    y = apply_assists(x, dict.fromkeys(CONTROL_NAMES, 0.7), seed=0)
    assert y.shape == x.shape and y.dtype == np.float32 and np.isfinite(y).all() and np.abs(y).max() <= 0.99


@pytest.mark.parametrize("name", ["brightness", "warmth", "roughness", "tension", "rhythmic", "reverb"])
def test_each_assist_moves_its_descriptor_up_and_down(name: str) -> None:
    x = _material()
    key = descriptor_of(name)
    low = describe(apply_assists(x, {name: -1.0}, seed=0), SR)[key]
    mid = describe(x, SR)[key]
    high = describe(apply_assists(x, {name: 1.0}, seed=0), SR)[key]
    assert low < high, (low, mid, high)
    assert low <= mid + 1e-9 or high >= mid - 1e-9


def test_brightness_assist_holds_warmth() -> None:
    x = _material()
    before = describe(x, SR)
    after = describe(apply_assists(x, {"brightness": 1.0}, seed=0), SR)
    assert after["brightness"] > 1.5 * before["brightness"]
    assert after["warmth"] == pytest.approx(before["warmth"], rel=0.15)
