"""The tensors a ``.sda`` file must hold, derived from its configs without allocating any weights.

A layout maps each tensor name (section prefix stripped) to its ``(shape, safetensors dtype)``. Module layouts
come from building the module on PyTorch's ``meta`` device, where tensors have shapes but no storage, with
random initialisers turned into no-ops (on ``meta`` they only cost time: the first one imports PyTorch's
compiler stack, seconds). So a config that asks for a 200 GB transformer costs a few milliseconds to size
up, and :mod:`sda_models.model_check` can compare the result with the file's header before anything real is
built.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from sda_models.configs import AutoencoderConfig, PriorConfig

Layout = dict[str, tuple[tuple[int, ...], str]]
"""Tensor name -> ``(shape, safetensors dtype string)``."""

DTYPE_NAMES: dict[torch.dtype, str] = {
    torch.bool: "BOOL", torch.uint8: "U8", torch.int8: "I8", torch.int16: "I16", torch.int32: "I32",
    torch.int64: "I64", torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32", torch.float64: "F64",
}
FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")
DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "I32": 4, "I64": 8, "F16": 2, "BF16": 2, "F32": 4, "F64": 8}

CONTROL_ROWS_MAX = 64
"""At most this many sliders, descriptors or exploration axes in a ``control.*`` section."""
CONTROL_REQUIRED = ("latent_mean", "directions", "readouts", "range_lo", "range_hi", "clamp_lo", "clamp_hi",
                    "descriptor_mean", "descriptor_std")
CONTROL_EXPLORE = ("explore_axes", "explore_lo", "explore_hi")
"""The ``control.*`` section written by ``sda_control.fit`` (``ControlMap`` reads it): K sliders, M
descriptors, E <= latent width exploration axes, D = the autoencoder's latent width."""

# in-place value changes: on meta they change nothing a layout needs, so they are skipped
_VALUE_ONLY = frozenset({"normal_", "uniform_", "trunc_normal_", "fill_", "zero_", "copy_", "erfinv_", "clamp_",
                         "mul_", "add_", "sub_", "div_", "exponential_", "bernoulli_", "random_", "log_normal_",
                         "cauchy_", "geometric_", "orthogonal_", "sqrt_", "abs_", "neg_",
                         # torch.nn.init's initialisers (overridable as a whole)
                         "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_", "xavier_normal_", "constant_",
                         "ones_", "zeros_", "eye_", "dirac_", "sparse_"})
_RANDOM_FACTORIES = frozenset({"randn", "rand"})
_ARITHMETIC = frozenset({"add", "sub", "mul", "div", "true_divide", "pow", "__add__", "__radd__", "__sub__",
                         "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__", "__pow__"})
_RANDOM_LIKE = frozenset({"randn_like", "rand_like"})


class _ShapesOnly(TorchFunctionMode):
    """Inside ``torch.device("meta")``: random initialisers and value edits return their input unchanged;
    arithmetic returns an empty tensor of the broadcast shape (meta arithmetic goes through Python refs)."""

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        target = args[0] if args else kwargs.get("tensor")  # nn.init passes its tensor by keyword
        if name in _VALUE_ONLY and isinstance(target, torch.Tensor) and target.is_meta:
            return target
        if name in _RANDOM_FACTORIES:
            size = kwargs.get("size", args[0] if len(args) == 1 and not isinstance(args[0], int) else args)
            return torch.empty(size, dtype=kwargs.get("dtype"), device="meta")
        if name in _ARITHMETIC and len(args) == 2 and any(isinstance(a, torch.Tensor) for a in args):
            shapes = [tuple(a.shape) for a in args if isinstance(a, torch.Tensor)]
            return torch.empty(_broadcast(shapes), device="meta")
        if name == "norm_except_dim" and args:  # weight norm's magnitude: size 1 except along ``dim``
            v, dim = args[0], int(args[2] if len(args) > 2 else kwargs.get("dim", 0))
            shape = () if dim == -1 else tuple(n if i == dim else 1 for i, n in enumerate(v.shape))
            return torch.empty(shape, dtype=v.dtype, device="meta")
        if name in _RANDOM_LIKE and args:
            return torch.empty_like(args[0], dtype=kwargs.get("dtype"), device="meta")
        return func(*args, **kwargs)


