"""The one error type sda shows to a person.

Every message names the file or thing at fault and says what to do next; the CLI prints
``str(error)`` on one line and exits non-zero, never a traceback.
"""

from __future__ import annotations

from pathlib import Path

ACTIONS = ("resume", "restart", "overwrite", "grow", "retrain", "fit_controls", "train_vocoder", "get_bigvgan")
"""Remedies a front end can offer as its own control (a CLI flag, a GUI button): ``resume`` (continue from
the last checkpoint), ``restart`` (train from scratch), ``overwrite`` (replace what is there), ``grow`` (add
files to an existing model), ``retrain`` (train the model again), ``fit_controls`` (fit the musical controls of a
model), ``train_vocoder`` (train the model's own HiFi-GAN vocoder), ``get_bigvgan`` (download the BigVGAN weights
once, or point sda at a local copy)."""


class SdaError(Exception):
    """An error a user can act on: what went wrong, where, and what to do.

    ``hint`` is plain words that name no front end's controls; ``action`` (one of :data:`ACTIONS`) says
    which remedy applies, so the CLI can name its flag and the GUI its button.
    """

    def __init__(self, message: str, *, path: str | Path | None = None, hint: str | None = None,
                 action: str | None = None) -> None:
        if action is not None and action not in ACTIONS:
            raise ValueError(f"unknown SdaError action {action!r}; use one of {ACTIONS}")
        self.path = Path(path) if path is not None else None
        self.hint = hint
        self.action = action
        self.message = message
        text = f"{self.path}: {message}" if self.path is not None else message
        if hint:
            text = f"{text} ({hint})"
        super().__init__(text)


class AudioReadError(SdaError):
    """A file could not be decoded as audio."""


class Cancelled(SdaError):
    """A long job was cancelled by the user; whatever could be saved was saved."""
