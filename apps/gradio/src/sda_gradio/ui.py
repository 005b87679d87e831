"""Small Gradio helpers shared by the tabs: error-guarded handlers and formatting."""

from __future__ import annotations

import functools
import html
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sda_gradio.messages import error_markdown


def guarded(fn: Callable[..., Any], n_outputs: int, status_index: int) -> Callable[..., Any]:
    """Wrap handler ``fn`` so any exception becomes a readable message in output ``status_index`` and every
    other output is left as it is (nothing typed on the page is lost)."""
    import gradio as gr

    @functools.wraps(fn)
    def wrapper(*args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:
            out: list[Any] = [gr.skip()] * n_outputs
            out[status_index] = error_markdown(exc)
            return tuple(out) if n_outputs > 1 else out[0]

    return wrapper


def guarded_stream(fn: Callable[..., Iterator[Any]], n_outputs: int, status_index: int) -> Callable[..., Any]:
    """:func:`guarded` for generator handlers (progress streamed to the page)."""
    import gradio as gr

    @functools.wraps(fn)
    def wrapper(*args: Any) -> Iterator[Any]:
        try:
            yield from fn(*args)
        except Exception as exc:
            out: list[Any] = [gr.skip()] * n_outputs
            out[status_index] = error_markdown(exc)
            yield tuple(out) if n_outputs > 1 else out[0]

    return wrapper


def seconds_text(seconds: float | None) -> str:
    """``75`` -> ``1 min 15 s``."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def md_escape(text: object) -> str:
    """Text safe inside a Markdown table cell."""
    out = str(text)
    for ch in ("\\", "|", "*", "_", "`", "<", ">"):
        out = out.replace(ch, "\\" + ch)
    return out.replace("\n", " ")


def file_url(path: str | Path) -> str:
    """The app's URL of a file in the sda home (served: the home is in ``allowed_paths``)."""
    return "/gradio_api/file=" + quote(str(path))


def audio_tag(path: str | Path, label: str = "") -> str:
    """One plain HTML player of a file in the sda home (``label``: its accessible name)."""
    url = html.escape(file_url(path), quote=True)
    aria = f' aria-label="{html.escape(label, quote=True)}"' if label else ""
    return f'<audio controls preload="metadata" src="{url}"{aria}></audio>'


def players_html(rows: Sequence[tuple[str, Sequence[tuple[str, str | Path]]]], css_class: str = "sda-players") -> str:
    """A list of players: one row per ``(title, [(caption, path), ...])``, its players side by side, each with
    its caption above it (the page's lists of one-shots and of reconstructions beside their originals)."""
    out = [f'<div class="{html.escape(css_class, quote=True)}">']
    for title, players in rows:
        cells = "".join(f'<div class="sda-player"><span class="sda-player-caption">{html.escape(caption)}</span>'
                        f"{audio_tag(path, f'{title}: {caption}' if caption else title)}</div>"
                        for caption, path in players)
        out.append(f'<div class="sda-player-row"><strong class="sda-player-title">{html.escape(title)}</strong>'
                   f"{cells}</div>")
    out.append("</div>")
    return "".join(out)
