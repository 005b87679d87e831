"""``sda dataset import|validate|info``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from sda_cli.errors import handle_errors
from sda_cli.output import console, print_json, print_table, seconds

dataset_app = typer.Typer(help="Import, validate and inspect datasets of your recordings.", no_args_is_help=True)


def resolve_dataset_folder(path_or_name: str) -> Path:
    """A dataset given as a folder path, or by name from the sda library's datasets folder."""
    candidate = Path(path_or_name).expanduser()
    if candidate.exists():
        return candidate
    from sda_engine import SdaHome

    named = SdaHome().datasets_dir / path_or_name
    if named.is_dir():
        return named
    from sda_audio.errors import SdaError

    raise SdaError("no such folder or dataset name", path=candidate,
                   hint="give a folder of audio files or a name from `sda dataset import --name`")


@dataset_app.command("import")
@handle_errors
def import_(
    sources: list[Path] = typer.Argument(..., help="Audio files and/or folders (searched recursively)."),
    name: str = typer.Option(..., "--name", "-n", help="Name of the dataset to create or add to."),
    dest: Path | None = typer.Option(None, "--dest", help="Dataset folder (default: the sda library's datasets/NAME)."),
    repair_non_finite: bool = typer.Option(
        False, "--repair-non-finite",
        help="Import a file with NaN/infinite samples as a repaired copy (those samples set to 0; the original "
             "is untouched) instead of rejecting it."),
    json_out: bool = typer.Option(False, "--json", help="Print the import result as JSON."),
) -> None:
    """Copy recordings into a named dataset with a manifest; duplicates by content are skipped."""
    from sda_audio.dataset import import_dataset
    from sda_cli.progress_view import RichEventView

    if dest is None:
        from sda_engine import SdaHome

        dest = SdaHome().dataset_dir(name)  # checks the name (the one rule for dataset, model and preset names)
    with RichEventView() as view:
        result = import_dataset(sources, dest, name, on_event=view, repair_non_finite=repair_non_finite)
    if json_out:
        print_json(result.to_dict())
        return
    console.print(f"dataset [bold]{name}[/] at {dest}: {len(result.imported)} imported, "
                  f"{len(result.duplicates)} duplicates skipped, {len(result.rejected)} rejected")
    for item in result.duplicates:
        console.print(f"  [yellow]duplicate[/] {item}")
    for item in result.rejected:
        console.print(f"  [red]rejected[/] {escape(str(item))}")
    if not repair_non_finite and any("NaN" in str(item) or "infinite" in str(item) for item in result.rejected):
        console.print("  files with NaN/infinite samples: import them again with [bold]--repair-non-finite[/] "
                      "(those samples become 0; the originals stay untouched)")
    console.print(f"next: [bold]sda dataset validate {dest}[/]")


@dataset_app.command("validate")
@handle_errors
def validate(
    path: str = typer.Argument(..., help="Dataset folder (or name)."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Check every file; exit 0 when the dataset can be trained on, 1 when it cannot."""
    from sda_audio.validation import validate_dataset

    report = validate_dataset(resolve_dataset_folder(path))
    damaged = report.non_finite_files
    if json_out:
        data = report.to_dict()
        data["non_finite_files"] = [str(p) for p in damaged]
        print_json(data)
    else:
        print(report.to_text())
        if damaged:
            print(f"{len(damaged)} file(s) have NaN or infinite samples: " + ", ".join(p.name for p in damaged))
            print("  `sda dataset import FILES --name NAME --repair-non-finite` imports repaired copies "
                  "(those samples set to 0; the originals untouched)")
    raise typer.Exit(0 if report.ok else 1)


@dataset_app.command("info")
@handle_errors
def info(
    path: str = typer.Argument(..., help="Dataset folder (or name)."),
    thumbnails: Path | None = typer.Option(None, "--thumbnails", help="Write a waveform PNG per file here (cached)."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """File count, total duration, sample rates and per-file details (optionally waveform thumbnails)."""
    from sda_audio.summary import summarize_dataset

    folder = resolve_dataset_folder(path)
    summary = summarize_dataset(folder)
    written = []
    if thumbnails is not None:
        from sda_audio.thumbnails import dataset_thumbnails

        written = dataset_thumbnails(folder, thumbnails)
    if json_out:
        data = summary.to_dict()
        data["thumbnails"] = [str(p) for p in written]
        print_json(data)
        return
    rates = ", ".join(str(r) for r in sorted(summary.sample_rates))
    console.print(f"[bold]{folder}[/]: {summary.file_count} files, {seconds(summary.total_duration)}, "
                  f"sample rates {rates}" + ("" if len(summary.sample_rates) <= 1 else " (mixed: sda resamples)"))
    print_table("Files", ["file", "duration", "rate", "channels"],
                [[f.name, seconds(f.duration), f.sample_rate, f.channels] for f in summary.files])
    if thumbnails is not None:
        console.print(f"{len(written)} thumbnails in {thumbnails}")
