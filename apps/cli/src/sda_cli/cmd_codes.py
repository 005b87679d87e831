"""``sda codes ...``: the code-grid editor (encode, show, set, swap, blend, regenerate, undo, redo, decode,
entry) and ``sda models health``. A thin layer over the engine's code-grid editor (``sda_engine.codes``, with
``check_grid`` / ``encode_file`` given an open ``ModelSession``) and its ``write_sketch``.

Levels are numbered from 1 (the coarsest, "Structure") here; the library counts from 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from sda_cli.errors import handle_errors
from sda_cli.output import console, print_json, print_table
from sda_cli.progress_view import event_view

codes_app = typer.Typer(help="See and edit a sound as its RVQ code grid (rows = levels, columns = time).",
                        no_args_is_help=True)

_DEVICE = typer.Option("auto", "--device", help="auto, cpu, cuda or mps (or set SDA_DEVICE).")
_MODEL = typer.Option(None, "--model", "-m", help="Model to use (default: the one the grid was encoded with).")


def _open(model: str | Path, device: str) -> Any:
    from sda_cli.environment import bigvgan_weights
    from sda_engine import ModelSession

    return ModelSession.open(model, device, bigvgan_weights=bigvgan_weights())


def _open_for(grid: Any, model: str | None, device: str) -> Any:
    """The grid's model (or ``model``), refused when its codes mean something else."""
    from sda_engine import check_grid, codes

    session = _open(model or codes.model_to_open(grid), device)
    check_grid(grid, session)
    return session


def _levels(text: str | None) -> list[int] | None:
    """``"1,2"`` (1-based, as shown) -> ``[0, 1]``."""
    from sda_audio.errors import SdaError

    if not text:
        return None
    try:
        return [int(x) - 1 for x in text.split(",") if x.strip()]
    except ValueError:
        raise SdaError(f"cannot read levels '{text}'", hint="write level numbers such as 1,2 (1 = Structure)") from None


def _save(grid: Any, path: Path, what: str) -> None:
    from sda_engine import codes

    codes.save_grid(grid, path)
    console.print(f"{what}; saved [bold]{path}[/] ({grid.position} edit(s) applied, {len(grid.edits)} in the log)")


@codes_app.command("encode")
@handle_errors
def encode(
    file: Path = typer.Argument(..., help="An audio file (any rate, length, channels)."),
    model: str = typer.Option(..., "--model", "-m", help="Model name from your library, or a .sda file."),
    output: Path = typer.Option(..., "--output", "-o", help="The grid file to write (.sdacodes)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing grid file (and its history)."),
    device: str = _DEVICE,
) -> None:
    """Encode a sound into a model's code grid."""
    from sda_audio.errors import SdaError
    from sda_engine import codes, encode_file

    if output.suffix != codes.EXTENSION:
        output = output.with_name(output.name + codes.EXTENSION)
    if output.exists() and not overwrite:
        raise SdaError("a grid file is already there (its edit history would be lost)", path=output,
                       hint="choose another name or replace it", action="overwrite")
    session = _open(model, device)
    grid = encode_file(session, file)
    _save(grid, output, f"encoded {file.name}: {grid.levels} levels x {grid.frames} frames "
                        f"({grid.seconds:.2f} s, {grid.frame_seconds * 1000:.1f} ms per frame)")


@codes_app.command("show")
@handle_errors
def show(
    grid_file: Path = typer.Argument(..., help="A .sdacodes grid file."),
    json_out: bool = typer.Option(False, "--json", help="The grid as JSON (model, levels, frames, codes, ...)."),
    png: Path | None = typer.Option(None, "--png", help="Also draw the grid into this PNG file."),
) -> None:
    """Show a grid: as text, as JSON, or as a picture."""
    from sda_engine import codes

    grid = codes.load_grid(grid_file)
    if png is not None:
        codes.plots.grid_png(grid, png)
    if json_out:
        print_json(grid.to_dict())
        return
    source = (grid.source or {}).get("path") or ("a blend" if grid.source and "blend" in grid.source else "-")
    console.print(f"[bold]{grid_file}[/]: model '{grid.model.name}', {grid.levels} levels x {grid.frames} frames, "
                  f"{grid.seconds:.2f} s ({grid.frame_seconds * 1000:.1f} ms per frame), source {source}")
    width = max(len(str(grid.model.codebook_size - 1)), 2)
    per_line = 32
    for start in range(0, grid.frames, per_line):
        stop = min(grid.frames, start + per_line)
        console.print(f"  {start * grid.frame_seconds:.2f} s (frame {start})")
        for level, label in enumerate(grid.labels):
            row = " ".join(f"{int(c):>{width}}" for c in grid.codes[level, start:stop])
            console.print(f"    {level + 1} {label:<9} {row}", soft_wrap=True)
    if grid.edits:
        rows = [[i + 1, e.describe(), f"{e.start * grid.frame_seconds:.2f}-{e.stop * grid.frame_seconds:.2f} s",
                 i < grid.position, e.when[11:19]] for i, e in enumerate(grid.edits)]
        print_table("Edits", ["#", "edit", "region", "applied", "when (UTC)"], rows)
    if png is not None:
        console.print(f"picture: {png}")


