"""``sda gui``: the browser app, served on this computer only (127.0.0.1)."""

from __future__ import annotations

import typer

from sda_cli.errors import handle_errors
from sda_cli.output import console


@handle_errors
def gui(
    port: int = typer.Option(7860, "--port", "-p", min=1, max=65535, help="Port on 127.0.0.1 to serve the app on."),
    device: str = typer.Option("auto", help="Where models train and run: auto, cpu, cuda or mps."),
    open_browser: bool = typer.Option(False, "--open", help="Open the app in your web browser."),
) -> None:
    """Open the sda app in a web browser: data, training, generation, codes, library and history.

    The app listens on 127.0.0.1 only, so nobody else on the network can reach it. Stop it with Ctrl-C.
    """
    try:
        from sda_gradio.app import HOST, launch  # imports Gradio (a few seconds): only for this command
    except ImportError as exc:
        from sda_audio.errors import SdaError

        raise SdaError(f"the browser app is not installed ({exc})",
                       hint="install it with `pip install sda-cli[gui]` (or sda-gradio)") from None

    console.print(f"sda app on [bold]http://{HOST}:{port}/[/] (Ctrl-C stops it)")
    launch(port=port, device=device, open_browser=open_browser, quiet=True)