def _broadcast(shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    """NumPy broadcasting of shapes (``torch.broadcast_shapes`` imports sympy: seconds on first use)."""
    ndim = max(len(s) for s in shapes)
    out = []
    for dims in zip(*[(1,) * (ndim - len(s)) + s for s in shapes], strict=True):
        sizes = {d for d in dims if d != 1}
        if len(sizes) > 1:
            raise ValueError(f"shapes {shapes} do not broadcast")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def module_layout(build: Callable[[], nn.Module]) -> Layout:
    """The state-dict layout of the module ``build()`` makes, built on the ``meta`` device (no storage)."""
    with torch.device("meta"), _ShapesOnly():
        module = build()
    return {name: (tuple(t.shape), DTYPE_NAMES.get(t.dtype, str(t.dtype))) for name, t in module.state_dict().items()}


def autoencoder_layout(config: AutoencoderConfig) -> Layout:
    return _cached("autoencoder", config)


def prior_layout(config: PriorConfig) -> Layout:
    return _cached("prior", config)


def vocoder_layout(config: Any) -> Layout:
    """Layout of the per-model HiFi-GAN generator for a :class:`~sda_models.vocoders.hifigan.HifiGanConfig`."""
    return _cached("vocoder", config)


def _build(kind: str, config: Any) -> nn.Module:
    if kind == "autoencoder":
        from sda_models.autoencoder import build_autoencoder

        return build_autoencoder(config)
    if kind == "prior":
        from sda_models.prior import CodePrior

        return CodePrior(config)
    from sda_models.vocoders.hifigan import HifiGanGenerator

    return HifiGanGenerator(config)


@functools.lru_cache(maxsize=64)
def _cached_items(kind: str, config: Any) -> tuple[tuple[str, tuple[tuple[int, ...], str]], ...]:
    return tuple(module_layout(lambda: _build(kind, config)).items())


def _cached(kind: str, config: Any) -> Layout:
    """Layouts are pure functions of a (frozen, hashable) config: models of one size share them, so a
    catalogue of many models derives each once."""
    try:
        return dict(_cached_items(kind, config))
    except TypeError:  # an unhashable config (not one sda builds): derive it afresh
        return module_layout(lambda: _build(kind, config))


def stats_layout(n_mels: int) -> Layout:
    return {"mean": ((n_mels,), "F32"), "std": ((n_mels,), "F32")}


def control_layout(latent_dim: int, present: Mapping[str, tuple[int, ...]]) -> Layout:
    """The ``control.*`` layout for latent width ``latent_dim``; the row counts K, M, E are read from the
    file's own ``directions``, ``descriptor_mean`` and ``explore_axes`` shapes and must be at most
    :data:`CONTROL_ROWS_MAX` (an absent or odd tensor simply shows up as missing or mismatched)."""

    def rows(name: str) -> int:
        shape = present.get(name) or (0,)
        return min(int(shape[0]) if shape else 0, CONTROL_ROWS_MAX)

    k, m, d = rows("directions"), rows("descriptor_mean"), latent_dim
    layout: Layout = {"latent_mean": ((d,), "F32"), "directions": ((k, d), "F32"), "readouts": ((k, d), "F32"),
                      "descriptor_mean": ((m,), "F32"), "descriptor_std": ((m,), "F32")}
    layout.update({name: ((k,), "F32") for name in ("range_lo", "range_hi", "clamp_lo", "clamp_hi")})
    if any(name in present for name in CONTROL_EXPLORE):
        e = min(rows("explore_axes"), d)
        layout.update(explore_axes=((e, d), "F32"), explore_lo=((e,), "F32"), explore_hi=((e,), "F32"))
    return layout


def layout_bytes(layout: Layout) -> int:
    """Bytes the tensors of ``layout`` occupy in a safetensors file."""
    return sum(math.prod(shape) * DTYPE_BYTES.get(dtype, 8) for shape, dtype in layout.values())


def layout_parameters(layout: Layout) -> int:
    return sum(math.prod(shape) for shape, _ in layout.values())


__all__ = ["CONTROL_EXPLORE", "CONTROL_REQUIRED", "CONTROL_ROWS_MAX", "DTYPE_NAMES", "FLOAT_DTYPES", "Layout",
           "autoencoder_layout", "control_layout", "layout_bytes", "layout_parameters", "module_layout",
           "prior_layout", "stats_layout", "vocoder_layout"]
