"""Differentiable stand-ins of sda-audio's eight descriptors, computed on a decoded log-mel.

The searched controls (:mod:`sda_control.search`) take gradient steps on a latent through the decoder; the
real descriptors (:func:`sda_audio.descriptors.describe`) need audio, peak picking and medians, so they give
no gradient. These stand-ins read the model's own output, the log-mel ``(B, n_mels, F)`` (natural-log
magnitude, denormalised; same 2048/512 frames as the descriptors' short STFT), and follow the definitions of
:mod:`sda_audio.descriptors` as closely as a mel allows:

- ``brightness``: energy-weighted spectral centroid (Hz); each band's magnitude x width stands for the sum of
  its FFT bins;
- ``warmth``: share of power in 100-500 Hz among the power above 20 Hz;
- ``roughness``: Sethares dissonance of the bands' *peaks* (each band's magnitude above its neighbours'),
  pairwise over band centres, per frame, energy-weighted;
- ``tension``: Huron interval-class dissonance of the band peaks' energies, pairwise over the band centres
  (50-2000 Hz, where the bands are narrow enough to tell intervals apart), per frame, energy-weighted;
- ``rhythmic``: modulation index of the amplitude envelope in 0.5-10 Hz;
- ``pulse``: autocorrelation of the onset envelope (positive spectral flux in dB) over 40-240 BPM lags, a
  soft maximum;
- ``density``: 0.5 x the share of sounding frames (soft threshold 45 dB under the loud frames) + 0.5 x
  ``1 - exp(-onset rate / 8)`` with soft onsets;
- ``reverberance``: decay time (s per 60 dB) from the local slopes of the dB envelope deep inside decays.

Masks (which frames are active, where a decay is) are computed without gradients; the values they select
carry them. Units match the real descriptors where the definition allows (Hz, shares, seconds); the
searched controls measure every stand-in in its own data-sigma anyway (``standin_std`` of the control map).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from sda_models.mel import MelConfig, mel_filterbank

STANDIN_NAMES = ("brightness", "warmth", "roughness", "tension", "rhythmic", "pulse", "density", "reverberance")
_WARM_BAND = (100.0, 500.0)
_MOD_BAND = (0.5, 10.0)
_ROUGH_BAND = (20.0, 10000.0)
_TENSION_BAND = (50.0, 2000.0)  # where the mel bands are narrow enough to tell intervals apart
_SETHARES_DMAX = 0.18096
_HURON_CONSONANCE = np.array([-1.428, -0.582, 0.594, 0.386, 1.240, -0.453])
_IC_DISSONANCE = (1.240 - _HURON_CONSONANCE) / (1.240 + 1.428)
_DB = 20.0 / math.log(10.0)  # natural-log magnitude -> dB


@lru_cache(maxsize=4)
def _geometry(config: MelConfig) -> dict[str, Tensor]:
    """Per band: centre (Hz), width (Hz), the Sethares pair matrix and the chroma folding matrix (float64)."""
    fb = mel_filterbank(config).double()  # (M, F)
    freqs = torch.linspace(0.0, config.sampling_rate / 2, config.n_freqs, dtype=torch.float64)
    centre = (fb @ freqs) / fb.sum(1).clamp(min=1e-12)
    width = 2.0 / fb.amax(1).clamp(min=1e-12)  # a Slaney triangle has unit area
    # Sethares (1993) dissonance of two partials at the band centres
    fmin = torch.minimum(centre[:, None], centre[None, :])
    s = 0.24 / (0.0207 * fmin + 18.96)
    df = (centre[:, None] - centre[None, :]).abs()
    pair = torch.exp(-3.5 * s * df) - torch.exp(-5.75 * s * df)
    inside = ((centre >= _ROUGH_BAND[0]) & (centre <= _ROUGH_BAND[1])).double()
    pair = pair * inside[:, None] * inside[None, :]
    # Huron interval-class dissonance of two partials at the band centres (interval class interpolated)
    semitones = 12.0 * torch.log2(centre.clamp(min=1.0)[:, None] / centre.clamp(min=1.0)[None, :]).abs()
    pc = torch.remainder(semitones, 12.0)
    ic = torch.minimum(pc, 12.0 - pc)
    weights = torch.from_numpy(np.concatenate([[0.0], _IC_DISSONANCE, [0.0]]))
    low = ic.floor().long().clamp(max=6)
    frac = ic - ic.floor()
    huron = weights[low] * (1 - frac) + weights[low + 1] * frac
    tonal = ((centre >= _TENSION_BAND[0]) & (centre <= _TENSION_BAND[1])).double()
    huron = huron * tonal[:, None] * tonal[None, :]
    return {"centre": centre, "width": width, "pair": pair, "huron": huron, "tonal": tonal}


def _geo(config: MelConfig, like: Tensor) -> dict[str, Tensor]:
    return {k: v.to(like.device, like.dtype) for k, v in _geometry(config).items()}


def _active(energy: Tensor) -> Tensor:
    """Frames within 45 dB of the 99th-percentile frame (``(B, F)``, 0/1, no gradient)."""
    e = energy.detach()
    ref = torch.quantile(e, 0.99, dim=-1, keepdim=True)
    return (e > (ref * 10 ** (-4.5)).clamp(min=1e-10)).to(energy.dtype)


def _weighted(values: Tensor, weights: Tensor) -> Tensor:
    return (values * weights).sum(-1) / weights.sum(-1).clamp(min=1e-30)


def _frame_rate(config: MelConfig) -> float:
    return config.sampling_rate / config.hop_length


def brightness(log_mel: Tensor, config: MelConfig | None = None) -> Tensor:
    """Energy-weighted spectral centroid (Hz), ``(B,)``."""
    g = _geo(config or MelConfig(), log_mel)
    mag = log_mel.exp()
    band = mag * g["width"][None, :, None]
    centroid = (g["centre"][None, :, None] * band).sum(1) / band.sum(1).clamp(min=1e-30)
    energy = (mag.square() * g["width"][None, :, None]).sum(1)
    return _weighted(centroid, energy.detach() * _active(energy))


def warmth(log_mel: Tensor, config: MelConfig | None = None) -> Tensor:
    """Share of power in 100-500 Hz among the power above 20 Hz, ``(B,)``."""
    g = _geo(config or MelConfig(), log_mel)
    power = (log_mel.exp().square() * g["width"][None, :, None]).sum(-1)  # (B, M)
    warm = ((g["centre"] >= _WARM_BAND[0]) & (g["centre"] < _WARM_BAND[1])).to(power.dtype)
    audible = (g["centre"] >= 20.0).to(power.dtype)
    return (power @ warm) / (power @ audible).clamp(min=1e-30)


def _peaks(log_mel: Tensor) -> Tensor:
    """Each band's magnitude above the larger of its two neighbours (``(B, M, F)``, 0 where no peak)."""
    mag = log_mel.exp()
    pad = torch.nn.functional.pad(mag.transpose(1, 2), (1, 1), mode="replicate").transpose(1, 2)
    neighbour = torch.maximum(pad[:, :-2], pad[:, 2:])
    return torch.relu(mag - 0.5 * neighbour)


