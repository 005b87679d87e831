"""``sda reconstruct``: hear what a model knows - each recording as the model hears it, named after the original."""

from __future__ import annotations

from pathlib import Path

import typer

from sda_cli.errors import handle_errors
from sda_cli.output import console, print_json
from sda_cli.progress_view import event_view


@handle_errors
def reconstruct(
    model: str = typer.Argument(..., help="Model name from your library, or a .sda file."),
    files: list[Path] = typer.Argument(..., help="Recordings to reconstruct (your training files, or new ones)."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder to write into (FILE.wav per recording)."),
    format: str | None = typer.Option(None, "--format", "-f", help="wav (default), flac, mp3 or ogg."),
    sample_rate: int | None = typer.Option(None, "--sample-rate", "-r", help="44100, 48000 (default) or 96000."),
    bit_depth: int | None = typer.Option(None, "--bit-depth", "-b", help="16, 24 (default) or 32 (float)."),
    vocoder: str | None = typer.Option(None, "--vocoder", help="auto (default), hifigan, bigvgan or corpus."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace reconstructions already in the folder."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or mps (or set SDA_DEVICE)."),
    json_events: bool = typer.Option(False, "--json-events", help="Print one JSON object per progress event."),
) -> None:
    """Write each recording as the model hears it (encode -> decode -> vocoder), to judge a model before
    generating with it: what it loses here, it cannot make."""
    from sda_cli.environment import bigvgan_weights
    from sda_engine import GenerationRequest, ModelSession, reconstruct_files

    session = ModelSession.open(model, device, bigvgan_weights=bigvgan_weights())
    request = GenerationRequest().replace(format=format, sample_rate=sample_rate, bit_depth=bit_depth, vocoder=vocoder)
    with event_view(json_events) as view:
        results = reconstruct_files(session, files, output, request, overwrite=overwrite, on_event=view)
    if json_events:
        print_json([r.to_dict() for r in results])
        return
    for source, result in zip(files, results, strict=True):
        console.print(f"{source.name} -> [bold]{result.path}[/] ({result.duration:.2f} s)")
    if results:
        console.print(f"vocoder: {results[0].vocoder} - {results[0].vocoder_reason}")
