"""Stereo width, pseudo-stereo and binaural rendering, measured on broadband noise."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.signal as ss
import torch

from sda_audio.errors import SdaError
from sda_audio.spatial import (
    Hrtf,
    binaural_render,
    load_sofa_hrtf,
    mono_to_stereo,
    set_stereo_width,
    woodworth_itd,
)

SR = 44100


def noise(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


def measured_itd(stereo: np.ndarray, sr: int = SR) -> float:
    """Seconds by which the RIGHT ear leads, from the interpolated cross-correlation peak."""
    left, right = stereo[0].astype(np.float64), stereo[1].astype(np.float64)
    max_lag = int(0.002 * sr)
    xc = ss.correlate(left, right, mode="full", method="fft")
    mid = len(right) - 1
    seg = xc[mid - max_lag : mid + max_lag + 1]
    k = int(np.argmax(seg))
    a, b, c = seg[k - 1 : k + 2]
    frac = 0.5 * (a - c) / (a - 2 * b + c)
    lag = k - max_lag + frac  # >0: left is a delayed copy of right
    return lag / sr


def band_level_db(x: np.ndarray, lo: float, hi: float, sr: int = SR) -> float:
    f, p = ss.welch(x, sr, nperseg=2048)
    return float(10 * np.log10(p[(f >= lo) & (f <= hi)].sum()))


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def energy_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x.astype(np.float64) ** 2)))


# -- binaural -------------------------------------------------------------------------------------------


def test_source_at_right_gives_woodworth_itd_and_high_frequency_ild() -> None:
    x = noise()
    out = binaural_render(x, SR, azimuth_deg=90.0)
    assert out.shape == (2, len(x)) and out.dtype == np.float32
    itd = measured_itd(out)
    assert 0.6e-3 <= itd <= 0.7e-3  # right ear leads
    assert itd == pytest.approx(woodworth_itd(90.0), abs=2e-5)
    ild = band_level_db(out[1], 4000, 8000) - band_level_db(out[0], 4000, 8000)
    assert ild > 6.0
    # head shadow is frequency dependent: little level difference at low frequencies
    assert abs(band_level_db(out[1], 50, 300) - band_level_db(out[0], 50, 300)) < 3.0


def test_source_at_left_mirrors() -> None:
    out = binaural_render(noise(), SR, azimuth_deg=-90.0)
    assert -0.7e-3 <= measured_itd(out) <= -0.6e-3  # left ear leads
    assert band_level_db(out[0], 4000, 8000) - band_level_db(out[1], 4000, 8000) > 6.0


def test_front_source_has_no_itd_or_ild() -> None:
    out = binaural_render(noise(), SR, azimuth_deg=0.0)
    assert abs(measured_itd(out)) < 2e-5
    assert abs(band_level_db(out[0], 4000, 8000) - band_level_db(out[1], 4000, 8000)) < 0.1
    np.testing.assert_allclose(out[0], out[1], atol=1e-6)


def test_itd_grows_with_azimuth_and_elevation_reduces_it() -> None:
    x = noise(0.5)
    itds = [measured_itd(binaural_render(x, SR, az)) for az in (0.0, 30.0, 60.0, 90.0)]
    assert all(b > a for a, b in zip(itds, itds[1:]))
    assert measured_itd(binaural_render(x, SR, 90.0, elevation_deg=60.0)) < 0.5 * itds[-1]
    # elevation cue changes the spectrum, and torch input works
    up = binaural_render(torch.from_numpy(x), SR, 0.0, elevation_deg=45.0)
    assert not np.allclose(up, binaural_render(x, SR, 0.0))


# -- stereo ---------------------------------------------------------------------------------------------


def test_width_zero_gives_identical_channels_and_one_is_identity() -> None:
    st = np.stack([noise(0.5, 1), noise(0.5, 2)])
    mono = set_stereo_width(st, 0.0)
    np.testing.assert_array_equal(mono[0], mono[1])
    np.testing.assert_allclose(set_stereo_width(st, 1.0), st, atol=1e-7)
    wide = set_stereo_width(st, 2.0)
    assert correlation(wide[0], wide[1]) < correlation(st[0], st[1])
    with pytest.raises(SdaError):
        set_stereo_width(st, 3.0)


@pytest.mark.parametrize("method", ["decorrelate", "mid_side"])
def test_pseudo_stereo_is_decorrelated_and_mono_compatible(method: str) -> None:
    x = noise()
    st = mono_to_stereo(x, SR, width=1.0, method=method, seed=3)  # type: ignore[arg-type]
    assert st.shape == (2, len(x))
    assert correlation(st[0], st[1]) < 0.9
    mono_sum = 0.5 * (st[0] + st[1])
    assert abs(energy_db(mono_sum) - energy_db(x)) < 3.0
    # mono fold-down is the input up to a gain: no comb filtering
    gain = float(np.dot(mono_sum, x) / np.dot(x, x))
    np.testing.assert_allclose(mono_sum, gain * x, atol=1e-5)
    for ch in st:
        assert abs(energy_db(ch) - energy_db(x)) < 1.5
    narrow = mono_to_stereo(x, SR, width=0.0, method=method)  # type: ignore[arg-type]
    np.testing.assert_array_equal(narrow[0], narrow[1])


def test_decorrelation_is_seeded() -> None:
    x = noise(0.3)
    a = mono_to_stereo(x, SR, seed=1)
    np.testing.assert_array_equal(a, mono_to_stereo(x, SR, seed=1))
    assert not np.allclose(a, mono_to_stereo(x, SR, seed=2))
    with pytest.raises(SdaError):
        mono_to_stereo(x, SR, method="bogus")  # type: ignore[arg-type]


# -- SOFA -----------------------------------------------------------------------------------------------


def write_sofa(path: Path, sr: int = SR) -> np.ndarray:
    """A tiny SimpleFreeFieldHRIR file: 4 directions; IR m is an impulse at tap 2+m (left) / 10+m (right)."""
    h5py = pytest.importorskip("h5py")
    positions = np.array([[0.0, 0.0, 1.2], [90.0, 0.0, 1.2], [270.0, 0.0, 1.2], [0.0, 60.0, 1.2]])
    ir = np.zeros((4, 2, 32))
    for m in range(4):
        ir[m, 0, 2 + m] = 1.0 + m
        ir[m, 1, 10 + m] = 0.5
    with h5py.File(path, "w") as f:
        f.attrs["Conventions"] = "SOFA"
        f.attrs["SOFAConventions"] = "SimpleFreeFieldHRIR"
        f.create_dataset("Data.IR", data=ir)
        pos = f.create_dataset("SourcePosition", data=positions)
        pos.attrs["Type"] = "spherical"
        pos.attrs["Units"] = "degree, degree, metre"
        f.create_dataset("Data.SamplingRate", data=np.array([float(sr)]))
    return ir


def test_sofa_nearest_direction_is_convolved(tmp_path: Path) -> None:
    path = tmp_path / "tiny.sofa"
    ir = write_sofa(path)
    hrtf = load_sofa_hrtf(path)
    assert isinstance(hrtf, Hrtf) and hrtf.ir.shape == (4, 2, 32) and hrtf.sample_rate == SR
    x = noise(0.2)
    # sda azimuth +80 (right) is SOFA azimuth -80 = 280 -> nearest measured 270 (index 2)
    out = binaural_render(x, SR, azimuth_deg=80.0, hrtf=hrtf)
    expected = np.stack([ss.fftconvolve(x, ir[2, ear])[: len(x)] for ear in (0, 1)])
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert hrtf.nearest(-95.0) == 1
    assert hrtf.nearest(10.0, elevation_deg=50.0) == 3
    assert hrtf.nearest(5.0) == 0


def test_sofa_errors_are_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h5py = pytest.importorskip("h5py")
    bad = tmp_path / "bad.sofa"
    with h5py.File(bad, "w") as f:
        f.create_dataset("Data.IR", data=np.zeros((1, 2, 8)))
    with pytest.raises(SdaError, match="SourcePosition") as err:
        load_sofa_hrtf(bad)
    assert "bad.sofa" in str(err.value)
    not_hdf = tmp_path / "text.sofa"
    not_hdf.write_text("hello")
    with pytest.raises(SdaError, match="text.sofa"):
        load_sofa_hrtf(not_hdf)
    monkeypatch.setitem(sys.modules, "h5py", None)  # simulate the extra not being installed
    with pytest.raises(SdaError, match=r"pip install sda-audio\[sofa\]"):
        load_sofa_hrtf(bad)
