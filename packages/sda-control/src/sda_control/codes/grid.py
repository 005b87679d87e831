"""The code grid: an RVQ model's codes for one sound, with where they came from and their edit log.

A grid is a LongTensor ``(levels, frames)``: row 0 is the coarsest RVQ level ("Structure"), the last row the
finest ("Detail"); a column is one latent frame (``frame_seconds`` long). Every edit is an :class:`Edit` that
keeps the codes of the region it changed before and after, so undo and redo restore grids bit-exactly
(see :mod:`sda_control.codes.edits`). Levels are numbered from 0 in this package; front ends may show them
from 1.
"""

from __future__ import annotations

import copy
import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sda_audio.errors import SdaError


def level_labels(levels: int) -> list[str]:
    """Plain-words names of the levels, coarse to fine: Structure, Timbre (numbered if several), Detail."""
    if levels < 1:
        return []
    if levels == 1:
        return ["Structure"]
    middle = levels - 2
    names = ["Timbre"] if middle == 1 else [f"Timbre {i + 1}" for i in range(middle)]
    return ["Structure", *names, "Detail"]


@dataclass(frozen=True)
class ModelRef:
    """The model a grid's codes belong to: codes mean nothing under another model (or another version)."""

    name: str
    sha256: str
    levels: int
    codebook_size: int
    frame_seconds: float
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "levels": self.levels,
                "codebook_size": self.codebook_size, "frame_seconds": self.frame_seconds, "path": self.path}


@dataclass
class Edit:
    """One recorded operation: frames ``start:stop`` of every level went from ``before`` to ``after``."""

    op: str
    params: dict[str, Any]
    start: int
    stop: int
    before: Tensor  # (levels, stop - start) long
    after: Tensor  # (levels, stop - start) long
    when: str = ""

    def describe(self) -> str:
        """One line in plain words (levels counted from 1, as front ends show them)."""
        p = self.params
        levels = ",".join(str(int(v) + 1) for v in p.get("levels", []))
        if self.op == "set":
            return f"set level {int(p['level']) + 1} to code {p['index']}"
        if self.op == "swap":
            name = Path(str((p.get("source") or {}).get("path") or "another grid")).name
            return f"swap levels {levels} from {name} (seam {p.get('seam')} frames)"
        if self.op == "regenerate":
            return (f"regenerate levels {levels} (temperature {p.get('temperature')}, seed {p.get('seed')}, "
                    f"kept candidate {int(p.get('chosen', 0)) + 1} of {p.get('candidates')})")
        return self.op


@dataclass
class CodeGrid:
    """Codes ``(levels, frames)`` with their model, their source and the edit log.

    ``edits[:position]`` are applied to ``codes``; ``edits[position:]`` were undone and can be redone (a new
    edit drops them).
    """

    codes: Tensor
    model: ModelRef
    source: dict[str, Any] | None = None
    edits: list[Edit] = field(default_factory=list)
    position: int = 0
    created: str = ""
    path: Path | None = None  # where it was read from / written to (not stored in the file)

    def __post_init__(self) -> None:
        self.codes = self.codes.detach().to("cpu", torch.long).contiguous()
        if self.codes.dim() != 2 or self.codes.shape[0] != self.model.levels:
            raise SdaError(f"a code grid must be ({self.model.levels}, frames), got {tuple(self.codes.shape)}",
                           path=self.path)
        if not self.created:
            self.created = now()

    @property
    def levels(self) -> int:
        return int(self.codes.shape[0])

    @property
    def frames(self) -> int:
        return int(self.codes.shape[1])

    @property
    def frame_seconds(self) -> float:
        return self.model.frame_seconds

    @property
    def seconds(self) -> float:
        return self.frames * self.frame_seconds

    @property
    def labels(self) -> list[str]:
        return level_labels(self.levels)

    def copy(self) -> CodeGrid:
        return copy.deepcopy(self)

    def to_dict(self) -> dict[str, Any]:
        """The JSON view front ends show: ``model, levels, frames, frame_seconds, codes, labels`` and more."""
        return {"model": self.model.name, "levels": self.levels, "frames": self.frames,
                "frame_seconds": self.frame_seconds, "codes": self.codes.tolist(), "labels": self.labels,
                "seconds": self.seconds, "model_sha256": self.model.sha256, "source": self.source,
                "edits": [{"op": e.op, "params": e.params, "start": e.start, "stop": e.stop, "when": e.when,
                           "applied": i < self.position} for i, e in enumerate(self.edits)],
                "position": self.position}


def now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