def roughness(log_mel: Tensor, config: MelConfig | None = None) -> Tensor:
    """Sethares dissonance of the band peaks per frame (1 = worst pure dyad), energy-weighted, ``(B,)``."""
    g = _geo(config or MelConfig(), log_mel)
    amp = _peaks(log_mel) * g["width"][None, :, None]  # (B, M, F)
    total = torch.einsum("bif,ij,bjf->bf", amp, g["pair"], amp) / 2
    rough = total / amp.square().sum(1).clamp(min=1e-20) / (_SETHARES_DMAX / 2)
    energy = (log_mel.exp().square() * g["width"][None, :, None]).sum(1)
    return _weighted(rough, energy.detach() * _active(energy))


def tension(log_mel: Tensor, config: MelConfig | None = None) -> Tensor:
    """Huron interval-class dissonance of the band peaks' energies, pairwise over band centres (50-2000 Hz),
    per frame, in [0, 1], energy-weighted, ``(B,)``.

    The mel is too coarse for a folded chroma (it tracked the real descriptor with Spearman 0.17 on the
    shared recordings; this pairwise form, 0.48)."""
    g = _geo(config or MelConfig(), log_mel)
    amp = (_peaks(log_mel) * g["width"][None, :, None]).square() * g["tonal"][None, :, None]
    num = torch.einsum("bif,ij,bjf->bf", amp, g["huron"], amp)
    tense = num / amp.sum(1).square().clamp(min=1e-20)
    energy = (log_mel.exp().square() * g["width"][None, :, None]).sum(1)
    return _weighted(tense, energy.detach() * _active(energy))


