"""``sda gui``: registered in the CLI, serves on 127.0.0.1 only, and Gradio is not imported at CLI start-up."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from typer.testing import CliRunner


def test_sda_start_up_does_not_import_gradio() -> None:
    code = "import sys, sda_cli.main; print('gradio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_sda_gui_serves_on_localhost_with_the_given_port(monkeypatch: pytest.MonkeyPatch) -> None:
    import gradio as gr

    from sda_cli.main import app

    seen: dict[str, Any] = {}

    def fake_launch(self: Any, **kwargs: Any) -> None:
        seen.update(kwargs)

    monkeypatch.setattr(gr.Blocks, "launch", fake_launch)
    monkeypatch.setattr("sda_gradio.serving.wait_until_ready", lambda url, timeout=0: True)  # nothing is served
    result = CliRunner().invoke(app, ["gui", "--port", "7999", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "ready: http://127.0.0.1:7999/" in result.output
    assert seen["server_name"] == "127.0.0.1" and seen["server_port"] == 7999 and seen["share"] is False
