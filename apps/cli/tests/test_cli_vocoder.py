"""``sda train-vocoder`` and ``sda vocoder status``: a young vocoder is kept but not used by ``auto``."""

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
    rng = np.random.default_rng(0)
    for i in range(6):
        t = np.arange(int(SR * (1.6 + 0.2 * i))) / SR
        x = 0.3 * np.sin(2 * np.pi * 110 * (i + 1) * t) + 0.01 * rng.standard_normal(t.size)
        sf.write(folder / f"take{i}.wav", x.astype(np.float32), SR)
    return folder


def test_a_vocoder_below_the_floor_is_reported_and_passed_over(tmp_path: Path) -> None:
    run_training(plan_training(TrainOptions(
        name="voc", dataset=str(_dataset(tmp_path / "ds")), kind="vae", size="tiny", controls=False, augment=False,
        batch_size=2, preview_every=1000, steps=2, eval_every=2, checkpoint_every=2)))
    trained = runner.invoke(app, ["train-vocoder", "voc", "--max-steps", "2", "--device", "cpu"])
    assert trained.exit_code == 0, trained.output
    assert "now has its own vocoder" in trained.output
    assert "not used by --vocoder auto yet" in trained.output and "Griffin-Lim floor" in trained.output
    status = runner.invoke(app, ["vocoder", "status", "--json"])
    assert status.exit_code == 0, status.output
    [model] = json.loads(status.output)["models"]
    assert model["own_hifigan"] is True and model["auto_choice"] == "corpus"
    assert model["hifigan_check"]["beats_floor"] is False
    table = runner.invoke(app, ["vocoder", "status"])
    assert "below it" in table.output
