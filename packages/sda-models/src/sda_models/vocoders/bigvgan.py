"""BigVGAN-v2 generator, written for sda and pinned to one published checkpoint.

Version pin
-----------
This module reproduces the *generator* of ``nvidia/bigvgan_v2_44khz_128band_512x`` as defined by the
``config.json`` uploaded to that Hugging Face repository on 2024-07-15 (hub commit ``ef68881``, "Upload 2
files") and by ``bigvgan.py`` / ``activations.py`` / ``alias_free_activation/torch/*.py`` of
github.com/NVIDIA/BigVGAN at tag v2.4 (commit ``7d2b454``). Generator hyper-parameters from that config:
``resblock "1"``, ``upsample_rates [8,4,2,2,2,2]``, ``upsample_kernel_sizes [16,8,4,4,4,4]``,
``upsample_initial_channel 1536``, ``resblock_kernel_sizes [3,7,11]``,
``resblock_dilation_sizes [[1,3,5]]*3``, ``activation "snakebeta"``, ``snake_logscale true``,
``use_tanh_at_final false``, ``use_bias_at_final false``, ``num_mels 128``, ``hop_size 512``,
``sampling_rate 44100``.

Parameter names follow the official ``bigvgan_generator.pt`` (``{"generator": state_dict}``), which was
saved with the hook-based ``torch.nn.utils.weight_norm``: every convolution stores ``weight_g`` (the norm,
shape ``(dim0, 1, 1)``) and ``weight_v`` (the direction) plus ``bias``; the upsamplers are nested one
level (``ups.{i}.0.*``); the anti-aliasing filters are persistent buffers (``...upsample.filter`` and
``...downsample.lowpass.filter``, shape ``(1, 1, 12)``); SnakeBeta keeps ``act.alpha`` / ``act.beta`` in
log scale. The code is our own implementation of the published architecture (MIT-licensed upstream).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from sda_models.mel import MelConfig

HF_REPO_ID = "nvidia/bigvgan_v2_44khz_128band_512x"
AA_KERNEL_SIZE = 12  # Activation1d up/down filter taps in BigVGAN v2


@dataclass(frozen=True)
class BigVGANConfig:
    """Generator hyper-parameters (the subset of BigVGAN's ``config.json`` that shapes the network)."""

    num_mels: int = 128
    upsample_rates: tuple[int, ...] = (8, 4, 2, 2, 2, 2)
    upsample_kernel_sizes: tuple[int, ...] = (16, 8, 4, 4, 4, 4)
    upsample_initial_channel: int = 1536
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    snake_logscale: bool = True
    use_tanh_at_final: bool = False
    use_bias_at_final: bool = False
    sampling_rate: int = MelConfig().sampling_rate  # the checkpoint's rate: MelConfig is its mel definition

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
    def from_dict(cls, data: dict[str, Any]) -> BigVGANConfig:
        """Build from our own dict or from an official ``config.json`` (extra training keys are ignored).

        Only ``resblock "1"`` with ``activation "snakebeta"`` is supported (all v2 checkpoints).
        """
        if str(data.get("resblock", "1")) != "1" or data.get("activation", "snakebeta") != "snakebeta":
            raise ValueError("only BigVGAN-v2 generators (resblock '1', activation 'snakebeta') are supported")
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {k: v for k, v in data.items() if k in known}
        for key in ("upsample_rates", "upsample_kernel_sizes", "resblock_kernel_sizes"):
            if key in kwargs:
                kwargs[key] = tuple(int(v) for v in kwargs[key])
        if "resblock_dilation_sizes" in kwargs:
            kwargs["resblock_dilation_sizes"] = tuple(tuple(int(d) for d in ds)
                                                      for ds in kwargs["resblock_dilation_sizes"])
        # The official code defaults both flags to True when absent (v1 checkpoints).
        kwargs.setdefault("use_tanh_at_final", bool(data.get("use_tanh_at_final", True)))
        kwargs.setdefault("use_bias_at_final", bool(data.get("use_bias_at_final", True)))
        return cls(**kwargs)


BIGVGAN_V2_44K_128BAND_512X = BigVGANConfig()

TINY_BIGVGAN = BigVGANConfig(
    upsample_rates=(8, 8, 8),
    upsample_kernel_sizes=(16, 16, 16),
    upsample_initial_channel=32,
    resblock_kernel_sizes=(3, 7),
    resblock_dilation_sizes=((1, 3, 5), (1, 3, 5)),
)
"""Same architecture and hop (512), tiny widths: for tests and smoke runs."""


# --------------------------------------------------------------------------- anti-aliasing filters

def kaiser_sinc_filter1d(cutoff: float, half_width: float, kernel_size: int) -> torch.Tensor:
    """Kaiser-windowed sinc low-pass ``(1, 1, kernel_size)``; ``cutoff``/``half_width`` in cycles/sample."""
    half = kernel_size // 2
    attenuation = 2.285 * (half - 1) * math.pi * (4 * half_width) + 7.95
    if attenuation > 50.0:
        beta = 0.1102 * (attenuation - 8.7)
    elif attenuation >= 21.0:
        beta = 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21.0)
    else:
        beta = 0.0
    cpu = torch.device("cpu")  # always computed on the CPU (also when a model is built on "meta")
    window = torch.kaiser_window(kernel_size, periodic=False, beta=beta, device=cpu)
    if kernel_size % 2 == 0:
        t = torch.arange(-half, half, device=cpu) + 0.5
    else:
        t = torch.arange(kernel_size, device=cpu) - half
    taps = 2 * cutoff * window * torch.sinc(2 * cutoff * t)
    taps = taps / taps.sum()  # unit DC gain
    return taps.view(1, 1, kernel_size)


