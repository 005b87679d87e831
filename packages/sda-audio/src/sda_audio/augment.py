"""Seeded waveform augmentations for small-data training (TRAIN-02).

Every transform is a frozen dataclass holding parameter ranges and a probability ``p``; calling it as
``transform(samples (C, T) float32, sample_rate, generator)`` draws its parameters from the CPU
``torch.Generator`` (so one seed gives the same sound on every device) and returns a new ``(C, T')``
tensor on the input's device. ``Compose`` chains transforms; ``default_augmentation`` is the mild set
used when training on a few files.

Deterministic functional forms (``pitch_shift``, ``time_stretch``, ``add_noise``, ``apply_gain``) do the
signal processing: a phase vocoder with identity phase locking (``torch.stft``/``istft`` around a small
hand-written vocoder; ``torchaudio.functional.phase_vocoder`` loses vertical phase coherence and can drop
a steady tone by >10 dB when slowing down) for time stretching, and stretch + band-limited sinc
resampling (``torchaudio.functional.resample``) for pitch shifting, which keeps the length.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal, Protocol

import torch
import torchaudio.functional as AF

from sda_audio.errors import SdaError

NoiseColor = Literal["white", "pink"]


class Transform(Protocol):
    """A waveform augmentation: ``(samples (C, T), sample_rate, generator) -> (C, T')``."""

    def __call__(self, samples: torch.Tensor, sample_rate: int, generator: torch.Generator) -> torch.Tensor: ...


# -- functional forms -----------------------------------------------------------------------------


def _as_2d(x: torch.Tensor) -> tuple[torch.Tensor, bool]:
    if x.dim() == 1:
        return x.unsqueeze(0), True
    if x.dim() != 2:
        raise ValueError(f"expected samples of shape (C, T) or (T,), got {tuple(x.shape)}")
    return x, False


def _fit_length(x: torch.Tensor, length: int) -> torch.Tensor:
    """Crop or zero-pad the last axis to ``length``."""
    if x.shape[-1] >= length:
        return x[..., :length]
    return torch.nn.functional.pad(x, (0, length - x.shape[-1]))


def _stft_size(sample_rate: int) -> int:
    """~46 ms analysis window as a power of two (2048 at 44.1 kHz, 1024 at 22.05 kHz)."""
    return 1 << max(8, round(math.log2(0.0464 * sample_rate)))


def _phase_locked_vocoder(spec: torch.Tensor, rate: float, hop: int, n_fft: int) -> torch.Tensor:
    """Phase vocoder with identity phase locking (Laroche & Dolson 1999).

    Args:
        spec: complex STFT ``(C, F, N)``.

    Returns:
        complex ``(C, F, ceil(N / rate))``. Peak bins advance by their measured instantaneous frequency;
        every other bin keeps its analysis phase offset to the nearest peak, which keeps the vertical
        phase coherence that the plain vocoder (``torchaudio.functional.phase_vocoder``) loses.
    """
    c, f, n = spec.shape
    dev = spec.device
    steps = torch.arange(0, n, rate, dtype=torch.float64, device=dev)
    i0 = steps.floor().long().clamp(max=n - 1)
    i1 = (i0 + 1).clamp(max=n - 1)
    alpha = (steps - i0.double()).to(spec.real.dtype)
    mag = (1 - alpha) * spec[..., i0].abs() + alpha * spec[..., i1].abs()  # (C, F, M)
    ang0 = spec[..., i0].angle()
    expected = (2 * math.pi * hop / n_fft) * torch.arange(f, dtype=spec.real.dtype, device=dev)[:, None]
    dphi = spec[..., i1].angle() - ang0 - expected
    dphi = dphi - 2 * math.pi * torch.round(dphi / (2 * math.pi)) + expected  # per-hop advance, (C, F, M)

    # Nearest spectral peak ("owner") of every bin in every output frame, all frames at once.
    bins = torch.arange(f, device=dev)[:, None].expand(c, f, mag.shape[-1])
    left = torch.nn.functional.pad(mag[:, :-1], (0, 0, 1, 0), value=-1.0)
    right = torch.nn.functional.pad(mag[:, 1:], (0, 0, 0, 1), value=-1.0)
    is_peak = (mag >= left) & (mag > right)
    prev_peak = torch.cummax(torch.where(is_peak, bins, -1), dim=1).values
    flipped = torch.where(is_peak, f - 1 - bins, -1).flip(1)
    next_peak = (f - 1 - torch.cummax(flipped, dim=1).values).flip(1)
    use_prev = (prev_peak >= 0) & ((next_peak >= f) | (bins - prev_peak <= next_peak - bins))
    owner = torch.where(use_prev, prev_peak, next_peak).clamp(0, f - 1)
    relative = ang0 - torch.gather(ang0, 1, owner)

    out_phase = torch.empty_like(mag)
    phase = ang0[..., 0].clone()
    for j in range(mag.shape[-1]):
        out = torch.gather(phase, 1, owner[..., j]) + relative[..., j]
        out_phase[..., j] = out
        phase = torch.remainder(out + dphi[..., j], 2 * math.pi)
    return torch.polar(mag, out_phase)


def time_stretch(samples: torch.Tensor, sample_rate: int, rate: float) -> torch.Tensor:
    """Change tempo, keep pitch (phase vocoder).

    Args:
        samples: ``(C, T)`` or ``(T,)`` float waveform.
        rate: playback speed as in librosa/torchaudio: ``rate > 1`` is faster (shorter), the output
            lasts ``T / rate`` samples.

    Returns:
        ``(C, round(T / rate))`` (or 1-D if the input was 1-D).
    """
    if rate <= 0:
        raise ValueError(f"time-stretch rate must be positive, got {rate}")
    x, squeeze = _as_2d(samples)
    length = max(1, round(x.shape[-1] / rate))
    if abs(rate - 1.0) < 1e-6:
        out = x.clone()
    else:
        n_fft = _stft_size(sample_rate)
        hop = n_fft // 4
        window = torch.hann_window(n_fft, device=x.device, dtype=x.dtype)
        pad = max(0, n_fft - x.shape[-1])
        xp = torch.nn.functional.pad(x, (0, pad))
        spec = torch.stft(xp, n_fft, hop, window=window, center=True, return_complex=True)
        stretched = _phase_locked_vocoder(spec, rate, hop, n_fft)
        out = torch.istft(stretched, n_fft, hop, window=window, center=True, length=length)
    out = _fit_length(out, length).contiguous()
    return out.squeeze(0) if squeeze else out


def pitch_shift(samples: torch.Tensor, sample_rate: int, semitones: float) -> torch.Tensor:
    """Shift pitch by ``semitones`` (may be fractional) and keep the length and tempo.

    The signal is time-stretched by the pitch factor ``f = 2**(semitones/12)`` and then resampled by
    ``1/f`` (rational approximation with denominator <= 100, error < 0.01 %).

    Returns:
        Same shape as ``samples``.
    """
    x, squeeze = _as_2d(samples)
    length = x.shape[-1]
    if abs(semitones) < 1e-6:
        out = x.clone()
    else:
        factor = 2.0 ** (semitones / 12.0)
        ratio = Fraction(factor).limit_denominator(100)
        stretched = time_stretch(x, sample_rate, 1.0 / factor)
        out = AF.resample(stretched, orig_freq=ratio.numerator, new_freq=ratio.denominator)
        out = _fit_length(out, length)
    out = out.contiguous()
    return out.squeeze(0) if squeeze else out


def _noise(shape: tuple[int, ...], color: NoiseColor, generator: torch.Generator) -> torch.Tensor:
    """Unit-variance white or pink (1/f power) noise drawn on the CPU generator."""
    white = torch.randn(shape, generator=generator, dtype=torch.float32)
    if color == "white":
        return white
    if color != "pink":
        raise ValueError(f"noise colour must be 'white' or 'pink', got {color!r}")
    n = shape[-1]
    spec = torch.fft.rfft(white, dim=-1)
    k = torch.arange(spec.shape[-1], dtype=torch.float32)
    scale = torch.where(k > 0, 1.0 / torch.sqrt(k.clamp(min=1.0)), torch.zeros(()))
    pink = torch.fft.irfft(spec * scale, n=n, dim=-1)
    return pink / pink.pow(2).mean().sqrt().clamp(min=1e-12)


def add_noise(
    samples: torch.Tensor, snr_db: float, generator: torch.Generator, color: NoiseColor = "white"
) -> torch.Tensor:
    """Add white or pink noise at ``snr_db`` relative to the signal's mean power (all channels).

    Silent input is returned unchanged (an SNR is undefined there). Shape is kept.
    """
    power = samples.detach().float().pow(2).mean()
    if power <= 0:
        return samples.clone()
    noise = _noise(tuple(samples.shape), color, generator)
    noise = noise * torch.sqrt(power.cpu() / 10.0 ** (snr_db / 10.0) / noise.pow(2).mean().clamp(min=1e-20))
    return samples + noise.to(device=samples.device, dtype=samples.dtype)


def apply_gain(samples: torch.Tensor, db: float) -> torch.Tensor:
    """Scale by ``db`` decibels (no clipping; the exporter handles peaks)."""
    return samples * (10.0 ** (db / 20.0))


# -- seeded transforms -----------------------------------------------------------------------------


def _uniform(bounds: tuple[float, float], generator: torch.Generator) -> float:
    lo, hi = bounds
    return lo + (hi - lo) * float(torch.rand((), generator=generator))


def _fires(p: float, generator: torch.Generator) -> bool:
    return float(torch.rand((), generator=generator)) < p


def _check(name: str, bounds: tuple[float, float], p: float) -> None:
    if bounds[0] > bounds[1]:
        raise SdaError(f"{name}: range {bounds} is reversed", hint="give (low, high) with low <= high")
    if not 0.0 <= p <= 1.0:
        raise SdaError(f"{name}: probability {p} is outside [0, 1]", hint="use a value between 0 and 1")


@dataclass(frozen=True)
class PitchShift:
    """Shift by a uniform random number of semitones in ``semitones``; length kept."""

    semitones: tuple[float, float] = (-2.0, 2.0)
    p: float = 0.5

    def __post_init__(self) -> None:
        _check("PitchShift", self.semitones, self.p)

    def __call__(self, samples: torch.Tensor, sample_rate: int, generator: torch.Generator) -> torch.Tensor:
        fire = _fires(self.p, generator)
        value = _uniform(self.semitones, generator)
        return pitch_shift(samples, sample_rate, value) if fire else samples


@dataclass(frozen=True)
class TimeStretch:
    """Change tempo by a random ``rate`` (>1 faster), pitch kept.

    With ``keep_length`` (default) the result is cropped or zero-padded back to the input length so
    batches keep their shape.
    """

    rate: tuple[float, float] = (0.9, 1.1)
    p: float = 0.5
    keep_length: bool = True

    def __post_init__(self) -> None:
        _check("TimeStretch", self.rate, self.p)
        if self.rate[0] <= 0:
            raise SdaError(f"TimeStretch: rates must be positive, got {self.rate}", hint="use e.g. (0.9, 1.1)")

    def __call__(self, samples: torch.Tensor, sample_rate: int, generator: torch.Generator) -> torch.Tensor:
        fire = _fires(self.p, generator)
        value = _uniform(self.rate, generator)
        if not fire:
            return samples
        out = time_stretch(samples, sample_rate, value)
        return _fit_length(out, samples.shape[-1]) if self.keep_length else out


@dataclass(frozen=True)
class AddNoise:
    """Add noise at a random SNR (dB) from ``snr_db``; ``color`` is white, pink, or ``"mixed"`` (50/50)."""

    snr_db: tuple[float, float] = (25.0, 45.0)
    p: float = 0.5
    color: Literal["white", "pink", "mixed"] = "mixed"

    def __post_init__(self) -> None:
        _check("AddNoise", self.snr_db, self.p)
        if self.color not in ("white", "pink", "mixed"):
            raise SdaError(f"AddNoise: unknown colour {self.color!r}", hint="use 'white', 'pink' or 'mixed'")

    def __call__(self, samples: torch.Tensor, sample_rate: int, generator: torch.Generator) -> torch.Tensor:
        fire = _fires(self.p, generator)
        value = _uniform(self.snr_db, generator)
        pick_pink = _fires(0.5, generator)
        if not fire:
            return samples
        color: NoiseColor = ("pink" if pick_pink else "white") if self.color == "mixed" else self.color
        return add_noise(samples, value, generator, color)


@dataclass(frozen=True)
class Gain:
    """Scale by a random gain in ``db``."""

    db: tuple[float, float] = (-6.0, 6.0)
    p: float = 0.5

    def __post_init__(self) -> None:
        _check("Gain", self.db, self.p)

    def __call__(self, samples: torch.Tensor, sample_rate: int, generator: torch.Generator) -> torch.Tensor:
        fire = _fires(self.p, generator)
        value = _uniform(self.db, generator)
        return apply_gain(samples, value) if fire else samples


@dataclass(frozen=True)
class Compose:
    """Apply ``transforms`` in order, all drawing from the same generator."""

    transforms: tuple[Transform, ...] = ()

    def __init__(self, transforms: Sequence[Transform] = ()) -> None:
        object.__setattr__(self, "transforms", tuple(transforms))

    def __call__(self, samples: torch.Tensor, sample_rate: int, generator: torch.Generator) -> torch.Tensor:
        out = samples
        for transform in self.transforms:
            out = transform(out, sample_rate, generator)
        return out


def default_augmentation(strength: float = 1.0, p: float = 0.5) -> Compose:
    """The mild augmentation set for small datasets.

    At ``strength=1``: +-2 semitones, tempo 0.9-1.1, noise at 25-45 dB SNR, gain +-6 dB, each applied
    with probability ``p``. Ranges scale linearly with ``strength`` (0 = no augmentation, at most 2).
    """
    if not 0.0 <= strength <= 2.0:
        raise SdaError(f"augmentation strength {strength} is outside [0, 2]", hint="use 1.0 for the default")
    if strength == 0.0:
        return Compose([])
    s = strength
    return Compose(
        [
            PitchShift(semitones=(-2.0 * s, 2.0 * s), p=p),
            TimeStretch(rate=(1.0 - 0.1 * s, 1.0 + 0.1 * s), p=p),
            Gain(db=(-6.0 * s, 6.0 * s), p=p),
            AddNoise(snr_db=(45.0 - 20.0 * s, 45.0), p=p),
        ]
    )
