"""The per-model HiFi-GAN vocoder stage: a step loop with events, checkpoints, cancel/Ctrl-C and exact resume.

Same event interface as :func:`sda_engine.stages.run_stage` (job ``train.vocoder``): ``start``, ``info``
(resuming), ``progress`` (every ``log_every`` steps: the step's losses, ``lr``, ``eta_seconds``,
``steps_per_second``, ``elapsed_minutes``), ``warning`` (non-finite loss), ``checkpoint`` and ``done``.

A checkpoint (stage ``vocoder``, via :class:`~sda_engine.checkpoints.CheckpointManager`) holds the
:class:`~sda_models.vocoders.hifigan_training.HifiGanTrainer` state (weights, optimiser moments, schedulers,
augmentation RNG: tensors ``trainer.*`` + JSON ``trainer``), the segment sampler's generator, the torch CPU
RNG, the step, the training time spent so far (``elapsed_seconds``, so a minutes budget counts across
resumes) and the loss history. Resuming from it continues bit-for-bit on the same device.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from sda_audio.errors import Cancelled, SdaError
from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events
from sda_engine.checkpoints import Checkpoint, CheckpointManager, capture_rng, restore_rng
from sda_engine.data import TrainingData
from sda_engine.stages import sigint_to_cancel

log = logging.getLogger(__name__)

JOB = "train.vocoder"
STAGE = "vocoder"
_CURVE_POINTS = 200
WINDOW_SAMPLES = 64 * 512
"""Length of the windows the vocoder's data sampler draws (segments are cropped from them)."""


@dataclass(frozen=True)
class VocoderPlan:
    """How long the vocoder trains and how often it reports.

    Attributes:
        minutes: training-time budget, counted across resumes (``None``: ``max_steps`` alone).
        max_steps: stop after this many steps in total (``None``: the time budget alone).
        batch_size / segment_samples: batch shape ``(batch_size, segment_samples)``.
        log_every: ``progress`` event interval; checkpoint_every: checkpoint interval (steps).
    """

    minutes: float | None
    max_steps: int | None = None
    batch_size: int = 4
    segment_samples: int = 16384
    log_every: int = 10
    checkpoint_every: int = 100


@dataclass
class VocoderOutcome:
    """What the stage did: total steps, why it stopped, the loss curve, training minutes, resume point."""

    steps: int
    stop_reason: str
    history: list[dict[str, float]] = field(default_factory=list)
    minutes: float = 0.0
    resumed_from: int | None = None


def _save(manager: CheckpointManager, trainer: Any, data: TrainingData, plan: VocoderPlan, step: int,
          elapsed: float, history: list[dict[str, float]], finished: bool) -> Checkpoint:
    tensors, meta = trainer.state_dict()
    ckpt = Checkpoint(step=step, stage=STAGE, tensors={f"trainer.{k}": v for k, v in tensors.items()})
    capture_rng(ckpt, data.generator)
    ckpt.meta.update(trainer=meta, elapsed_seconds=elapsed, history=history, finished=finished,
                     batch_size=plan.batch_size, segment_samples=plan.segment_samples)
    manager.save(ckpt)
    return ckpt


def _load(ckpt: Checkpoint, trainer: Any, data: TrainingData, plan: VocoderPlan) -> None:
    if ckpt.stage != STAGE or "trainer" not in ckpt.meta:
        raise SdaError("this checkpoint is not a vocoder checkpoint", path=ckpt.path,
                       hint="delete the folder to start the vocoder training afresh")
    shape = (int(ckpt.meta.get("batch_size", plan.batch_size)),
             int(ckpt.meta.get("segment_samples", plan.segment_samples)))
    if shape != (plan.batch_size, plan.segment_samples):
        raise SdaError(f"this vocoder checkpoint was made with batches of {shape[0]} x {shape[1]} samples",
                       path=ckpt.path, hint="resume with the same settings, or train without --resume")
    head = "trainer."
    trainer.load_state_dict({k[len(head):]: v for k, v in ckpt.tensors.items() if k.startswith(head)},
                            ckpt.meta["trainer"])
    restore_rng(ckpt, data.generator)


