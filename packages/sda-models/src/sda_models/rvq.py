"""Residual vector quantisation (VQVAE-01..07): stacked EMA codebooks with k-means init and dead-code reset.

Each level quantises what the previous levels left over. Codebooks are learned by exponential moving
averages (not by gradients), initialised by a few Lloyd (k-means) iterations on the first training batch,
and codes left unused for ``dead_code_threshold`` training steps are replaced by random recent encoder
outputs. The encoder gets gradients through the straight-through estimator and one commitment loss.
All EMA and usage state are registered buffers, so they travel with the ``state_dict``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

log = logging.getLogger(__name__)

LAPLACE_EPS = 1e-5


def kmeans_plus_plus(x: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """k-means++ seeding: each next centroid drawn with probability proportional to squared distance."""
    n = x.shape[0]
    first = int(torch.randint(0, n, (1,), generator=generator))
    centroids = [x[first]]
    nearest = (x - x[first]).pow(2).sum(1)
    for _ in range(1, k):
        total = float(nearest.sum())
        if total <= 0.0:  # fewer distinct points than codes: jitter copies of random points
            pick = int(torch.randint(0, n, (1,), generator=generator))
            jitter = 1e-3 * torch.randn(x.shape[1], generator=generator) * x.std().clamp(min=1e-6)
            centroids.append(x[pick] + jitter)
            continue
        pick = int(torch.multinomial(nearest / total, 1, generator=generator))
        centroids.append(x[pick])
        nearest = torch.minimum(nearest, (x - x[pick]).pow(2).sum(1))
    return torch.stack(centroids).clone()


def kmeans(x: Tensor, k: int, iters: int, generator: torch.Generator) -> Tensor:
    """k-means++ seeding then Lloyd iterations, on CPU: ``x (N, D) -> centroids (k, D)``.

    Empty clusters keep their centroid (the dead-code reset deals with them later).
    """
    x = x.detach().float().cpu()
    centroids = kmeans_plus_plus(x, k, generator)
    for _ in range(iters):
        assign = torch.cdist(x, centroids).argmin(dim=1)
        counts = torch.bincount(assign, minlength=k).float()
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None]
    return centroids


class EMAQuantizer(nn.Module):
    """One codebook level: ``x (N, D) -> (quantised (N, D), codes (N,), commitment loss)``."""

    # buffers (registered in __init__), declared for type checkers
    embed: Tensor
    embed_sum: Tensor
    cluster_size: Tensor
    initialized: Tensor
    steps: Tensor
    last_used: Tensor
    recent_counts: Tensor
    total_resets: Tensor
    samples: Tensor
    samples_filled: Tensor

    def __init__(self, codebook_size: int, dim: int, decay: float = 0.99, dead_code_threshold: int = 100,
                 usage_window: int = 100, kmeans_iters: int = 10, seed: int = 0,
                 sample_buffer: int | None = None) -> None:
        super().__init__()
        self.codebook_size, self.dim, self.decay = codebook_size, dim, decay
        self.dead_code_threshold, self.kmeans_iters = dead_code_threshold, kmeans_iters
        self.generator = torch.Generator(device="cpu")
        self.generator.manual_seed(int(seed))
        embed = torch.randn(codebook_size, dim, generator=self.generator) / math.sqrt(dim)
        self.register_buffer("embed", embed)
        self.register_buffer("embed_sum", embed.clone())
        self.register_buffer("cluster_size", torch.ones(codebook_size))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("last_used", torch.zeros(codebook_size, dtype=torch.long))
        self.register_buffer("recent_counts", torch.zeros(usage_window, codebook_size))
        self.register_buffer("total_resets", torch.zeros((), dtype=torch.long))
        size = sample_buffer or max(1024, 4 * codebook_size)
        self.register_buffer("samples", torch.zeros(size, dim), persistent=False)
        self.register_buffer("samples_filled", torch.zeros((), dtype=torch.long), persistent=False)
        self._write_pos = 0

    # -- codebook mechanics -------------------------------------------------------------------------
    def codes_for(self, x: Tensor) -> Tensor:
        """Nearest code per row: ``(N, D) -> (N,)`` long."""
        dist = (x.pow(2).sum(1, keepdim=True) - 2 * x @ self.embed.T + self.embed.pow(2).sum(1)[None])
        return dist.argmin(dim=1)

    def lookup(self, codes: Tensor) -> Tensor:
        return F.embedding(codes, self.embed)

    @torch.no_grad()
    def init_from(self, x: Tensor) -> None:
        """k-means initialisation from encoder outputs ``x (N, D)``."""
        centroids = kmeans(x, self.codebook_size, self.kmeans_iters, self.generator).to(self.embed.device)
        self.embed.copy_(centroids)
        self.embed_sum.copy_(centroids)
        self.cluster_size.fill_(1.0)
        self.last_used.fill_(int(self.steps))
        self.initialized.fill_(True)

    @torch.no_grad()
    def _remember(self, x: Tensor) -> None:
        size = self.samples.shape[0]
        take = min(x.shape[0], max(1, size // 4))
        rows = torch.randint(0, x.shape[0], (take,), generator=self.generator).to(x.device)
        idx = (torch.arange(take) + self._write_pos) % size
        self.samples[idx.to(x.device)] = x[rows]
        self._write_pos = int((self._write_pos + take) % size)
        self.samples_filled.fill_(min(size, int(self.samples_filled) + take))

    @torch.no_grad()
    def _ema_update(self, x: Tensor, codes: Tensor) -> None:
        counts = torch.bincount(codes, minlength=self.codebook_size).float()
        sums = torch.zeros_like(self.embed).index_add_(0, codes, x)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + LAPLACE_EPS) / (n + self.codebook_size * LAPLACE_EPS) * n
        self.embed.copy_(self.embed_sum / smoothed[:, None])
        step = int(self.steps)
        self.last_used[counts > 0] = step
        self.recent_counts[step % self.recent_counts.shape[0]] = counts
        self.steps.add_(1)

    @torch.no_grad()
    def reset_dead_codes(self) -> int:
        """Replace codes unused for ``dead_code_threshold`` steps by random recent inputs; returns how many."""
        dead = (self.steps - self.last_used) >= self.dead_code_threshold
        n_dead = int(dead.sum())
        filled = int(self.samples_filled)
        if n_dead == 0 or filled == 0:
            return 0
        picks = torch.randint(0, filled, (n_dead,), generator=self.generator).to(self.embed.device)
        fresh = self.samples[picks]
        self.embed[dead] = fresh
        self.embed_sum[dead] = fresh
        self.cluster_size[dead] = 1.0
        self.last_used[dead] = self.steps
        self.total_resets.add_(n_dead)
        return n_dead

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x = x.float()
        if self.training and not bool(self.initialized):
            self.init_from(x)
        codes = self.codes_for(x.detach())
        quantized = self.lookup(codes)
        if self.training:
            self._ema_update(x.detach(), codes)
            self._remember(x.detach())
            self.reset_dead_codes()
        commitment = F.mse_loss(x, quantized.detach())
        return quantized, codes, commitment

    # -- health ---------------------------------------------------------------------------------------
    def health(self, low_utilisation: float = 0.3) -> dict[str, Any]:
        """Utilisation, perplexity and dead codes over the recent usage window."""
        filled = min(int(self.steps), self.recent_counts.shape[0])
        counts = self.recent_counts[:filled].sum(0) if filled else torch.zeros(self.codebook_size)
        total = float(counts.sum())
        used = int((counts > 0).sum())
        if total > 0:
            p = counts / total
            entropy = float(-(p[p > 0] * p[p > 0].log()).sum())
            perplexity = math.exp(entropy)
        else:
            perplexity = 0.0
        utilisation = used / self.codebook_size
        return {
            "utilisation": utilisation,
            "perplexity": perplexity,
            "dead_codes": self.codebook_size - used,
            "resets": int(self.total_resets),
            "low_utilisation": bool(filled > 0 and utilisation < low_utilisation),
        }


class ResidualVectorQuantizer(nn.Module):
    """Residual VQ over latents ``(B, latent_dim, T)``, with projections when ``codebook_dim != latent_dim``."""

    def __init__(self, latent_dim: int, levels: int, codebook_size: int, codebook_dim: int | None = None,
                 decay: float = 0.99, dead_code_threshold: int = 100, usage_window: int = 100,
                 kmeans_iters: int = 10, low_utilisation: float = 0.3, seed: int = 0) -> None:
        super().__init__()
        cdim = codebook_dim or latent_dim
        self.latent_dim, self.codebook_dim, self.levels = latent_dim, cdim, levels
        self.codebook_size, self.low_utilisation = codebook_size, low_utilisation
        self.proj_in: nn.Module = nn.Conv1d(latent_dim, cdim, 1) if cdim != latent_dim else nn.Identity()
        self.proj_out: nn.Module = nn.Conv1d(cdim, latent_dim, 1) if cdim != latent_dim else nn.Identity()
        self.quantizers = nn.ModuleList([
            EMAQuantizer(codebook_size, cdim, decay, dead_code_threshold, usage_window, kmeans_iters,
                         seed=seed * 1009 + level)
            for level in range(levels)
        ])

    @property
    def codebooks(self) -> Sequence[EMAQuantizer]:
        """The codebook levels, coarsest first: ``self.quantizers`` as type checkers should see it."""
        return cast("Sequence[EMAQuantizer]", self.quantizers)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """``z (B, D, T) -> (quantised (B, D, T), codes (B, levels, T), {"commitment": scalar})``."""
        with torch.autocast(device_type=z.device.type, enabled=False):
            h = self.proj_in(z.float())
            b, c, t = h.shape
            flat = h.permute(0, 2, 1).reshape(b * t, c)
            residual = flat
            total = torch.zeros_like(flat)
            codes, commitments = [], []
            for quantizer in self.codebooks:
                q, idx, commit = quantizer(residual)
                total = total + q
                residual = residual - q.detach()
                codes.append(idx)
                commitments.append(commit)
            st = flat + (total - flat).detach()  # straight-through estimator
            quantized = self.proj_out(st.reshape(b, t, c).permute(0, 2, 1))
            code_tensor = torch.stack(codes, dim=1).reshape(b, t, self.levels).permute(0, 2, 1)
        return quantized, code_tensor, {"commitment": torch.stack(commitments).mean()}

    @torch.no_grad()
    def encode_codes(self, z: Tensor) -> Tensor:
        """Codes without touching any EMA state: ``(B, D, T) -> (B, levels, T)`` long."""
        h = self.proj_in(z.float())
        b, c, t = h.shape
        residual = h.permute(0, 2, 1).reshape(b * t, c)
        codes = []
        for quantizer in self.codebooks:
            idx = quantizer.codes_for(residual)
            residual = residual - quantizer.lookup(idx)
            codes.append(idx)
        return torch.stack(codes, dim=1).reshape(b, t, self.levels).permute(0, 2, 1)

    def decode_codes(self, codes: Tensor) -> Tensor:
        """``(B, levels, T)`` long → quantised latent ``(B, D, T)``."""
        if codes.dim() != 3 or codes.shape[1] != self.levels:
            raise ValueError(f"expected codes (B, {self.levels}, T), got {tuple(codes.shape)}")
        if int(codes.min()) < 0 or int(codes.max()) >= self.codebook_size:
            raise ValueError(f"codes must be in [0, {self.codebook_size}), got range "
                             f"[{int(codes.min())}, {int(codes.max())}]")
        total = cast(Tensor, sum(q.lookup(codes[:, i]) for i, q in enumerate(self.codebooks)))  # (B, T, C)
        return self.proj_out(total.permute(0, 2, 1))

    def health(self) -> list[dict[str, Any]]:
        """Per level: ``level, utilisation, perplexity, dead_codes, resets, low_utilisation`` (VQVAE-04/07)."""
        report = []
        for level, quantizer in enumerate(self.codebooks):
            entry = {"level": level, **quantizer.health(self.low_utilisation)}
            if entry["low_utilisation"]:
                log.debug("RVQ level %d uses only %.0f%% of its %d codes", level,
                            100 * entry["utilisation"], self.codebook_size)
            report.append(entry)
        return report
