"""The mel autoencoder: conv encoder, a VAE or residual-VQ bottleneck, conv decoder.

Inputs and outputs are *normalised* log-mels ``(B, n_mels, T)`` (see :mod:`sda_models.normalization`).
The latent runs at ``T / downsample`` frames. Frame counts that are not a multiple of ``downsample`` are
padded (edge-replicated) before encoding and the reconstruction is trimmed back to ``T``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sda_models.configs import AutoencoderConfig
from sda_models.decoder import MelDecoder
from sda_models.encoder import MelEncoder
from sda_models.gaussian import GaussianBottleneck, collapse_report, kl_per_dim
from sda_models.rvq import ResidualVectorQuantizer


@dataclass
class AutoencoderOutput:
    """``recon (B, n_mels, T)``; ``loss_terms`` (VAE: ``kl_per_dim (D,)``; RVQ: ``commitment`` scalar);
    ``stats`` (VAE: ``mean``, ``logvar``; RVQ: ``codes (B, levels, T')``), all tensors, and in both
    ``latent (B, D, T')``: the continuous latent that attribute regularisation acts on (VAE: the posterior
    mean; RVQ: the encoder output before quantisation, which gets the quantiser's straight-through gradient)."""

    recon: Tensor
    loss_terms: dict[str, Tensor]
    stats: dict[str, Any] = field(default_factory=dict)


class MelAutoencoder(nn.Module):
    """See the module docstring. Build with :func:`build_autoencoder`."""

    def __init__(self, config: AutoencoderConfig, seed: int = 0) -> None:
        super().__init__()
        self.config = config
        is_vae = config.kind == "vae"
        self.encoder = MelEncoder(config, out_dim=2 * config.latent_dim if is_vae else config.latent_dim)
        self.decoder = MelDecoder(config)
        self.gaussian: GaussianBottleneck | None = GaussianBottleneck(config.latent_dim) if is_vae else None
        self.rvq: ResidualVectorQuantizer | None = None
        if not is_vae:
            self.rvq = ResidualVectorQuantizer(
                config.latent_dim, config.rvq_levels, config.codebook_size, config.effective_codebook_dim,
                decay=config.ema_decay, dead_code_threshold=config.dead_code_threshold,
                usage_window=config.usage_window, kmeans_iters=config.kmeans_iters,
                low_utilisation=config.low_utilisation, seed=seed,
            )

    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def downsample(self) -> int:
        return self.config.downsample

    def _pad(self, mel_norm: Tensor) -> Tensor:
        if mel_norm.dim() != 3 or mel_norm.shape[1] != self.config.n_mels:
            raise ValueError(f"expected normalised mel (B, {self.config.n_mels}, T), got {tuple(mel_norm.shape)}")
        extra = (-mel_norm.shape[-1]) % self.downsample
        return F.pad(mel_norm, (0, extra), mode="replicate") if extra else mel_norm

    def forward(self, mel_norm: Tensor, generator: torch.Generator | None = None) -> AutoencoderOutput:
        """Reconstruct ``mel_norm (B, n_mels, T)``; the VAE samples in training mode (noise from ``generator``)."""
        frames = mel_norm.shape[-1]
        h = self.encoder(self._pad(mel_norm))
        if self.gaussian is not None:
            z, info = self.gaussian(h, generator=generator)
            loss_terms = {"kl_per_dim": info["kl_per_dim"]}
            stats: dict[str, Any] = {"mean": info["mean"], "logvar": info["logvar"], "latent": info["mean"]}
        else:
            assert self.rvq is not None
            z, codes, info = self.rvq(h)
            loss_terms = {"commitment": info["commitment"]}
            stats = {"codes": codes, "latent": h}
        recon = self.decoder(z)[..., :frames]
        return AutoencoderOutput(recon=recon, loss_terms=loss_terms, stats=stats)

    def encode(self, mel_norm: Tensor) -> Tensor:
        """``(B, n_mels, T) -> latent (B, latent_dim, ceil(T / downsample))``: posterior mean or quantised."""
        h = self.encoder(self._pad(mel_norm))
        if self.gaussian is not None:
            return self.gaussian.split(h)[0]
        assert self.rvq is not None
        return self.rvq.decode_codes(self.rvq.encode_codes(h))

    def decode(self, latent: Tensor) -> Tensor:
        """``(B, latent_dim, T') -> mel_norm (B, n_mels, T' * downsample)``."""
        if latent.dim() != 3 or latent.shape[1] != self.config.latent_dim:
            raise ValueError(f"expected latent (B, {self.config.latent_dim}, T'), got {tuple(latent.shape)}")
        return self.decoder(latent)

    def _require_rvq(self) -> ResidualVectorQuantizer:
        if self.rvq is None:
            raise TypeError("codes exist only for an RVQ autoencoder; this one is a VAE")
        return self.rvq

    def encode_codes(self, mel_norm: Tensor) -> Tensor:
        """RVQ only: ``(B, n_mels, T) -> codes (B, levels, ceil(T / downsample))`` long."""
        rvq = self._require_rvq()
        return rvq.encode_codes(self.encoder(self._pad(mel_norm)))

    def decode_codes(self, codes: Tensor) -> Tensor:
        """RVQ only: ``codes (B, levels, T') -> mel_norm (B, n_mels, T' * downsample)``."""
        return self.decoder(self._require_rvq().decode_codes(codes))

    def health(self) -> list[dict[str, Any]]:
        """RVQ codebook health per level (see :meth:`ResidualVectorQuantizer.health`); empty for a VAE."""
        return self.rvq.health() if self.rvq is not None else []

    @torch.no_grad()
    def collapse(self, mel_norm: Tensor) -> dict[str, Any]:
        """VAE only: posterior-collapse report on a batch (see :func:`collapse_report`)."""
        if self.gaussian is None:
            raise TypeError("posterior collapse applies to a VAE; use health() for an RVQ autoencoder")
        mean, logvar = self.gaussian.split(self.encoder(self._pad(mel_norm)))
        return collapse_report(kl_per_dim(mean, logvar))


def build_autoencoder(config: AutoencoderConfig, seed: int = 0) -> MelAutoencoder:
    """Build a :class:`MelAutoencoder`; weights are initialised from ``seed`` without touching global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return MelAutoencoder(config, seed=seed)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
