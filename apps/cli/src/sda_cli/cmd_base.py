"""``sda base ...``: the base model that already knows sound. First verb: ``sda base corpus OUT/``."""

from __future__ import annotations

import os
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


@base_app.command("train")
@handle_errors
def train(
    corpus: Path = typer.Argument(..., help="The corpus folder (made by sda base corpus)."),
    folder: Path = typer.Argument(..., help="Where the base trains: its checkpoints and model file (created if "
                                            "missing; a folder with checkpoints continues)."),
    size: str = typer.Option("tiny", "--size", help="Model size whose shapes the base has: tiny, small or full."),
    kind: str = typer.Option("rvq", "--kind", help="Autoencoder kind: rvq or vae."),
    steps: int = typer.Option(60_000, "--steps", help="Steps in all (the learning rate decays over them); a "
                                                     "larger number continues a finished base."),
    minutes: float | None = typer.Option(None, "--minutes", "-m",
                                         help="Stop this run after so many minutes (checkpointed): run it again "
                                              "to continue."),
    batch_size: int = typer.Option(32, "--batch-size", help="Windows per step (part of the recipe)."),
    seed: int = typer.Option(0, help="Seed of the recipe."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or mps."),
    json_events: bool = typer.Option(False, "--json-events", help="Print one JSON object per progress event."),
) -> None:
    """Train the base model on the corpus, in pieces: every run continues the folder's last checkpoint and writes
    FOLDER/base-SIZE-KIND.sda when it stops. Under torchrun it trains in several processes."""
    from sda_cli.errors import fail
    from sda_engine import BaseTrainOptions, train_base

    if minutes is not None and minutes <= 0:
        raise fail(f"--minutes must be positive, got {minutes:g}")
    options = BaseTrainOptions(size=size, kind=kind, steps=steps, minutes=minutes, batch_size=batch_size,
                               seed=seed, device=device)
    if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 reports
        train_base(corpus, folder, options)
        return
    with event_view(json_events) as view:
        result = train_base(corpus, folder, options, on_event=view)
    if json_events:
        print_json(result.to_dict())
        return
    state = "finished" if result.finished else f"stopped ({result.stop_reason}): run the same command to go on"
    loss = f", validation loss {result.val_loss:.4f}" if result.val_loss is not None else ""
    console.print(f"base at step {result.steps} of {result.total_steps}, {state}{loss}")
    if result.model_path:
        console.print(f"model file: {result.model_path}")