def _energy(log_mel: Tensor, config: MelConfig) -> Tensor:
    g = _geo(config, log_mel)
    return (log_mel.exp().square() * g["width"][None, :, None]).sum(1)  # (B, F)


def rhythmic(log_mel: Tensor, config: MelConfig | None = None) -> Tensor:
    """Modulation index of the amplitude envelope in 0.5-10 Hz, ``(B,)``."""
    cfg = config or MelConfig()
    env = _energy(log_mel, cfg).clamp(min=1e-20).sqrt()
    mean = env.mean(-1, keepdim=True)
    m = env / mean.clamp(min=1e-30) - 1.0
    m = m - m.mean(-1, keepdim=True)
    n = m.shape[-1]
    spec = torch.fft.rfft(m, dim=-1)
    f = torch.fft.rfftfreq(n, 1.0 / _frame_rate(cfg)).to(m.device)
    spec = spec * ((f >= _MOD_BAND[0]) & (f <= _MOD_BAND[1])).to(m.dtype)
    band = torch.fft.irfft(spec, n=n, dim=-1)
    return math.sqrt(2.0) * band.std(-1, unbiased=False)


def _onset(log_mel: Tensor, config: MelConfig) -> Tensor:
    """Positive spectral flux in dB, mean over the 30 Hz-16 kHz bands, ``(B, F)``."""
    g = _geo(config, log_mel)
    keep = (g["centre"] >= 30.0) & (g["centre"] <= 16000.0)
    db = _DB * log_mel[:, keep]
    return torch.relu(torch.diff(db, dim=-1, prepend=db[..., :1])).mean(1)


