"""The per-model HiFi-GAN vocoder stage: the HiFi-GAN trainer as a :class:`~sda_engine.train.stage.Stage`.

:func:`sda_engine.train.loop.run_stage` runs it (job ``train.vocoder``) like every other stage: ``start``,
``info`` (resuming), ``progress`` (the step's losses with ``loss`` = the generator loss, ``lr``,
``eta_seconds``, ``steps_per_second``, ``elapsed_minutes``), ``warning`` (non-finite loss), ``checkpoint``
and ``done``. There is no validation inside the loop: the trained vocoder is checked against the
Griffin-Lim floor afterwards (:func:`sda_engine.train.vocoder.vocoder_validation`).

A checkpoint (stage ``vocoder``) holds the :class:`~sda_models.vocoders.hifigan_training.HifiGanTrainer`
state (weights, optimiser moments, schedulers, augmentation RNG: tensors ``trainer.*`` + JSON ``trainer``),
the segment sampler's generator, the torch CPU RNG, the batch shape, and the loop's bookkeeping (step, loss
history, ``elapsed_seconds`` so a minutes budget counts across resumes). Resuming from it continues
bit-for-bit on the same device; resuming a finished run with a larger budget trains on.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Any

import torch

from sda_audio.errors import SdaError
from sda_audio.progress import ProgressCallback, ignore_events
from sda_engine.train.checkpoints import Checkpoint
from sda_engine.train.data import TrainingData
from sda_engine.train.loop import StagePlan
from sda_engine.train.stage import TorchStage
from sda_models.mel import LogMel, MelConfig

log = logging.getLogger(__name__)

JOB = "train.vocoder"
STAGE = "vocoder"
_CURVE_POINTS = 200
WINDOW_SAMPLES = 64 * MelConfig().hop_length
"""Length of the windows the vocoder's data sampler draws (segments are cropped from them)."""


@dataclass(frozen=True)
class VocoderPlan:
    """How long the vocoder trains and how often it reports.

    Attributes:
        minutes: training-time budget, counted across resumes (``None``: ``max_steps`` alone).
        max_steps: stop after this many steps in total (``None``: the time budget alone).
        batch_size / segment_samples: batch shape ``(batch_size, segment_samples)`` (segments are at most as
            long as the data's windows).
        log_every: ``progress`` event interval; checkpoint_every: checkpoint interval (steps).
        deadline: when the job's time budget ends (``time.monotonic()``; ``None``: no whole-job budget).
    """

    minutes: float | None = 10.0
    max_steps: int | None = None
    batch_size: int = 4
    segment_samples: int = 16384
    log_every: int = 10
    checkpoint_every: int = 100
    deadline: float | None = None

    def __post_init__(self) -> None:
        if self.minutes is None and self.max_steps is None:
            raise SdaError("the vocoder training has no limit", hint="give a number of minutes or of steps")
        if self.minutes is not None and not self.minutes > 0:
            raise SdaError(f"cannot train a vocoder for {self.minutes} minutes",
                           hint="give a positive number of minutes")
        if self.max_steps is not None and self.max_steps < 1:
            raise SdaError(f"cannot train a vocoder for {self.max_steps} steps", hint="give a positive number of steps")
        object.__setattr__(self, "log_every", max(1, int(self.log_every)))
        object.__setattr__(self, "checkpoint_every", max(1, int(self.checkpoint_every)))

    def replace(self, **changes: Any) -> VocoderPlan:
        return dataclasses.replace(self, **changes)

    def stage_plan(self) -> StagePlan:
        """The plan :func:`~sda_engine.train.loop.run_stage` runs (a finished run given more budget trains on)."""
        return StagePlan(STAGE, JOB, self.max_steps, log_every=self.log_every, eval_every=0,
                         checkpoint_every=self.checkpoint_every,
                         budget_seconds=self.minutes * 60.0 if self.minutes is not None else None,
                         continue_finished=True, title="the model's own HiFi-GAN vocoder", deadline=self.deadline)


class TrainerPart:
    """The HiFi-GAN trainer's state (weights, optimiser moments, schedulers, augmentation RNG): tensors
    ``trainer.*`` and JSON ``meta["trainer"]``."""

    HEAD = "trainer."

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer

    def save(self, ckpt: Checkpoint) -> None:
        tensors, meta = self.trainer.state_dict()
        ckpt.tensors.update({f"{self.HEAD}{k}": v for k, v in tensors.items()})
        ckpt.meta["trainer"] = meta

    def load(self, ckpt: Checkpoint) -> None:
        head = self.HEAD
        self.trainer.load_state_dict({k[len(head):]: v for k, v in ckpt.tensors.items() if k.startswith(head)},
                                     ckpt.meta["trainer"])


