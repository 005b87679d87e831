"""Convolutional mel encoder: mel bands are channels, time is the 1-D axis.

Shared building blocks (normalised conv layers, dilated residual blocks) live here too; the decoder mirrors
them.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

from sda_models.configs import AutoencoderConfig


def make_activation(name: str) -> nn.Module:
    return nn.GELU() if name == "gelu" else nn.SiLU()


def make_norm(kind: str, channels: int) -> nn.Module:
    """GroupNorm (groups dividing ``channels``, at most 8) or identity when convs are weight-normalised."""
    if kind != "group":
        return nn.Identity()
    groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


def conv1d(in_ch: int, out_ch: int, kernel: int, norm: str, stride: int = 1, dilation: int = 1) -> nn.Module:
    """A 'same'-padded Conv1d (for stride 1), weight-normalised when ``norm == 'weight'``."""
    padding = dilation * (kernel - 1) // 2
    conv = nn.Conv1d(in_ch, out_ch, kernel, stride=stride, padding=padding, dilation=dilation)
    return weight_norm(conv) if norm == "weight" else conv


class ResBlock(nn.Module):
    """Pre-norm residual block: norm → act → dilated conv → norm → act → dropout → 1x1 conv, plus skip.

    ``(B, C, T) -> (B, C, T)``.
    """

    def __init__(self, channels: int, kernel: int, dilation: int, norm: str, activation: str,
                 dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            make_norm(norm, channels),
            make_activation(activation),
            conv1d(channels, channels, kernel, norm, dilation=dilation),
            make_norm(norm, channels),
            make_activation(activation),
            nn.Dropout(dropout),
            conv1d(channels, channels, 1, norm),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def res_stack(channels: int, config: AutoencoderConfig) -> nn.Sequential:
    """``config.res_blocks`` residual blocks cycling through ``config.dilations``."""
    return nn.Sequential(*[
        ResBlock(channels, config.kernel_size, config.dilations[i % len(config.dilations)], config.norm,
                 config.activation, config.dropout)
        for i in range(config.res_blocks)
    ])


class MelEncoder(nn.Module):
    """Normalised log-mel ``(B, n_mels, T)`` → features ``(B, out_dim, T // downsample)``.

    ``T`` must be a multiple of ``config.downsample`` (the autoencoder pads). ``out_dim`` is
    ``2 * latent_dim`` for the VAE (mean and log-variance) and ``latent_dim`` for RVQ.
    """

    def __init__(self, config: AutoencoderConfig, out_dim: int) -> None:
        super().__init__()
        ch = config.channels
        layers: list[nn.Module] = [conv1d(config.n_mels, ch[0], config.kernel_size, config.norm),
                                   res_stack(ch[0], config)]
        for i in range(config.n_stages):
            layers += [
                make_norm(config.norm, ch[i]),
                make_activation(config.activation),
                conv1d(ch[i], ch[i + 1], 4, config.norm, stride=2),  # kernel 4, pad 1: T -> T // 2
                res_stack(ch[i + 1], config),
            ]
        layers += [make_norm(config.norm, ch[-1]), make_activation(config.activation),
                   conv1d(ch[-1], out_dim, 3, config.norm)]
        self.net = nn.Sequential(*layers)
        self.downsample = config.downsample

    def forward(self, mel_norm: Tensor) -> Tensor:
        if mel_norm.shape[-1] % self.downsample:
            raise ValueError(f"encoder input length {mel_norm.shape[-1]} is not a multiple of {self.downsample}")
        return self.net(mel_norm)
