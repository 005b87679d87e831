"""``sda train --regularise-controls`` reaches the engine (off unless given) and is documented in --help."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from typer.testing import CliRunner

from sda_cli.main import app

runner = CliRunner()


def test_regularise_controls_flag_reaches_the_training_options(monkeypatch: Any, tmp_path: Path) -> None:
    import sda_engine
    from sda_audio.errors import SdaError

    seen: list[dict[str, Any]] = []

    def fake_plan(options: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(options.to_dict())
        raise SdaError("stopped here")

    monkeypatch.setattr(sda_engine, "plan_training", fake_plan)
    folder = tmp_path / "ds"
    folder.mkdir()
    sf.write(folder / "a.wav", np.zeros(44100, np.float32), 44100)
    plain = runner.invoke(app, ["train", str(folder), "--model", "m", "--size", "tiny"])
    on = runner.invoke(app, ["train", str(folder), "--model", "m", "--size", "tiny", "--regularise-controls"])
    assert plain.exit_code == on.exit_code == 1 and "stopped here" in on.output
    assert [s["regularise_controls"] for s in seen] == [False, True]
    shown = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert "--regularise-controls" in shown.output
