"""Audio verbs: ``sda demo-data``, ``sda describe``, ``sda export-audio``."""

from __future__ import annotations

from pathlib import Path

import typer

from sda_cli.errors import handle_errors
from sda_cli.output import console, print_json, print_table, seconds


@handle_errors
def demo_data(
    folder: Path = typer.Argument(..., help="Folder to write the demo dataset into (created if missing)."),
    seed: int = typer.Option(0, help="Seed: the same seed always gives the same files."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace demo files already in the folder."),
    json_out: bool = typer.Option(False, "--json", help="Print the written files as JSON."),
) -> None:
    """Synthesise a small, varied demo dataset (drones, bells, winds, pulses, clusters, dry and wet)."""
    from sda_audio.demo import SKETCHES, make_demo_dataset

    if not overwrite:
        _refuse_existing([folder / f"{name}.wav" for name in SKETCHES])
    paths = make_demo_dataset(folder, seed=seed)
    if json_out:
        print_json([str(p) for p in paths])
        return
    console.print(f"wrote {len(paths)} demo files to [bold]{folder}[/]")
    console.print(f"next: [bold]sda dataset info {folder}[/]")


@handle_errors
def describe(
    files: list[Path] = typer.Argument(..., help="Audio files to describe."),
    json_out: bool = typer.Option(False, "--json", help="Print the values as JSON."),
) -> None:
    """Print the musical descriptors (brightness, warmth, roughness, tension, ...) of audio files."""
    from sda_audio.descriptors import DESCRIPTOR_NAMES
    from sda_audio.descriptors import describe as describe_samples
    from sda_audio.io import read_audio

    results = {}
    for path in files:
        clip = read_audio(path)
        results[str(path)] = describe_samples(clip.samples, clip.sample_rate)
    if json_out:
        print_json(results)
        return
    print_table("Musical descriptors (see docs/descriptors.md)", ["file", *DESCRIPTOR_NAMES],
                [[Path(p).name, *(values[name] for name in DESCRIPTOR_NAMES)] for p, values in results.items()])


@handle_errors
def export_audio(
    source: Path = typer.Argument(..., help="Audio file to convert."),
    output: Path = typer.Argument(..., help="Output file; its extension picks the format unless --format is given."),
    format: str | None = typer.Option(None, "--format", "-f", help="wav, flac, mp3 or ogg."),
    sample_rate: int = typer.Option(48000, "--sample-rate", "-r", help="44100, 48000 or 96000."),
    bit_depth: int = typer.Option(24, "--bit-depth", "-b", help="16, 24 or 32 (32 = float, WAV only)."),
    channels: str = typer.Option("stereo", "--channels", "-c", help="mono, stereo or binaural."),
    loudness: float | None = typer.Option(None, "--loudness", help="Target integrated loudness in LUFS (e.g. -14)."),
    peak: float = typer.Option(-1.0, "--peak", help="Peak ceiling in dBFS; output never exceeds it."),
    mp3_bitrate: int = typer.Option(320, "--mp3-bitrate", help="MP3 bitrate in kbit/s."),
    azimuth: float = typer.Option(30.0, "--azimuth", help="Binaural only: source direction in degrees (+ = right)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the output file (and its .json sidecar)."),
) -> None:
    """Convert an audio file through sda's export path (resampling, dither, loudness, tags, sidecar JSON)."""
    import numpy as np

    from sda_audio.errors import SdaError
    from sda_audio.export import ExportSettings
    from sda_audio.export import export_audio as write_audio
    from sda_audio.io import read_audio

    fmt = (format or output.suffix.lstrip(".") or "wav").lower()
    if not overwrite:
        target = output if output.suffix else output.with_name(f"{output.name}.{fmt}")
        _refuse_existing([target, target.with_name(target.name + ".json")])
    clip = read_audio(source)
    samples = clip.samples
    out_channels = channels
    if channels == "binaural":
        from sda_audio.spatial import binaural_render

        samples = binaural_render(samples.mean(axis=0), clip.sample_rate, azimuth_deg=azimuth)
        out_channels = "stereo"
    elif channels not in ("mono", "stereo"):
        raise SdaError(f"unknown channel layout '{channels}'", hint="use mono, stereo or binaural")
    settings = ExportSettings(format=fmt, sample_rate=sample_rate, bit_depth=bit_depth, channels=out_channels,
                              loudness_lufs=loudness, peak_dbfs=peak, mp3_bitrate=mp3_bitrate)
    path = write_audio(np.asarray(samples, dtype=np.float32), clip.sample_rate, output, settings,
                       metadata={"source": str(source), "channels_requested": channels})
    console.print(f"wrote [bold]{path}[/] ({fmt}, {sample_rate} Hz, {channels}, "
                  f"{seconds(clip.samples.shape[-1] / clip.sample_rate)})")


def _refuse_existing(paths: list[Path]) -> None:
    """Refuse to replace files that are already there (``--overwrite`` replaces them)."""
    from sda_audio.errors import SdaError

    existing = [p for p in paths if p.exists()]
    if existing:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise SdaError(f"a file is already there{more}; nothing was written", path=existing[0],
                       hint="choose another name or folder, or replace it", action="overwrite")
