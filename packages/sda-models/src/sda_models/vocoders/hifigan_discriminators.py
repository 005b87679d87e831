"""HiFi-GAN discriminators: multi-period (periods 2, 3, 5, 7, 11) and multi-scale (raw, x2, x4 pooled).

Each discriminator returns its logits and the list of intermediate feature maps (for feature matching).
Widths are configurable so tests and small-data training can use narrow networks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm, weight_norm

LRELU_SLOPE = 0.1
Features = list[torch.Tensor]


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Discriminator widths; defaults are the HiFi-GAN paper's."""

    periods: tuple[int, ...] = (2, 3, 5, 7, 11)
    mpd_channels: tuple[int, ...] = (32, 128, 512, 1024, 1024)
    msd_channels: tuple[int, ...] = (128, 128, 256, 512, 1024, 1024, 1024)
    msd_scales: int = 3

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DiscriminatorConfig:
        return cls(periods=tuple(data.get("periods", cls.periods)),
                   mpd_channels=tuple(data.get("mpd_channels", cls.mpd_channels)),
                   msd_channels=tuple(data.get("msd_channels", cls.msd_channels)),
                   msd_scales=int(data.get("msd_scales", cls.msd_scales)))


TINY_DISCRIMINATORS = DiscriminatorConfig(mpd_channels=(8, 16, 32, 32, 32),
                                          msd_channels=(16, 16, 32, 32, 64, 64, 64))


def _conv_stack(convs: nn.ModuleList, conv_post: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, Features]:
    """Leaky-ReLU conv layers then the output conv; returns the flattened score and every layer's output."""
    features: Features = []
    for conv in convs:
        x = F.leaky_relu(conv(x), LRELU_SLOPE)
        features.append(x)
    x = conv_post(x)
    features.append(x)
    return x.flatten(1), features


class PeriodDiscriminator(nn.Module):
    """Reshapes ``(B, 1, T)`` to ``(B, 1, T/p, p)`` and applies strided 2-D convs along time."""

    def __init__(self, period: int, channels: tuple[int, ...]) -> None:
        super().__init__()
        self.period = period
        layers = []
        in_ch = 1
        for i, out_ch in enumerate(channels):
            stride = 3 if i < len(channels) - 1 else 1
            layers.append(weight_norm(nn.Conv2d(in_ch, out_ch, (5, 1), (stride, 1), padding=(2, 0))))
            in_ch = out_ch
        self.convs = nn.ModuleList(layers)
        self.conv_post = weight_norm(nn.Conv2d(in_ch, 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, Features]:
        b, c, t = x.shape
        if t % self.period:
            pad = self.period - t % self.period
            x = F.pad(x, (0, pad), mode="reflect" if pad < t else "constant")
            t = t + pad
        return _conv_stack(self.convs, self.conv_post, x.view(b, c, t // self.period, self.period))


class ScaleDiscriminator(nn.Module):
    """Grouped strided 1-D convs over the raw (or pooled) waveform ``(B, 1, T)``."""

    KERNELS = (15, 41, 41, 41, 41, 41, 5)
    STRIDES = (1, 2, 2, 4, 4, 1, 1)
    GROUPS = (1, 4, 16, 16, 16, 16, 1)

    def __init__(self, channels: tuple[int, ...], use_spectral_norm: bool = False) -> None:
        super().__init__()
        norm = spectral_norm if use_spectral_norm else weight_norm
        layers = []
        in_ch = 1
        for out_ch, k, s, g in zip(channels, self.KERNELS, self.STRIDES, self.GROUPS, strict=False):
            groups = g if in_ch % g == 0 and out_ch % g == 0 else 1
            layers.append(norm(nn.Conv1d(in_ch, out_ch, k, s, groups=groups, padding=(k - 1) // 2)))
            in_ch = out_ch
        self.convs = nn.ModuleList(layers)
        self.conv_post = norm(nn.Conv1d(in_ch, 1, 3, 1, padding=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, Features]:
        return _conv_stack(self.convs, self.conv_post, x)


class MultiPeriodDiscriminator(nn.Module):
    def __init__(self, config: DiscriminatorConfig = DiscriminatorConfig()) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(PeriodDiscriminator(p, config.mpd_channels) for p in config.periods)

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[Features]]:
        outs = [d(x) for d in self.discriminators]
        return [o[0] for o in outs], [o[1] for o in outs]


class MultiScaleDiscriminator(nn.Module):
    """The first scale uses spectral norm (as in HiFi-GAN); later scales see x2 average-pooled audio."""

    def __init__(self, config: DiscriminatorConfig = DiscriminatorConfig()) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(ScaleDiscriminator(config.msd_channels, use_spectral_norm=i == 0)
                                            for i in range(config.msd_scales))
        self.pool = nn.AvgPool1d(4, 2, padding=2)

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[Features]]:
        logits, feats = [], []
        for i, d in enumerate(self.discriminators):
            if i > 0:
                x = self.pool(x)
            out, f = d(x)
            logits.append(out)
            feats.append(f)
        return logits, feats