@codes_app.command("set")
@handle_errors
def set_(
    grid_file: Path = typer.Argument(..., help="A .sdacodes grid file (edited in place)."),
    level: int = typer.Option(..., "--level", "-l", help="Level, 1 = Structure (coarsest)."),
    at: float = typer.Option(..., "--at", help="Time in seconds."),
    index: int = typer.Option(..., "--index", "-i", help="The code to put there."),
) -> None:
    """Set one cell of the grid."""
    from sda_engine import codes

    grid = codes.load_grid(grid_file)
    frame = codes.frame_at(grid, at)
    old = int(grid.codes[level - 1, frame]) if 1 <= level <= grid.levels else None
    edited = codes.set_code(grid, level - 1, frame, index)
    _save(edited, grid_file, f"level {level} at {frame * grid.frame_seconds:.2f} s (frame {frame}): {old} -> {index}")


@codes_app.command("swap")
@handle_errors
def swap(
    grid_a: Path = typer.Argument(..., help="The grid to edit (in place)."),
    grid_b: Path = typer.Argument(..., help="The grid to take the region from."),
    start: float = typer.Option(..., "--from", help="Region start in seconds."),
    stop: float = typer.Option(..., "--to", help="Region end in seconds."),
    levels: str | None = typer.Option(None, "--levels", help="Only these levels, e.g. 1,2 (default: all)."),
    seam: int = typer.Option(3, "--seam", help="Frames crossfaded in embedding space at each seam (0 = hard cut)."),
    model: str | None = _MODEL,
    device: str = _DEVICE,
) -> None:
    """Put a region of grid B into grid A (seams crossfaded in embedding space)."""
    from sda_engine import codes

    a, b = codes.load_grid(grid_a), codes.load_grid(grid_b)
    session = _open_for(a, model, device)
    lo, hi = codes.frame_range(a, start, stop)
    edited = codes.swap_region(a, b, session.bundle.autoencoder.rvq, lo, hi, _levels(levels), seam=max(0, seam))
    _save(edited, grid_a, f"swapped {lo * a.frame_seconds:.2f}-{hi * a.frame_seconds:.2f} s from {grid_b.name}")


