"""The log-mel front end against independent derivations of the BigVGAN-v2 44 kHz 128-band definition."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sda_models.mel import LOG_CLAMP, LogMel, MelConfig, log_mel, mel_filterbank

CFG = MelConfig()


def slaney_hz_to_mel(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, math.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-12) / min_log_hz) / logstep, f / f_sp)


def slaney_mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, math.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def band_edges_hz(cfg: MelConfig = CFG) -> np.ndarray:
    """The n_mels + 2 edge/centre frequencies of the Slaney filterbank."""
    lo, hi = slaney_hz_to_mel(cfg.fmin), slaney_hz_to_mel(cfg.sampling_rate / 2)
    return slaney_mel_to_hz(np.linspace(lo, hi, cfg.num_mels + 2))


def hand_filterbank(cfg: MelConfig = CFG) -> np.ndarray:
    """Triangular filters between consecutive edges, area-normalised (norm='slaney'), (n_mels, n_fft//2+1)."""
    edges = band_edges_hz(cfg)
    freqs = np.linspace(0, cfg.sampling_rate / 2, cfg.n_fft // 2 + 1)
    fb = np.zeros((cfg.num_mels, freqs.size))
    for i in range(cfg.num_mels):
        left, centre, right = edges[i], edges[i + 1], edges[i + 2]
        rising = (freqs - left) / (centre - left)
        falling = (right - freqs) / (right - centre)
        fb[i] = np.maximum(0.0, np.minimum(rising, falling)) * 2.0 / (right - left)
    return fb


def numpy_log_mel(wave: np.ndarray, cfg: MelConfig = CFG) -> np.ndarray:
    """Reflect pad, framed rFFT with a periodic Hann window, magnitude + 1e-9, filterbank, log clamp."""
    pad = (cfg.n_fft - cfg.hop_length) // 2
    y = np.pad(wave.astype(np.float64), (pad, pad), mode="reflect")
    n_frames = (y.size - cfg.n_fft) // cfg.hop_length + 1
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(cfg.n_fft) / cfg.n_fft)
    frames = np.stack([y[i * cfg.hop_length:i * cfg.hop_length + cfg.n_fft] * window for i in range(n_frames)])
    spec = np.fft.rfft(frames, axis=1).T
    mag = np.sqrt(spec.real**2 + spec.imag**2 + 1e-9)
    return np.log(np.maximum(hand_filterbank(cfg) @ mag, 1e-5))


def test_config_is_the_bigvgan_44k_128band_definition() -> None:
    assert (CFG.sampling_rate, CFG.n_fft, CFG.hop_length, CFG.win_length, CFG.num_mels) == (44100, 2048, 512, 2048, 128)
    assert CFG.fmin == 0 and CFG.fmax is None and CFG.f_max == 22050.0
    assert CFG.padding == 768
    assert MelConfig.from_dict(CFG.to_dict()) == CFG
    with pytest.raises(ValueError):
        MelConfig.from_dict({**CFG.to_dict(), "bogus": 1})


@pytest.mark.parametrize("n_samples", [769, 1000, 512 * 7, 512 * 7 + 1, 44100, 512 * 100 - 1])
def test_frame_count_formula(n_samples: int) -> None:
    expected = (n_samples + 2 * 768 - 2048) // 512 + 1
    assert CFG.num_frames(n_samples) == expected
    out = LogMel()(torch.zeros(1, n_samples))
    assert out.shape == (1, 128, expected)
    if n_samples % 512 == 0:
        assert expected == n_samples // 512


def test_filterbank_matches_hand_written_slaney() -> None:
    ours = mel_filterbank(CFG).double().numpy()
    ref = hand_filterbank(CFG)
    assert ours.shape == (128, 1025)
    for band in (0, 1, 10, 40, 64, 100, 127):
        np.testing.assert_allclose(ours[band], ref[band], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-7)


def test_log_mel_matches_independent_numpy_derivation() -> None:
    rng = np.random.default_rng(0)
    wave = (0.3 * rng.standard_normal(512 * 20)).astype(np.float32)
    ours = log_mel(torch.from_numpy(wave)).double().numpy()
    ref = numpy_log_mel(wave)
    assert ours.shape == ref.shape == (128, 20)
    np.testing.assert_allclose(ours, ref, atol=2e-3)


def test_sine_energy_lands_in_nearest_slaney_band() -> None:
    t = np.arange(44100) / 44100
    wave = torch.from_numpy((0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32))
    mel = LogMel()(wave.unsqueeze(0))[0]
    loudest = int(mel[:, 4:-4].mean(dim=1).argmax())
    centres = band_edges_hz()[1:-1]
    assert loudest == int(np.argmin(np.abs(centres - 1000.0)))
    assert mel[loudest].mean() > mel[loudest + 10].mean() + 5  # a tone, not broadband


def test_silence_is_the_log_floor() -> None:
    mel = LogMel()(torch.zeros(2, 512 * 8))
    assert torch.allclose(mel, torch.full_like(mel, math.log(LOG_CLAMP)))


def test_too_short_audio_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="too short"):
        LogMel()(torch.zeros(1, 700))
