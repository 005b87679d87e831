"""Rich rendering of sda's progress events (the CLI adapter of :mod:`sda_audio.progress`)."""

from __future__ import annotations

import json
import sys
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from sda_audio.progress import ProgressEvent

SHOWN_METRICS = ("loss", "train_loss", "val_loss", "mel_l1", "perplexity", "attr", "lr")


def _format_metrics(metrics: dict[str, float]) -> str:
    parts = []
    for key in SHOWN_METRICS:
        if key in metrics and metrics[key] is not None:
            parts.append(f"{key}={metrics[key]:.4g}")
    return " ".join(parts)


class JsonEventPrinter:
    """``--json-events``: one JSON object per event on stdout, for scripts."""

    def __enter__(self) -> JsonEventPrinter:
        return self

    def __exit__(self, *exc: object) -> None:
        sys.stdout.flush()

    def __call__(self, event: ProgressEvent) -> None:
        sys.stdout.write(json.dumps(event.to_json(), default=str) + "\n")
        sys.stdout.flush()


class RichEventView:
    """Progress bars per job (a run-level job such as ``train`` counts stages; each sub-job such as
    ``train.autoencoder`` counts its own steps), with warnings and previews printed above them.

    A bar takes its ``total`` only from events that carry one and never sets it below the steps shown,
    so an event without a total (``info``, a ``done`` of a job that does not know one) cannot turn a
    300-step bar into ``1/1``.
    """

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or _stderr_console()
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[metrics]}"),
            console=self.console,
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RichEventView:
        self.progress.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.progress.stop()

    def _task(self, event: ProgressEvent) -> TaskID:
        if event.job not in self.tasks:
            self.tasks[event.job] = self.progress.add_task(event.job, total=event.total, metrics="")
        return self.tasks[event.job]

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind in ("start", "progress", "metrics", "checkpoint", "done"):
            task = self._task(event)
            known = self.progress.tasks[self.tasks[event.job]].total
            update: dict[str, Any] = {"completed": event.step}
            if event.total is not None:
                update["total"] = max(event.total, event.step)
            elif event.kind == "done":
                # a job that never knew its length ends full; one that did keeps its own total
                total = max(event.step, 1) if known is None else max(known, event.step)
                update.update(total=total, completed=total if known is None else event.step)
            if event.metrics:
                update["metrics"] = _format_metrics(event.metrics)
            self.progress.update(task, **update)
        if event.kind == "warning":
            self.console.print(f"[yellow]warning[/] ({event.job}): {event.message}")
        elif event.kind == "preview":
            self.console.print(f"[cyan]preview[/] step {event.step}: {event.data.get('path', '')}")
        elif event.kind in ("info", "done") and event.message:
            # a multi-line message is a small table (e.g. the controls' fit): let the terminal wrap it, not Rich
            self.console.print(f"[dim]{event.job}:[/] {event.message}", soft_wrap="\n" in event.message)
        elif event.kind == "checkpoint" and event.message:
            self.console.print(f"[dim]{event.job}: {event.message}[/]")


def _stderr_console() -> Console:
    """Rich on a terminal; off one (a log file, a pipe) lines are never wrapped or cut at 80 columns."""
    console = Console(stderr=True)
    if console.is_terminal:
        return console
    return Console(stderr=True, width=OFF_TERMINAL_WIDTH, soft_wrap=True)


OFF_TERMINAL_WIDTH = 200
"""The progress view's width when stderr is not a terminal: the bars' final state and metrics fit whole."""


def event_view(json_events: bool) -> JsonEventPrinter | RichEventView:
    """The event sink a long-running command uses."""
    return JsonEventPrinter() if json_events else RichEventView()
