"""A budget-driven stage (no step limit): the learning-rate schedule follows the share of time spent, and when
validation stops improving it anneals the rate before stopping as converged instead of stopping at a high rate."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from sda_audio.progress import CancelToken, ProgressEvent
from sda_engine.train.checkpoints import Checkpoint, CheckpointManager
from sda_engine.train.loop import StagePlan, run_stage


class PlateauStage:
    """Validation improves for ``improving`` evaluations, then stays flat; every step sleeps ``step_seconds``."""

    def __init__(self, improving: int, step_seconds: float = 0.004) -> None:
        self.improving, self.step_seconds = improving, step_seconds
        self.fractions: list[float | None] = []
        self.evals = 0
        self.weight = torch.zeros(1)

    def set_progress(self, time_fraction: float | None) -> None:
        self.fractions.append(time_fraction)

    def train_step(self, step: int) -> dict[str, float]:
        time.sleep(self.step_seconds)
        self.weight += 1
        return {"loss": 1.0}

    def evaluate(self) -> dict[str, float]:
        self.evals += 1
        return {"val_loss": 1.0 / min(self.evals, self.improving)}

    def after_eval(self, step: int, entry: dict[str, float]) -> list[str]:
        return []

    def health(self) -> None:
        return None

    def preview(self, step: int) -> None:
        return None

    def current_lr(self) -> float | None:
        return None

    def save(self, ckpt: Checkpoint) -> None:
        ckpt.tensors["model.fake.weight"] = self.weight.clone()

    def load(self, ckpt: Checkpoint) -> None:
        self.weight = ckpt.module_state("fake")["weight"].clone()

    def snapshot_best(self) -> dict[str, torch.Tensor]:
        return {"weight": self.weight.clone()}

    def restore_best(self, snapshot: dict[str, Any]) -> None:
        self.weight = snapshot["weight"].clone()


def _plan(seconds: float, anneal: float) -> StagePlan:
    return StagePlan("autoencoder", "train.autoencoder", None, log_every=1000, eval_every=1, checkpoint_every=10**6,
                     patience=3, deadline=time.monotonic() + seconds, min_delta=0.005, eval_seconds=0.05,
                     checkpoint_seconds=100.0, anneal_share=anneal)


def test_a_plateau_anneals_the_rate_then_stops_as_converged(tmp_path: Path) -> None:
    stage = PlateauStage(improving=4)
    events: list[ProgressEvent] = []
    out = run_stage(_plan(6.0, 0.2), stage, CheckpointManager(tmp_path), events.append, CancelToken())
    assert out.stop_reason.startswith("converged"), out.stop_reason
    assert any("annealing the learning rate" in e.message for e in events)
    fractions = [f for f in stage.fractions if f is not None]
    assert fractions == sorted(fractions)  # the schedule only moves forward
    assert fractions[-1] > 0.9  # the rate was decayed (almost) to its end before stopping
    assert out.seconds < 4.0  # the anneal took about a fifth of the stage's time, not all of it


def test_without_anneal_a_plateau_stops_at_once(tmp_path: Path) -> None:
    stage = PlateauStage(improving=4)
    out = run_stage(_plan(6.0, 0.0), stage, CheckpointManager(tmp_path), lambda e: None, CancelToken())
    assert out.stop_reason.startswith("early stop")
    fractions = [f for f in stage.fractions if f is not None]
    assert fractions[-1] < 0.5


def test_the_fraction_follows_the_time_spent(tmp_path: Path) -> None:
    stage = PlateauStage(improving=10**6)  # always improving: runs to the deadline
    out = run_stage(_plan(1.0, 0.2), stage, CheckpointManager(tmp_path), lambda e: None, CancelToken())
    assert out.stop_reason == "time budget reached"
    fractions = [f for f in stage.fractions if f is not None]
    assert fractions[0] < 0.1 and fractions[-1] > 0.85
