"""The run-level job ``train`` of the event tree: ``start`` (``total`` = stages planned), a ``progress`` per
finished stage (``step`` = stages done, with its ``loss`` and ``val_loss``), ``info`` about the data and the
plan, and ``done``. Each stage reports its own steps under ``train.<stage>``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sda_audio.progress import ProgressCallback, ProgressEvent
from sda_engine.train.loop import StageOutcome

RUN_JOB = "train"


class RunJob:
    """Emits the events of the run-level job ``train`` for a run of ``stages``."""

    def __init__(self, on_event: ProgressCallback, stages: Sequence[str]) -> None:
        self.on_event = on_event
        self.stages = list(stages)
        self.finished: list[str] = []

    def start(self, message: str, **data: Any) -> None:
        self.on_event(ProgressEvent(RUN_JOB, "start", step=0, total=len(self.stages), message=message,
                                    data={"stages": self.stages, **data}))

    def stage_done(self, stage: str, outcome: StageOutcome | None = None) -> None:
        if stage in self.finished:
            return
        self.finished.append(stage)
        loss = {}
        if outcome is not None and outcome.history:
            loss["loss"] = float(outcome.history[-1]["loss"])
        if outcome is not None and outcome.best_val is not None:
            loss["val_loss"] = float(outcome.best_val)
        self.on_event(ProgressEvent(RUN_JOB, "progress", step=len(self.finished), total=len(self.stages),
                                    message=f"{stage} done", metrics=loss,
                                    data={"stage": stage, "stages": self.stages}))

    def info(self, message: str, **data: Any) -> None:
        self.on_event(ProgressEvent(RUN_JOB, "info", message=message, data=data))

    def done(self, message: str, **data: Any) -> None:
        n = len(self.stages)
        self.on_event(ProgressEvent(RUN_JOB, "done", step=n, total=n, message=message, data=data))
