"""``sda gui``: the browser app, served on this computer only (127.0.0.1)."""

from __future__ import annotations

import typer

from sda_cli.errors import handle_errors
from sda_cli.output import console

READY_TIMEOUT_S = 180.0


@handle_errors
def gui(
    port: int = typer.Option(7860, "--port", "-p", min=1, max=65535, help="Port on 127.0.0.1 to serve the app on."),
    device: str = typer.Option("auto", help="Where models train and run: auto, cpu, cuda or mps."),
    open_browser: bool = typer.Option(False, "--open", help="Open the app in your web browser once it is ready."),
) -> None:
    """Open the sda app in a web browser: data, training, generation, codes, library and history.

    The app listens on 127.0.0.1 only, so nobody else on the network can reach it. It says "ready" once the
    page answers. Stop it with Ctrl-C.
    """
    try:
        from sda_gradio.app import HOST, launch  # imports Gradio (a few seconds): only for this command
        from sda_gradio.serving import wait_until_ready
    except ImportError as exc:
        from sda_audio.errors import SdaError

        raise SdaError(f"the browser app is not installed ({exc})",
                       hint="install it with `pip install sda-cli[gui]` (or sda-gradio)") from None

    url = f"http://{HOST}:{port}/"
    console.print("Starting the sda app (this takes a few seconds) ...")  # no address yet: it would not answer
    app = launch(port=port, device=device, open_browser=False, block=False, quiet=True)
    if wait_until_ready(url, timeout=READY_TIMEOUT_S):
        console.print(f"ready: [bold]{url}[/] (Ctrl-C stops it)")
        if open_browser:
            import webbrowser

            webbrowser.open(url)
    else:
        console.print(f"The app did not answer on {url} within {READY_TIMEOUT_S:.0f} s; it keeps trying "
                      "(Ctrl-C stops it).")
    app.block_thread()
