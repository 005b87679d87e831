"""HiFi-GAN losses (LSGAN adversarial, feature matching, mel L1), a multi-resolution STFT loss for the
non-adversarial warm-up, and a differentiable, seeded augmentation for discriminator inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def discriminator_loss(real_logits: list[torch.Tensor], fake_logits: list[torch.Tensor]) -> torch.Tensor:
    """LSGAN: ``mean((1 - D(real))^2) + mean(D(fake)^2)`` summed over discriminators."""
    loss = real_logits[0].new_zeros(())
    for real, fake in zip(real_logits, fake_logits, strict=True):
        loss = loss + torch.mean((1 - real) ** 2) + torch.mean(fake**2)
    return loss


def generator_adversarial_loss(fake_logits: list[torch.Tensor]) -> torch.Tensor:
    """LSGAN generator term ``mean((1 - D(fake))^2)`` summed over discriminators."""
    loss = fake_logits[0].new_zeros(())
    for fake in fake_logits:
        loss = loss + torch.mean((1 - fake) ** 2)
    return loss


def feature_matching_loss(real_feats: list[list[torch.Tensor]], fake_feats: list[list[torch.Tensor]]) -> torch.Tensor:
    """L1 between discriminator feature maps of real and generated audio (x2, as in HiFi-GAN)."""
    loss = real_feats[0][0].new_zeros(())
    for real_maps, fake_maps in zip(real_feats, fake_feats, strict=True):
        for real, fake in zip(real_maps, fake_maps, strict=True):
            loss = loss + torch.mean(torch.abs(real.detach() - fake))
    return 2.0 * loss


class MultiResolutionSTFTLoss(nn.Module):
    """Spectral convergence + log-magnitude L1, averaged over several STFT resolutions. Waves ``(B, T)``."""

    def __init__(self, resolutions: tuple[tuple[int, int, int], ...] = ((512, 128, 512), (1024, 256, 1024),
                                                                        (2048, 512, 2048))) -> None:
        super().__init__()
        self.resolutions = resolutions
        for i, (_, _, win) in enumerate(resolutions):
            self.register_buffer(f"window{i}", torch.hann_window(win), persistent=False)

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        total = fake.new_zeros(())
        for i, (n_fft, hop, win) in enumerate(self.resolutions):
            window = getattr(self, f"window{i}")
            mags = [torch.stft(x, n_fft, hop, win, window, return_complex=True).abs().clamp_min(1e-7)
                    for x in (fake, real)]
            sc = torch.linalg.norm(mags[1] - mags[0]) / torch.linalg.norm(mags[1]).clamp_min(1e-7)
            log_l1 = F.l1_loss(mags[0].log(), mags[1].log())
            total = total + sc + log_l1
        return total / len(self.resolutions)


@dataclass(frozen=True)
class AugmentParams:
    """One draw of discriminator-input augmentation for a batch (shared by real and fake)."""

    gain: torch.Tensor  # (B, 1)
    shift: list[int]  # samples per example, circular
    noise: torch.Tensor  # (B, T)


class DiscriminatorAugment:
    """Differentiable augmentation applied *identically* to real and generated audio before the discriminators
    (random gain, small circular time shift, additive noise). Draws come from a seeded CPU generator, so
    training is reproducible and resumable (:meth:`get_state` / :meth:`set_state`).
    """

    def __init__(self, seed: int = 0, gain_db: float = 6.0, max_shift: int = 64, noise_std: float = 0.003,
                 probability: float = 1.0) -> None:
        self.generator = torch.Generator(device="cpu")
        self.generator.manual_seed(int(seed))
        self.gain_db, self.max_shift, self.noise_std, self.probability = gain_db, max_shift, noise_std, probability

    def sample(self, batch: int, length: int) -> AugmentParams:
        g = self.generator
        active = (torch.rand(batch, 1, generator=g) < self.probability).float()
        db = (torch.rand(batch, 1, generator=g) * 2 - 1) * self.gain_db * active
        shift = torch.randint(-self.max_shift, self.max_shift + 1, (batch,), generator=g) * active[:, 0].long()
        noise = torch.randn(batch, length, generator=g) * self.noise_std * active
        return AugmentParams(gain=10 ** (db / 20), shift=[int(s) for s in shift], noise=noise)

    @staticmethod
    def apply(wave: torch.Tensor, params: AugmentParams) -> torch.Tensor:
        """``wave`` ``(B, T)`` → augmented ``(B, T)`` (differentiable in ``wave``)."""
        out = wave * params.gain.to(wave.device)
        if any(params.shift):
            out = torch.stack([torch.roll(row, s) for row, s in zip(out, params.shift, strict=True)])
        return out + params.noise.to(wave.device)

    def get_state(self) -> torch.Tensor:
        return self.generator.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state.to(torch.uint8).cpu())
