"""What a training run did: :class:`TrainResult` (the model file, per-stage outcomes, loss curves, warnings)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sda_engine.train.loop import StageOutcome
from sda_engine.train.request import TrainRequest


@dataclass
class TrainResult:
    """What :func:`sda_engine.train.trainer.run` did.

    Attributes:
        name: the model's library name; ``model_path``: its ``.sda`` file.
        kind, size, device: what was trained, at which model size (``size_reason`` says why), where.
        stages: per stage ``{"steps", "stop_reason", "best_val", "resumed_from", "minutes"}``.
        history: per optimisation step ``{"stage", "step", "loss", "lr", ...}`` (the loss curve).
        evals: per evaluation ``{"stage", "step", "train_loss", "val_loss", ...}``.
        warnings: every warning raised during training (looped files, overfitting, collapse, ...).
        previews: audio preview files written during training.
        recon_before / recon_after: growing only - reconstruction error (L1, normalised mel) on the old
            files before and after training on the new ones.
        seconds: wall-clock time of this call.
        request: the resolved request that was run (stored in its checkpoints).
    """

    name: str
    model_path: Path | None
    kind: str
    size: str
    device: str
    size_reason: str = ""
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    evals: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    previews: list[str] = field(default_factory=list)
    corpus_index: Path | None = None
    vocoder: str | None = None
    recon_before: float | None = None
    recon_after: float | None = None
    seconds: float = 0.0
    request: TrainRequest | None = None

    def losses(self, stage: str = "autoencoder") -> list[float]:
        """The per-step training loss of one stage."""
        return [h["loss"] for h in self.history if h["stage"] == stage]

    def collect(self, stage: str, outcome: StageOutcome) -> None:
        """Add a finished stage's outcome (its steps, curves, previews and new warnings)."""
        self.stages[stage] = {"steps": outcome.steps, "stop_reason": outcome.stop_reason,
                              "best_val": outcome.best_val, "resumed_from": outcome.resumed_from,
                              "minutes": outcome.minutes}
        self.history.extend({"stage": stage, **h} for h in outcome.history)
        self.evals.extend({"stage": stage, **e} for e in outcome.evals)
        self.previews.extend(outcome.previews)
        for w in outcome.warnings:
            if w not in self.warnings:
                self.warnings.append(w)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("model_path", "corpus_index"):
            out[key] = str(out[key]) if out[key] is not None else None
        out["request"] = self.request.to_dict() if self.request is not None else None
        return out
