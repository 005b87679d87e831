"""Per-model locks: one job at a time may train a model or write its name into the library.

A lock is an OS file lock (``fcntl.flock``, non-blocking; ``msvcrt.locking`` on Windows) on
``<home>/locks/<name>.lock``. The operating system drops it when the holder exits or crashes, so a lock is
never left behind; the file itself stays and names the last holder's pid and job, which a loser reads to say
who holds it. Locks are per open file, so two threads of one process exclude each other too.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from sda_audio.errors import SdaError
from sda_engine.store.home import SdaHome, validate_name

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt
else:
    import fcntl

log = logging.getLogger(__name__)

LOCKS_FOLDER = "locks"
HOLDER_WIDTH = 120
HOLDER_WAIT = 0.5
"""Seconds a loser waits for a holder that has just locked to write its pid (it locks, then writes)."""


def lock_path(home: SdaHome, name: str) -> Path:
    """``<home>/locks/<name>.lock`` (the folder is created on first use)."""
    return home.root / LOCKS_FOLDER / f"{validate_name(name)}.lock"


def _try_lock(handle: IO[str]) -> bool:
    try:
        if sys.platform == "win32":  # pragma: no cover
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _unlock(handle: IO[str]) -> None:
    if sys.platform == "win32":  # pragma: no cover
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
    else:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _read_holder(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _holder(path: Path) -> dict[str, Any]:
    """The holder's record; a lock file created a moment ago is still empty, so wait up to
    :data:`HOLDER_WAIT` for its pid."""
    deadline = time.monotonic() + HOLDER_WAIT
    while not (holder := _read_holder(path)).get("pid") and time.monotonic() < deadline:
        time.sleep(0.01)
    return holder


@contextlib.contextmanager
def _held(path: Path, job: str, subject: str, busy_hint: str, create_hint: str) -> Iterator[Path]:
    """Hold the OS lock on ``path`` (created if missing) for the ``with`` block, writing the holder (pid, job)
    into it; a loser gets an :class:`SdaError` naming ``subject``, what the holder does to it and its pid."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o644), "r+", encoding="utf-8")
    except OSError as exc:
        raise SdaError(f"cannot create the lock file of {subject} ({exc.strerror or exc})", path=path,
                       hint=create_hint) from exc
    try:
        if not _try_lock(handle):
            holder = _holder(path)
            raise SdaError(f"{subject} is being {holder.get('job', job)} by another job "
                           f"(pid {holder.get('pid', 'unknown')})", path=path, hint=busy_hint)
        # one write of a fixed width, so a loser reading at the same moment sees the old or the new holder
        handle.seek(0)
        handle.write(json.dumps({"pid": os.getpid(), "job": job}).ljust(HOLDER_WIDTH) + "\n")
        handle.flush()
        log.debug("locked %s (%s)", subject, path)
        try:
            yield path
        finally:
            _unlock(handle)
    finally:
        handle.close()


def folder_lock(folder: Path, what: str, job: str) -> contextlib.AbstractContextManager[Path]:
    """Hold a lock on ``folder`` (its hidden ``.sda.lock`` file) for the ``with`` block, e.g. while a corpus is
    rendered into it. Raises :class:`SdaError` naming the holder's pid when another job holds it."""
    return _held(Path(folder) / ".sda.lock", job, what,
                 busy_hint="wait for that job to finish (or stop it), or use another folder",
                 create_hint="check that the folder is writable")


def model_lock(home: SdaHome, name: str, job: str = "trained") -> contextlib.AbstractContextManager[Path]:
    """Hold the lock of model ``name`` for the ``with`` block; yield the lock file's path.

    Args:
        home: the sda home (its ``locks/`` folder holds the lock files).
        name: the model's library name.
        job: what the holder does to the model, in the words of the loser's message ("model 'x' is being
            <job> by another job").

    Raises:
        SdaError: another job (thread or process) holds the lock; the message names its pid.
    """
    return _held(lock_path(home, name), job, f"model '{name}'",
                 busy_hint="wait for that job to finish (or stop it), or use another model name",
                 create_hint="check that the sda home folder is writable")
