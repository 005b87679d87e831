"""``sda history ...``: past generations, A/B comparison, and feeding favourites back into a dataset."""

from __future__ import annotations

from pathlib import Path

import typer

from sda_cli.errors import handle_errors
from sda_cli.output import console, print_json, print_table

history_app = typer.Typer(help="Past generations: list, show, compare, reuse.", no_args_is_help=True)


def _history():
    from sda_engine import History

    return History()


@history_app.command("list")
@handle_errors
def list_(limit: int = typer.Option(50, help="How many of the newest entries."),
          model: str | None = typer.Option(None, "--model"), json_out: bool = typer.Option(False, "--json")) -> None:
    """The newest generations."""
    entries = _history().list(limit=limit, model=model)
    if json_out:
        print_json([e.to_dict() for e in entries])
    else:
        print_table("History", ["id", "created", "model", "seed", "duration", "vocoder", "file"],
                    [[e.id, e.created[:19], e.model_name, e.seed, e.duration, e.vocoder,
                      str(e.audio_path) + ("" if e.audio_exists else " (missing)")] for e in entries])


@history_app.command("show")
@handle_errors
def show(entry_id: int = typer.Argument(...), json_out: bool = typer.Option(False, "--json")) -> None:
    """All settings of one generation."""
    entry = _history().show(entry_id)
    if json_out:
        print_json(entry.to_dict())
        return
    for key, value in entry.to_dict().items():
        console.print(f"{key}: {value}")


@history_app.command("ab")
@handle_errors
def ab(id1: int = typer.Argument(...), id2: int = typer.Argument(...),
       out: Path | None = typer.Option(None, help="Folder for the loudness-matched copies."),
       overwrite: bool = typer.Option(False, "--overwrite", help="Replace copies of this pair already there."),
       json_out: bool = typer.Option(False, "--json")) -> None:
    """Compare two generations: what differs, and loudness-matched copies for a fair listen."""
    comparison = _history().ab(id1, id2, out_dir=out, overwrite=overwrite)
    if json_out:
        print_json(comparison.to_dict())
        return
    print_table(f"A = #{id1}   B = #{id2}", ["setting", "A", "B"],
                [[k, a, b] for k, (a, b) in comparison.param_differences.items()])
    for label, matched in (("A", comparison.a_matched), ("B", comparison.b_matched)):
        console.print(f"{label}: {matched.path} (was {matched.lufs:.1f} LUFS, gain {matched.gain_db:+.1f} dB)")


@history_app.command("feed")
@handle_errors
def feed(ids: list[int] = typer.Argument(..., help="History entry ids."),
         into: str = typer.Option(..., "--into", help="Dataset folder or name to add them to.")) -> None:
    """Add chosen generations to a dataset for the next round of training."""
    from sda_cli.cmd_dataset import resolve_dataset_folder

    try:
        folder = resolve_dataset_folder(into)
    except Exception:
        from sda_engine import SdaHome

        folder = SdaHome().datasets_dir / into
    result = _history().feed(ids, folder)
    console.print(f"added {len(result.added)} to {result.dataset}; skipped {len(result.skipped)}")
    for entry_id, reason in result.skipped.items():
        console.print(f"  #{entry_id}: {reason}")
