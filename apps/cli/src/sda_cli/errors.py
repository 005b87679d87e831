"""Turning library errors into one clear line and a non-zero exit code, never a traceback."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from sda_audio.atomic import disk_full_error, is_disk_full
from sda_audio.errors import Cancelled, SdaError

F = TypeVar("F", bound=Callable[..., Any])

err_console = Console(stderr=True, highlight=False, soft_wrap=True)
log = logging.getLogger("sda_cli")


CLI_ACTIONS = {
    "resume": "with the CLI: run the same command again with --resume",
    "restart": "with the CLI: run the command without --resume",
    "overwrite": "with the CLI: add --overwrite",
    "grow": "with the CLI: `sda train --add FILES` grows a model",
    "retrain": "with the CLI: `sda train` trains it again",
    "fit_controls": "with the CLI: `sda controls fit MODEL`",
    "train_vocoder": "with the CLI: `sda train-vocoder MODEL`, or --vocoder auto",
    "get_bigvgan": "with the CLI: `sda vocoder download` while online, or --bigvgan-weights PATH",
}
"""How the CLI spells each engine remedy (:data:`sda_audio.errors.ACTIONS`): the engine names no flags."""


def error_text(exc: SdaError) -> str:
    """The one line the CLI prints for ``exc``: its message and hint, then the CLI's way to act on it."""
    text = str(exc)
    action = getattr(exc, "action", None)
    return f"{text} [{CLI_ACTIONS[action]}]" if action in CLI_ACTIONS else text


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` as an error line and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)
    return typer.Exit(code)


def disk_full(exc: BaseException) -> SdaError:
    """"The disk is full", naming the file being written when ``exc`` (or an exception it came from) knows it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = getattr(current, "filename", None)
        if name:
            return disk_full_error(name)
        current = current.__cause__ or current.__context__
    return SdaError("the disk is full; nothing was written",
                    hint="free some space on that disk, or choose another location, and try again")


def handle_errors(func: F) -> F:
    """Decorate a command so SdaError, OSError and Ctrl-C end with one line and a non-zero exit."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except Cancelled as exc:
            err_console.print(f"[yellow]cancelled:[/] {escape(error_text(exc))}", markup=True, highlight=False)
            raise typer.Exit(130) from None
        except KeyboardInterrupt:
            err_console.print("[yellow]cancelled[/] by Ctrl-C")
            raise typer.Exit(130) from None
        except SdaError as exc:
            raise fail(error_text(exc)) from None
        except OSError as exc:
            if is_disk_full(exc):
                raise fail(error_text(disk_full(exc))) from None
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            raise fail(f"{where}{exc.strerror or exc} (check the path, permissions and free disk space)") from None
        except Exception as exc:  # an sda bug: still one line, details only when asked
            if is_disk_full(exc):  # a native writer's own error type (safetensors' StorageFull, ...)
                raise fail(error_text(disk_full(exc))) from None
            if os.environ.get("SDA_DEBUG"):
                raise
            log.debug("unexpected error", exc_info=True)
            raise fail(f"unexpected {type(exc).__name__}: {exc} (set SDA_DEBUG=1 for details and report it)",
                       code=3) from None

    return wrapper  # type: ignore[return-value]
