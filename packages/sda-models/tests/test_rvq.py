"""Residual VQ: k-means init, EMA updates, dead-code reset, health numbers, straight-through, state."""

from __future__ import annotations

import math

import pytest
import torch

from sda_models.rvq import EMAQuantizer, ResidualVectorQuantizer, kmeans


def _clusters(n_per: int = 64, k: int = 8, dim: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(k, dim, generator=gen) * 10
    x = centres.repeat_interleave(n_per, 0) + 0.05 * torch.randn(k * n_per, dim, generator=gen)
    return x, centres


def _nearest_distance(points: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return torch.cdist(points, targets).min(dim=1).values


def test_kmeans_finds_separated_clusters() -> None:
    x, centres = _clusters()
    found = kmeans(x, 8, iters=10, generator=torch.Generator().manual_seed(3))
    # every true centre has a centroid close by (at most one centroid can be wasted between two clusters)
    assert (_nearest_distance(centres, found) < 1.0).sum() >= 7


def test_first_training_batch_initialises_codebook_by_kmeans() -> None:
    x, centres = _clusters()
    q = EMAQuantizer(8, 4, kmeans_iters=10, seed=1)
    assert not bool(q.initialized)
    q.train()
    quantized, codes, commitment = q(x)
    assert bool(q.initialized)
    assert (_nearest_distance(centres, q.embed) < 1.0).sum() >= 7
    assert float(commitment) < float(x.var()) * 0.1
    assert codes.shape == (x.shape[0],) and quantized.shape == x.shape


def test_dead_codes_are_revived_from_recent_inputs() -> None:
    x, _ = _clusters(k=8)
    q = EMAQuantizer(16, 4, dead_code_threshold=8, usage_window=4, seed=0)
    q.train()
    q(x)  # step 0: k-means init, every code counts as used now
    with torch.no_grad():  # push 12 codes far away: nothing will pick them
        q.embed[4:] = 1e4
        q.embed_sum[4:] = 1e4
    for _ in range(6):
        q(x)
    assert q.health()["dead_codes"] >= 12  # unused across the whole recent window
    assert int(q.total_resets) == 0  # not yet unused for 8 steps
    q(x)  # step 7: unused for the threshold -> replaced
    assert int(q.total_resets) >= 12
    assert float(_nearest_distance(q.embed[4:], x).max()) < 1e-3  # replaced by real encoder outputs
    for _ in range(4):
        q(x)
    assert q.health()["utilisation"] >= 8 / 16


def test_health_perplexity_and_utilisation_numbers() -> None:
    q = EMAQuantizer(64, 4, usage_window=10)
    assert q.health()["perplexity"] == 0.0 and not q.health()["low_utilisation"]
    with torch.no_grad():
        q.recent_counts.fill_(3.0)
        q.steps.fill_(10)
    uniform = q.health()
    assert uniform["perplexity"] == pytest.approx(64, rel=1e-6)
    assert uniform["utilisation"] == 1.0 and uniform["dead_codes"] == 0 and not uniform["low_utilisation"]
    with torch.no_grad():
        q.recent_counts.zero_()
        q.recent_counts[:, :8] = 1.0
    few = q.health()
    assert few["perplexity"] == pytest.approx(8, rel=1e-6)
    assert few["utilisation"] == pytest.approx(8 / 64) and few["dead_codes"] == 56
    assert few["low_utilisation"]  # 12.5% < 30% (VQVAE-07)


def test_trained_codebook_perplexity_tracks_balanced_clusters() -> None:
    x, _ = _clusters(k=8)
    q = EMAQuantizer(8, 4, usage_window=5, seed=2)
    q.train()
    for _ in range(5):
        q(x)
    health = q.health()
    assert 6.0 < health["perplexity"] <= 8.0 + 1e-6


def test_residual_levels_reduce_error_and_codes_round_trip() -> None:
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(4, 8, 32, generator=gen)
    errors = []
    for levels in (2, 4):
        rvq = ResidualVectorQuantizer(8, levels, 32, codebook_dim=6, dead_code_threshold=1000, seed=0)
        rvq.train()
        for _ in range(3):
            rvq(z)
        rvq.eval()
        quantized, codes, _ = rvq(z)
        assert codes.shape == (4, levels, 32) and codes.dtype == torch.long
        assert torch.equal(rvq.encode_codes(z), codes)
        torch.testing.assert_close(rvq.decode_codes(codes), quantized)
        h = rvq.proj_in(z).permute(0, 2, 1).reshape(-1, 6)
        recon = sum(q.lookup(codes.permute(0, 2, 1).reshape(-1, levels)[:, i]) for i, q in enumerate(rvq.quantizers))
        errors.append(float((h - recon).detach().pow(2).mean()))
        assert len(rvq.health()) == levels
    assert errors[1] < errors[0]


def test_straight_through_gradient_reaches_the_encoder() -> None:
    rvq = ResidualVectorQuantizer(4, 2, 16, seed=0)
    rvq.train()
    z = torch.randn(2, 4, 10, requires_grad=True)
    quantized, _, stats = rvq(z)
    (quantized.sum() + stats["commitment"]).backward()
    assert z.grad is not None and float(z.grad.abs().min()) > 0.5  # identity path ~1 plus commitment


def test_ema_state_travels_with_state_dict() -> None:
    z = torch.randn(2, 8, 40, generator=torch.Generator().manual_seed(1))
    rvq = ResidualVectorQuantizer(8, 3, 16, seed=0)
    rvq.train()
    for _ in range(4):
        rvq(z)
    state = rvq.state_dict()
    for key in ("embed", "embed_sum", "cluster_size", "last_used", "recent_counts", "initialized", "steps"):
        assert f"quantizers.0.{key}" in state
    fresh = ResidualVectorQuantizer(8, 3, 16, seed=99)
    fresh.load_state_dict(state)
    fresh.eval()
    rvq.eval()
    assert torch.equal(fresh.encode_codes(z), rvq.encode_codes(z))
    assert fresh.health() == rvq.health()


def test_bad_codes_are_rejected() -> None:
    rvq = ResidualVectorQuantizer(4, 2, 16)
    with pytest.raises(ValueError):
        rvq.decode_codes(torch.full((1, 2, 5), 16))
    with pytest.raises(ValueError):
        rvq.decode_codes(torch.zeros(1, 3, 5, dtype=torch.long))
    assert math.isfinite(float(rvq.decode_codes(torch.zeros(1, 2, 5, dtype=torch.long)).sum()))
