"""``sda controls fit/show`` and the musical-control flags of ``sda generate``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf
from typer.testing import CliRunner

from sda_cli.main import app
from sda_engine import TrainOptions, plan_training, run_training

runner = CliRunner()
SR = 44100


def _dataset(folder: Path) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i in range(6):
        t = np.arange(int(SR * (3.2 + 0.2 * i))) / SR
        x = 0.3 * np.sin(2 * np.pi * 110 * (i + 1) * t) * (0.5 + 0.5 * np.sin(2 * np.pi * (1 + i) * t))
        sf.write(folder / f"take{i}.wav", (x + 0.01 * rng.standard_normal(t.size)).astype(np.float32), SR)
    return folder


def test_fit_show_and_generate_with_controls(tmp_path: Path) -> None:
    run_training(plan_training(TrainOptions(
        name="ctl", dataset=str(_dataset(tmp_path / "ds")), kind="vae", size="tiny", controls=False, augment=False,
        batch_size=2, preview_every=1000, steps=2, eval_every=2, checkpoint_every=2)))
    unfitted = runner.invoke(app, ["generate", "ctl", "--duration", "0.5", "--brightness", "0.5",
                                   "-o", str(tmp_path / "x.wav")])
    assert unfitted.exit_code == 1 and "no fitted controls" in unfitted.output
    assert "sda controls fit MODEL" in unfitted.output  # the CLI names its own remedy
    fitted = runner.invoke(app, ["controls", "fit", "ctl"])
    assert fitted.exit_code == 0, fitted.output
    shown = runner.invoke(app, ["controls", "show", "ctl", "--json"])
    assert shown.exit_code == 0, shown.output
    realisation = json.loads(shown.output)["realisation"]
    assert set(realisation) == {"brightness", "warmth", "roughness", "tension", "rhythmic", "pulse", "density",
                                "reverb"} and realisation["density"] == "steered"
    made = runner.invoke(app, ["generate", "ctl", "--duration", "0.5", "--brightness", "0.5", "--reverb", "-0.4",
                               "--channels", "mono", "-o", str(tmp_path / "y.wav")])
    assert made.exit_code == 0, made.output
    assert "controls: brightness +0.5" in made.output and "reverb -0.4" in made.output
    side = json.loads((tmp_path / "y.wav.json").read_text())["metadata"]
    assert set(side["notes"]["controls"]) == {"brightness", "reverb"}
    bad = runner.invoke(app, ["generate", "ctl", "--duration", "0.5", "--warmth", "1.5", "-o", str(tmp_path / "z.wav")])
    assert bad.exit_code == 1 and "outside -1..1" in bad.output
    searched = runner.invoke(app, ["generate", "ctl", "--duration", "0.5", "--brightness", "0.5", "--control-mode",
                                   "searched", "--channels", "mono", "-o", str(tmp_path / "s.wav")])
    assert searched.exit_code == 0, searched.output
    side = json.loads((tmp_path / "s.wav.json").read_text())["metadata"]
    assert side["notes"]["controls"] == {"brightness": "searched"}
    unknown = runner.invoke(app, ["generate", "ctl", "--duration", "0.5", "--brightness", "0.5", "--control-mode",
                                  "magic", "-o", str(tmp_path / "m.wav")])
    assert unknown.exit_code == 1 and "magic" in unknown.output


def test_evaluate_offers_every_control_mode() -> None:
    from sda_cli.cmd_controls import MODES
    from sda_engine import CONTROL_MODES

    assert set(MODES) == set(CONTROL_MODES)
