"""Autoencoder losses: mel L1 + L2, a multi-resolution spectral term, and the bottleneck term (KL or commitment).

The spectral term compares 2-D average-pooled pyramids of the (normalised) mels at several scales, both
the values and their differences along time and along frequency, so that coarse envelopes, onsets and
spectral slopes are matched as well as single bins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from sda_models.attributes import attribute_loss
from sda_models.configs import AutoencoderConfig
from sda_models.gaussian import free_bits_kl, kl_weight_at

if TYPE_CHECKING:
    from sda_models.autoencoder import AutoencoderOutput


def multiresolution_spectral_loss(recon: Tensor, target: Tensor, scales: tuple[int, ...] = (1, 2, 4, 8)) -> Tensor:
    """Mean over scales of L1 on pooled mels and on their time and frequency differences.

    ``recon``/``target``: ``(B, n_mels, T)``. Scales larger than either axis are skipped.
    """
    r, t = recon.float().unsqueeze(1), target.float().unsqueeze(1)
    terms = []
    for s in scales:
        if s > r.shape[-1] or s > r.shape[-2]:
            continue
        rs = F.avg_pool2d(r, s) if s > 1 else r
        ts = F.avg_pool2d(t, s) if s > 1 else t
        term = F.l1_loss(rs, ts)
        if rs.shape[-1] > 1:
            term = term + F.l1_loss(rs.diff(dim=-1), ts.diff(dim=-1))
        if rs.shape[-2] > 1:
            term = term + F.l1_loss(rs.diff(dim=-2), ts.diff(dim=-2))
        terms.append(term)
    if not terms:
        return F.l1_loss(r, t)
    return torch.stack(terms).mean()


def reconstruction_terms(recon: Tensor, target: Tensor, config: AutoencoderConfig) -> dict[str, Tensor]:
    """``{"l1", "l2", "spectral"}`` between ``recon`` and ``target`` ``(B, n_mels, T)``."""
    if recon.shape != target.shape:
        raise ValueError(f"reconstruction {tuple(recon.shape)} and target {tuple(target.shape)} differ")
    r, t = recon.float(), target.float()
    return {
        "l1": F.l1_loss(r, t),
        "l2": F.mse_loss(r, t),
        "spectral": multiresolution_spectral_loss(r, t, config.spectral_scales),
    }


def autoencoder_loss(output: AutoencoderOutput, target: Tensor, config: AutoencoderConfig,
                     step: int, attributes: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
    """Total training loss and its parts as floats.

    VAE: ``l1 + l2 + spectral + kl_weight(step) * free_bits_kl``; RVQ: ``... + commitment_weight * commitment``.
    With ``attributes (B, len(config.attributes))`` and ``config.attribute_weight > 0``, plus
    ``attribute_weight * attr`` (AR-VAE's pairwise sign loss, :mod:`sda_models.attributes`).
    """
    parts = reconstruction_terms(output.recon, target, config)
    total = (config.l1_weight * parts["l1"] + config.l2_weight * parts["l2"]
             + config.spectral_weight * parts["spectral"])
    metrics = {name: float(value.detach()) for name, value in parts.items()}
    if config.kind == "vae":
        kl_dims = output.loss_terms["kl_per_dim"]
        kl = free_bits_kl(kl_dims, config.free_bits)
        weight = kl_weight_at(step, config.kl_weight, config.kl_warmup_steps)
        total = total + weight * kl
        metrics.update(kl=float(kl_dims.detach().sum()), kl_free_bits=float(kl.detach()), kl_weight=weight)
    else:
        commitment = output.loss_terms["commitment"]
        total = total + config.commitment_weight * commitment
        metrics["commitment"] = float(commitment.detach())
    if attributes is not None and config.attribute_weight > 0 and config.attributes:
        attr = attribute_loss(output.stats["latent"], attributes, config.attribute_delta)
        total = total + config.attribute_weight * attr
        metrics["attr"] = float(attr.detach())
    metrics["total"] = float(total.detach())
    return total, metrics
