"""Convolutional mel decoder: the encoder mirrored, with transposed-conv x2 upsampling stages."""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

from sda_models.configs import AutoencoderConfig
from sda_models.encoder import conv1d, make_activation, make_norm, res_stack


def conv_transpose_x2(in_ch: int, out_ch: int, norm: str) -> nn.Module:
    """Kernel-4, stride-2, padding-1 transposed conv: ``(B, in, T) -> (B, out, 2T)``."""
    conv = nn.ConvTranspose1d(in_ch, out_ch, 4, stride=2, padding=1)
    return weight_norm(conv) if norm == "weight" else conv


class MelDecoder(nn.Module):
    """Latent ``(B, latent_dim, T')`` → normalised log-mel ``(B, n_mels, T' * downsample)``."""

    def __init__(self, config: AutoencoderConfig) -> None:
        super().__init__()
        ch = config.channels
        layers: list[nn.Module] = [conv1d(config.latent_dim, ch[-1], 3, config.norm), res_stack(ch[-1], config)]
        for i in range(config.n_stages, 0, -1):
            layers += [
                make_norm(config.norm, ch[i]),
                make_activation(config.activation),
                conv_transpose_x2(ch[i], ch[i - 1], config.norm),
                res_stack(ch[i - 1], config),
            ]
        layers += [make_norm(config.norm, ch[0]), make_activation(config.activation),
                   conv1d(ch[0], config.n_mels, config.kernel_size, config.norm)]
        self.net = nn.Sequential(*layers)

    def forward(self, latent: Tensor) -> Tensor:
        return self.net(latent)
