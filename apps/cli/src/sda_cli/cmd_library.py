"""``sda models ...``: the model library (list, show, search, delete, import, export, upgrade, tag)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from sda_audio.errors import SdaError
from sda_cli.cmd_codes import health
from sda_cli.errors import err_console, handle_errors
from sda_cli.output import console, print_json, print_table, seconds

models_app = typer.Typer(help="Browse and manage your trained models.", no_args_is_help=True)


def _library():
    from sda_engine import ModelLibrary

    return ModelLibrary()


def _rows(records) -> list[list[object]]:
    return [[r.name, r.kind, r.dataset_name, r.n_files, seconds(r.duration) if r.duration else None,
             r.has_prior, r.has_vocoder, r.has_control, ", ".join(r.tags), r.created[:19]] for r in records]


_COLUMNS = ["name", "kind", "dataset", "files", "duration", "prior", "own vocoder", "sliders", "tags", "created"]


@models_app.command("list")
@handle_errors
def list_(
    kind: str | None = typer.Option(None, help="Only this kind: vae or rvq."),
    tag: str | None = typer.Option(None, help="Only models with this tag."),
    dataset: str | None = typer.Option(None, help="Only models trained on this dataset."),
    has_vocoder: bool | None = typer.Option(None, "--has-vocoder/--no-vocoder", help="Filter on a per-model vocoder."),
    since: str | None = typer.Option(None, help="Created on or after this date (YYYY-MM-DD)."),
    until: str | None = typer.Option(None, help="Created on or before this date (YYYY-MM-DD)."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """List the models in your library."""
    library = _library()
    records = library.list_models(kind=kind, tag=tag, dataset=dataset, has_vocoder=has_vocoder,
                                  since=since, until=until)
    _report_broken(library)
    if json_out:
        print_json([r.to_dict() for r in records])
    elif not records:
        console.print("no models yet: train one with [bold]sda train DATASET --model NAME[/]")
    else:
        print_table("Models", _COLUMNS, _rows(records))


@models_app.command("search")
@handle_errors
def search(text: str = typer.Argument(..., help="Text found in a name, tag, description or dataset."),
           json_out: bool = typer.Option(False, "--json")) -> None:
    """Find models by name, tag, description or dataset."""
    library = _library()
    records = library.search(text)
    _report_broken(library)
    if json_out:
        print_json([r.to_dict() for r in records])
    else:
        print_table(f"Models matching '{text}'", _COLUMNS, _rows(records))


def _report_broken(library) -> None:
    """Model files in the library folder that fail the model-file check: one line each on stderr, never a crash
    (stdout stays the table or the JSON a script reads)."""
    for file_name, why in sorted(library.last_reconcile.broken.items()):
        err_console.print(f"[yellow]broken:[/] {escape(file_name)}: {escape(why)}", markup=True, highlight=False)


@models_app.command("show")
@handle_errors
def show(name: str = typer.Argument(..., help="Model name (or path to a .sda file)."),
         json_out: bool = typer.Option(False, "--json")) -> None:
    """Everything recorded about one model: dataset, configs, metrics, parts."""
    from sda_engine import check_model_file, describe_start

    library = _library()
    path = library.resolve(name)
    record = library.find_by_path(path)
    try:
        meta = check_model_file(path)  # the one model-file check (layout and finite weights)
    except SdaError as exc:  # listed as broken with the check's message, not a crash
        if json_out:
            print_json({"record": record.to_dict() if record else None, "broken": str(exc), "metadata": None})
        else:
            console.print(f"[bold]{record.name if record else path.name}[/]  {path}")
            console.print(f"  [red]broken:[/] {escape(str(exc))}")
        raise typer.Exit(1) from None
    section = meta.get("form") if isinstance(meta.get("form"), dict) else None
    form = section.get("form") if section else None
    base = meta.get("base") if isinstance(meta.get("base"), dict) else None
    if json_out:
        print_json({"record": record.to_dict() if record else None, "form": form, "base": base, "metadata": meta})
        return
    console.print(f"[bold]{record.name if record else path.name}[/]  {path}")
    if section:
        console.print(f"  form: {form} ({section.get('message')})")
    else:
        console.print("  form: not recorded (trained before sda detected forms; generated as a texture)")
    console.print(f"  {describe_start(meta)}")
    for key in ("format_version", "kind", "created", "sda_version"):
        if key in meta:
            console.print(f"  {key}: {meta[key]}")
    if record is not None:
        console.print(f"  dataset: {record.dataset_name} ({record.n_files} files)")
        console.print(f"  parts: prior={record.has_prior} own vocoder={record.has_vocoder} "
                      f"sliders={record.has_control}")
        if record.metrics:
            console.print("  metrics: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                                    for k, v in record.metrics.items()))


@models_app.command("delete")
@handle_errors
def delete(name: str = typer.Argument(...),
           yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")) -> None:
    """Delete a model and its files (catalogue and disk stay consistent)."""
    if not yes and not typer.confirm(f"delete model '{name}' and its files?"):
        raise typer.Exit(1)
    record = _library().delete(name)
    console.print(f"deleted {record.name}")


@models_app.command("import")
@handle_errors
def import_(path: Path = typer.Argument(..., help="A .sda file."),
            name: str | None = typer.Option(None, help="Name in the library (default: from the file name)."),
            tag: list[str] = typer.Option([], help="Tags (repeatable).")) -> None:
    """Copy a .sda model file into the library."""
    record = _library().import_model(path, name=name, tags=tag)
    console.print(f"imported [bold]{record.name}[/] ({record.kind})")


@models_app.command("export")
@handle_errors
def export(name: str = typer.Argument(...), dest: Path = typer.Argument(..., help="File or folder to write to."),
           overwrite: bool = typer.Option(False, "--overwrite")) -> None:
    """Copy a model out of the library as a single .sda file."""
    path = _library().export_model(name, dest, overwrite=overwrite)
    console.print(f"exported to {path}")


@models_app.command("upgrade")
@handle_errors
def upgrade(target: str = typer.Argument(..., help="A .sda file or a library model name.")) -> None:
    """Rewrite an older-format model file (v1) in the current format (v2); keeps a backup."""
    from sda_engine import upgrade_model_file

    library = _library()
    path = Path(target)
    record = library.find_by_path(path) if path.is_file() else library.get(target)
    if record is None:  # a file outside the library
        written = upgrade_model_file(path)
        console.print(f"upgraded {path} (backup beside it)" if written else f"{path} is already in the current format")
        return
    record = library.upgrade_model(record.name)
    console.print(f"{record.name} is in format {record.format_version}")


@models_app.command("tag")
@handle_errors
def tag(name: str = typer.Argument(...), add: list[str] = typer.Option([], "--add"),
        remove: list[str] = typer.Option([], "--remove")) -> None:
    """Add or remove tags."""
    record = _library().tag(name, add=add, remove=remove)
    console.print(f"{record.name}: tags {', '.join(record.tags) or '(none)'}")


@models_app.command("rename")
@handle_errors
def rename(old: str = typer.Argument(...), new: str = typer.Argument(...)) -> None:
    """Rename a model (its files and catalogue entry)."""
    record = _library().rename(old, new)
    console.print(f"renamed to {record.name}")


models_app.command("health")(health)  # defined with the code-grid verbs (sda_cli.cmd_codes)
