"""The VAE's latent dynamics: a fitted VAR reproduces the temporal correlations of its training latents."""

from __future__ import annotations

import math

import torch

from sda_models.latent_var import fit_latent_dynamics, sample_latent_dynamics


def _oscillating_latents(frames: int, period: float, seed: int) -> torch.Tensor:
    """Two latent dims oscillating at ``period`` frames with noise, two slow random walks."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(frames, dtype=torch.float64)
    phase = float(torch.rand(1, generator=gen)) * 6.28
    osc = torch.stack([torch.sin(2 * math.pi * t / period + phase), torch.cos(2 * math.pi * t / period + phase)])
    osc = osc + 0.1 * torch.randn(2, frames, generator=gen, dtype=torch.float64)
    walk = torch.cumsum(0.05 * torch.randn(2, frames, generator=gen, dtype=torch.float64), dim=1)
    return torch.cat([osc, walk]).float()


def _dominant_period(x: torch.Tensor) -> float:
    spectrum = torch.fft.rfft(x - x.mean()).abs()
    spectrum[0] = 0
    k = int(spectrum.argmax())
    return x.shape[-1] / k


def test_fit_then_sample_keeps_the_pace_of_the_material() -> None:
    model = fit_latent_dynamics([_oscillating_latents(600, 8.0, s) for s in range(3)])
    assert model is not None and model["dims"] == 4
    path = sample_latent_dynamics(model, 1024, torch.Generator().manual_seed(0))
    assert path.shape == (4, 1024) and torch.isfinite(path).all()
    assert abs(_dominant_period(path[0].double()) - 8.0) < 1.0
    faster = sample_latent_dynamics(model, 1024, torch.Generator().manual_seed(0), rate=2.0)
    assert abs(_dominant_period(faster[0].double()) - 4.0) < 0.6


def test_sampling_is_seeded_and_stable() -> None:
    model = fit_latent_dynamics([_oscillating_latents(300, 6.0, 1)])
    a = sample_latent_dynamics(model, 5000, torch.Generator().manual_seed(3))
    b = sample_latent_dynamics(model, 5000, torch.Generator().manual_seed(3))
    c = sample_latent_dynamics(model, 5000, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.abs().max() < 50  # a stable recursion: no blow-up over thousands of steps


def test_explosive_fit_is_shrunk_to_stable() -> None:
    growing = torch.stack([1.05 ** torch.arange(200, dtype=torch.float64)] * 2).float()
    model = fit_latent_dynamics([growing])
    path = sample_latent_dynamics(model, 3000, torch.Generator().manual_seed(0), temperature=0.1)
    assert torch.isfinite(path).all() and path.abs().max() < 1e6


def test_too_little_material_gives_no_fit() -> None:
    assert fit_latent_dynamics([torch.zeros(16, 2)]) is None
