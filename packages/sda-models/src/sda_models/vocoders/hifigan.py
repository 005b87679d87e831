"""Per-model HiFi-GAN V2 vocoder: the generator, its config, and the inference wrapper.

The generator follows the HiFi-GAN V2 configuration (Kong et al., 2020: ``resblock 1``,
``upsample_initial_channel 128``, resblock kernels ``[3, 7, 11]`` with dilations ``[[1, 3, 5]] * 3``),
adapted to sda's canonical mel (128 bands, hop 512 at 44.1 kHz): upsample rates ``[8, 8, 4, 2]`` with
kernels ``[16, 16, 8, 4]``. It takes the *un-normalised* canonical log-mel ``(B, 128, frames)``.
Weights are stored in the ``.sda`` file's ``vocoder.*`` section via :meth:`HifiGanVocoder.generator_tensors`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

from sda_audio.errors import SdaError
from sda_models.device import resolve_device
from sda_models.mel import MelConfig
from sda_models.vocoders.base import Vocoder
from sda_models.vocoders.chunking import render_chunked

LRELU_SLOPE = 0.1


@dataclass(frozen=True)
class HifiGanConfig:
    """Generator hyper-parameters (HiFi-GAN V2 adapted to hop 512)."""

    num_mels: int = 128
    upsample_rates: tuple[int, ...] = (8, 8, 4, 2)
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 8, 4)
    upsample_initial_channel: int = 128
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    sampling_rate: int = MelConfig().sampling_rate

    def __post_init__(self) -> None:
        if len(self.upsample_rates) != len(self.upsample_kernel_sizes):
            raise ValueError("upsample_rates and upsample_kernel_sizes differ in length")
        if len(self.resblock_kernel_sizes) != len(self.resblock_dilation_sizes):
            raise ValueError("resblock_kernel_sizes and resblock_dilation_sizes differ in length")
        if self.upsample_initial_channel // 2 ** len(self.upsample_rates) < 1:
            raise ValueError("upsample_initial_channel too small for the number of upsampling stages")

    @property
    def hop_length(self) -> int:
        return math.prod(self.upsample_rates)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HifiGanConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown HifiGanConfig keys: {', '.join(unknown)}")
        kwargs = dict(data)
        for key in ("upsample_rates", "upsample_kernel_sizes", "resblock_kernel_sizes"):
            if key in kwargs:
                kwargs[key] = tuple(int(v) for v in kwargs[key])
        if "resblock_dilation_sizes" in kwargs:
            kwargs["resblock_dilation_sizes"] = tuple(tuple(int(d) for d in ds)
                                                      for ds in kwargs["resblock_dilation_sizes"])
        return cls(**kwargs)


TINY_HIFIGAN = HifiGanConfig(upsample_initial_channel=16, resblock_kernel_sizes=(3, 7),
                             resblock_dilation_sizes=((1, 3), (1, 3)))
"""Same layout and hop, tiny widths: for tests and smoke runs."""


def _wn(conv: nn.Module) -> nn.Module:
    """HiFi-GAN init N(0, 0.01), then weight norm (init first: a parametrised weight is recomputed)."""
    with torch.no_grad():
        cast(torch.Tensor, conv.weight).normal_(0.0, 0.01)
    return weight_norm(conv)


def _pad(kernel: int, dilation: int = 1) -> int:
    return (kernel * dilation - dilation) // 2


class ResBlock1(nn.Module):
    """HiFi-GAN ResBlock1: per dilation lrelu→dilated conv→lrelu→conv with a residual connection."""

    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(_wn(nn.Conv1d(channels, channels, kernel, dilation=d,
                                                          padding=_pad(kernel, d))) for d in dilations)
        self.convs2 = nn.ModuleList(_wn(nn.Conv1d(channels, channels, kernel, padding=_pad(kernel)))
                                    for _ in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
        return x


class HifiGanGenerator(nn.Module):
    """Log-mel ``(B, num_mels, frames)`` → waveform ``(B, 1, frames * hop)`` in ``(-1, 1)``."""

    def __init__(self, config: HifiGanConfig = HifiGanConfig()) -> None:
        super().__init__()
        self.config = config
        ch0 = config.upsample_initial_channel
        self.num_kernels = len(config.resblock_kernel_sizes)
        self.conv_pre = _wn(nn.Conv1d(config.num_mels, ch0, 7, padding=3))
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        ch = ch0
        for i, (rate, kernel) in enumerate(zip(config.upsample_rates, config.upsample_kernel_sizes, strict=True)):
            ch = ch0 // 2 ** (i + 1)
            self.ups.append(_wn(nn.ConvTranspose1d(ch0 // 2**i, ch, kernel, rate,
                                                           padding=(kernel - rate) // 2)))
            for k, dil in zip(config.resblock_kernel_sizes, config.resblock_dilation_sizes, strict=True):
                self.resblocks.append(ResBlock1(ch, k, tuple(dil)))
        self.conv_post = _wn(nn.Conv1d(ch, 1, 7, padding=3))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(mel)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            blocks = self.resblocks[i * self.num_kernels:(i + 1) * self.num_kernels]
            acc = blocks[0](x)
            for block in blocks[1:]:
                acc = acc + block(x)
            x = acc / self.num_kernels
        return torch.tanh(self.conv_post(F.leaky_relu(x)))


def _strip_prefix(tensors: dict[str, torch.Tensor], prefix: str = "vocoder.") -> dict[str, torch.Tensor]:
    if tensors and all(k.startswith(prefix) for k in tensors):
        return {k[len(prefix):]: v for k, v in tensors.items()}
    return dict(tensors)


class HifiGanVocoder(Vocoder):
    """A model's own HiFi-GAN V2 generator behind the :class:`Vocoder` API (chunked, CUDA/MPS/CPU)."""

    name = "hifigan"

    def __init__(self, generator: HifiGanGenerator, device: str | torch.device | None = "auto",
                 chunk_frames: int = 256, overlap_frames: int = 16) -> None:
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.generator = generator.to(self.device).eval()
        self.config = generator.config
        self.hop_length = generator.config.hop_length
        self.sample_rate = generator.config.sampling_rate
        self.chunk_frames = int(chunk_frames)
        self.overlap_frames = int(overlap_frames)

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], config_dict: dict[str, Any],
                     device: str | torch.device | None = "auto", **kwargs: Any) -> HifiGanVocoder:
        """Rebuild from :meth:`generator_tensors` output (with or without a ``vocoder.`` prefix) and the config."""
        try:
            config = HifiGanConfig.from_dict(config_dict)
        except (TypeError, ValueError) as exc:
            raise SdaError(f"the stored HiFi-GAN vocoder config is invalid ({exc})",
                           hint="train the model's vocoder again") from exc
        generator = HifiGanGenerator(config)
        try:
            generator.load_state_dict(_strip_prefix(tensors), strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise SdaError(f"the stored HiFi-GAN vocoder weights do not match its config ({first})",
                           hint="train the model's vocoder again") from exc
        return cls(generator, device=device, **kwargs)

    def generator_tensors(self) -> dict[str, torch.Tensor]:
        """Generator weights as contiguous CPU tensors (the ``.sda`` file adds the ``vocoder.`` prefix)."""
        return generator_tensors(self.generator)

    def config_dict(self) -> dict[str, Any]:
        return self.config.to_dict()

    def synthesize(self, log_mel: torch.Tensor) -> np.ndarray:
        """Canonical log-mel ``(128, frames)`` → float32 wave ``(frames * 512,)``."""
        mel = torch.as_tensor(log_mel, dtype=torch.float32)
        if mel.dim() == 3 and mel.shape[0] == 1:
            mel = mel[0]
        if mel.dim() != 2 or mel.shape[0] != self.config.num_mels:
            raise SdaError(f"the vocoder expects a log-mel of shape ({self.config.num_mels}, frames), "
                           f"got {tuple(mel.shape)}", hint="pass the canonical log-mel from sda_models.mel.LogMel")
        with parametrize.cached():
            wave = render_chunked(self.generator, mel, self.hop_length, self.device, chunk=self.chunk_frames,
                                  overlap=self.overlap_frames, context=self.overlap_frames)
        return wave.numpy().astype(np.float32, copy=False)


def generator_tensors(generator: HifiGanGenerator) -> dict[str, torch.Tensor]:
    """``state_dict`` of ``generator`` as detached, contiguous CPU tensors."""
    return {k: v.detach().to("cpu").contiguous() for k, v in generator.state_dict().items()}
