"""Edits of a code grid, each recorded so that undo and redo restore the grid bit-exactly.

Every edit function returns a *new* :class:`CodeGrid` (the input is left as it was) whose log holds the edit:
the codes of the frames it touched before and after. :func:`undo` writes the ``before`` codes back,
:func:`redo` the ``after`` codes; a new edit after an undo drops the undone edits (as in any editor).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from sda_audio.errors import SdaError
from sda_control.codes.embedding import mix_codes, seam_ramp
from sda_control.codes.grid import CodeGrid, Edit, now

if TYPE_CHECKING:
    from sda_models.rvq import ResidualVectorQuantizer

DEFAULT_SEAM_FRAMES = 3


def record(grid: CodeGrid, op: str, params: dict[str, Any], start: int, new_codes: Tensor) -> CodeGrid:
    """A copy of ``grid`` with frames ``start : start + width`` of every level set to ``new_codes`` and the
    change logged as one edit (dropping any undone edits)."""
    new_codes = new_codes.detach().to("cpu", torch.long)
    stop = start + new_codes.shape[1]
    if new_codes.shape[0] != grid.levels or not 0 <= start < stop <= grid.frames:
        raise ValueError(f"edit of shape {tuple(new_codes.shape)} at frame {start} does not fit the grid "
                         f"({grid.levels}, {grid.frames})")
    if new_codes.numel() and (int(new_codes.min()) < 0 or int(new_codes.max()) >= grid.model.codebook_size):
        raise ValueError(f"codes must lie in 0..{grid.model.codebook_size - 1}")
    out = grid.copy()
    edit = Edit(op=op, params=params, start=start, stop=stop, before=out.codes[:, start:stop].clone(),
                after=new_codes.clone(), when=now())
    out.codes[:, start:stop] = new_codes
    out.edits = out.edits[: out.position] + [edit]
    out.position = len(out.edits)
    return out


def undo(grid: CodeGrid) -> tuple[CodeGrid, Edit]:
    """Undo the last applied edit -> (the grid before it, the edit undone)."""
    if grid.position == 0:
        raise SdaError("nothing to undo", path=grid.path, hint="the grid is as it was encoded")
    out = grid.copy()
    edit = out.edits[out.position - 1]
    _check_consistent(out, edit, edit.after, "undo")
    out.codes[:, edit.start:edit.stop] = edit.before
    out.position -= 1
    return out, edit


def redo(grid: CodeGrid) -> tuple[CodeGrid, Edit]:
    """Apply the last undone edit again -> (the grid after it, the edit redone)."""
    if grid.position >= len(grid.edits):
        raise SdaError("nothing to redo", path=grid.path, hint="no edit has been undone since the last change")
    out = grid.copy()
    edit = out.edits[out.position]
    _check_consistent(out, edit, edit.before, "redo")
    out.codes[:, edit.start:edit.stop] = edit.after
    out.position += 1
    return out, edit


def _check_consistent(grid: CodeGrid, edit: Edit, expected: Tensor, what: str) -> None:
    if not torch.equal(grid.codes[:, edit.start:edit.stop], expected):
        raise SdaError(f"cannot {what} '{edit.op}': the grid's codes there do not match its edit log",
                       path=grid.path, hint="the file was changed outside sda; encode the sound again")


# -- positions ----------------------------------------------------------------------------------------------
def frame_at(grid: CodeGrid, seconds: float) -> int:
    """The frame that holds the moment ``seconds`` (``0 <= seconds < grid length``)."""
    if not 0 <= seconds < grid.seconds:
        raise SdaError(f"{seconds:g} s is outside the grid (0 to {grid.seconds:.2f} s)", path=grid.path,
                       hint="choose a time inside the sound")
    return min(grid.frames - 1, int(seconds / grid.frame_seconds))


def frame_range(grid: CodeGrid, start_s: float, stop_s: float) -> tuple[int, int]:
    """Frames ``[start, stop)`` covering ``start_s .. stop_s`` seconds (at least one frame)."""
    if not (0 <= start_s < stop_s):
        raise SdaError(f"the region {start_s:g}..{stop_s:g} s is empty or negative", path=grid.path,
                       hint="give a start time before the end time")
    if start_s >= grid.seconds:
        raise SdaError(f"the region starts at {start_s:g} s, after the grid's end ({grid.seconds:.2f} s)",
                       path=grid.path, hint="choose a region inside the sound")
    start = int(round(start_s / grid.frame_seconds))
    stop = min(grid.frames, max(start + 1, int(round(stop_s / grid.frame_seconds))))
    return min(start, grid.frames - 1), stop


def check_levels(grid: CodeGrid, levels: Sequence[int] | None) -> list[int]:
    """0-based level numbers, validated; ``None`` = every level."""
    if levels is None:
        return list(range(grid.levels))
    chosen = sorted(set(int(x) for x in levels))
    if not chosen or chosen[0] < 0 or chosen[-1] >= grid.levels:
        raise SdaError(f"levels {[x + 1 for x in chosen]} do not exist; this grid has levels 1..{grid.levels} "
                       f"({', '.join(grid.labels)})", path=grid.path)
    return chosen


# -- edits --------------------------------------------------------------------------------------------------
def set_code(grid: CodeGrid, level: int, frame: int, index: int) -> CodeGrid:
    """One cell: level ``level`` (0 = coarsest) at ``frame`` becomes code ``index``."""
    check_levels(grid, [level])
    if not 0 <= index < grid.model.codebook_size:
        raise SdaError(f"code {index} does not exist; level {level + 1} has codes 0..{grid.model.codebook_size - 1}",
                       path=grid.path)
    if not 0 <= frame < grid.frames:
        raise SdaError(f"frame {frame} is outside the grid (0..{grid.frames - 1})", path=grid.path)
    column = grid.codes[:, frame:frame + 1].clone()
    column[level, 0] = index
    return record(grid, "set", {"level": level, "frame": frame, "index": index}, frame, column)


def swap_region(grid: CodeGrid, source: CodeGrid, rvq: ResidualVectorQuantizer, start: int, stop: int,
                levels: Sequence[int] | None = None, seam: int = DEFAULT_SEAM_FRAMES) -> CodeGrid:
    """Frames ``[start, stop)`` of ``source`` (same times) replace those of ``grid`` on ``levels``.

    Inside the region the chosen levels are exactly the source's codes. Across each seam, the ``seam``
    frames just outside the region are crossfaded from ``grid`` towards the swapped sound in the summed
    embedding space and quantised again, so the cut is a short transition rather than a jump.
    """
    chosen = check_levels(grid, levels)
    if source.levels != grid.levels or source.model.codebook_size != grid.model.codebook_size:
        raise SdaError(f"the source grid has {source.levels} levels of {source.model.codebook_size} codes, this "
                       f"one {grid.levels} of {grid.model.codebook_size}", path=source.path,
                       hint="swap between grids encoded with the same model")
    if source.model.sha256 != grid.model.sha256:
        raise SdaError(f"the source grid was encoded with model '{source.model.name}', this one with "
                       f"'{grid.model.name}' (another model or version)", path=source.path,
                       hint="encode both sounds with the same model")
    if not 0 <= start < stop <= grid.frames:
        raise SdaError(f"frames {start}..{stop} are outside the grid (0..{grid.frames})", path=grid.path)
    if stop > source.frames:
        raise SdaError(f"the source is only {source.seconds:.2f} s long; the region ends at "
                       f"{stop * grid.frame_seconds:.2f} s", path=source.path, hint="choose a shorter region")
    lo, hi = max(0, start - seam), min(grid.frames, stop + seam)
    hi = min(hi, source.frames)  # the right seam needs the source's frames too
    base = grid.codes[:, lo:hi]
    hybrid = base.clone()
    hybrid[chosen] = source.codes[chosen, lo:hi]
    weight = torch.zeros(hi - lo)
    weight[start - lo:stop - lo] = 1.0
    left = start - lo
    if left:
        weight[:left] = seam_ramp(left)
    right = hi - stop
    if right:
        weight[stop - lo:] = seam_ramp(right).flip(0)
    new = mix_codes(rvq, base, hybrid, weight)
    params = {"from_frame": start, "to_frame": stop, "levels": chosen, "seam": seam,
              "source": {"path": str(source.path) if source.path else None, "sha256_codes": _codes_digest(source)}}
    return record(grid, "swap", params, lo, new)


def blend_grids(a: CodeGrid, b: CodeGrid, rvq: ResidualVectorQuantizer, amount: float) -> CodeGrid:
    """A new grid between ``a`` (amount 0) and ``b`` (amount 1): summed embeddings interpolated, re-quantised.

    The result has ``a``'s length; a shorter ``b`` is looped. Its edit log starts empty; its source
    records both grids.
    """
    if not 0.0 <= amount <= 1.0:
        raise SdaError(f"blend amount {amount:g} is outside 0..1", hint="0 = the first grid, 1 = the second")
    if a.model.sha256 != b.model.sha256 or a.levels != b.levels:
        raise SdaError(f"the grids come from different models ('{a.model.name}', '{b.model.name}')",
                       path=b.path, hint="blend grids encoded with the same model")
    reps = -(-a.frames // b.frames)
    b_codes = b.codes.repeat(1, reps)[:, : a.frames]
    codes = mix_codes(rvq, a.codes, b_codes, float(amount))
    source = {"blend": {"amount": amount, "a": {"path": str(a.path) if a.path else None, "source": a.source},
                        "b": {"path": str(b.path) if b.path else None, "source": b.source}}}
    return CodeGrid(codes=codes, model=a.model, source=source)


def _codes_digest(grid: CodeGrid) -> str:
    import hashlib

    return hashlib.sha256(grid.codes.numpy().tobytes()).hexdigest()[:16]
