"""Codebook health (UI-02, UI-05): how much of each RVQ level the training audio uses, in plain words.

Usage is counted by encoding the model's training files (``metadata["dataset"]["files"]``) when they are
still on disk; otherwise from the quantiser's own usage counters saved with the model (its last training
steps). A level that uses few of its codes wastes capacity and often sounds coarse; the remedy is a
smaller codebook.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events
from sda_control.codes.grid import level_labels
from sda_control.codes.model import audio_to_codes, require_rvq

if TYPE_CHECKING:
    from sda_models.model_file import ModelBundle

HEALTHY_USE = 0.6  # share of codes used: at or above on every level = green
COLLAPSED_USE = 0.25  # below on any level = red
MIN_PERPLEXITY = 2.0  # a level whose codes carry less than ~1 bit is collapsed


@dataclass
class LevelHealth:
    level: int
    label: str
    used: int
    size: int
    utilisation: float
    perplexity: float
    dead_codes: int


@dataclass
class HealthReport:
    """Per-level usage, one status (``green``/``yellow``/``red``) and a verdict in plain words."""

    model: str
    status: str
    verdict: str
    source: str
    files: int
    frames: int
    levels: list[LevelHealth]
    counts: list[list[int]] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class UsageCounts:
    """``counts (levels, codebook_size)``; ``corpus``: the training files' code grids (empty from counters)."""

    counts: Tensor
    source: str
    files: int
    corpus: list[Tensor]


def existing_training_files(bundle: ModelBundle) -> list[Path]:
    """The model's training files that are still on disk."""
    files = [Path(f) for f in (bundle.metadata.get("dataset") or {}).get("files", [])]
    return [f for f in files if f.is_file()]


def codebook_usage(bundle: ModelBundle, name: str, files: Sequence[str | Path] | None = None,
                   on_event: ProgressCallback = ignore_events, cancel: CancelToken | None = None) -> UsageCounts:
    """Count each code's uses by encoding ``files`` (default: the training files still on disk); with no
    file at hand, the quantiser's saved usage counters."""
    from sda_audio.io import read_audio

    rvq = require_rvq(bundle, name)
    paths = [Path(f) for f in files] if files is not None else existing_training_files(bundle)
    counts = torch.zeros(rvq.levels, rvq.codebook_size, dtype=torch.long)
    if not paths:
        for level, q in enumerate(rvq.codebooks):
            counts[level] = q.recent_counts.float().sum(0).round().long().cpu()
        return UsageCounts(counts, "the quantiser's usage counters (training files not found)", 0, [])
    corpus = []
    on_event(ProgressEvent("codes.health", "start", step=0, total=len(paths), message="encoding the training files"))
    for i, path in enumerate(paths):
        if cancel is not None:
            cancel.raise_if_cancelled("codebook health")
        clip = read_audio(path)
        codes = audio_to_codes(bundle, clip.samples, clip.sample_rate, name)
        corpus.append(codes)
        for level in range(rvq.levels):
            counts[level] += torch.bincount(codes[level], minlength=rvq.codebook_size)
        on_event(ProgressEvent("codes.health", "progress", step=i + 1, total=len(paths), message=path.name))
    on_event(ProgressEvent("codes.health", "done", step=len(paths), total=len(paths), message="encoded"))
    return UsageCounts(counts, f"encoding {len(paths)} training file(s)", len(paths), corpus)


def health_report(usage: UsageCounts, name: str) -> HealthReport:
    """Per-level utilisation and perplexity, a traffic-light status and what to do about it."""
    counts = usage.counts.long()
    labels = level_labels(counts.shape[0])
    levels = []
    for level, row in enumerate(counts):
        total = int(row.sum())
        used = int((row > 0).sum())
        p = row[row > 0].double() / max(total, 1)
        perplexity = math.exp(float(-(p * p.log()).sum())) if total else 0.0
        levels.append(LevelHealth(level=level, label=labels[level], used=used, size=int(row.numel()),
                                  utilisation=used / row.numel(), perplexity=perplexity,
                                  dead_codes=int(row.numel()) - used))
    frames = int(counts[0].sum()) if counts.numel() else 0
    status, verdict = _verdict(levels, frames)
    return HealthReport(model=name, status=status, verdict=verdict, source=usage.source, files=usage.files,
                        frames=frames, levels=levels, counts=counts.tolist())


def _verdict(levels: list[LevelHealth], frames: int) -> tuple[str, str]:
    if frames == 0:
        return "red", "no usage recorded: the model was never trained, or its training files are gone"
    worst = min(levels, key=lambda lv: lv.utilisation)
    where = f"level {worst.level + 1} ({worst.label}) uses {worst.used} of its {worst.size} codes"
    few = frames < 4 * worst.size
    caveat = f"; only {frames} frames were counted, so this is rough" if few else ""
    if any(lv.perplexity < MIN_PERPLEXITY for lv in levels) or worst.utilisation < COLLAPSED_USE:
        return "red", f"collapsed: {where}; retrain with a much smaller codebook{caveat}"
    if worst.utilisation < HEALTHY_USE:
        return "yellow", f"under-used: {where}; retrain with a smaller codebook{caveat}"
    return "green", f"healthy: every level uses most of its codes (fewest: {where}){caveat}"
