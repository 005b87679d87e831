"""``sda base ...``: the base model that already knows sound. First verb: ``sda base corpus OUT/``."""

from __future__ import annotations

from pathlib import Path

import typer

from sda_cli.errors import handle_errors
from sda_cli.output import console, print_json
from sda_cli.progress_view import event_view

base_app = typer.Typer(help="The base model: its corpus of broad, legally usable audio (see docs/base.md).",
                       no_args_is_help=True)


@base_app.command("corpus")
@handle_errors
def corpus(
    folder: Path = typer.Argument(..., help="Folder to render the corpus into (created if missing)."),
    minutes: float | None = typer.Option(None, "--minutes", "-m",
                                         help="Size in minutes of audio, estimated (default 120)."),
    quick: bool = typer.Option(False, "--quick", help="A tiny corpus (about 20 s) to check the set-up."),
    seed: int = typer.Option(0, help="Seed: the same seed and size always give the same corpus."),
    sources: str | None = typer.Option(None, "--sources",
                                       help="Comma-separated subset of gm, drums, synth (default: all three)."),
    limit: int | None = typer.Option(None, "--limit", help="Render at most this many new files, then stop."),
    json_events: bool = typer.Option(False, "--json-events", help="Print one JSON object per progress event."),
) -> None:
    """Render the base corpus: every Fluid R3 GM program and drum note through fluidsynth, plus sda's own
    synthesis, as mono 44.1 kHz FLAC with OUT/manifest.json. Run it again to continue a stopped run: finished
    files are kept."""
    from sda_cli.errors import fail
    from sda_engine import CORPUS_SOURCES, DEFAULT_CORPUS_MINUTES, build_corpus

    chosen = tuple(CORPUS_SOURCES) if sources is None else tuple(s.strip() for s in sources.split(",") if s.strip())
    unknown = sorted(set(chosen) - set(CORPUS_SOURCES))
    if unknown or not chosen:
        raise fail(f"unknown --sources {', '.join(unknown) or '(none)'}; choose from {', '.join(CORPUS_SOURCES)}")
    size = DEFAULT_CORPUS_MINUTES if minutes is None else minutes
    if size <= 0:
        raise fail(f"--minutes must be positive, got {size:g}")
    with event_view(json_events) as view:
        result = build_corpus(folder, minutes=size, seed=seed, quick=quick, sources=chosen, limit=limit,
                              on_event=view)
    if json_events:
        print_json(result.to_dict())
        return
    console.print(f"{result.files} files, {result.total_seconds / 60:.1f} min of audio in [bold]{folder}[/] "
                  f"({result.rendered} rendered, {result.skipped} already there, {result.wall_seconds:.0f} s)")
    console.print(f"manifest: {result.manifest}")
