"""The DSP assists: identity at 0, same length, and each moves its own descriptor the right way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sda_audio.descriptors import describe
from sda_audio.io import read_audio
from sda_control.assists import apply_assists, hold_spectrum, spectral_room
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


@pytest.mark.parametrize("name", ["brightness", "warmth", "roughness", "tension", "rhythmic", "pulse", "reverb"])
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


def _sweep(x: np.ndarray, name: str, key: str, values: tuple[float, ...] = (-1.0, -0.5, 0.0, 0.5, 1.0),
           **kwargs: object) -> list[dict[str, float]]:
    return [describe(apply_assists(x, {name: v}, seed=0, **kwargs), SR) if v else describe(x, SR) for v in values]


def test_the_data_spread_sets_the_reach() -> None:
    """With the training data's spread, +-1 brightness spans about 2 x 1.2 data-sigma of the centroid."""
    x = _material()
    spread = {"brightness": 1000.0, "warmth": 0.1}
    low, mid, high = _sweep(x, "brightness", "brightness", (-1.0, 0.0, 1.0), reference_std=spread)
    assert high["brightness"] - low["brightness"] > 1.8 * spread["brightness"]
    assert low["brightness"] < mid["brightness"] < high["brightness"]
    assert abs(high["warmth"] - low["warmth"]) < 0.1 * spread["warmth"]


def test_tension_assist_is_monotone_and_holds_brightness() -> None:
    """A cluster (with a minor second and a tritone): the chroma comb makes it consonant, the layers more
    dissonant, and the centroid stays put (the assist re-solves the spectral shape)."""
    t = np.arange(2 * SR) / SR
    x = sum(0.2 / k * np.sin(2 * np.pi * f * k * t) for f in (220.0, 233.08, 277.18, 311.13) for k in range(1, 5))
    x *= np.clip(np.minimum(t, t[-1] - t) / 0.05, 0, 1)  # 50 ms fades: no broadband clicks at the ends
    rows = _sweep(x.astype(np.float32), "tension", "tension")
    tension = [r["tension"] for r in rows]
    assert tension == sorted(tension) and tension[-1] - tension[0] > 0.25, tension
    centroid = [r["brightness"] for r in rows]
    assert max(centroid) < 1.15 * min(centroid), centroid


def test_pulse_assist_weakens_periodicity_without_moving_density() -> None:
    x = _material()
    rows = _sweep(x, "pulse", "pulse")
    pulse = [r["pulse"] for r in rows]
    assert pulse == sorted(pulse) and pulse[0] < pulse[2] - 0.3, pulse
    assert abs(rows[0]["density"] - rows[2]["density"]) < 0.02  # the wandering adds and removes no onsets


def test_spectral_room_tail_decays_at_its_rt60() -> None:
    """Noise plucks (20 ms decays): the tail alone measures the room's decay time, not the plucks'."""
    rng = np.random.default_rng(0)
    x = np.zeros(3 * SR, np.float32)
    env = np.exp(-np.arange(int(0.3 * SR)) / (0.02 * SR))
    for t0 in np.arange(0.1, 2.6, 0.8):
        i = int(t0 * SR)
        x[i:i + len(env)] += (0.5 * rng.standard_normal(len(env)) * env).astype(np.float32)
    for rt60 in (0.5, 2.0):
        tail = spectral_room(torch.from_numpy(x), rt60).numpy()
        assert describe(tail, SR)["reverberance"] == pytest.approx(rt60, rel=0.15)


def test_hold_spectrum_restores_brightness_and_warmth() -> None:
    x = torch.from_numpy(_material())
    darker = apply_assists(x.numpy(), {"brightness": -1.0}, seed=0)
    held = hold_spectrum(torch.from_numpy(darker), x).numpy()
    before, after = describe(x.numpy(), SR), describe(held, SR)
    assert describe(darker, SR)["brightness"] < 0.8 * before["brightness"]
    assert after["brightness"] == pytest.approx(before["brightness"], rel=0.1)
    assert after["warmth"] == pytest.approx(before["warmth"], rel=0.15)


def test_reverb_on_a_real_loop_ranks_dry_to_wet_and_keeps_its_rhythm(shared_datasets: Path) -> None:
    """The amen break: the room's tails show in the gaps (the decay time rises with the slider) while the
    envelope's modulation (rhythmic) falls by much less than the reverberance rises."""
    clip = read_audio(shared_datasets / "loops" / "loop_amen.flac", sample_rate=SR, mono=True)
    x = np.ascontiguousarray(clip.samples.reshape(-1)[: 3 * SR], dtype=np.float32)
    rows = _sweep(x, "reverb", "reverberance", (-1.0, 0.0, 0.5, 1.0))
    rev = [r["reverberance"] for r in rows]
    assert rev == sorted(rev) and rev[-1] > 1.5 * rev[1], rev
    assert rows[-1]["rhythmic"] > 0.6 * rows[1]["rhythmic"], (rows[1]["rhythmic"], rows[-1]["rhythmic"])