@codes_app.command("blend")
@handle_errors
def blend(
    grid_a: Path = typer.Argument(..., help="First grid (amount 0)."),
    grid_b: Path = typer.Argument(..., help="Second grid (amount 1)."),
    amount: float = typer.Option(..., "--amount", help="0 = A, 1 = B; in between mixes them in embedding space."),
    output: Path = typer.Option(..., "--output", "-o", help="The new grid file."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing grid file."),
    model: str | None = _MODEL,
    device: str = _DEVICE,
) -> None:
    """A new grid between two grids: summed embeddings interpolated and quantised again."""
    from sda_audio.errors import SdaError
    from sda_engine import codes

    if output.suffix != codes.EXTENSION:
        output = output.with_name(output.name + codes.EXTENSION)
    if output.exists() and not overwrite:
        raise SdaError("a grid file is already there", path=output, hint="choose another name or replace it",
                       action="overwrite")
    a, b = codes.load_grid(grid_a), codes.load_grid(grid_b)
    session = _open_for(a, model, device)
    mixed = codes.blend_grids(a, b, session.bundle.autoencoder.rvq, amount)
    changed = float((mixed.codes != a.codes).float().mean())
    _save(mixed, output, f"blended {grid_a.name} and {grid_b.name} at {amount:g} ({changed:.0%} of A's cells changed)")


@codes_app.command("regenerate")
@handle_errors
def regenerate(
    grid_file: Path = typer.Argument(..., help="A .sdacodes grid file (edited in place)."),
    start: float = typer.Option(..., "--from", help="Region start in seconds."),
    stop: float = typer.Option(..., "--to", help="Region end in seconds."),
    levels: str | None = typer.Option(None, "--levels", help="Only these levels, e.g. 2 (default: all)."),
    temperature: float = typer.Option(1.0, "--temperature", "-t", help="Wildness of sampling (1 = as learned)."),
    top_k: int = typer.Option(0, "--top-k", help="Sample only from the k likeliest codes (0 = off)."),
    top_p: float = typer.Option(1.0, "--top-p", help="Nucleus sampling threshold (1 = off)."),
    seed: int = typer.Option(0, "--seed", "-s", help="Same seed = same result."),
    candidates: int = typer.Option(8, "--candidates", help="Draw this many and keep the one that leads best "
                                                           "into what follows the region."),
    model: str | None = _MODEL,
    device: str = _DEVICE,
) -> None:
    """Let the model's prior fill a region again, given what is around it."""
    from sda_engine import codes

    grid = codes.load_grid(grid_file)
    session = _open_for(grid, model, device)
    lo, hi = codes.frame_range(grid, start, stop)
    edited, info = codes.regenerate_region(grid, session.bundle.prior, lo, hi, _levels(levels), temperature, top_k,
                                     top_p, seed, candidates)
    how = (f"kept candidate {info.chosen + 1} of {info.candidates} (best fit to the next {info.right_frames} frames)"
           if info.right_frames else "the region reaches the end: first candidate kept")
    _save(edited, grid_file, f"regenerated {lo * grid.frame_seconds:.2f}-{hi * grid.frame_seconds:.2f} s; {how}")


@codes_app.command("undo")
@handle_errors
def undo_(grid_file: Path = typer.Argument(..., help="A .sdacodes grid file.")) -> None:
    """Undo the last edit (across commands and sessions; the grid comes back bit-exactly)."""
    from sda_engine import codes

    grid, edit = codes.undo(codes.load_grid(grid_file))
    _save(grid, grid_file, f"undid {edit.describe()}")


@codes_app.command("redo")
@handle_errors
def redo_(grid_file: Path = typer.Argument(..., help="A .sdacodes grid file.")) -> None:
    """Redo the last undone edit."""
    from sda_engine import codes

    grid, edit = codes.redo(codes.load_grid(grid_file))
    _save(grid, grid_file, f"redid {edit.describe()}")


def _request(**options: Any) -> Any:
    from sda_engine import GenerationRequest

    return GenerationRequest().replace(**options)


def _write(session: Any, grid: Any, request: Any, output: Path | None, extra: dict[str, Any], overwrite: bool,
           json_events: bool) -> None:
    from sda_engine import sketch_from_codes, write_sketch

    sketch = sketch_from_codes(session, grid)
    with event_view(json_events) as view:
        result = write_sketch(session, sketch, request, output, extra=extra, overwrite=overwrite, on_event=view)
    if json_events:
        print_json(result.to_dict())
        return
    console.print(f"wrote [bold]{result.path}[/] ({result.duration:.2f} s, history #{result.history_id})")
    console.print(f"vocoder: {result.vocoder} - {result.vocoder_reason}")


_OUT = typer.Option(None, "--output", "-o", help="Output file or folder (default: history folder).")
_CHANNELS = typer.Option(None, "--channels", "-c", help="mono, stereo (default) or binaural.")
_FORMAT = typer.Option(None, "--format", "-f", help="wav (default), flac, mp3 or ogg.")
_RATE = typer.Option(None, "--sample-rate", "-r", help="44100, 48000 (default) or 96000.")
_DEPTH = typer.Option(None, "--bit-depth", "-b", help="16, 24 (default) or 32 (float).")
_VOCODER = typer.Option(None, "--vocoder", help="auto, hifigan, bigvgan or corpus.")
_LOUD = typer.Option(None, "--loudness", help="Normalise to this many LUFS (e.g. -14).")
_JSON_EVENTS = typer.Option(False, "--json-events", help="Print one JSON object per progress event.")
_OVERWRITE = typer.Option(False, "--overwrite", help="Replace a file (and its sidecar) already at --output.")


@codes_app.command("decode")
@handle_errors
def decode(
    grid_file: Path = typer.Argument(..., help="A .sdacodes grid file."),
    output: Path | None = _OUT,
    channels: str | None = _CHANNELS,
    stereo_method: str | None = typer.Option(None, "--stereo-method", help="decorrelate (default) or mid_side."),
    format: str | None = _FORMAT,
    sample_rate: int | None = _RATE,
    bit_depth: int | None = _DEPTH,
    vocoder: str | None = _VOCODER,
    loudness: float | None = _LOUD,
    azimuth: float | None = typer.Option(None, "--azimuth", help="Binaural: direction in degrees (+ = right)."),
    model: str | None = _MODEL,
    overwrite: bool = _OVERWRITE,
    device: str = _DEVICE,
    json_events: bool = _JSON_EVENTS,
) -> None:
    """Render a grid to audio, like `sda generate` (formats, stereo/binaural, sidecar, history)."""
    from sda_engine import codes

    grid = codes.load_grid(grid_file)
    session = _open_for(grid, model, device)
    request = _request(channels=channels, stereo_method=stereo_method, format=format, sample_rate=sample_rate,
                       bit_depth=bit_depth, vocoder=vocoder, loudness_lufs=loudness, azimuth=azimuth,
                       duration=max(0.1, round(grid.seconds, 3)))
    extra = {"code_grid": {"path": str(grid_file), "source": grid.source, "edits_applied": grid.position}}
    _write(session, grid.codes, request, output, extra, overwrite, json_events)


@codes_app.command("entry")
@handle_errors
def entry(
    model: str = typer.Option(..., "--model", "-m", help="Model name from your library, or a .sda file."),
    level: int = typer.Option(..., "--level", "-l", help="Level, 1 = Structure (coarsest)."),
    index: int = typer.Option(..., "--index", "-i", help="The codebook entry to hear."),
    seconds: float = typer.Option(1.5, "--seconds", help="How long to hold it."),
    output: Path | None = _OUT,
    channels: str | None = typer.Option("mono", "--channels", "-c", help="mono (default), stereo or binaural."),
    format: str | None = _FORMAT,
    sample_rate: int | None = _RATE,
    bit_depth: int | None = _DEPTH,
    vocoder: str | None = _VOCODER,
    overwrite: bool = _OVERWRITE,
    device: str = _DEVICE,
    json_events: bool = _JSON_EVENTS,
) -> None:
    """Hear one codebook entry, held over the coarser levels' typical context."""
    from sda_audio.errors import SdaError
    from sda_engine import codes

    if not 0.1 <= seconds <= 30:
        raise SdaError(f"cannot hold an entry for {seconds:g} s", hint="choose 0.1 to 30 seconds")
    session = _open(model, device)
    rvq = codes.require_rvq(session.bundle, session.name)
    corpus = codes.codebook_usage(session.bundle, session.name).corpus if level > 1 else None
    frames = max(1, round(seconds / codes.frame_seconds(session.bundle)))
    held = codes.entry_grid(rvq, level - 1, index, frames, corpus)
    console.print(f"level {level} code {index} over {held.how}: context {held.context or '-'}")
    request = _request(channels=channels, format=format, sample_rate=sample_rate, bit_depth=bit_depth,
                       vocoder=vocoder, duration=seconds)
    extra = {"codebook_entry": {"level": level, "index": index, "context": held.context, "how": held.how}}
    _write(session, held.codes, request, output, extra, overwrite, json_events)


@handle_errors
def health(
    model: str = typer.Argument(..., help="Model name from your library, or a .sda file."),
    png: Path | None = typer.Option(None, "--png", help="Draw the per-level usage heatmap into this PNG file."),
    json_out: bool = typer.Option(False, "--json"),
    device: str = _DEVICE,
) -> None:
    """How well the model uses its codebooks: a usage heatmap and a green/yellow/red verdict."""
    from sda_engine import codes

    session = _open(model, device)
    usage = codes.codebook_usage(session.bundle, session.name)
    report = codes.health_report(usage, session.name)
    if png is not None:
        codes.plots.usage_png(usage.counts, png, f"'{session.name}': {report.verdict}", report.status)
    if json_out:
        print_json(report.to_dict())
        return
    colour = {"green": "green", "yellow": "yellow", "red": "red"}[report.status]
    console.print(f"[bold {colour}]{report.status.upper()}[/] {report.verdict}")
    console.print(f"counted by {report.source}: {report.frames} frames")
    print_table("Codebook use per level", ["level", "name", "codes used", "utilisation", "perplexity", "unused"],
                [[lv.level + 1, lv.label, f"{lv.used}/{lv.size}", f"{lv.utilisation:.0%}", lv.perplexity,
                  lv.dead_codes] for lv in report.levels])
    if png is not None:
        console.print(f"picture: {png}")
