"""Printing results: Rich tables for people, tab-separated rows for scripts, JSON on request.

The output rule (README, "Scripts and pipes"): on a terminal a table is a Rich table fitted to the window;
when stdout is not a terminal (a pipe, a file, a script) the same table is printed as plain tab-separated
rows - a header row of column names, then one line per row - with every value whole (never cut at 80
columns, tabs and newlines inside a value replaced by spaces). Every command that prints a table also takes
``--json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console(highlight=False, soft_wrap=True)

HELP_MIN_WIDTH = 120
"""The width ``--help`` is rendered at when stdout is not a terminal (so option names are never cut)."""


def print_json(obj: Any) -> None:
    """Machine-readable output on stdout (no Rich markup)."""
    print(json.dumps(obj, indent=2, default=str, sort_keys=False))


def is_terminal() -> bool:
    """Whether stdout is an interactive terminal (Rich's test, so FORCE_COLOR/TTY_COMPATIBLE are honoured)."""
    return console.is_terminal


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A Rich table on a terminal; tab-separated whole values otherwise (see the module docstring)."""
    if not is_terminal():
        print("\t".join(_plain(column) for column in columns))
        for row in rows:
            print("\t".join(_plain(_cell(value)) for value in row))
        return
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(value) for value in row))
    console.print(table)


def configure_help_width() -> None:
    """Render typer's ``--help`` at least :data:`HELP_MIN_WIDTH` wide when stdout is not a terminal.

    Rich falls back to 80 columns (or ``$COLUMNS``) off a terminal, which squeezed the option column of
    ``sda train --help`` to "--checkpoint-eve…". ``TERMINAL_WIDTH`` (typer's own setting) still wins.
    """
    import typer.rich_utils as rich_utils

    if os.environ.get("TERMINAL_WIDTH"):
        return
    if is_terminal():
        rich_utils.MAX_WIDTH = None
        return
    columns = os.environ.get("COLUMNS", "")
    rich_utils.MAX_WIDTH = max(int(columns) if columns.isdigit() else 0, HELP_MIN_WIDTH)


def _plain(text: str) -> str:
    return " ".join(str(text).replace("\t", " ").splitlines())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def seconds(value: float) -> str:
    """'83.2 s' or '4 min 12 s'."""
    if value < 120:
        return f"{value:.1f} s"
    minutes, secs = divmod(int(round(value)), 60)
    return f"{minutes} min {secs:02d} s"
