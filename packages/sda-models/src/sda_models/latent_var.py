"""How a VAE model moves through its latent space: a vector autoregressive model fitted to the training audio.

A VAE has no code prior, and independent Gaussian latents per frame (or a slowly drifting smooth path)
decode to a texture without the material's pace: no strokes, no gaps (``docs/quality.md``). Here the
posterior-mean latent sequences of the training files are summarised at training time by a small
vector autoregression of order ``p``::

    z_t = c + A_1 z_{t-1} + ... + A_p z_{t-p} + e_t,     e_t ~ N(0, S)

fitted by least squares (a few hundred numbers, stored as JSON in the model's metadata). Generation
runs the recursion with seeded CPU noise (``temperature`` scales the noise), so new latent sequences
have the same temporal correlations - how fast the sound changes, how periodic it is - as the
material, without replaying any of it. A fit whose recursion would explode is shrunk until it is stable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

DEFAULT_ORDER = 3
_RIDGE = 1e-3


def fit_latent_dynamics(latents: Sequence[torch.Tensor], order: int = DEFAULT_ORDER) -> dict[str, Any] | None:
    """Fit the VAR to latent sequences ``[(D, T_i), ...]``; ``None`` when there are too few frames."""
    seqs = [z.double() for z in latents if z.shape[-1] > order]
    if not seqs:
        return None
    dims = seqs[0].shape[0]
    rows, targets = [], []
    for z in seqs:
        t = z.shape[-1]
        lagged = [z[:, order - k - 1: t - k - 1] for k in range(order)]  # z_{t-1} ... z_{t-p}
        rows.append(torch.cat([torch.ones(1, t - order, dtype=z.dtype), *lagged], dim=0))
        targets.append(z[:, order:])
    x = torch.cat(rows, dim=1)  # (1 + D p, N)
    y = torch.cat(targets, dim=1)  # (D, N)
    n = x.shape[1]
    if n < dims * order + 2:
        return None
    gram = x @ x.T + _RIDGE * n * torch.eye(x.shape[0], dtype=x.dtype)
    coef = torch.linalg.solve(gram, x @ y.T).T  # (D, 1 + D p)
    residual = y - coef @ x
    noise_cov = residual @ residual.T / max(n - x.shape[0], 1) + 1e-6 * torch.eye(dims, dtype=x.dtype)
    intercept, lags = coef[:, 0], coef[:, 1:].reshape(dims, order, dims).permute(1, 0, 2)  # (p, D, D)
    lags = _stabilise(lags)
    return {
        "order": order, "dims": dims, "frames": n,
        "intercept": intercept.tolist(), "lags": lags.tolist(),
        "noise_cholesky": torch.linalg.cholesky(noise_cov).tolist(),
        "start_mean": torch.cat(seqs, dim=1).mean(dim=1).tolist(),
    }


def _companion_radius(lags: torch.Tensor) -> float:
    order, dims, _ = lags.shape
    top = torch.cat(list(lags), dim=1)
    below = torch.eye(dims * (order - 1), dims * order, dtype=lags.dtype)
    companion = torch.cat([top, below], dim=0) if order > 1 else top
    return float(torch.linalg.eigvals(companion).abs().max())


def _stabilise(lags: torch.Tensor, limit: float = 0.995) -> torch.Tensor:
    """Shrink the lag matrices until the recursion is stable (spectral radius below ``limit``)."""
    for _ in range(60):
        if _companion_radius(lags) < limit:
            return lags
        lags = lags * torch.tensor([0.97 ** (k + 1) for k in range(lags.shape[0])], dtype=lags.dtype)[:, None, None]
    return lags


def sample_latent_dynamics(model: dict[str, Any], frames: int, generator: torch.Generator,
                           temperature: float = 1.0, rate: float = 1.0) -> torch.Tensor:
    """A new latent sequence ``(D, frames)`` from the fitted VAR (CPU, seeded).

    ``rate`` > 1 runs the process faster (more events per second), < 1 slower; ``temperature`` scales
    the innovations (0 = the deterministic mean path).
    """
    order, dims = int(model["order"]), int(model["dims"])
    intercept = torch.tensor(model["intercept"], dtype=torch.float64)
    lags = torch.tensor(model["lags"], dtype=torch.float64)
    chol = torch.tensor(model["noise_cholesky"], dtype=torch.float64)
    steps = max(2, int(round(frames * rate)) + 1)
    warmup = 32
    noise = torch.randn(warmup + steps, dims, generator=generator, dtype=torch.float64) * temperature
    history = [torch.tensor(model["start_mean"], dtype=torch.float64)] * order
    out = []
    for i in range(warmup + steps):
        z = intercept.clone()
        for k in range(order):
            z += lags[k] @ history[-1 - k]
        z += chol @ noise[i]
        history.append(z)
        if i >= warmup:
            out.append(z)
    path = torch.stack(out, dim=1)  # (D, steps)
    if steps != frames:
        path = torch.nn.functional.interpolate(path[None], size=frames, mode="linear", align_corners=True)[0]
    return path.float()
