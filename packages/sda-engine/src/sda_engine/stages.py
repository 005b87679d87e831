"""The generic training loop of one stage: steps, events, evaluation, early stopping, checkpoints, cancel.

A stage (autoencoder, prior) supplies callables in a :class:`StageHooks`; :func:`run_stage` owns the loop:

- emits ``start``, ``progress`` (every ``log_every`` steps: loss, learning rate, ETA), ``metrics`` (each
  evaluation: train and validation loss, codebook health per level), ``warning`` (overfitting: validation
  rising while training falls; hooks may add their own), ``preview`` and ``checkpoint`` events;
- stops early after ``patience`` evaluations without a better validation loss, or when the wall-clock
  budget is spent, restoring the best weights;
- saves a checkpoint every ``checkpoint_every`` steps and when cancelled (cancel token or Ctrl-C), then
  raises :class:`~sda_audio.errors.Cancelled`;
- resumes exactly from a checkpoint: the hooks restore weights, optimizer, scheduler and RNG states, and the
  loop restores its own bookkeeping (history, best metric, patience counter).
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from sda_audio.errors import Cancelled
from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent
from sda_engine.checkpoints import Checkpoint, CheckpointManager

log = logging.getLogger(__name__)


@dataclass
class StageHooks:
    """What a stage plugs into :func:`run_stage`.

    Attributes:
        train_step: ``(step) -> dict`` runs optimisation step ``step`` (1-based); the dict has ``loss``
            and any other floats; ``lr`` is added by the loop from ``current_lr``.
        evaluate: ``() -> dict`` validation metrics with ``val_loss`` (``None`` if no validation data).
        save: ``(ckpt) -> None`` puts weights, optimizer, scheduler and RNG states into a checkpoint.
        load: ``(ckpt) -> None`` restores them.
        snapshot_best: ``() -> Any`` a copy of the current weights (called when validation improves).
        restore_best: ``(snapshot) -> None`` puts the best weights back.
        current_lr: ``() -> float``.
        health: ``() -> list[dict] | None`` codebook health per level (RVQ), included in metrics events.
        preview: ``(step) -> str | None`` renders an audio preview and returns its path.
        after_eval: ``(step, metrics) -> list[str]`` stage-specific warnings (collapse, utilisation,
            memorisation); returning a string starting with ``"stop:"`` stops the stage.
    """

    train_step: Callable[[int], dict[str, float]]
    evaluate: Callable[[], dict[str, float] | None]
    save: Callable[[Checkpoint], None]
    load: Callable[[Checkpoint], None]
    snapshot_best: Callable[[], Any]
    restore_best: Callable[[Any], None]
    current_lr: Callable[[], float]
    health: Callable[[], list[dict[str, Any]] | None] = lambda: None
    preview: Callable[[int], str | None] = lambda step: None
    after_eval: Callable[[int, dict[str, float]], list[str]] = lambda step, m: []


@dataclass(frozen=True)
class StagePlan:
    """How long a stage runs and how often it reports."""

    stage: str
    job: str
    max_steps: int
    log_every: int = 10
    eval_every: int = 50
    checkpoint_every: int = 100
    preview_every: int = 0
    patience: int = 5
    budget_seconds: float | None = None


@dataclass
class StageOutcome:
    """What happened in a stage."""

    steps: int
    stop_reason: str
    history: list[dict[str, float]] = field(default_factory=list)
    evals: list[dict[str, float]] = field(default_factory=list)
    best_val: float | None = None
    previews: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    resumed_from: int | None = None


@contextlib.contextmanager
def sigint_to_cancel(cancel: CancelToken) -> Iterator[None]:
    """While active (main thread only), Ctrl-C sets ``cancel`` so the loop stops at a safe point.

    A second Ctrl-C raises ``KeyboardInterrupt`` as usual.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        if cancel.cancelled:
            raise KeyboardInterrupt
        cancel.cancel()

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _overfitting(evals: list[dict[str, float]], history: list[dict[str, float]], window: int = 3) -> bool:
    """Validation loss rose over the last ``window`` evaluations while the training loss fell."""
    if len(evals) < window:
        return False
    vals = [e["val_loss"] for e in evals[-window:]]
    trains = [e["train_loss"] for e in evals[-window:]]
    rising = all(b > a for a, b in zip(vals, vals[1:]))
    falling = trains[-1] < trains[0]
    return rising and falling


