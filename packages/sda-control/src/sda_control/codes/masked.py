"""Masked regeneration: the model's code prior fills a region of a grid (VampNet's idea on sda's own prior).

The prior is autoregressive (left to right), so it conditions on what comes *before* the region directly:
each new step reads up to ``context_frames - 1`` steps behind it. Levels left out of the mask keep their codes
and condition the regenerated ones (the prior's within-step order is coarse to fine, so "keep the structure,
new detail" is exact conditioning). What comes *after* the region is matched by choice: several candidates
are drawn (in one batch) and the one under which the prior finds the following frames most likely (summed
log-probability of the next ``right_frames`` real columns, teacher-forced) is kept.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from sda_audio.errors import SdaError
from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events
from sda_control.codes.edits import check_levels, record
from sda_control.codes.grid import CodeGrid

if TYPE_CHECKING:
    from sda_models.prior import CodePrior

DEFAULT_CANDIDATES = 8
DEFAULT_RIGHT_FRAMES = 8


@dataclass
class RegenerationInfo:
    """What :func:`regenerate_region` did: candidates drawn, the one kept and every candidate's score."""

    candidates: int
    chosen: int
    right_frames: int
    scores: list[float]


def regenerate_region(grid: CodeGrid, prior: CodePrior | None, start: int, stop: int,
                      levels: Sequence[int] | None = None, temperature: float = 1.0, top_k: int = 0,
                      top_p: float = 1.0, seed: int = 0, candidates: int = DEFAULT_CANDIDATES,
                      right_frames: int = DEFAULT_RIGHT_FRAMES,
                      on_event: ProgressCallback = ignore_events, cancel: CancelToken | None = None
                      ) -> tuple[CodeGrid, RegenerationInfo]:
    """Frames ``[start, stop)`` of ``levels`` (default all) drawn again by ``prior``; returns the edited grid.

    Random numbers come from a CPU generator seeded with ``seed``: the same call gives the same codes.
    """
    from sda_models.device import cpu_generator

    if prior is None:
        raise SdaError("this RVQ model has no prior, so it cannot regenerate codes",
                       hint="train it again (the prior is trained after the autoencoder)", action="retrain")
    chosen = check_levels(grid, levels)
    cfg = prior.config
    if (cfg.levels, cfg.codebook_size) != (grid.levels, grid.model.codebook_size):
        raise SdaError(f"the model's prior models {cfg.levels} levels of {cfg.codebook_size} codes, the grid "
                       f"has {grid.levels} of {grid.model.codebook_size}", path=grid.path)
    if not 0 <= start < stop <= grid.frames:
        raise SdaError(f"frames {start}..{stop} are outside the grid (0..{grid.frames})", path=grid.path)
    if not (math.isfinite(temperature) and temperature >= 0):
        raise SdaError(f"temperature {temperature} must be 0 or more", hint="1 = as trained; lower = safer")
    if not 1 <= candidates <= 64:
        raise SdaError(f"cannot draw {candidates} candidates", hint="choose 1 to 64")
    gen = cpu_generator(seed)
    right = min(right_frames, grid.frames - stop) if candidates > 1 else 0
    filled = _sample_masked(prior, grid.codes, start, stop, chosen, candidates, gen, temperature, top_k, top_p,
                            on_event, cancel)
    scores = _right_context_scores(prior, filled, grid.codes, stop, right) if right > 0 else [0.0] * candidates
    best = max(range(candidates), key=lambda i: scores[i])
    info = RegenerationInfo(candidates=candidates, chosen=best, right_frames=right, scores=scores)
    params = {"from_frame": start, "to_frame": stop, "levels": chosen, "temperature": temperature,
              "top_k": top_k, "top_p": top_p, "seed": seed, "candidates": candidates, "chosen": best,
              "right_frames": right}
    return record(grid, "regenerate", params, start, filled[best, :, start:stop]), info


@torch.no_grad()
def _sample_masked(prior: CodePrior, codes: Tensor, start: int, stop: int, chosen: list[int], n: int,
                   gen: torch.Generator, temperature: float, top_k: int, top_p: float,
                   on_event: ProgressCallback, cancel: CancelToken | None) -> Tensor:
    """``n`` candidates ``(n, levels, stop)``: codes before ``start`` kept, masked cells drawn step by step.

    Uses the prior's public teacher-forced forward once per masked level and step: the logits of level
    ``l`` at the last position depend only on earlier steps and the lower levels of this step, which are
    already in place when it is read.
    """
    from sda_models.prior import sample_token

    device = next(prior.parameters()).device
    ctx = prior.config.context_frames
    hist = codes[:, :stop].clone().unsqueeze(0).repeat(n, 1, 1)
    was_training = prior.training
    prior.eval()
    try:
        for t in range(start, stop):
            if cancel is not None:
                cancel.raise_if_cancelled("regeneration")
            lo = max(0, t - (ctx - 1))
            for level in chosen:
                logits = prior(hist[:, :, lo:t + 1].to(device))[level][:, -1]
                hist[:, level, t] = sample_token(logits, gen, temperature, top_k, top_p)
            on_event(ProgressEvent("generate", "progress", step=t - start + 1, total=stop - start,
                                   message="regenerating codes"))
    finally:
        prior.train(was_training)
    return hist


@torch.no_grad()
def _right_context_scores(prior: CodePrior, filled: Tensor, codes: Tensor, stop: int, right: int) -> list[float]:
    """Per candidate: log-probability of the real ``right`` columns after the region (all levels)."""
    device = next(prior.parameters()).device
    ctx = prior.config.context_frames
    n = filled.shape[0]
    seq = torch.cat([filled, codes[:, stop:stop + right].unsqueeze(0).repeat(n, 1, 1)], dim=2)
    window = seq[:, :, max(0, seq.shape[2] - ctx):]
    was_training = prior.training
    prior.eval()
    try:
        logits = prior(window.to(device))
    finally:
        prior.train(was_training)
    total = torch.zeros(n)
    for level, lg in enumerate(logits):
        logp = torch.log_softmax(lg[:, -right:].float().cpu(), dim=-1)
        target = window[:, level, -right:]
        total += logp.gather(-1, target.unsqueeze(-1)).squeeze(-1).sum(-1)
    return [float(x) for x in total]
