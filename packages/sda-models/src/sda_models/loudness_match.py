"""Giving generated sound the dynamics of the user's own material.

An autoencoder trained on a few minutes of audio regresses towards the mean: its decoded log-mels are
blurred in time, so the gaps between drum strokes fill up and the whole take sits quieter than the
material (measured in ``docs/quality.md``: a quiet floor 9-19 dB shallower than the real files and
levels 10-20 dB low). This module measures the distribution of frame loudness over the training audio
once, at training time, and at generation time maps each generated frame's loudness onto that
distribution by quantile (histogram) matching - a per-frame gain on the whole log-mel frame that is a
continuous, monotonic function of the frame's own loudness, so it follows the decoded envelope without
adding steps of its own (smoothing it would smear quiet gain into the attacks). Loud stays loud, quiet
becomes as quiet as in the material, and the level lands where the material's is; the spectral shape of
each frame is untouched.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

N_QUANTILES = 101


def frame_loudness(log_mel: torch.Tensor) -> torch.Tensor:
    """Per-frame loudness in nats of mel magnitude: ``log sqrt(mean_b |mel_b|^2)``; ``(128, T) -> (T,)``."""
    n_bands = log_mel.shape[-2]
    return 0.5 * (torch.logsumexp(2.0 * log_mel.double(), dim=-2) - torch.log(torch.tensor(float(n_bands))))


def loudness_quantiles(log_mels: Iterable[torch.Tensor]) -> list[float]:
    """The 101 quantiles (0 %, 1 %, ... 100 %) of frame loudness of a typical training file.

    Quantiles are taken per file and averaged (weighted by length): pooling all frames first would
    mix quiet files with loud ones and give a spread no single recording has, which made generated
    takes far more dynamic than the material (loops: quiet floor 11 dB too deep, measured).
    """
    probs = torch.linspace(0, 1, N_QUANTILES, dtype=torch.float64)
    total, weight = torch.zeros(N_QUANTILES, dtype=torch.float64), 0.0
    for mel in log_mels:
        loud = frame_loudness(mel).reshape(-1)
        if loud.numel() == 0:
            continue
        total += torch.quantile(loud, probs) * loud.numel()
        weight += loud.numel()
    if weight == 0:
        raise ValueError("no frames to measure")
    return (total / weight).tolist()


def match_dynamics(log_mel: torch.Tensor, target_quantiles: list[float], strength: float = 1.0) -> torch.Tensor:
    """Map the frame loudness of ``log_mel`` ``(128, T)`` onto the training distribution.

    ``strength`` 0 leaves the mel unchanged, 1 matches fully. Frames at the generated clip's own
    k-th loudness percentile get the training audio's k-th percentile.
    """
    if strength <= 0 or log_mel.shape[-1] < 2 or len(target_quantiles) != N_QUANTILES:
        return log_mel
    loud = frame_loudness(log_mel)
    probs = torch.linspace(0, 1, N_QUANTILES, dtype=torch.float64)
    own = torch.quantile(loud, probs)
    target = torch.tensor(target_quantiles, dtype=torch.float64)
    # rank of each frame within the clip's own distribution (piecewise-linear), then the target value there
    position = _interp(loud, own, probs)
    mapped = _interp(position, probs, target)
    gain = (mapped - loud) * strength
    return (log_mel.double() + gain[None, :]).to(log_mel.dtype)


def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """``numpy.interp`` for increasing ``xp`` (ties allowed), clamped at the ends."""
    xp = torch.cummax(xp, dim=0).values
    idx = torch.searchsorted(xp, x.contiguous(), right=True).clamp(1, len(xp) - 1)
    x0, x1 = xp[idx - 1], xp[idx]
    f0, f1 = fp[idx - 1], fp[idx]
    t = torch.where(x1 > x0, (x - x0) / (x1 - x0), torch.full_like(x, 0.5))
    return f0 + t.clamp(0, 1) * (f1 - f0)
