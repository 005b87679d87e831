"""One progress/event interface for every long job (import, training, vocoder training, generation).

Library code emits :class:`ProgressEvent` objects to a plain callback and checks a
:class:`CancelToken`. The CLI turns events into Rich progress bars (or JSON lines with
``--json-events``); the Gradio app will turn the same events into its own progress display.
Library packages never import Rich or Gradio.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from sda_audio.errors import Cancelled

EventKind = Literal["start", "progress", "metrics", "warning", "preview", "checkpoint", "info", "done"]


@dataclass(frozen=True)
class ProgressEvent:
    """Something a long job wants a person (or a script) to know.

    Attributes:
        job: which job and stage, e.g. ``"train.autoencoder"``, ``"train.prior"``, ``"generate"``.
        kind: what happened (see :data:`EventKind`).
        step: steps done so far in this stage.
        total: steps this stage will take, when known.
        message: a short human-readable line.
        metrics: numbers (losses, learning rate, perplexity, eta_seconds, ...).
        data: anything else JSON-serialisable (codebook health per level, a preview's path, ...).
    """

    job: str
    kind: EventKind
    step: int = 0
    total: int | None = None
    message: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (non-finite floats become ``None``)."""
        out = asdict(self)
        out["metrics"] = {k: (float(v) if math.isfinite(float(v)) else None) for k, v in self.metrics.items()}
        return out


ProgressCallback = Callable[[ProgressEvent], None]


def ignore_events(_event: ProgressEvent) -> None:
    """The default callback: drop events."""


class CancelToken:
    """A thread-safe flag a GUI button, a signal handler or a test sets to stop a long job.

    Jobs call :meth:`raise_if_cancelled` at safe points (between steps), save what they have,
    and let :class:`~sda_audio.errors.Cancelled` propagate.
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self, what: str = "the job") -> None:
        if self._event.is_set():
            raise Cancelled(f"{what} was cancelled")