class UpSample1d(nn.Module):
    """Zero-stuffing x``ratio`` upsampler followed by the Kaiser-sinc low-pass. ``(B, C, T) -> (B, C, rT)``."""

    filter: torch.Tensor  # buffer (registered in __init__), declared for type checkers

    def __init__(self, ratio: int = 2, kernel_size: int = AA_KERNEL_SIZE) -> None:
        super().__init__()
        self.ratio = ratio
        self.pad = kernel_size // ratio - 1
        self.crop_left = self.pad * ratio + (kernel_size - ratio) // 2
        self.crop_right = self.pad * ratio + (kernel_size - ratio + 1) // 2
        self.register_buffer("filter", kaiser_sinc_filter1d(0.5 / ratio, 0.6 / ratio, kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        x = F.pad(x, (self.pad, self.pad), mode="replicate")
        x = F.conv_transpose1d(x, self.filter.expand(channels, -1, -1), stride=self.ratio, groups=channels)
        return self.ratio * x[..., self.crop_left: x.shape[-1] - self.crop_right]


class LowPassFilter1d(nn.Module):
    """Depthwise Kaiser-sinc low-pass with stride and replicate padding. ``(B, C, T) -> (B, C, T/stride)``."""

    filter: torch.Tensor  # buffer (registered in __init__), declared for type checkers

    def __init__(self, cutoff: float, half_width: float, stride: int, kernel_size: int) -> None:
        super().__init__()
        even = kernel_size % 2 == 0
        self.pad_left = kernel_size // 2 - int(even)
        self.pad_right = kernel_size // 2
        self.stride = stride
        self.register_buffer("filter", kaiser_sinc_filter1d(cutoff, half_width, kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        x = F.pad(x, (self.pad_left, self.pad_right), mode="replicate")
        return F.conv1d(x, self.filter.expand(channels, -1, -1), stride=self.stride, groups=channels)


class DownSample1d(nn.Module):
    def __init__(self, ratio: int = 2, kernel_size: int = AA_KERNEL_SIZE) -> None:
        super().__init__()
        self.lowpass = LowPassFilter1d(0.5 / ratio, 0.6 / ratio, ratio, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lowpass(x)


class SnakeBeta(nn.Module):
    """``x + 1/beta * sin^2(alpha * x)`` per channel; ``alpha``/``beta`` stored in log scale when asked."""

    def __init__(self, channels: int, logscale: bool = True) -> None:
        super().__init__()
        self.logscale = logscale
        init = torch.full((channels,), 0.0 if logscale else 1.0)
        self.alpha = nn.Parameter(init)
        self.beta = nn.Parameter(init.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = self.alpha.view(1, -1, 1)
        beta = self.beta.view(1, -1, 1)
        if self.logscale:
            alpha, beta = alpha.exp(), beta.exp()
        return x + torch.sin(x * alpha).pow(2) / (beta + 1e-9)


class Activation1d(nn.Module):
    """Anti-aliased activation: upsample x2, SnakeBeta, downsample x2. ``(B, C, T) -> (B, C, T)``."""

    def __init__(self, channels: int, logscale: bool = True) -> None:
        super().__init__()
        self.act = SnakeBeta(channels, logscale)
        self.upsample = UpSample1d(2, AA_KERNEL_SIZE)
        self.downsample = DownSample1d(2, AA_KERNEL_SIZE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(self.act(self.upsample(x)))


# --------------------------------------------------------------------------- weight-normalised convs

class _WeightNormConv(nn.Module):
    """A convolution parametrised as ``weight = weight_g * weight_v / ||weight_v||`` (norm over all dims but 0).

    Holds ``weight_g``/``weight_v``/``bias`` under exactly the names the hook-based
    ``torch.nn.utils.weight_norm`` wrote into the official checkpoint. :meth:`fuse` caches the combined
    weight for inference (not part of the state dict).
    """

    transposed = False

    def __init__(self, in_ch: int, out_ch: int, kernel: int, *, stride: int = 1, padding: int = 0,
                 dilation: int = 1, bias: bool = True) -> None:
        super().__init__()
        shape = (in_ch, out_ch, kernel) if self.transposed else (out_ch, in_ch, kernel)
        v = torch.empty(shape)
        if v.is_meta:  # shape-only model (manifests, loading with assign=True): no init work
            g = torch.empty(shape[0], 1, 1)
        else:
            v.normal_(0.0, 0.01)  # BigVGAN's init_weights: N(0, 0.01)
            g = torch.linalg.vector_norm(v, dim=(1, 2), keepdim=True)
        self.weight_v = nn.Parameter(v)
        self.weight_g = nn.Parameter(g)
        self.bias = nn.Parameter(torch.empty(out_ch) if v.is_meta else torch.zeros(out_ch)) if bias else None
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self._fused: torch.Tensor | None = None

    def weight(self) -> torch.Tensor:
        if self._fused is not None:
            return self._fused
        v = self.weight_v
        return self.weight_g * v / torch.linalg.vector_norm(v, dim=(1, 2), keepdim=True)

    def fuse(self) -> None:
        """Compute the weight once (inference); call again after moving or loading the module."""
        with torch.no_grad():
            self._fused = None
            self._fused = self.weight().detach()

    def unfuse(self) -> None:
        self._fused = None

    def _apply(self, fn, recurse=True):  # type: ignore[no-untyped-def]
        self._fused = None  # a cached weight would stay on the old device/dtype
        return super()._apply(fn, recurse)


class WNConv1d(_WeightNormConv):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv1d(x, self.weight(), self.bias, self.stride, self.padding, self.dilation)


class WNConvTranspose1d(_WeightNormConv):
    transposed = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose1d(x, self.weight(), self.bias, self.stride, self.padding)


def _same_padding(kernel: int, dilation: int) -> int:
    return (kernel * dilation - dilation) // 2


# --------------------------------------------------------------------------- generator

class AMPBlock1(nn.Module):
    """Anti-aliased multi-periodicity block: per dilation, act→dilated conv→act→conv, residual sum."""

    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...], logscale: bool) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            WNConv1d(channels, channels, kernel, dilation=d, padding=_same_padding(kernel, d)) for d in dilations
        )
        self.convs2 = nn.ModuleList(
            WNConv1d(channels, channels, kernel, padding=_same_padding(kernel, 1)) for _ in dilations
        )
        self.activations = nn.ModuleList(Activation1d(channels, logscale) for _ in range(2 * len(dilations)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        acts = self.activations
        for i, (c1, c2) in enumerate(zip(self.convs1, self.convs2, strict=True)):
            x = x + c2(acts[2 * i + 1](c1(acts[2 * i](x))))
        return x


class BigVGANGenerator(nn.Module):
    """Log-mel ``(B, num_mels, frames)`` → waveform ``(B, 1, frames * hop)`` in ``[-1, 1]``."""

    def __init__(self, config: BigVGANConfig = BIGVGAN_V2_44K_128BAND_512X) -> None:
        super().__init__()
        self.config = config
        ch0 = config.upsample_initial_channel
        self.num_kernels = len(config.resblock_kernel_sizes)
        self.conv_pre = WNConv1d(config.num_mels, ch0, 7, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        ch = ch0
        for i, (rate, kernel) in enumerate(zip(config.upsample_rates, config.upsample_kernel_sizes, strict=True)):
            ch_in, ch = ch0 // 2**i, ch0 // 2 ** (i + 1)
            self.ups.append(nn.ModuleList([WNConvTranspose1d(ch_in, ch, kernel, stride=rate,
                                                             padding=(kernel - rate) // 2)]))
            for k, dil in zip(config.resblock_kernel_sizes, config.resblock_dilation_sizes, strict=True):
                self.resblocks.append(AMPBlock1(ch, k, tuple(dil), config.snake_logscale))
        self.activation_post = Activation1d(ch, config.snake_logscale)
        self.conv_post = WNConv1d(ch, 1, 7, padding=3, bias=config.use_bias_at_final)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(mel)
        for i, up in enumerate(cast("list[nn.ModuleList]", self.ups)):
            x = up[0](x)
            blocks = self.resblocks[i * self.num_kernels:(i + 1) * self.num_kernels]
            acc = blocks[0](x)
            for block in blocks[1:]:
                acc = acc + block(x)
            x = acc / self.num_kernels
        x = self.conv_post(self.activation_post(x))
        return torch.tanh(x) if self.config.use_tanh_at_final else x.clamp(-1.0, 1.0)

    def fuse_weight_norm(self) -> None:
        """Cache every convolution's combined weight (inference speed-up; the state dict is unchanged)."""
        for module in self.modules():
            if isinstance(module, _WeightNormConv):
                module.fuse()


def parameter_shapes(generator: nn.Module) -> dict[str, tuple[int, ...]]:
    """``name -> shape`` of everything in the state dict (parameters and filter buffers)."""
    return {name: tuple(t.shape) for name, t in generator.state_dict().items()}


def expected_shapes(config: BigVGANConfig) -> dict[str, tuple[int, ...]]:
    """The state-dict names/shapes a generator of ``config`` has, without allocating its weights."""
    with torch.device("meta"):
        model = BigVGANGenerator(config)
    return parameter_shapes(model)
