"""Hearing one codebook entry: a grid that holds it still over the coarser levels' typical context.

A fine level's code only means something on top of the coarser levels (it refines what they left), so the
entry is placed over the coarser codes it most often sits on in the training audio (when those codes are
known: :func:`sda_control.codes.health.codebook_usage` collects them), else over each coarser level's most
used code by the quantiser's own usage counters. Finer levels take their smallest codebook vector (the code
that changes the sound least), so what is heard is the entry, not a random finer detail.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from sda_audio.errors import SdaError

if TYPE_CHECKING:
    from sda_models.rvq import ResidualVectorQuantizer

DEFAULT_SECONDS = 1.5


@dataclass
class EntryGrid:
    """Codes ``(levels, frames)`` holding one entry, and how its context was chosen (plain words)."""

    codes: Tensor
    level: int
    index: int
    context: list[int]
    how: str


def entry_grid(rvq: ResidualVectorQuantizer, level: int, index: int, frames: int,
               corpus: list[Tensor] | None = None) -> EntryGrid:
    """Level ``level`` (0 = coarsest) held at code ``index`` for ``frames`` frames (see the module docstring).

    ``corpus``: code grids ``(levels, T)`` of the training audio, when available.
    """
    levels, size = int(rvq.levels), int(rvq.codebook_size)
    if not 0 <= level < levels:
        raise SdaError(f"level {level + 1} does not exist; this model has levels 1..{levels}")
    if not 0 <= index < size:
        raise SdaError(f"code {index} does not exist; each level has codes 0..{size - 1}")
    if frames < 1:
        raise SdaError("an entry needs at least one frame", hint="choose a longer duration")
    context, how = _context(rvq, level, index, corpus)
    column = torch.zeros(levels, dtype=torch.long)
    column[:level] = torch.tensor(context, dtype=torch.long)
    column[level] = index
    for finer in range(level + 1, levels):
        column[finer] = int(rvq.codebooks[finer].embed.float().norm(dim=1).argmin())
    return EntryGrid(codes=column[:, None].repeat(1, frames), level=level, index=index, context=context, how=how)


def _context(rvq: ResidualVectorQuantizer, level: int, index: int, corpus: list[Tensor] | None
             ) -> tuple[list[int], str]:
    if level == 0:
        return [], "the coarsest level needs no context"
    if corpus:
        together: Counter[tuple[int, ...]] = Counter()
        for codes in corpus:
            hits = codes[level] == index
            together.update(tuple(col) for col in codes[:level, hits].T.tolist())
        if together:
            best, n = together.most_common(1)[0]
            return list(best), f"the coarser codes it sits on most often in the training audio ({n} frames)"
    counters = [int(rvq.codebooks[lv].cluster_size.float().argmax()) for lv in range(level)]
    why = "never used in the training audio; " if corpus else ""
    return counters, f"{why}each coarser level's most used code (the quantiser's usage counters)"
