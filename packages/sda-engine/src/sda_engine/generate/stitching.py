"""Click-free stitching of generated chunks and smooth latent trajectories.

- :func:`equal_power_fades` / :func:`crossfade_concat`: chunks of audio joined with an equal-power
  (sin/cos) crossfade, so the summed power stays constant across the seam.
- :func:`smooth_latent_path`: a latent trajectory ``(D, T)`` from random anchors interpolated with a
  raised-cosine, so a VAE's generated sound evolves gradually instead of jumping every frame.
- :func:`max_seam_jump`: the largest sample-to-sample step at given seam positions (used by tests
  and diagnostics).
"""

from __future__ import annotations

import math

import numpy as np
import torch


def equal_power_fades(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Fade-out and fade-in curves of length ``n`` with ``out**2 + in**2 == 1``."""
    if n <= 0:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    t = (np.arange(n, dtype=np.float64) + 0.5) / n
    fade_in = np.sin(0.5 * math.pi * t)
    fade_out = np.cos(0.5 * math.pi * t)
    return fade_out.astype(np.float32), fade_in.astype(np.float32)


def crossfade_concat(chunks: list[np.ndarray], overlap: int) -> tuple[np.ndarray, list[int]]:
    """Join 1-D chunks, each overlapping the previous by ``overlap`` samples (equal-power fade).

    Returns:
        the joined signal and the sample index of the middle of each seam.
    """
    if not chunks:
        return np.zeros(0, np.float32), []
    out = np.asarray(chunks[0], dtype=np.float32).copy()
    seams: list[int] = []
    for chunk in chunks[1:]:
        chunk = np.asarray(chunk, dtype=np.float32)
        n = int(min(overlap, len(out), len(chunk)))
        if n == 0:
            seams.append(len(out))
            out = np.concatenate([out, chunk])
            continue
        fade_out, fade_in = equal_power_fades(n)
        start = len(out) - n
        mixed = out[start:] * fade_out + chunk[:n] * fade_in
        seams.append(start + n // 2)
        out = np.concatenate([out[:start], mixed, chunk[n:]])
    return out, seams


def smooth_latent_path(
    dims: int, frames: int, generator: torch.Generator, anchor_every: int, scale: float = 1.0,
    start: torch.Tensor | None = None,
) -> torch.Tensor:
    """A smooth random latent trajectory ``(dims, frames)`` on the CPU.

    Gaussian anchors ``N(0, scale^2)`` every ``anchor_every`` frames, joined with a raised-cosine
    interpolation that keeps the variance per frame roughly constant (the two weights are
    equal-power). ``start`` (``(dims,)``) pins the first anchor, so a new chunk can continue from where
    the previous one was heading.
    """
    anchor_every = max(1, int(anchor_every))
    n_anchors = frames // anchor_every + 2
    anchors = torch.randn(n_anchors, dims, generator=generator) * scale
    if start is not None:
        anchors[0] = start.to(anchors.dtype)
    pos = torch.arange(frames, dtype=torch.float64) / anchor_every
    idx = pos.floor().long()
    frac = (pos - idx).to(torch.float32)
    w = 0.5 - 0.5 * torch.cos(math.pi * frac)  # 0 -> 1 raised cosine
    a, b = anchors[idx], anchors[idx + 1]
    w_a, w_b = torch.sqrt(1 - w), torch.sqrt(w)
    # equal-power weights keep the marginal variance at scale^2 for independent anchors;
    # blending towards linear weights near the ends keeps it exact at the anchors themselves.
    path = a * w_a[:, None] + b * w_b[:, None]
    return path.T.contiguous()


def max_seam_jump(audio: np.ndarray, seams: list[int], radius: int = 64) -> float:
    """Largest absolute sample-to-sample difference within ``radius`` samples of each seam."""
    audio = np.asarray(audio, dtype=np.float64)
    worst = 0.0
    for s in seams:
        lo, hi = max(0, s - radius), min(len(audio), s + radius)
        if hi - lo >= 2:
            worst = max(worst, float(np.max(np.abs(np.diff(audio[lo:hi])))))
    return worst


def typical_jump(audio: np.ndarray, quantile: float = 0.999) -> float:
    """A high quantile of the sample-to-sample differences of ``audio`` (the material's own roughness)."""
    audio = np.asarray(audio, dtype=np.float64)
    if len(audio) < 2:
        return 0.0
    return float(np.quantile(np.abs(np.diff(audio)), quantile))
