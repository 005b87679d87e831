"""The one place the app turns an exception into words on the page (never a traceback).

An :class:`~sda_audio.errors.SdaError` already says what went wrong, where and what to do; its ``action``
(a remedy the engine names without any front end's controls) becomes the name of this app's button or box.
Anything else is a bug: the page says so in one line and the traceback goes to the log.
"""

from __future__ import annotations

import logging

from sda_audio.errors import Cancelled, SdaError

log = logging.getLogger(__name__)

GUI_ACTIONS = {
    "resume": "press Resume on the Train tab to continue from the last checkpoint",
    "restart": "press Train to start again from scratch",
    "overwrite": "tick 'Replace an existing one of the same name' and try again",
    "grow": "train again with the new files added to the dataset",
    "retrain": "train the model again on the Train tab",
    "fit_controls": "fit its musical controls ('Fit the musical controls' on the Train tab)",
    "train_vocoder": "choose the 'auto' vocoder, or train the model's own vocoder with the CLI",
    "get_bigvgan": "download the BigVGAN weights with the CLI, or choose the 'auto' vocoder",
}
"""How this app spells each engine remedy (:data:`sda_audio.errors.ACTIONS`)."""


def error_text(exc: BaseException) -> str:
    """One readable line for ``exc``: an SdaError's message, hint and this app's way to act on it."""
    if isinstance(exc, SdaError):
        text = str(exc)
        action = GUI_ACTIONS.get(exc.action or "")
        return f"{text}. To go on: {action}." if action else text
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        return f"{where}{exc.strerror or exc} (check the path, the permissions and the free disk space)"
    log.error("unexpected error in the sda app", exc_info=exc)
    return (f"sda hit an internal error ({type(exc).__name__}: {exc}). Nothing was lost; the details are in "
            "the log of the terminal that started the app.")


def error_markdown(exc: BaseException) -> str:
    """``error_text`` as a Markdown paragraph for a status box."""
    prefix = "Cancelled" if isinstance(exc, Cancelled) else "Error"
    return f"**{prefix}:** {_escape(error_text(exc))}"


def _escape(text: str) -> str:
    for ch in ("\\", "*", "_", "`", "<", ">", "[", "]"):
        text = text.replace(ch, "\\" + ch)
    return text
