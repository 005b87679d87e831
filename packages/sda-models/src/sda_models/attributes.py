"""Attribute-regularised training (AR-VAE, Pati & Lerch 2020): tie one latent dimension to one descriptor.

For a batch, latent dimension ``k``'s time mean ``z_k (B,)`` and attribute ``a_k (B,)`` give the pairwise
differences ``D_z = z_k[:, None] - z_k[None, :]`` and ``D_a = a_k[:, None] - a_k[None, :]``; the loss is
``mean |tanh(delta * D_z) - sign(D_a)|`` over the ordered pairs ``i != j`` (0 when ``z_k`` is ordered like
``a_k`` and far apart, about 1 when unrelated, 2 when reversed), averaged over the regularised dimensions.
Dimension ``i`` is tied to ``AutoencoderConfig.attributes[i]``.

The attributes are measured per training window, without gradients, on the log-mel the model already
has (same 2048/512 frames as sda-audio's short STFT), following the definitions of
:mod:`sda_audio.descriptors`:

- ``brightness``: energy-weighted spectral centroid (Hz), from the Slaney mel bands (each band's
  magnitude times its width stands in for the sum of its FFT bins);
- ``warmth``: the share of power in 100-500 Hz among the power above 20 Hz;
- ``rhythmic``: modulation index of the amplitude envelope in 0.5-10 Hz.

The slower descriptors are not offered: pulse and reverberance need seconds of context that a training
window does not have, roughness and tension need resolved spectral peaks (a long STFT) that the mel
smears, and density is steered by the engine, never by a latent direction.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import Tensor

from sda_models.configs import REGULARISABLE_ATTRIBUTES
from sda_models.mel import MelConfig, mel_filterbank

ATTRIBUTES = REGULARISABLE_ATTRIBUTES
_WARM_BAND = (100.0, 500.0)
_MOD_BAND = (0.5, 10.0)


def pairwise_sign_loss(z: Tensor, a: Tensor, delta: float = 1.0) -> Tensor:
    """AR-VAE's loss for one dimension: ``z (B,)`` latent values, ``a (B,)`` attributes -> scalar.

    Mean of ``|tanh(delta * (z_i - z_j)) - sign(a_i - a_j)|`` over ``i != j`` (0 for a batch of one).
    """
    if z.shape != a.shape or z.dim() != 1:
        raise ValueError(f"z and a must both be (B,), got {tuple(z.shape)} and {tuple(a.shape)}")
    b = z.shape[0]
    if b < 2:
        return z.sum() * 0.0
    dz = z[:, None] - z[None, :]
    da = (a[:, None] - a[None, :]).to(z.dtype)
    diff = (torch.tanh(delta * dz) - torch.sign(da)).abs()
    return diff.sum() / (b * (b - 1))  # the diagonal is 0


def attribute_loss(latent: Tensor, attributes: Tensor, delta: float = 1.0) -> Tensor:
    """Mean over ``k`` of :func:`pairwise_sign_loss` on latent dim ``k`` and attribute column ``k``.

    Args:
        latent: ``(B, D, T')``; its time mean per dimension is what is regularised.
        attributes: ``(B, n)`` with ``n <= D``; column ``k`` is tied to latent dimension ``k``.
    """
    if latent.dim() != 3 or attributes.dim() != 2 or attributes.shape[0] != latent.shape[0]:
        raise ValueError(f"expected latent (B, D, T') and attributes (B, n), got {tuple(latent.shape)} and "
                         f"{tuple(attributes.shape)}")
    n = attributes.shape[1]
    if n > latent.shape[1]:
        raise ValueError(f"{n} attributes but only {latent.shape[1]} latent dimensions")
    z = latent.float().mean(dim=-1)
    a = attributes.to(z.device, torch.float32)
    return torch.stack([pairwise_sign_loss(z[:, k], a[:, k], delta) for k in range(n)]).mean()


@lru_cache(maxsize=4)
def _band_geometry(config: MelConfig) -> tuple[Tensor, Tensor]:
    """Centre frequency and width (Hz) of each Slaney mel band of ``config``."""
    fb = mel_filterbank(config).double()  # (M, F)
    freqs = torch.linspace(0.0, config.sampling_rate / 2, config.n_freqs, dtype=torch.float64)
    centre = (fb @ freqs) / fb.sum(1).clamp(min=1e-12)
    # a Slaney-normalised triangle has unit area in Hz, so its width is 2 / its peak value
    width = 2.0 / fb.amax(1).clamp(min=1e-12)
    return centre, width


@torch.no_grad()
def mel_attributes(log_mel: Tensor, names: tuple[str, ...] | list[str],
                   config: MelConfig | None = None) -> Tensor:
    """The attributes ``names`` of each window: ``log_mel (B, n_mels, T)`` (natural-log magnitude, not
    normalised) -> ``(B, len(names))`` float32, on the input's device (computed on the CPU). No gradients."""
    cfg = config or MelConfig()
    unknown = [n for n in names if n not in ATTRIBUTES]
    if unknown:
        raise ValueError(f"unknown attribute {unknown[0]!r}; use some of {', '.join(ATTRIBUTES)}")
    centre, width = _band_geometry(cfg)
    # float64 on the CPU (MPS has no float64); a (B, n_mels, T) copy is tiny next to a training step
    mag = log_mel.detach().cpu().double().exp()  # (B, M, T): mean magnitude density per band
    power_frames = (mag.square() * width[None, :, None])  # (B, M, T)
    energy = power_frames.sum(1)  # (B, T)
    out = []
    for name in names:
        if name == "brightness":
            band_mag = mag * width[None, :, None]
            centroid = (centre[None, :, None] * band_mag).sum(1) / band_mag.sum(1).clamp(min=1e-30)
            w = energy * _active(energy)
            out.append((centroid * w).sum(-1) / w.sum(-1).clamp(min=1e-30))
        elif name == "warmth":
            warm = ((centre >= _WARM_BAND[0]) & (centre < _WARM_BAND[1])).to(mag.dtype)
            audible = (centre >= 20.0).to(mag.dtype)
            total = power_frames.sum(-1)  # (B, M)
            out.append((total @ warm) / (total @ audible).clamp(min=1e-30))
        else:  # rhythmic
            out.append(_modulation_index(energy.sqrt(), cfg.sampling_rate / cfg.hop_length))
    return torch.stack(out, dim=1).float().to(log_mel.device)


def _active(energy: Tensor) -> Tensor:
    """Frames within 45 dB of the window's 99th-percentile energy (sda-audio's ``_active``)."""
    ref = torch.quantile(energy, 0.99, dim=-1, keepdim=True)
    return (energy > (ref * 10 ** (-4.5)).clamp(min=1e-10)).to(energy.dtype)


def _modulation_index(env: Tensor, rate: float) -> Tensor:
    """``env (B, T)`` -> ``(B,)``: sqrt(2) x std of the 0.5-10 Hz band of ``env / mean - 1``."""
    mean = env.mean(-1, keepdim=True)
    m = env / mean.clamp(min=1e-30) - 1.0
    m = m - m.mean(-1, keepdim=True)
    n = m.shape[-1]
    spec = torch.fft.rfft(m, dim=-1)
    f = torch.fft.rfftfreq(n, 1.0 / rate).to(m.device)
    spec = spec * ((f >= _MOD_BAND[0]) & (f <= _MOD_BAND[1])).to(spec.real.dtype)
    band = torch.fft.irfft(spec, n=n, dim=-1)
    depth = math.sqrt(2.0) * band.std(-1, unbiased=False)
    return torch.where(mean[:, 0] > 0, depth, torch.zeros_like(depth))
