"""The one training loop of every stage: steps, events, evaluation, early stopping, checkpoints, cancel.

A stage (autoencoder, prior, vocoder) is a :class:`~sda_engine.train.stage.Stage`; :func:`run_stage` owns the
loop, so cancel -> checkpoint, Ctrl-C, ETA and time budgets live here and nowhere else:

- emits, under the plan's job (``train.<stage>``), ``start``, ``progress`` (every ``log_every`` steps: the
  step's losses with ``loss``, the last ``val_loss``, ``lr``, ``eta_seconds``, ``steps_per_second``,
  ``elapsed_minutes``), ``metrics`` (each evaluation: ``loss``, ``train_loss``, ``val_loss``, codebook health
  per level), ``warning`` (overfitting: validation rising while training falls; stages may add their own),
  ``preview``, ``checkpoint`` and ``done`` events. ``step``/``total`` always count optimisation steps; with a
  time budget and no step limit, ``total`` is the number of steps the budget allows at the current rate
  (``data["total_estimated"]``);
- stops early after ``patience`` evaluations without a better validation loss, when the stage's
  training-time budget is spent (counted across resumes: the time spent is stored in every checkpoint as
  ``elapsed_seconds``) or when the job's deadline has come (a whole-job budget; a stage always takes its
  first step), restoring the best weights;
- saves a checkpoint every ``checkpoint_every`` steps and when cancelled (cancel token or Ctrl-C), then
  raises :class:`~sda_audio.errors.Cancelled`;
- resumes exactly from a checkpoint: the stage restores weights, optimizer, scheduler and RNG states, and the
  loop restores its own bookkeeping (history, best metric, patience counter, time spent).

In a DDP run (:mod:`sda_engine.train.distributed`) every rank runs this loop in step: rank 0 alone evaluates,
previews, writes checkpoints and emits events, and it decides, broadcast before and after each step, whether to
stop (cancel, time budget, early stop) and whether to checkpoint, and how much of the stage's time is spent (the
learning-rate schedule), so every rank stops at the same step with the same weights.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from sda_audio.errors import Cancelled, SdaError
from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent
from sda_engine.train import distributed
from sda_engine.train.checkpoints import Checkpoint, CheckpointManager
from sda_engine.train.stage import Stage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StagePlan:
    """How long a stage runs and how often it reports.

    Attributes:
        stage: the checkpoint stage name (``autoencoder``, ``prior``, ``vocoder``); job: its event job
            (``train.<stage>``).
        max_steps: optimisation steps in total (``None``: the time budget alone decides).
        log_every / eval_every / checkpoint_every / preview_every: intervals in steps (``0``: never
            evaluate / preview).
        patience: evaluations without a better validation loss before an early stop.
        budget_seconds: training time for the stage, counted across resumes (``None``: no limit).
        deadline: when the stage must stop, as a ``time.monotonic()`` value (the whole job's budget; ``None``:
            none); a stage always takes its first step.
        continue_finished: resuming a finished stage trains on when the plan allows more steps or time
            (the vocoder: "train it for longer"); otherwise a finished stage is returned as it was.
        title: what the ``start`` event says is being trained.
    """

    stage: str
    job: str
    max_steps: int | None
    log_every: int = 10
    eval_every: int = 50
    checkpoint_every: int = 100
    preview_every: int = 0
    patience: int = 5
    budget_seconds: float | None = None
    continue_finished: bool = False
    title: str = ""
    deadline: float | None = None
    min_delta: float = 1e-4
    """Relative improvement of the validation loss that counts as better (the convergence margin)."""
    eval_seconds: float | None = None
    """Evaluate by time instead of by steps: at the first step after this many seconds since the last
    evaluation (a budget-driven stage, whose step rate is not known in advance)."""
    checkpoint_seconds: float | None = None
    """Checkpoint by time instead of by steps (with ``eval_seconds``)."""
    anneal_share: float = 0.0
    """With a time budget: when validation stops improving (``patience``), do not stop at once at a high learning
    rate but anneal it (the rest of the decay) over this share of the stage's time, then stop as converged."""

    def seconds_left(self, spent: float) -> float | None:
        """Training time left by the stage's budget and the job's deadline, whichever ends first (``None``:
        no time limit)."""
        left = []
        if self.budget_seconds is not None:
            left.append(max(0.0, self.budget_seconds - spent))
        if self.deadline is not None:
            left.append(max(0.0, self.deadline - time.monotonic()))
        return min(left) if left else None


