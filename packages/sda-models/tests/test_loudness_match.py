"""Dynamics matching gives generated log-mels the frame-loudness distribution of the training audio."""

from __future__ import annotations

import torch

from sda_models.loudness_match import frame_loudness, loudness_quantiles, match_dynamics


def _strokes(frames: int, period: int, floor: float) -> torch.Tensor:
    """A log-mel of strokes every ``period`` frames decaying to ``floor`` nats below the peak."""
    t = torch.arange(frames, dtype=torch.float64) % period
    envelope = -floor * torch.clamp(t / (period * 0.5), max=1.0)
    spectrum = torch.linspace(0.0, -4.0, 128, dtype=torch.float64)[:, None]
    return spectrum + envelope[None, :]


def test_frame_loudness_of_a_flat_frame_is_its_level() -> None:
    mel = torch.full((128, 3), -2.0)
    torch.testing.assert_close(frame_loudness(mel), torch.full((3,), -2.0, dtype=torch.float64))


def test_blurred_strokes_regain_the_quiet_floor_and_level_of_the_material() -> None:
    material = _strokes(400, 40, floor=6.0)  # deep gaps
    blurred = _strokes(400, 40, floor=1.5) - 1.0  # what a blurry decoder gives: shallow gaps, quieter
    target = loudness_quantiles([material])
    matched = match_dynamics(blurred, target)
    got = frame_loudness(matched)
    want = frame_loudness(material)
    depth = lambda x: float(torch.quantile(x, 0.9) - torch.quantile(x, 0.1))  # noqa: E731
    assert abs(depth(got) - depth(want)) < 0.3 * depth(want)
    assert abs(float(got.median() - want.median())) < 0.5
    # the spectral shape of every frame is kept: only a per-frame gain was applied
    shape = matched - matched.mean(dim=0, keepdim=True)
    torch.testing.assert_close(shape, blurred - blurred.mean(dim=0, keepdim=True))


def test_strength_zero_is_identity_and_order_is_kept() -> None:
    blurred = _strokes(200, 25, floor=2.0)
    target = loudness_quantiles([_strokes(200, 25, floor=8.0)])
    assert torch.equal(match_dynamics(blurred, target, strength=0.0), blurred)
    before = frame_loudness(blurred)
    after = frame_loudness(match_dynamics(blurred, target))
    louder_before = before[:-1] > before[1:] + 1e-6
    assert torch.all(after[:-1][louder_before] >= after[1:][louder_before])


def test_quantiles_describe_a_typical_file_not_the_pooled_spread() -> None:
    quiet = _strokes(200, 40, floor=2.0) - 6.0
    loud = _strokes(200, 40, floor=2.0)
    q = loudness_quantiles([quiet, loud])
    spread = q[90] - q[10]
    one_file = loudness_quantiles([loud])
    assert abs(spread - (one_file[90] - one_file[10])) < 1e-6  # not the 6-nat gap between the files
    assert abs(q[50] - (one_file[50] - 3.0)) < 1e-6  # the level is the files' average
