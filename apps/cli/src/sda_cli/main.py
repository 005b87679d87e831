"""The ``sda`` command: train generative audio models on your own recordings, then explore and export."""

from __future__ import annotations

import logging
import os

import typer

from sda_cli import __version__
from sda_cli.cmd_audio import demo_data, describe, export_audio
from sda_cli.cmd_base import base_app
from sda_cli.cmd_codes import codes_app
from sda_cli.cmd_controls import controls_app
from sda_cli.cmd_dataset import dataset_app
from sda_cli.cmd_generate import generate
from sda_cli.cmd_gui import gui
from sda_cli.cmd_history import history_app
from sda_cli.cmd_library import models_app
from sda_cli.cmd_presets import presets_app
from sda_cli.cmd_reconstruct import reconstruct
from sda_cli.cmd_train import train, train_vocoder
from sda_cli.cmd_vocoder import vocoder_app
from sda_cli.output import configure_help_width

configure_help_width()  # before `sda --help`, which is rendered before any callback runs
app = typer.Typer(
    name="sda",
    help="Small DataSet Audio: train a generative model on your own recordings and make new sound with it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"sda {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show library log messages."),
) -> None:
    configure_help_width()  # again per run: a test runner swaps stdout after import
    logging.basicConfig(level=logging.INFO if verbose or os.environ.get("SDA_DEBUG") else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


app.command("demo-data")(demo_data)
app.command("describe")(describe)
app.command("export-audio")(export_audio)
app.command("train")(train)
app.command("generate")(generate)
app.command("reconstruct")(reconstruct)
app.command("train-vocoder")(train_vocoder)
app.command("gui")(gui)
app.add_typer(dataset_app, name="dataset")
app.add_typer(models_app, name="models")
app.add_typer(presets_app, name="presets")
app.add_typer(history_app, name="history")
app.add_typer(vocoder_app, name="vocoder")
app.add_typer(codes_app, name="codes")
app.add_typer(controls_app, name="controls")
app.add_typer(base_app, name="base")


if __name__ == "__main__":
    app()