def _smooth(x: Tensor, width: int) -> Tensor:
    if width < 2 or x.shape[-1] < width:
        return x
    kernel = torch.hann_window(width + 2, periodic=False, dtype=x.dtype, device=x.device)[1:-1]
    kernel = kernel / kernel.sum()
    return torch.nn.functional.conv1d(x[:, None], kernel[None, None], padding=width // 2)[:, 0, : x.shape[-1]]


def pulse(log_mel: Tensor, config: MelConfig | None = None, sharpness: float = 40.0) -> Tensor:
    """Soft maximum of the onset envelope's normalised autocorrelation over 40-240 BPM, in [0, 1], ``(B,)``."""
    cfg = config or MelConfig()
    rate = _frame_rate(cfg)
    o = _smooth(_onset(log_mel, cfg), 5)
    n = o.shape[-1]
    lo, hi = int(round(rate * 60 / 240)), min(int(round(rate * 60 / 40)), n // 2)
    if hi <= lo:
        return o.sum(-1) * 0.0
    o = o - o.mean(-1, keepdim=True)
    nfft = 1 << int(math.ceil(math.log2(2 * n)))
    spec = torch.fft.rfft(o, nfft, dim=-1)
    acf = torch.fft.irfft(spec * spec.conj(), nfft, dim=-1)[:, : hi + 1]
    c = torch.cumsum(o.square(), dim=-1)
    lags = torch.arange(lo, hi + 1, device=o.device)
    head = c[:, n - 1 - lags]
    tail = c[:, -1:] - torch.cat([torch.zeros_like(c[:, :1]), c], dim=-1)[:, lags]
    r = acf[:, lags] / (head * tail).clamp(min=1e-30).sqrt()
    soft = torch.logsumexp(sharpness * r, dim=-1) / sharpness - math.log(r.shape[-1]) / sharpness
    return soft.clamp(0.0, 1.0)


def density(log_mel: Tensor, config: MelConfig | None = None) -> Tensor:
    """0.5 x soft share of sounding frames + 0.5 x (1 - exp(-soft onsets per second / 8)), ``(B,)``."""
    cfg = config or MelConfig()
    rate = _frame_rate(cfg)
    energy = _energy(log_mel, cfg)
    db = 10.0 * torch.log10(energy.clamp(min=1e-20))
    ref = torch.quantile(db.detach(), 0.99, dim=-1, keepdim=True)
    active = torch.sigmoid((db - (ref - 45.0)) / 3.0)
    o = _smooth(_onset(log_mel, cfg), 3)
    reach = max(1, int(0.035 * rate))
    local_max = torch.nn.functional.max_pool1d(o.detach()[:, None], 2 * reach + 1, 1, reach)[:, 0]
    avg = min(o.shape[-1], max(3, int(0.5 * rate)))
    local_mean = torch.nn.functional.avg_pool1d(o.detach()[:, None], avg, 1, avg // 2,
                                                count_include_pad=True)[:, 0, : o.shape[-1]]
    strong = (torch.quantile(o.detach(), 0.995, dim=-1, keepdim=True) * 0.1).clamp(min=1e-6)
    thresh = torch.maximum(1.5 * local_mean, strong)
    peaks = (o.detach() >= local_max[..., : o.shape[-1]]).to(o.dtype)
    onsets = (peaks * torch.sigmoid((o - thresh) / (0.1 * thresh + 1e-3)) * active).sum(-1)
    seconds = o.shape[-1] / rate
    return 0.5 * active.mean(-1) + 0.5 * (1.0 - torch.exp(-onsets / seconds / 8.0))


def reverberance(log_mel: Tensor, config: MelConfig | None = None) -> Tensor:
    """Decay time (s per 60 dB, 0..10) from the dB envelope's slopes deep inside decays, ``(B,)``."""
    cfg = config or MelConfig()
    rate = _frame_rate(cfg)
    db = 10.0 * torch.log10(_energy(log_mel, cfg).clamp(min=1e-12))
    width = max(3, int(round(0.07 * rate)))
    if db.shape[-1] < width + 1:
        return db.sum(-1) * 0.0
    t = (torch.arange(width, dtype=db.dtype, device=db.device) - (width - 1) / 2) / rate
    kernel = (t / t.square().sum()).flip(0)
    slopes = torch.nn.functional.conv1d(db[:, None], kernel[None, None])[:, 0]  # (B, F - width + 1)
    with torch.no_grad():
        floor = (torch.quantile(db, 0.99, dim=-1, keepdim=True) - 60.0).clamp(min=-100.0)
        lowest = -torch.nn.functional.max_pool1d(-db[:, None], width, 1)[:, 0]
        reach = max(1, int(2.0 * rate))
        padded = torch.nn.functional.pad(db[:, None], (reach - 1, 0), mode="replicate")
        recent = torch.nn.functional.max_pool1d(padded, reach, 1)[:, 0]  # max of db[t-reach+1 .. t]
        ends = recent[:, width - 1:] - db[:, width - 1:]
        ok = ((lowest > floor) & (slopes < 0) & (ends >= 10.0)).to(db.dtype)
    count = ok.sum(-1)
    mean_slope = (slopes * ok).sum(-1) / count.clamp(min=1.0)
    t60 = (-60.0 / mean_slope.clamp(max=-1e-3)).clamp(0.0, 10.0)
    return torch.where(count >= 3, t60, torch.zeros_like(t60))


STANDINS = {"brightness": brightness, "warmth": warmth, "roughness": roughness, "tension": tension,
            "rhythmic": rhythmic, "pulse": pulse, "density": density, "reverberance": reverberance}


def describe_mel(log_mel: Tensor, names: tuple[str, ...] = STANDIN_NAMES,
                 config: MelConfig | None = None) -> dict[str, Tensor]:
    """The stand-ins ``names`` of ``log_mel (B, n_mels, F)`` (or ``(n_mels, F)``): name -> ``(B,)``."""
    if log_mel.dim() == 2:
        log_mel = log_mel[None]
    if log_mel.dim() != 3:
        raise ValueError(f"expected a log-mel (B, n_mels, F), got {tuple(log_mel.shape)}")
    unknown = [n for n in names if n not in STANDINS]
    if unknown:
        raise ValueError(f"unknown stand-in {unknown[0]!r}; use some of {', '.join(STANDIN_NAMES)}")
    return {name: STANDINS[name](log_mel, config) for name in names}
