"""Long jobs off the page's thread: a :class:`JobRunner` runs one engine call at a time in a worker thread,
feeds it a :class:`~sda_audio.progress.CancelToken` and collects its :class:`~sda_audio.progress.ProgressEvent`
stream into a :class:`JobState` the page reads (by polling) without ever waiting on the job.

No Gradio here: the handlers and the tests use it directly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sda_audio.errors import Cancelled, SdaError
from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent
from sda_gradio.messages import error_text

log = logging.getLogger(__name__)

MAX_LOG_LINES = 200
MAX_CURVE_POINTS = 4000


@dataclass
class StageProgress:
    """The newest step/total/ETA of one sub-job (``train.autoencoder``, ``generate.vocode``, ...)."""

    job: str
    step: int = 0
    total: int | None = None
    eta_seconds: float | None = None
    message: str = ""
    done: bool = False


@dataclass
class JobState:
    """What the page shows about one job. Mutated only by the runner under its lock; readers get a copy
    from :meth:`JobRunner.snapshot`.

    Attributes:
        status: ``idle``, ``running``, ``done``, ``cancelled`` or ``failed``.
        curve: loss points ``{"stage", "step", "series" ("train"/"validation"), "loss"}``.
        health: the newest codebook health rows (RVQ training).
        previews: preview audio files, oldest first.
        log: readable lines (start, info, warning, checkpoint, done), newest last.
        error: the readable message when the job failed or was cancelled.
        result: what the job's function returned.
        version: bumped on every change (the page redraws only when it moved).
    """

    title: str = ""
    status: str = "idle"
    started: float = 0.0
    finished: float | None = None
    stages: dict[str, StageProgress] = field(default_factory=dict)
    curve: list[dict[str, Any]] = field(default_factory=list)
    health: list[dict[str, Any]] = field(default_factory=list)
    previews: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    error: str = ""
    action: str | None = None
    result: Any = None
    version: int = 0

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def elapsed(self) -> float:
        if not self.started:
            return 0.0
        return (self.finished or time.time()) - self.started

    def copy(self) -> JobState:
        return JobState(title=self.title, status=self.status, started=self.started, finished=self.finished,
                        stages={k: StageProgress(**vars(v)) for k, v in self.stages.items()},
                        curve=list(self.curve), health=[dict(h) for h in self.health], previews=list(self.previews),
                        log=list(self.log), verdicts=list(self.verdicts), error=self.error, action=self.action,
                        result=self.result, version=self.version)


def _stage_name(job: str) -> str:
    return job.split(".", 1)[1] if "." in job else job


class JobRunner:
    """Runs at most one job at a time in a daemon thread.

    ``start(title, fn)`` calls ``fn(on_event, cancel)`` in the worker; ``cancel()`` sets the token (the
    engine stops at its next safe point, saving a checkpoint when training); ``snapshot()`` is what the
    page draws. A second ``start`` while a job runs is refused with a readable :class:`SdaError`.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._state = JobState()
        self._token = CancelToken()
        self._thread: threading.Thread | None = None

    # -- control ---------------------------------------------------------------------------------
    def start(self, title: str, fn: Callable[[ProgressCallback, CancelToken], Any],
              curve: list[dict[str, Any]] | None = None) -> None:
        """Run ``fn`` in the worker; ``curve``: loss points the job continues (a resumed training's stored
        curve), drawn before its first new point."""
        with self._lock:
            if self._state.running:
                raise SdaError(f"{self._state.title} is still running",
                               hint="wait for it to finish or cancel it first")
            self._token = CancelToken()
            self._state = JobState(title=title, status="running", started=time.time(),
                                   curve=[dict(p) for p in (curve or [])][-MAX_CURVE_POINTS:],
                                   version=self._state.version + 1)
            token = self._token
            self._thread = threading.Thread(target=self._run, args=(fn, token), name=f"sda-{self.name}",
                                            daemon=True)
            self._thread.start()

    def cancel(self) -> bool:
        """Ask the running job to stop; ``False`` when nothing is running."""
        with self._lock:
            if not self._state.running:
                return False
            self._token.cancel()
            self._add_log("cancelling: the job stops at its next safe point")
            return True

    def wait(self, timeout: float | None = None) -> JobState:
        """Block until the job has finished (for tests and scripts); returns the final snapshot."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.snapshot()

    def snapshot(self) -> JobState:
        with self._lock:
            return self._state.copy()

    @property
    def version(self) -> int:
        with self._lock:
            return self._state.version

    # -- worker ----------------------------------------------------------------------------------
    def _run(self, fn: Callable[[ProgressCallback, CancelToken], Any], token: CancelToken) -> None:
        try:
            result = fn(self.on_event, token)
        except Cancelled as exc:
            self._finish("cancelled", error=error_text(exc), action=exc.action)
        except SdaError as exc:
            self._finish("failed", error=error_text(exc), action=exc.action)
        except Exception as exc:  # a bug: keep the page alive and readable, the traceback goes to the log
            log.exception("%s failed", self.name)
            self._finish("failed", error=error_text(exc))
        else:
            self._finish("done", result=result)

    def _finish(self, status: str, error: str = "", action: str | None = None, result: Any = None) -> None:
        with self._lock:
            state = self._state
            state.status, state.error, state.action, state.result = status, error, action, result
            state.finished = time.time()
            if error:
                self._add_log(error)
            state.version += 1

    def _add_log(self, line: str) -> None:
        log_lines = self._state.log
        if not log_lines or log_lines[-1] != line:
            log_lines.append(line)
            del log_lines[:-MAX_LOG_LINES]
        self._state.version += 1

    def on_event(self, event: ProgressEvent) -> None:
        """The engine's callback (called from the worker thread)."""
        with self._lock:
            state = self._state
            stage = state.stages.setdefault(event.job, StageProgress(event.job))
            if event.kind in ("start", "progress", "metrics", "done", "checkpoint", "preview"):
                stage.step = event.step
                if event.total is not None:
                    stage.total = event.total
            if "eta_seconds" in event.metrics:
                stage.eta_seconds = float(event.metrics["eta_seconds"])
            if event.message and event.kind in ("start", "progress", "done"):
                stage.message = event.message
            stage.done = event.kind == "done"
            name = _stage_name(event.job)
            if event.kind == "progress" and "loss" in event.metrics and event.job != "train":
                self._point(name, event.step, "train", event.metrics["loss"])
            if event.kind == "metrics" and "val_loss" in event.metrics:
                self._point(name, event.step, "validation", event.metrics["val_loss"])
            health = event.data.get("codebook_health") if event.data else None
            if health:
                state.health = [dict(h) for h in health]
            if event.kind == "preview" and event.data.get("path"):
                state.previews.append(str(event.data["path"]))
            if event.kind in ("start", "info", "warning", "checkpoint", "done") and event.message:
                prefix = "warning: " if event.kind == "warning" else ""
                self._add_log(f"[{name}] {prefix}{event.message}")
                if event.job == "train.vocoder" and "Griffin-Lim floor" in event.message and "beat" in event.message:
                    state.verdicts.append(event.message)
            state.version += 1

    def _point(self, stage: str, step: int, series: str, loss: float) -> None:
        loss = float(loss)
        if loss != loss or loss in (float("inf"), float("-inf")):
            return
        self._state.curve.append({"stage": stage, "step": int(step), "series": series, "loss": loss})
        del self._state.curve[:-MAX_CURVE_POINTS]
