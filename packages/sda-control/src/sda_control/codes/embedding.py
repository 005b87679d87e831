"""Codes <-> the RVQ's summed embedding space, where blends and seam crossfades happen.

A column of codes stands for the sum of its levels' codebook vectors (in the quantiser's codebook space,
before ``proj_out``). Mixing two columns there and quantising the mix again with the model's own residual
quantiser (level by level, nearest code of what the coarser levels left) gives a valid column that sits
between the two sounds, rather than a mix of unrelated indices.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from sda_models.rvq import ResidualVectorQuantizer


@torch.no_grad()
def summed_embedding(rvq: ResidualVectorQuantizer, codes: Tensor) -> Tensor:
    """Codes ``(levels, T)`` -> the sum of their codebook vectors ``(T, codebook_dim)`` (float32, CPU)."""
    total = None
    for level, quantizer in enumerate(rvq.codebooks):
        vec = quantizer.lookup(codes[level].to(quantizer.embed.device)).float().cpu()
        total = vec if total is None else total + vec
    assert total is not None
    return total


@torch.no_grad()
def quantise(rvq: ResidualVectorQuantizer, embedding: Tensor) -> Tensor:
    """Residual quantisation of ``(T, codebook_dim)`` vectors with the model's codebooks -> ``(levels, T)``."""
    residual = embedding.float()
    codes = []
    for quantizer in rvq.codebooks:
        embed = quantizer.embed.float().cpu()
        dist = residual.pow(2).sum(1, keepdim=True) - 2 * residual @ embed.T + embed.pow(2).sum(1)[None]
        idx = dist.argmin(dim=1)
        residual = residual - embed[idx]
        codes.append(idx)
    return torch.stack(codes).long()


def mix_codes(rvq: ResidualVectorQuantizer, a: Tensor, b: Tensor, amount: Tensor | float) -> Tensor:
    """Columns of ``a`` and ``b`` ``(levels, T)`` mixed in embedding space (``amount`` 0 = a, 1 = b, scalar
    or per column ``(T,)``) and quantised again -> ``(levels, T)``. Columns with amount 0 or 1 come back
    exactly as ``a`` or ``b`` (no re-quantisation of an unmixed column)."""
    w = torch.as_tensor(amount, dtype=torch.float32).expand(a.shape[1]).clone()
    mixed = (1 - w)[:, None] * summed_embedding(rvq, a) + w[:, None] * summed_embedding(rvq, b)
    out = quantise(rvq, mixed)
    out[:, w <= 0] = a[:, w <= 0]
    out[:, w >= 1] = b[:, w >= 1]
    return out


def seam_ramp(width: int) -> Tensor:
    """``width`` weights strictly between 0 and 1, rising: the crossfade over the frames beside a seam."""
    return torch.arange(1, width + 1, dtype=torch.float32) / (width + 1)
