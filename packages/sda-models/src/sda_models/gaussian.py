"""The VAE bottleneck: a diagonal Gaussian posterior, KL with warm-up and free bits, and collapse checks.

Posterior collapse criterion (from the project seeds: "KL divergence remains above 0.5"): a latent
dimension is *active* when its mean KL exceeds 0.01 nats; the model is flagged as collapsed when no
dimension is active or the mean KL per active dimension is at most 0.5 nats.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

ACTIVE_KL_NATS = 0.01
COLLAPSE_KL_NATS = 0.5
LOGVAR_RANGE = (-30.0, 20.0)


def gaussian_kl(mean: Tensor, logvar: Tensor) -> Tensor:
    """Elementwise ``KL(N(mean, exp(logvar)) || N(0, 1))`` in nats, same shape as ``mean``."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar)


def kl_per_dim(mean: Tensor, logvar: Tensor) -> Tensor:
    """Mean KL of each latent dimension over batch and time: ``(B, D, T) -> (D,)``."""
    return gaussian_kl(mean.float(), logvar.float()).mean(dim=(0, 2))


def free_bits_kl(kl_dims: Tensor, free_bits: float) -> Tensor:
    """Sum over dimensions of ``max(kl_d, free_bits)``: no pressure below ``free_bits`` nats per dimension."""
    return torch.clamp(kl_dims, min=free_bits).sum()


def kl_weight_at(step: int, weight: float, warmup_steps: int) -> float:
    """Linear KL warm-up: 0 at step 0, ``weight`` from ``warmup_steps`` on."""
    if warmup_steps <= 0:
        return float(weight)
    return float(weight) * min(1.0, max(0, step) / warmup_steps)


def collapse_report(kl_dims: Tensor, active_threshold: float = ACTIVE_KL_NATS,
                    collapse_threshold: float = COLLAPSE_KL_NATS) -> dict[str, Any]:
    """Posterior-collapse check from per-dimension mean KL ``(D,)`` in nats.

    Returns ``dict(active_dims, total_dims, mean_kl_active, collapsed)``.
    """
    kl = kl_dims.detach().float().cpu()
    active = kl > active_threshold
    n_active = int(active.sum())
    mean_active = float(kl[active].mean()) if n_active else 0.0
    return {
        "active_dims": n_active,
        "total_dims": int(kl.numel()),
        "mean_kl_active": mean_active,
        "collapsed": n_active == 0 or mean_active <= collapse_threshold,
    }


class GaussianBottleneck(nn.Module):
    """Encoder features ``(B, 2D, T')`` → sample ``z (B, D, T')`` plus mean and log-variance."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim

    def split(self, h: Tensor) -> tuple[Tensor, Tensor]:
        if h.shape[1] != 2 * self.latent_dim:
            raise ValueError(f"expected {2 * self.latent_dim} channels, got {h.shape[1]}")
        mean, logvar = h.chunk(2, dim=1)
        return mean, logvar.clamp(*LOGVAR_RANGE)

    @staticmethod
    def reparameterize(mean: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``mean + exp(logvar / 2) * eps``; ``eps`` is drawn on ``generator``'s device and moved over."""
        if generator is None:
            eps = torch.randn_like(mean)
        else:
            eps = torch.randn(mean.shape, generator=generator, device=generator.device, dtype=torch.float32)
            eps = eps.to(device=mean.device, dtype=mean.dtype)
        return mean + torch.exp(0.5 * logvar) * eps

    def forward(self, h: Tensor, sample: bool | None = None,
                generator: torch.Generator | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """Sample in training (``sample=None`` follows ``self.training``), posterior mean otherwise."""
        mean, logvar = self.split(h)
        do_sample = self.training if sample is None else sample
        z = self.reparameterize(mean, logvar, generator) if do_sample else mean
        return z, {"mean": mean, "logvar": logvar, "kl_per_dim": kl_per_dim(mean, logvar)}
