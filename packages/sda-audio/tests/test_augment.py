"""Augmentations: each effect is measured on synthetic signals, plus determinism and stereo."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sda_audio.augment import (
    AddNoise,
    Compose,
    Gain,
    PitchShift,
    TimeStretch,
    add_noise,
    apply_gain,
    default_augmentation,
    pitch_shift,
    time_stretch,
)
from sda_audio.errors import SdaError

SR = 44100


def peak_frequency(x: torch.Tensor | np.ndarray, sr: int) -> float:
    """Precise frequency of the strongest partial: zero-padded Hann FFT + parabolic interpolation."""
    x = np.asarray(x, dtype=np.float64)
    n = 1 << (int(np.ceil(np.log2(len(x)))) + 3)
    mag = np.abs(np.fft.rfft(x * np.hanning(len(x)), n))
    k = int(np.argmax(mag[1:-1])) + 1
    a, b, c = np.log(mag[k - 1 : k + 2] + 1e-30)
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * sr / n


def sine(freq: float, seconds: float, channels: int = 1, amp: float = 0.5) -> torch.Tensor:
    t = torch.arange(int(seconds * SR), dtype=torch.float64) / SR
    return (amp * torch.sin(2 * math.pi * freq * t)).float().unsqueeze(0).repeat(channels, 1)


def sounding_duration(x: torch.Tensor, sr: int) -> float:
    """Seconds between the first and last 5 ms frame within 6 dB of the loudest frame."""
    hop = int(0.005 * sr)
    frames = x[: x.shape[-1] // hop * hop].reshape(-1, hop).pow(2).mean(1)
    loud = torch.nonzero(frames > frames.max() * 0.25).flatten()
    return float(loud[-1] - loud[0] + 1) * hop / sr


def test_pitch_shift_up_three_semitones_moves_440hz_by_the_right_ratio() -> None:
    x = sine(440.0, 1.5)
    y = pitch_shift(x, SR, 3.0)
    assert y.shape == x.shape
    middle = y[0, SR // 4 : -SR // 4]
    ratio = peak_frequency(middle, SR) / 440.0
    assert ratio == pytest.approx(2 ** (3 / 12), rel=0.01)
    # and the tone stays a clean tone at about the same level
    assert float(middle.pow(2).mean().sqrt()) == pytest.approx(0.5 / math.sqrt(2), rel=0.1)


def test_pitch_shift_down_fractional() -> None:
    y = pitch_shift(sine(440.0, 1.5), SR, -1.5)
    assert peak_frequency(y[0, SR // 4 : -SR // 4], SR) / 440.0 == pytest.approx(2 ** (-1.5 / 12), rel=0.01)


def test_time_stretch_changes_duration_and_keeps_pitch() -> None:
    burst = torch.zeros(1, int(2.0 * SR))
    burst[:, int(0.25 * SR) : int(1.25 * SR)] = sine(440.0, 1.0)  # 1.0 s tone inside silence
    for rate in (1.25, 0.8):
        y = time_stretch(burst, SR, rate)
        assert y.shape[-1] == round(burst.shape[-1] / rate)
        # duration of the sounding tone, measured, changes by 1/rate
        assert sounding_duration(y[0], SR) == pytest.approx(1.0 / rate, rel=0.01)
        onset = int(0.25 / rate * SR)
        tone = y[0, onset + SR // 10 : onset + int(0.8 / rate * SR)]
        assert peak_frequency(tone, SR) == pytest.approx(440.0, rel=0.01)
        # phase-locked vocoder keeps a steady sine's level (a plain vocoder can lose 10+ dB here)
        assert float(tone.pow(2).mean().sqrt()) == pytest.approx(0.5 / math.sqrt(2), rel=0.06)


def test_time_stretch_duration_of_whole_signal_within_one_percent() -> None:
    x = sine(300.0, 2.0)
    y = time_stretch(x, SR, 1 / 1.25)
    assert y.shape[-1] / x.shape[-1] == pytest.approx(1.25, rel=0.01)


@pytest.mark.parametrize(("snr", "color"), [(10.0, "white"), (30.0, "pink"), (45.0, "white")])
def test_add_noise_hits_the_requested_snr(snr: float, color: str) -> None:
    x = sine(440.0, 1.0, channels=2)
    g = torch.Generator().manual_seed(3)
    y = add_noise(x, snr, g, color=color)  # type: ignore[arg-type]
    noise = y - x
    measured = 10 * math.log10(float(x.pow(2).mean()) / float(noise.pow(2).mean()))
    assert measured == pytest.approx(snr, abs=1.0)


def test_pink_noise_has_falling_spectrum() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.ones(1, SR) * 0.1
    noise = (add_noise(x, 0.0, g, color="pink") - x)[0].numpy()
    spec = np.abs(np.fft.rfft(noise)) ** 2
    low = spec[100:1000].mean()  # 100 Hz - 1 kHz
    high = spec[10000:20000].mean()  # 10 - 20 kHz
    assert 10 * np.log10(low / high) > 10.0  # pink: 10 dB per decade, ~13 dB expected


def test_gain_is_exact() -> None:
    x = sine(440.0, 0.5)
    for db in (-6.0, 3.5):
        y = apply_gain(x, db)
        measured = 20 * math.log10(float(y.abs().max()) / float(x.abs().max()))
        assert measured == pytest.approx(db, abs=0.1)


def test_seeded_transforms_are_deterministic_and_seed_dependent() -> None:
    x = torch.stack([sine(330.0, 1.0)[0], sine(550.0, 1.0)[0]])  # stereo, different channels
    aug = default_augmentation(1.0, p=1.0)
    a = aug(x, SR, torch.Generator().manual_seed(7))
    b = aug(x, SR, torch.Generator().manual_seed(7))
    c = aug(x, SR, torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert a.shape == x.shape == c.shape
    assert not torch.allclose(a, c)
    assert torch.isfinite(a).all()


def test_stereo_channels_processed_independently() -> None:
    x = torch.stack([sine(330.0, 1.0)[0], sine(550.0, 1.0)[0]])
    y = pitch_shift(x, SR, 2.0)
    f = 2 ** (2 / 12)
    assert peak_frequency(y[0, SR // 4 : -SR // 4], SR) == pytest.approx(330 * f, rel=0.01)
    assert peak_frequency(y[1, SR // 4 : -SR // 4], SR) == pytest.approx(550 * f, rel=0.01)
    z = time_stretch(x, SR, 1.1)
    assert peak_frequency(z[1, SR // 4 : -SR // 4], SR) == pytest.approx(550, rel=0.01)


def test_probability_zero_is_identity_and_one_always_applies() -> None:
    x = sine(440.0, 0.5)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(Gain(db=(3.0, 3.0), p=0.0)(x, SR, g), x)
    y = Gain(db=(3.0, 3.0), p=1.0)(x, SR, g)
    assert 20 * math.log10(float(y.abs().max() / x.abs().max())) == pytest.approx(3.0, abs=0.1)


def test_transform_classes_measure_their_drawn_range() -> None:
    x = sine(440.0, 1.0)
    g = torch.Generator().manual_seed(1)
    y = PitchShift(semitones=(3.0, 3.0), p=1.0)(x, SR, g)
    assert peak_frequency(y[0, SR // 4 : -SR // 4], SR) / 440 == pytest.approx(2 ** 0.25, rel=0.01)
    z = TimeStretch(rate=(0.8, 0.8), p=1.0, keep_length=False)(x, SR, g)
    assert z.shape[-1] == round(x.shape[-1] / 0.8)
    assert TimeStretch(rate=(0.8, 0.8), p=1.0)(x, SR, g).shape == x.shape
    n = AddNoise(snr_db=(20.0, 20.0), p=1.0, color="white")(x, SR, g) - x
    assert 10 * math.log10(float(x.pow(2).mean() / n.pow(2).mean())) == pytest.approx(20.0, abs=1.0)
    composed = Compose([Gain(db=(6.0, 6.0), p=1.0), Gain(db=(-2.0, -2.0), p=1.0)])(x, SR, g)
    assert 20 * math.log10(float(composed.abs().max() / x.abs().max())) == pytest.approx(4.0, abs=0.1)


def test_default_augmentation_ranges_scale_with_strength() -> None:
    mild = default_augmentation(1.0)
    kinds = {type(t).__name__: t for t in mild.transforms}
    assert kinds["PitchShift"].semitones == (-2.0, 2.0)
    assert kinds["TimeStretch"].rate == pytest.approx((0.9, 1.1))
    assert kinds["AddNoise"].snr_db == (25.0, 45.0)
    assert kinds["Gain"].db == (-6.0, 6.0)
    assert default_augmentation(0.0).transforms == ()
    half = {type(t).__name__: t for t in default_augmentation(0.5).transforms}
    assert half["PitchShift"].semitones == (-1.0, 1.0)
    with pytest.raises(SdaError):
        default_augmentation(-1.0)
    with pytest.raises(SdaError):
        Gain(db=(6.0, -6.0))


def test_silence_stays_silent_with_noise() -> None:
    x = torch.zeros(2, 1000)
    assert torch.equal(add_noise(x, 20.0, torch.Generator().manual_seed(0)), x)