@dataclass
class StageOutcome:
    """What happened in a stage (``seconds``: training time spent, across resumes)."""

    steps: int
    stop_reason: str
    history: list[dict[str, float]] = field(default_factory=list)
    evals: list[dict[str, float]] = field(default_factory=list)
    best_val: float | None = None
    previews: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    resumed_from: int | None = None
    seconds: float = 0.0

    @property
    def minutes(self) -> float:
        return self.seconds / 60.0


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


def _loop_state(meta: dict[str, Any]) -> dict[str, Any]:
    """The loop's bookkeeping in a checkpoint (vocoder checkpoints of the two-loop era kept it at the top)."""
    if "loop" in meta:
        return dict(meta["loop"])
    return {"history": meta.get("history", []), "finished": meta.get("finished", False)}


def _eta(plan: StagePlan, step: int, rate: float, spent: float) -> float:
    """Seconds left: by the steps still to run and/or the time still allowed, whichever ends first."""
    left = []
    if plan.max_steps is not None:
        left.append((plan.max_steps - step) / rate if rate > 0 else math.inf)
    time_left = plan.seconds_left(spent)
    if time_left is not None:
        left.append(time_left)
    return min(left) if left else math.nan


def _total(plan: StagePlan, step: int, rate: float, spent: float) -> tuple[int | None, dict[str, Any]]:
    """The ``total`` of an event: ``max_steps``, or with a time budget alone the steps it will allow at the
    current rate (``data["total_estimated"]``)."""
    if plan.max_steps is not None:
        return plan.max_steps, {}
    time_left = plan.seconds_left(spent)
    if time_left is None or rate <= 0:
        return None, {}
    return step + int(time_left * rate), {"total_estimated": True}


