"""High-quality, anti-aliased sample-rate conversion (torchaudio's windowed-sinc resampler).

The parameters are the "kaiser_best" settings (64 zero crossings, Kaiser window beta 14.77,
rolloff 0.9475), which keep the passband flat to ~95 % of the lower Nyquist frequency and push
everything above it far below audibility, so nothing aliases.
"""

from __future__ import annotations

import logging
from typing import TypeVar, cast

import numpy as np
import torch
import torchaudio.functional as AF

log = logging.getLogger(__name__)

LOWPASS_FILTER_WIDTH = 64
ROLLOFF = 0.9475937167399596
BETA = 14.769656459379492

ArrayLike = TypeVar("ArrayLike", np.ndarray, torch.Tensor)


def resample(samples: ArrayLike, orig_sr: int, target_sr: int) -> ArrayLike:
    """Resample ``samples`` from ``orig_sr`` to ``target_sr``.

    Args:
        samples: audio shaped ``(C, T)`` (or ``(T,)``), a numpy array or a torch tensor.
        orig_sr: the rate of ``samples`` in Hz.
        target_sr: the rate wanted in Hz.

    Returns:
        The same kind of object (numpy float32 for numpy input; a tensor of the input's dtype and
        device for torch input), shaped ``(C, ceil(T * target_sr / orig_sr))``. When the rates are equal
        the input is returned unchanged.
    """
    orig_sr, target_sr = int(orig_sr), int(target_sr)
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} -> {target_sr}")
    if orig_sr == target_sr:
        return samples
    is_numpy = isinstance(samples, np.ndarray)
    tensor = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)) if is_numpy else samples
    dtype = tensor.dtype
    if not tensor.is_floating_point():
        tensor = tensor.float()
    out = AF.resample(
        tensor,
        orig_sr,
        target_sr,
        lowpass_filter_width=LOWPASS_FILTER_WIDTH,
        rolloff=ROLLOFF,
        resampling_method="sinc_interp_kaiser",
        beta=BETA,
    )
    if is_numpy:
        return cast(ArrayLike, out.numpy().astype(np.float32, copy=False))
    return cast(ArrayLike, out if out.dtype == dtype or not dtype.is_floating_point else out.to(dtype))
