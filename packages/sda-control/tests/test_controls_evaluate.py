"""The evaluation ranks a known DSP sweep correctly and gives a do-nothing slider nothing."""

from __future__ import annotations

import numpy as np
import pytest

from sda_control.assists import tilt
from sda_control.evaluate import evaluate_controls, spearman

SR = 44100


def _noise(seed: int) -> np.ndarray:
    """A held harmonic tone (root differs by seed) over a little noise, 1 s."""
    rng = np.random.default_rng(seed)
    t = np.arange(SR) / SR
    f0 = 150.0 + 40.0 * seed
    tone = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 12))
    return (0.1 * tone + 0.01 * rng.standard_normal(SR)).astype(np.float32)


def test_spearman() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3], [5, 5, 5]) == 0.0
    assert spearman([1, 2, 3, 4], [1, 1, 2, 2]) == pytest.approx(0.894, abs=1e-3)


def test_a_known_tilt_sweep_ranks_first_and_a_dead_slider_scores_nothing() -> None:
    import torch

    def render(values: dict[str, float], seed: int) -> np.ndarray:
        x = torch.from_numpy(_noise(seed))
        v = values.get("brightness", 0.0)
        return tilt(x, v, torch.Generator()).numpy() if v else x.numpy()

    std = {"brightness": 500.0, "warmth": 0.05, "roughness": 0.2, "tension": 0.05, "rhythmic": 0.2,
           "pulse": 0.2, "density": 0.1, "reverberance": 0.5}
    report = evaluate_controls(render, ("brightness", "warmth"), positions=5, seeds=(0, 1, 2), reference_std=std)
    bright, warm = report.scores["brightness"], report.scores["warmth"]
    assert bright.rho == pytest.approx(1.0) and bright.effect > 1.0 and bright.crosstalk < 0.5 and bright.passes
    assert warm.rho == 0.0 and abs(warm.effect) < 1e-6 and not warm.passes
    d = report.to_dict()
    assert d["controls"]["brightness"]["passes"] is True and len(d["positions"]) == 5