def run_stage(
    plan: StagePlan,
    stage: Stage,
    manager: CheckpointManager,
    on_event: ProgressCallback,
    cancel: CancelToken,
    resume_from: Checkpoint | None = None,
    meta: dict[str, Any] | None = None,
) -> StageOutcome:
    """Run (or continue) one stage to ``plan.max_steps``, its time budget or an early stop.

    See the module docstring. Raises :class:`~sda_audio.errors.Cancelled` (action ``resume``) when the
    cancel token is set or Ctrl-C is pressed, after saving a checkpoint.
    """
    if plan.max_steps is None and plan.budget_seconds is None and plan.deadline is None:
        raise SdaError(f"the {plan.stage} training has no limit", hint="give a number of minutes or of steps")
    meta = dict(meta or {})
    main = distributed.is_main() or not distributed.active()
    out = StageOutcome(steps=0, stop_reason="")
    best_val = math.inf
    bad_evals = 0
    anneal: dict[str, float] | None = None
    best_snapshot: Any = None
    start_step = 0
    spent = 0.0
    if resume_from is not None and resume_from.stage == plan.stage:
        stage.load(resume_from)
        state = _loop_state(resume_from.meta)
        start_step = resume_from.step
        spent = float(resume_from.meta.get("elapsed_seconds", 0.0))
        out.history = list(state.get("history", []))
        out.evals = list(state.get("evals", []))
        out.previews = list(state.get("previews", []))
        out.warnings = list(state.get("warnings", []))
        best_val = float(state["best_val"]) if state.get("best_val") is not None else math.inf
        bad_evals = int(state.get("bad_evals", 0))
        anneal = dict(state["anneal"]) if state.get("anneal") else None
        if resume_from.module_state("best"):
            best_snapshot = {k: v.clone() for k, v in resume_from.module_state("best").items()}
        out.resumed_from = start_step
        if state.get("finished") and not plan.continue_finished:
            out.steps = start_step
            out.stop_reason = str(state.get("stop_reason", "finished"))
            out.best_val = best_val if math.isfinite(best_val) else None
            out.seconds = spent
            return out
        on_event(ProgressEvent(plan.job, "info", step=start_step, total=plan.max_steps, message=(
            f"resuming {plan.stage} training from step {start_step} ({spent / 60:.1f} min of training spent)")))
    t0 = time.monotonic()

    def elapsed() -> float:
        return spent + time.monotonic() - t0

    def checkpoint(step: int, finished: bool = False) -> None:
        ckpt = Checkpoint(step=step, stage=plan.stage, meta=dict(meta))
        stage.save(ckpt)  # a collective in a DDP run (each rank's RNG states are gathered to rank 0)
        if not main:
            distributed.barrier()
            return
        if best_snapshot is not None:
            for k, v in best_snapshot.items():
                ckpt.tensors[f"model.best.{k}"] = v.detach().cpu().contiguous()
        ckpt.meta["elapsed_seconds"] = elapsed()
        ckpt.meta["loop"] = {"history": out.history, "evals": out.evals, "previews": out.previews,
                             "warnings": out.warnings, "bad_evals": bad_evals, "finished": finished, "anneal": anneal,
                             "stop_reason": stop_reason,
                             "best_val": best_val if math.isfinite(best_val) else None}
        path = manager.save(ckpt, metric=best_val if math.isfinite(best_val) else None)
        total, extra = _total(plan, step, rate, elapsed())
        on_event(ProgressEvent(plan.job, "checkpoint", step=step, total=max(total, step) if total else total,
                               message=f"{plan.stage} checkpoint saved at step {step}",
                               data={"path": str(path), **extra}))
        distributed.barrier()

    limits = [f"up to {plan.max_steps} steps"] if plan.max_steps is not None else []
    if plan.budget_seconds is not None:
        limits.append(f"{plan.budget_seconds / 60:g} min of training time")
    if plan.deadline is not None:
        limits.append(f"the {max(0.0, plan.deadline - time.monotonic()) / 60:.2g} min the job's time budget leaves")
    on_event(ProgressEvent(plan.job, "start", step=start_step, total=plan.max_steps,
                           message=f"training {plan.title or 'the ' + plan.stage} for {' or '.join(limits)}"))
    step = start_step
    rate = 0.0
    stop_reason = "finished"
    last_eval = last_checkpoint = spent
    with sigint_to_cancel(cancel):
        while plan.max_steps is None or step < plan.max_steps:
            # rank 0's decisions (a single process's own): cancel, the time budget, the share of time spent
            out_of_time = ((plan.budget_seconds is not None and elapsed() >= plan.budget_seconds)
                           or (plan.deadline is not None and step > 0 and time.monotonic() >= plan.deadline))
            time_left = plan.seconds_left(elapsed())
            fraction = math.nan if time_left is None else elapsed() / max(elapsed() + time_left, 1e-9)
            annealed = False
            if anneal is not None and time_left is not None:
                done = min(1.0, (elapsed() - anneal["start"]) / max(anneal["seconds"], 1e-9))
                fraction = anneal["from"] + (1.0 - anneal["from"]) * done
                annealed = done >= 1.0
            cancelled, out_of_time, annealed, fraction = distributed.broadcast_values(
                [float(cancel.cancelled), float(out_of_time), float(annealed), fraction])
            if cancelled:
                checkpoint(step)
                raise Cancelled(f"{plan.stage} training was cancelled at step {step}; a checkpoint was saved",
                                hint="resume the training to continue from it", action="resume")
            if out_of_time:
                stop_reason = "time budget reached"
                break
            if annealed:
                stop_reason = ("converged: validation stopped improving and the learning rate was then annealed "
                               f"over {anneal['seconds'] if anneal else 0:.0f} s")
                break
            step += 1
            progress = getattr(stage, "set_progress", None)
            if progress is not None:
                progress(None if math.isnan(fraction) else fraction)
            try:
                metrics = stage.train_step(step)
            except KeyboardInterrupt:
                # interrupted mid-step: the weights may be half-updated, so keep the last saved checkpoint
                raise Cancelled(f"{plan.stage} training was interrupted at step {step}; the last checkpoint "
                                "was kept", hint="resume the training to continue from it",
                                action="resume") from None
            lr = stage.current_lr()
            if lr is not None:
                metrics["lr"] = lr
            out.history.append({"step": float(step), **{k: float(v) for k, v in metrics.items()}})
            if not math.isfinite(metrics.get("loss", 0.0)):
                on_event(ProgressEvent(plan.job, "warning", step=step, message=f"the {plan.stage} loss is not finite"))
            rate = (step - start_step) / max(time.monotonic() - t0, 1e-9)
            if step % plan.log_every == 0 or step == plan.max_steps or step == start_step + 1:
                last_val = {"val_loss": out.evals[-1]["val_loss"]} if out.evals and "val_loss" in out.evals[-1] else {}
                total, extra = _total(plan, step, rate, elapsed())
                on_event(ProgressEvent(plan.job, "progress", step=step, total=total,
                                       message=f"{plan.stage} step {step}" + (f"/{total}" if total else ""),
                                       metrics={**metrics, **last_val, "eta_seconds": _eta(plan, step, rate, elapsed()),
                                                "steps_per_second": rate, "elapsed_minutes": elapsed() / 60.0},
                                       data=extra))
            stop = False
            if plan.eval_seconds is not None:
                due = elapsed() - last_eval >= plan.eval_seconds
            else:
                due = bool(plan.eval_every) and (step % plan.eval_every == 0 or step == plan.max_steps)
            if due and main:
                last_eval = elapsed()
                with torch.random.fork_rng(devices=[]):
                    val = stage.evaluate()
                recent = [h.get("recon", h["loss"]) for h in out.history[-plan.eval_every:]]
                train_loss = sum(recent) / max(1, len(recent))
                entry = {"step": float(step), "train_loss": train_loss}
                if val is not None:
                    entry.update({k: float(v) for k, v in val.items()})
                out.evals.append(entry)
                health = stage.health()
                total, extra = _total(plan, step, rate, elapsed())
                on_event(ProgressEvent(plan.job, "metrics", step=step, total=total,
                                       message=f"{plan.stage} evaluation at step {step}",
                                       metrics={"loss": metrics["loss"],
                                                **{k: v for k, v in entry.items() if k != "step"}},
                                       data={**extra, **({"codebook_health": health} if health else {})}))
                warnings = list(stage.after_eval(step, entry))
                if val is not None and "val_loss" in entry:
                    if _overfitting(out.evals, out.history):
                        warnings.append("overfitting: validation loss has risen for 3 evaluations while the "
                                        "training loss fell; the best weights will be kept")
                    if entry["val_loss"] < best_val * (1 - plan.min_delta):
                        best_val = entry["val_loss"]
                        bad_evals = 0
                        best_snapshot = stage.snapshot_best()
                    else:
                        bad_evals += 1
                        time_left = plan.seconds_left(elapsed())
                        if bad_evals >= plan.patience and anneal is None and plan.anneal_share > 0 \
                                and time_left is not None:
                            total_time = elapsed() + time_left
                            anneal = {"from": elapsed() / max(total_time, 1e-9), "start": elapsed(),
                                      "seconds": min(time_left, plan.anneal_share * total_time)}
                            bad_evals = 0
                            on_event(ProgressEvent(plan.job, "info", step=step, total=total, message=(
                                f"{plan.stage}: validation has not improved for {plan.patience} evaluations: "
                                f"annealing the learning rate over the next {anneal['seconds']:.0f} s, then "
                                "stopping")))
                        elif bad_evals >= plan.patience and anneal is None:
                            stop = True
                            stop_reason = (f"early stop: no better validation loss for {bad_evals} evaluations")
                for w in warnings:
                    if w.startswith("stop:"):
                        stop = True
                        stop_reason = w[5:].strip()
                        w = stop_reason
                    out.warnings.append(w)
                    on_event(ProgressEvent(plan.job, "warning", step=step, total=total, message=w))
            if plan.preview_every and step % plan.preview_every == 0 and main:
                with torch.random.fork_rng(devices=[]):
                    path = stage.preview(step)
                if path:
                    out.previews.append(path)
                    on_event(ProgressEvent(plan.job, "preview", step=step, total=_total(plan, step, rate, elapsed())[0],
                                           message=f"preview at step {step}", data={"path": path}))
            if plan.checkpoint_seconds is not None:
                save_now = elapsed() - last_checkpoint >= plan.checkpoint_seconds
            else:
                save_now = step % plan.checkpoint_every == 0 and step != plan.max_steps
            save_now, stop = (bool(v) for v in distributed.broadcast_values([float(save_now), float(stop)]))
            if save_now:
                last_checkpoint = elapsed()
                checkpoint(step)
            if stop:
                break
    if best_snapshot is not None and main:
        stage.restore_best(best_snapshot)
    broadcast = getattr(stage, "broadcast_modules", None)
    if broadcast is not None and distributed.active():
        broadcast()  # every rank goes on with rank 0's (best) weights
    out.steps = step
    out.stop_reason = stop_reason
    out.best_val = best_val if math.isfinite(best_val) else None
    out.seconds = elapsed()
    checkpoint(step, finished=True)
    last = {k: v for k, v in out.history[-1].items() if k != "step"} if out.history else {}
    best = {"best_val_loss": best_val} if math.isfinite(best_val) else {}
    on_event(ProgressEvent(plan.job, "done", step=step, total=step,
                           message=(f"{plan.stage} training done after {step} steps in {out.minutes:.1f} min "
                                    f"({stop_reason})"),
                           metrics={**last, **best},
                           data={"steps": step, "minutes": out.minutes, "stop_reason": stop_reason}))
    return out
