"""``sda presets ...``: named sets of generation controls, per model or global."""

from __future__ import annotations

import json

import typer

from sda_cli.errors import handle_errors
from sda_cli.output import console, print_json, print_table

presets_app = typer.Typer(help="Save and reuse generation settings.", no_args_is_help=True)


def parse_assignments(items: list[str]) -> dict[str, object]:
    """``key=value`` pairs; values are read as JSON when they parse (numbers, objects), else as text."""
    from sda_audio.errors import SdaError

    params: dict[str, object] = {}
    for item in items:
        if "=" not in item:
            raise SdaError(f"'{item}' is not key=value", hint="e.g. --set duration=20 --set temperature=0.9")
        key, raw = item.split("=", 1)
        try:
            params[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            params[key.strip()] = raw
    return params


def _store():
    from sda_engine import PresetStore

    return PresetStore()


@presets_app.command("save")
@handle_errors
def save(name: str = typer.Argument(...),
         set_: list[str] = typer.Option([], "--set", help="A setting as key=value (repeatable), e.g. seed=3."),
         model: str | None = typer.Option(None, "--model", help="Only for this model (default: global)."),
         from_history: int | None = typer.Option(None, "--from-history", help="Copy the settings of a history entry."),
         overwrite: bool = typer.Option(False, "--overwrite")) -> None:
    """Save a preset from key=value controls or from a past generation."""
    params: dict[str, object] = {}
    if from_history is not None:
        from sda_engine import History

        # every setting that made that sound (defaults included), so the preset recalls it exactly
        params.update(History().show(from_history).request().to_flat())
    params.update(parse_assignments(set_))
    preset = _store().save(name, params, model=model, overwrite=overwrite)
    console.print(f"saved preset [bold]{preset.name}[/] ({preset.scope}): {json.dumps(preset.params)}")


@presets_app.command("list")
@handle_errors
def list_(model: str | None = typer.Option(None, "--model"), json_out: bool = typer.Option(False, "--json")) -> None:
    """All presets with their scope; with --model, the global ones plus that model's own."""
    presets = _store().list(model=model)
    if json_out:
        print_json([p.to_dict() for p in presets])
    else:
        print_table("Presets", ["name", "scope", "controls"],
                    [[p.name, p.scope, json.dumps(p.params)] for p in presets])


@presets_app.command("show")
@handle_errors
def show(name: str = typer.Argument(...), model: str | None = typer.Option(None, "--model"),
         json_out: bool = typer.Option(False, "--json")) -> None:
    """One preset (a model's own preset wins over a global one of the same name)."""
    preset = _store().show(name, model=model)
    if json_out:
        print_json(preset.to_dict())
    else:
        console.print(f"[bold]{preset.name}[/] ({preset.scope})")
        for key, value in preset.params.items():
            console.print(f"  {key} = {json.dumps(value)}")


@presets_app.command("rename")
@handle_errors
def rename(old: str = typer.Argument(...), new: str = typer.Argument(...),
           model: str | None = typer.Option(None, "--model")) -> None:
    """Rename a preset."""
    preset = _store().rename(old, new, model=model)
    console.print(f"renamed to {preset.name}")


@presets_app.command("delete")
@handle_errors
def delete(name: str = typer.Argument(...), model: str | None = typer.Option(None, "--model")) -> None:
    """Delete a preset."""
    preset = _store().delete(name, model=model)
    console.print(f"deleted preset {preset.name} ({preset.scope})")
