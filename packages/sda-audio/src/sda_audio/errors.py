"""The one error type sda shows to a person.

Every message names the file or thing at fault and says what to do next; the CLI prints
``str(error)`` on one line and exits non-zero, never a traceback.
"""

from __future__ import annotations

from pathlib import Path


class SdaError(Exception):
    """An error a user can act on: what went wrong, where, and what to do."""

    def __init__(self, message: str, *, path: str | Path | None = None, hint: str | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.hint = hint
        text = f"{self.path}: {message}" if self.path is not None else message
        if hint:
            text = f"{text} ({hint})"
        super().__init__(text)


class AudioReadError(SdaError):
    """A file could not be decoded as audio."""


class Cancelled(SdaError):
    """A long job was cancelled by the user; whatever could be saved was saved."""