class VocoderStage(TorchStage):
    """A ``HifiGanTrainer`` on segments of ``data`` (a :class:`~sda_engine.train.stage.Stage` for the loop).

    Registered state: the trainer, the torch and sampler RNG, and the batch shape (a checkpoint made with
    another shape is refused). There is no validation inside the loop.
    """

    def __init__(self, trainer: Any, data: TrainingData, plan: VocoderPlan) -> None:
        super().__init__()
        self.trainer, self.data, self.plan = trainer, data, plan
        self.mel = LogMel().to(trainer.device)
        self.register_part("trainer", TrainerPart(trainer))
        self.register_rng(data.generator)
        self.register_meta("batch_size", lambda: plan.batch_size, lambda value: None)
        self.register_meta("segment_samples", lambda: plan.segment_samples, lambda value: None)

    def train_step(self, step: int) -> dict[str, float]:
        self.step = step
        waves, log_mel = draw_batch(self.data, self.plan, self.mel, self.trainer.device)
        metrics = {k: float(v) for k, v in self.trainer.step(waves, log_mel).items()}
        metrics["loss"] = metrics.get("loss_g", float("nan"))
        return metrics

    def load(self, ckpt: Checkpoint) -> None:
        if ckpt.stage != STAGE or "trainer" not in ckpt.meta:
            raise SdaError("this checkpoint is not a vocoder checkpoint", path=ckpt.path,
                           hint="delete the folder to start the vocoder training afresh", action="restart")
        plan = self.plan
        shape = (int(ckpt.meta.get("batch_size", plan.batch_size)),
                 int(ckpt.meta.get("segment_samples", plan.segment_samples)))
        if shape != (plan.batch_size, plan.segment_samples):
            raise SdaError(f"this vocoder checkpoint was made with batches of {shape[0]} x {shape[1]} samples",
                           path=ckpt.path, hint="continue it with the same settings, or start the vocoder afresh",
                           action="restart")
        super().load(ckpt)


def vocoder_training_data(files: Any, seed: int, on_event: ProgressCallback = ignore_events,
                          job: str = "train") -> TrainingData:
    """The audio a per-model vocoder trains on: ``files`` unaugmented (it must learn the real recordings),
    sampled in :data:`WINDOW_SAMPLES` windows with a sampler seeded by ``seed`` (loading events: ``job``)."""
    return TrainingData(files, WINDOW_SAMPLES, seed=seed, augment=None, on_event=on_event, job=job)


def draw_batch(data: TrainingData, plan: VocoderPlan, mel: Any, device: torch.device) -> tuple[torch.Tensor,
                                                                                            torch.Tensor]:
    """One training batch: ``plan.batch_size`` random segments of ``plan.segment_samples`` samples on
    ``device`` and their log-mel (``mel``, a :class:`~sda_models.mel.LogMel` on ``device``)."""
    waves = crop_segments(data.sample_waves(plan.batch_size, augment=False), plan.segment_samples,
                          data.generator).to(device)
    with torch.no_grad():
        return waves, mel(waves)


def crop_segments(waves: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
    """A random ``length``-sample part of each row of ``waves`` ``(B, W)`` (drawn from ``generator``).

    The data sampler's windows are longer than a vocoder segment; taking always their start would never
    show the vocoder the last ``W - length`` samples of a file (its decay and tail).
    """
    spare = waves.shape[-1] - length
    if spare <= 0:
        return waves
    offsets = torch.randint(0, spare + 1, (waves.shape[0],), generator=generator).tolist()
    return torch.stack([row[o:o + length] for row, o in zip(waves, offsets, strict=True)])


def loss_curve(history: list[dict[str, float]], points: int = _CURVE_POINTS) -> list[dict[str, float]]:
    """At most ``points`` evenly spaced entries ``{"step", "loss", "mel_l1"}`` of the history (for metadata)."""
    if not history:
        return []
    stride = max(1, math.ceil(len(history) / points))
    picked = history[::stride]
    if picked[-1] is not history[-1]:
        picked.append(history[-1])
    return [{k: h[k] for k in ("step", "loss", "mel_l1") if k in h} for h in picked]


def with_seed(config: Any, seed: int) -> Any:
    """``config`` (a ``HifiGanTrainingConfig``) with ``seed``."""
    return dataclasses.replace(config, seed=seed)
