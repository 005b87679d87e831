"""What one running app shares between its browser tabs: the sda home, the job runners and warm models.

Training and generation each have one :class:`~sda_gradio.jobs.JobRunner` for the whole app, so two browser
tabs see the same job (and cannot start a second one that would write the same files). Models opened for
generation stay loaded in :meth:`AppState.session` until their file changes; :meth:`AppState.using` lends one
to one caller at a time.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sda_engine import SdaHome
from sda_gradio.jobs import JobRunner

log = logging.getLogger(__name__)

MAX_WARM_MODELS = 4


class AppState:
    """The app's shared state (thread-safe where the page's handlers run concurrently)."""

    def __init__(self, home: SdaHome | str | Path | None = None, device: str = "auto") -> None:
        self.home = home if isinstance(home, SdaHome) else SdaHome(home)
        self.device = device
        # the GUI's one read of SDA_BIGVGAN_WEIGHTS (as the CLI's sda_cli.environment): passed down as an argument
        weights = os.environ.get("SDA_BIGVGAN_WEIGHTS", "").strip()
        self.bigvgan_weights: Path | None = Path(weights).expanduser() if weights else None
        self.train = JobRunner("train")
        self.generate = JobRunner("generate")
        self._sessions: dict[str, tuple[tuple[str, int], Any]] = {}
        self._lock = threading.Lock()
        self._model_locks: dict[str, threading.RLock] = {}
        self.opened = 0  # how many times a model file was loaded (tests check sessions stay warm)

    def session(self, model: str) -> Any:
        """A warm :class:`~sda_engine.ModelSession` for library model ``model`` (reopened only when its
        file changed; the oldest is dropped beyond :data:`MAX_WARM_MODELS`)."""
        from sda_engine import ModelSession, resolve_model

        path, _ = resolve_model(model, self.home)
        key = (str(path.resolve()), path.stat().st_mtime_ns)
        with self._lock:
            cached = self._sessions.get(model)
            if cached is not None and cached[0] == key:
                return cached[1]
        session = ModelSession.open(model, self.device, self.home, bigvgan_weights=self.bigvgan_weights)
        with self._lock:
            self.opened += 1
            self._sessions.pop(model, None)
            self._sessions[model] = (key, session)
            while len(self._sessions) > MAX_WARM_MODELS:
                self._sessions.pop(next(iter(self._sessions)))
        return session

    @contextmanager
    def using(self, model: str) -> Iterator[Any]:
        """The warm session of ``model``, held for this caller alone (a session is not thread-safe, and the
        generate worker and the Codes tab's handlers may want the same model at once)."""
        with self._lock:
            lock = self._model_locks.setdefault(model, threading.RLock())
        with lock:
            yield self.session(model)

    def forget(self, model: str) -> None:
        """Drop a warm model (after it was renamed or deleted)."""
        with self._lock:
            self._sessions.pop(model, None)

    def model_names(self) -> list[str]:
        from sda_engine import ModelLibrary

        return [r.name for r in ModelLibrary(self.home).list_models()]

    def dataset_names(self) -> list[str]:
        folder = self.home.datasets_dir
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