def run_stage(
    plan: StagePlan,
    hooks: StageHooks,
    manager: CheckpointManager,
    on_event: ProgressCallback,
    cancel: CancelToken,
    resume_from: Checkpoint | None = None,
    meta: dict[str, Any] | None = None,
) -> StageOutcome:
    """Run (or continue) one stage to ``plan.max_steps`` or an early stop. See the module docstring."""
    meta = dict(meta or {})
    out = StageOutcome(steps=0, stop_reason="")
    best_val = math.inf
    bad_evals = 0
    best_snapshot: Any = None
    start_step = 0
    stop_reason = "finished"
    if resume_from is not None and resume_from.stage == plan.stage:
        hooks.load(resume_from)
        state = resume_from.meta.get("loop", {})
        start_step = resume_from.step
        out.history = list(state.get("history", []))
        out.evals = list(state.get("evals", []))
        out.previews = list(state.get("previews", []))
        out.warnings = list(state.get("warnings", []))
        best_val = float(state["best_val"]) if state.get("best_val") is not None else math.inf
        bad_evals = int(state.get("bad_evals", 0))
        if resume_from.module_state("best"):
            best_snapshot = {k: v.clone() for k, v in resume_from.module_state("best").items()}
        out.resumed_from = start_step
        if state.get("finished"):
            out.steps = start_step
            out.stop_reason = str(state.get("stop_reason", "finished"))
            out.best_val = best_val if math.isfinite(best_val) else None
            return out
        on_event(ProgressEvent(plan.job, "info", step=start_step, total=plan.max_steps,
                               message=f"resuming {plan.stage} training from step {start_step}"))

    def checkpoint(step: int, finished: bool = False) -> None:
        ckpt = Checkpoint(step=step, stage=plan.stage, meta=dict(meta))
        hooks.save(ckpt)
        if best_snapshot is not None:
            for k, v in best_snapshot.items():
                ckpt.tensors[f"model.best.{k}"] = v.detach().cpu().contiguous()
        ckpt.meta["loop"] = {"history": out.history, "evals": out.evals, "previews": out.previews,
                             "warnings": out.warnings, "bad_evals": bad_evals, "finished": finished,
                             "stop_reason": stop_reason,
                             "best_val": best_val if math.isfinite(best_val) else None}
        path = manager.save(ckpt, metric=best_val if math.isfinite(best_val) else None)
        on_event(ProgressEvent(plan.job, "checkpoint", step=step, total=plan.max_steps,
                               message=f"checkpoint saved at step {step}", data={"path": str(path)}))

    on_event(ProgressEvent(plan.job, "start", step=start_step, total=plan.max_steps,
                           message=f"training the {plan.stage} for up to {plan.max_steps} steps"))
    t0 = time.monotonic()
    step = start_step
    stop_reason = "finished"
    with sigint_to_cancel(cancel):
        while step < plan.max_steps:
            if cancel.cancelled:
                checkpoint(step)
                raise Cancelled(f"{plan.stage} training was cancelled at step {step}; a checkpoint was saved",
                                hint="run again with --resume to continue")
            if plan.budget_seconds is not None and time.monotonic() - t0 > plan.budget_seconds:
                stop_reason = "time budget reached"
                break
            step += 1
            try:
                metrics = hooks.train_step(step)
            except KeyboardInterrupt:
                # interrupted mid-step: the weights may be half-updated, so keep the last saved checkpoint
                raise Cancelled(f"{plan.stage} training was interrupted at step {step}; the last checkpoint "
                                "was kept", hint="run again with --resume to continue") from None
            metrics["lr"] = hooks.current_lr()
            out.history.append({"step": float(step), **{k: float(v) for k, v in metrics.items()}})
            if not math.isfinite(metrics.get("loss", 0.0)):
                on_event(ProgressEvent(plan.job, "warning", step=step, message="the loss is not finite"))
            elapsed = time.monotonic() - t0
            rate = (step - start_step) / max(elapsed, 1e-9)
            eta = (plan.max_steps - step) / rate if rate > 0 else float("nan")
            if step % plan.log_every == 0 or step == plan.max_steps or step == start_step + 1:
                last_val = {"val_loss": out.evals[-1]["val_loss"]} if out.evals and "val_loss" in out.evals[-1] else {}
                on_event(ProgressEvent(plan.job, "progress", step=step, total=plan.max_steps,
                                       message=f"{plan.stage} step {step}/{plan.max_steps}",
                                       metrics={**metrics, **last_val, "eta_seconds": eta,
                                                "steps_per_second": rate}))
            stop = False
            if step % plan.eval_every == 0 or step == plan.max_steps:
                with torch.random.fork_rng(devices=[]):
                    val = hooks.evaluate()
                recent = [h.get("recon", h["loss"]) for h in out.history[-plan.eval_every:]]
                train_loss = sum(recent) / max(1, len(recent))
                entry = {"step": float(step), "train_loss": train_loss}
                if val is not None:
                    entry.update({k: float(v) for k, v in val.items()})
                out.evals.append(entry)
                health = hooks.health()
                on_event(ProgressEvent(plan.job, "metrics", step=step, total=plan.max_steps,
                                       message=f"{plan.stage} evaluation at step {step}",
                                       metrics={k: v for k, v in entry.items() if k != "step"},
                                       data={"codebook_health": health} if health else {}))
                warnings = list(hooks.after_eval(step, entry))
                if val is not None and "val_loss" in entry:
                    if _overfitting(out.evals, out.history):
                        warnings.append("overfitting: validation loss has risen for 3 evaluations while the "
                                        "training loss fell; the best weights will be kept")
                    if entry["val_loss"] < best_val * (1 - 1e-4):
                        best_val = entry["val_loss"]
                        bad_evals = 0
                        best_snapshot = hooks.snapshot_best()
                    else:
                        bad_evals += 1
                        if bad_evals >= plan.patience:
                            stop = True
                            stop_reason = (f"early stop: no better validation loss for {bad_evals} evaluations")
                for w in warnings:
                    if w.startswith("stop:"):
                        stop = True
                        stop_reason = w[5:].strip()
                        w = stop_reason
                    out.warnings.append(w)
                    on_event(ProgressEvent(plan.job, "warning", step=step, total=plan.max_steps, message=w))
            if plan.preview_every and step % plan.preview_every == 0:
                with torch.random.fork_rng(devices=[]):
                    path = hooks.preview(step)
                if path:
                    out.previews.append(path)
                    on_event(ProgressEvent(plan.job, "preview", step=step, total=plan.max_steps,
                                           message=f"preview at step {step}", data={"path": path}))
            if step % plan.checkpoint_every == 0 and step < plan.max_steps:
                checkpoint(step)
            if stop:
                break
    if best_snapshot is not None:
        hooks.restore_best(best_snapshot)
    out.steps = step
    out.stop_reason = stop_reason
    out.best_val = best_val if math.isfinite(best_val) else None
    checkpoint(step, finished=True)
    on_event(ProgressEvent(plan.job, "done", step=step, total=plan.max_steps,
                           message=f"{plan.stage} training done after {step} steps ({stop_reason})",
                           metrics={"best_val_loss": best_val} if math.isfinite(best_val) else {}))
    return out