def run_vocoder_stage(
    trainer: Any,
    data: TrainingData,
    plan: VocoderPlan,
    manager: CheckpointManager,
    on_event: ProgressCallback,
    cancel: CancelToken,
    resume_from: Checkpoint | None = None,
) -> VocoderOutcome:
    """Train ``trainer`` (a ``HifiGanTrainer``) on segments of ``data`` until the plan's budget is spent.

    Saves a checkpoint every ``plan.checkpoint_every`` steps, at the end, and when cancelled (token or
    Ctrl-C), then raises :class:`~sda_audio.errors.Cancelled`.
    """
    from sda_models.mel import LogMel

    mel = LogMel().to(trainer.device)
    budget = plan.minutes * 60.0 if plan.minutes is not None else math.inf
    budget_text = f"{plan.minutes:g} min" if plan.minutes is not None else "no time limit"
    step, spent, history = 0, 0.0, []
    out = VocoderOutcome(steps=0, stop_reason="")
    if resume_from is not None:
        _load(resume_from, trainer, data, plan)
        step, spent = resume_from.step, float(resume_from.meta.get("elapsed_seconds", 0.0))
        history = list(resume_from.meta.get("history", []))
        out.resumed_from = step
        on_event(ProgressEvent(JOB, "info", step=step, total=plan.max_steps, message=(
            f"resuming vocoder training from step {step} ({spent / 60:.1f} min spent; {budget_text})")))
    start_step = step
    t0 = time.monotonic()

    def elapsed() -> float:
        return spent + time.monotonic() - t0

    def checkpoint(finished: bool = False) -> None:
        ckpt = _save(manager, trainer, data, plan, step, elapsed(), history, finished)
        on_event(ProgressEvent(JOB, "checkpoint", step=step, total=plan.max_steps,
                               message=f"vocoder checkpoint saved at step {step}", data={"path": str(ckpt.path)}))

    on_event(ProgressEvent(JOB, "start", step=step, total=plan.max_steps,
                           message=f"training the model's own HiFi-GAN vocoder: "
                                   f"{plan.max_steps or 'unlimited'} steps, {budget_text}"))
    stop_reason = "finished"
    with sigint_to_cancel(cancel):
        while True:
            if cancel.cancelled:
                checkpoint()
                raise Cancelled(f"vocoder training was cancelled at step {step}; a checkpoint was saved",
                                hint="run `sda train-vocoder MODEL --resume` to continue")
            if plan.max_steps is not None and step >= plan.max_steps:
                break
            if elapsed() >= budget:
                stop_reason = "time budget reached"
                break
            try:
                waves, log_mel = draw_batch(data, plan, mel, trainer.device)
                metrics = {k: float(v) for k, v in trainer.step(waves, log_mel).items()}
            except KeyboardInterrupt:
                # interrupted mid-step: the weights may be half-updated, so keep the last saved checkpoint
                raise Cancelled(f"vocoder training was interrupted at step {step + 1}; the last checkpoint was "
                                "kept", hint="run `sda train-vocoder MODEL --resume` to continue") from None
            step += 1
            metrics["loss"] = metrics.get("loss_g", float("nan"))
            history.append({"step": float(step), **metrics})
            if not math.isfinite(metrics["loss"]):
                on_event(ProgressEvent(JOB, "warning", step=step, message="the vocoder loss is not finite"))
            if step % plan.log_every == 0 or step == start_step + 1 or step == plan.max_steps:
                now = elapsed()
                rate = (step - start_step) / max(time.monotonic() - t0, 1e-9)
                eta = max(0.0, budget - now)
                if plan.max_steps is not None:
                    eta = min(eta, (plan.max_steps - step) / rate)
                on_event(ProgressEvent(JOB, "progress", step=step, total=plan.max_steps,
                                       message=f"vocoder step {step}" + (f"/{plan.max_steps}" if plan.max_steps
                                                                         else ""),
                                       metrics={**metrics, "eta_seconds": eta, "steps_per_second": rate,
                                                "elapsed_minutes": now / 60.0}))
            if step % plan.checkpoint_every == 0:
                checkpoint()
    checkpoint(finished=True)
    out.steps, out.stop_reason, out.history, out.minutes = step, stop_reason, history, elapsed() / 60.0
    last = history[-1] if history else {}
    on_event(ProgressEvent(JOB, "done", step=step, total=plan.max_steps,
                           message=f"vocoder trained for {step} steps in {out.minutes:.1f} min ({stop_reason})",
                           metrics={k: v for k, v in last.items() if k != "step"},
                           data={"steps": step, "minutes": out.minutes, "stop_reason": stop_reason}))
    return out


def vocoder_training_data(files: Any, seed: int, on_event: ProgressCallback = ignore_events) -> TrainingData:
    """The audio a per-model vocoder trains on: ``files`` unaugmented (it must learn the real recordings),
    sampled in :data:`WINDOW_SAMPLES` windows with a sampler seeded by ``seed``."""
    return TrainingData(files, WINDOW_SAMPLES, seed=seed, augment=None, on_event=on_event, job=JOB)


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
