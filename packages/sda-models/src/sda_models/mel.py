"""The canonical log-mel front end: the BigVGAN-v2 44 kHz, 128-band, 512x definition.

Every model in sda (autoencoders, prior, vocoders) speaks this one representation, so that any
vocoder can render any model's output. The definition follows BigVGAN's ``meldataset.mel_spectrogram``:
reflect-pad the wave by ``(n_fft - hop) // 2`` on both sides, ``torch.stft(center=False)`` with a Hann
window, magnitude ``sqrt(re² + im² + 1e-9)``, a Slaney-scale / Slaney-normalised mel filterbank (as
``librosa.filters.mel``), then ``log(clamp(mel, min=1e-5))``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torchaudio
from torch import nn

LOG_CLAMP = 1e-5
MAGNITUDE_EPS = 1e-9


@dataclass(frozen=True)
class MelConfig:
    """Log-mel parameters (defaults are BigVGAN-v2 ``bigvgan_v2_44khz_128band_512x``)."""

    sampling_rate: int = 44100
    n_fft: int = 2048
    hop_length: int = 512
    win_length: int = 2048
    num_mels: int = 128
    fmin: float = 0.0
    fmax: float | None = None

    def __post_init__(self) -> None:
        if self.win_length > self.n_fft:
            raise ValueError(f"win_length {self.win_length} exceeds n_fft {self.n_fft}")
        if self.hop_length <= 0 or self.hop_length > self.n_fft:
            raise ValueError(f"hop_length must be in 1..n_fft, got {self.hop_length}")
        if self.fmax is not None and not (self.fmin < self.fmax <= self.sampling_rate / 2):
            raise ValueError(f"need fmin < fmax <= Nyquist, got fmin={self.fmin} fmax={self.fmax}")

    @property
    def padding(self) -> int:
        """Reflect padding applied to each side of the wave before the STFT."""
        return int((self.n_fft - self.hop_length) / 2)

    @property
    def f_max(self) -> float:
        """Upper edge of the filterbank in Hz (Nyquist when ``fmax`` is ``None``)."""
        return float(self.fmax) if self.fmax is not None else self.sampling_rate / 2.0

    @property
    def n_freqs(self) -> int:
        return self.n_fft // 2 + 1

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for ``num_samples`` samples (``num_samples // hop`` for multiples of the hop)."""
        return (num_samples + 2 * self.padding - self.n_fft) // self.hop_length + 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown MelConfig keys: {', '.join(unknown)}")
        return cls(**data)


def mel_filterbank(config: MelConfig) -> torch.Tensor:
    """Slaney mel filterbank ``(num_mels, n_fft // 2 + 1)``, equal to ``librosa.filters.mel`` (htk=False)."""
    fb = torchaudio.functional.melscale_fbanks(
        n_freqs=config.n_freqs,
        f_min=float(config.fmin),
        f_max=config.f_max,
        n_mels=config.num_mels,
        sample_rate=config.sampling_rate,
        norm="slaney",
        mel_scale="slaney",
    )
    return fb.T.contiguous().float()


def dynamic_range_compression(x: torch.Tensor, clip_val: float = LOG_CLAMP) -> torch.Tensor:
    """``log(clamp(x, min=clip_val))`` (BigVGAN's ``dynamic_range_compression_torch`` with C=1)."""
    return torch.log(torch.clamp(x, min=clip_val))


def dynamic_range_decompression(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`dynamic_range_compression` above the clamp."""
    return torch.exp(x)


class LogMel(nn.Module):
    """Wave ``(B, T)`` or ``(T,)`` at ``config.sampling_rate`` → log-mel ``(B, num_mels, frames)``.

    ``frames = config.num_frames(T)``, i.e. ``T // hop`` when ``T`` is a multiple of the hop. The
    computation runs in float32 even under autocast.
    """

    mel_basis: torch.Tensor  # buffers (registered in __init__), declared for type checkers
    window: torch.Tensor

    def __init__(self, config: MelConfig | None = None) -> None:
        super().__init__()
        self.config = config or MelConfig()
        self.register_buffer("mel_basis", mel_filterbank(self.config), persistent=False)
        self.register_buffer("window", torch.hann_window(self.config.win_length), persistent=False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        squeeze = wave.dim() == 1
        if squeeze:
            wave = wave.unsqueeze(0)
        if wave.dim() != 2:
            raise ValueError(f"LogMel expects a wave of shape (B, T) or (T,), got {tuple(wave.shape)}")
        if wave.shape[-1] <= cfg.padding:
            raise ValueError(
                f"audio too short for the mel front end: {wave.shape[-1]} samples, "
                f"need more than {cfg.padding} (about {cfg.padding / cfg.sampling_rate * 1000:.0f} ms)"
            )
        with torch.autocast(device_type=wave.device.type, enabled=False):
            wave = wave.float()
            padded = nn.functional.pad(wave.unsqueeze(1), (cfg.padding, cfg.padding), mode="reflect").squeeze(1)
            spec = torch.stft(
                padded,
                cfg.n_fft,
                hop_length=cfg.hop_length,
                win_length=cfg.win_length,
                window=self.window,
                center=False,
                normalized=False,
                onesided=True,
                return_complex=True,
            )
            magnitude = torch.sqrt(torch.view_as_real(spec).pow(2).sum(-1) + MAGNITUDE_EPS)
            mel = torch.matmul(self.mel_basis, magnitude)
            out = dynamic_range_compression(mel)
        return out.squeeze(0) if squeeze else out


_CACHE: dict[tuple[MelConfig, str], LogMel] = {}


def log_mel(wave: torch.Tensor, config: MelConfig | None = None) -> torch.Tensor:
    """Convenience: the log-mel of ``wave`` ``(B, T)`` or ``(T,)`` with a cached :class:`LogMel`."""
    cfg = config or MelConfig()
    key = (cfg, str(wave.device))
    module = _CACHE.get(key)
    if module is None:
        module = LogMel(cfg).to(wave.device)
        _CACHE[key] = module
    return module(wave)
