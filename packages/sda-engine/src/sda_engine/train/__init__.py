"""Training: a dataset becomes a ``.sda`` model.

- :mod:`~sda_engine.train.options`: :class:`TrainOptions`, every user-facing choice once (both faces build it).
- :mod:`~sda_engine.train.planner`: :func:`plan`, options -> :class:`TrainRequest` (files, model size, configs,
  the time budget's split; :mod:`~sda_engine.train.request`, :mod:`~sda_engine.train.sizes`,
  :mod:`~sda_engine.train.budget`, :mod:`~sda_engine.train.growth`).
- :mod:`~sda_engine.train.trainer`: :func:`run`, a request -> :class:`TrainResult`, under the model's lock.
- The one training loop (:mod:`~sda_engine.train.loop`) runs :class:`Stage` objects; :class:`TorchStage`
  (:mod:`~sda_engine.train.stage`) registers a stage's state so checkpoints
  (:mod:`~sda_engine.train.checkpoints`), best weights and exact resume follow. The stages:
  :mod:`~sda_engine.train.autoencoder_stage`, :mod:`~sda_engine.train.prior_stage`,
  :mod:`~sda_engine.train.vocoder_stage`, on :mod:`~sda_engine.train.data`.
- The other steps of a run: the corpus index (:mod:`~sda_engine.train.corpus`), the musical controls
  (:mod:`~sda_engine.train.controls`), the model's own vocoder (:mod:`~sda_engine.train.vocoder`, also
  :func:`train_vocoder` for a library model), the model file (:mod:`~sda_engine.train.model_writer`), and the
  events of the run-level job (:mod:`~sda_engine.train.run_job`).

The names load on first use (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sda_audio.lazy as _lazy

if TYPE_CHECKING:
    from sda_engine.train.budget import JobClock, split_budget
    from sda_engine.train.checkpoints import Checkpoint, CheckpointManager
    from sda_engine.train.controls import fit_model_controls
    from sda_engine.train.loop import StageOutcome, StagePlan, run_stage
    from sda_engine.train.options import KINDS, SIZE_CHOICES, TrainOptions
    from sda_engine.train.planner import plan
    from sda_engine.train.request import TrainRequest
    from sda_engine.train.result import TrainResult
    from sda_engine.train.stage import Stage, TorchStage
    from sda_engine.train.trainer import run
    from sda_engine.train.vocoder import train_vocoder, vocoder_checkpoint_dir
    from sda_engine.train.vocoder_stage import VocoderPlan

_EXPORTS: dict[str, str] = {
    "TrainOptions": "sda_engine.train.options",
    "KINDS": "sda_engine.train.options",
    "SIZE_CHOICES": "sda_engine.train.options",
    "plan": "sda_engine.train.planner",
    "TrainRequest": "sda_engine.train.request",
    "run": "sda_engine.train.trainer",
    "TrainResult": "sda_engine.train.result",
    "JobClock": "sda_engine.train.budget",
    "split_budget": "sda_engine.train.budget",
    "Stage": "sda_engine.train.stage",
    "TorchStage": "sda_engine.train.stage",
    "StagePlan": "sda_engine.train.loop",
    "StageOutcome": "sda_engine.train.loop",
    "run_stage": "sda_engine.train.loop",
    "Checkpoint": "sda_engine.train.checkpoints",
    "CheckpointManager": "sda_engine.train.checkpoints",
    "train_vocoder": "sda_engine.train.vocoder",
    "vocoder_checkpoint_dir": "sda_engine.train.vocoder",
    "VocoderPlan": "sda_engine.train.vocoder_stage",
    "fit_model_controls": "sda_engine.train.controls",
}

__all__ = [
    "Checkpoint",
    "CheckpointManager",
    "JobClock",
    "KINDS",
    "SIZE_CHOICES",
    "Stage",
    "StageOutcome",
    "StagePlan",
    "TorchStage",
    "TrainOptions",
    "TrainRequest",
    "TrainResult",
    "VocoderPlan",
    "fit_model_controls",
    "plan",
    "run",
    "run_stage",
    "split_budget",
    "train_vocoder",
    "vocoder_checkpoint_dir",
]


__getattr__, __dir__ = _lazy.lazy_attributes(__name__, _EXPORTS, globals())
