"""The hostile probe, end to end through the ``sda`` command: what a user (or a hostile file) can throw at the CLI
is refused with one clear line and a non-zero exit, never a traceback, and nothing is replaced unasked.

Hostile model files come from the builders of ``test_hostile_model_files.py`` (format 99, NaN weights, an unknown
extra tensor, the memory bomb). Training runs are tiny (``--size tiny``, a few steps, six short tones); the two
racing ``sda train`` processes are real subprocesses started together, so the model lock is exercised across
processes.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from sda_cli.main import app

runner = CliRunner()
SR = 44100
SLACK_S = 30.0
"""What ``--max-minutes`` may overrun by on this machine: the writing of the model and corpus index after the
budget's last step, on 2 shared CPU cores (measured: a few seconds)."""


def _builders():
    """``test_hostile_model_files``'s builders, loaded by path (whatever pytest's import mode)."""
    path = Path(__file__).with_name("test_hostile_model_files.py")
    spec = importlib.util.spec_from_file_location("_hostile_model_builders", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


B = _builders()


def _tones(folder: Path, n: int = 6) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        t = np.arange(int(SR * (1.6 + 0.2 * i))) / SR
        x = 0.3 * np.sin(2 * np.pi * 110 * (i + 1) * t) + 0.01 * rng.standard_normal(t.size)
        sf.write(folder / f"take{i}.wav", x.astype(np.float32), SR)
    return folder


def _one_clear_line(result, *needles: str) -> str:
    """The command failed with exactly one non-empty output line, containing each needle, and no traceback."""
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert len(lines) == 1, result.output
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli_hostile") / "tiny.sda"
    B.save_model(path, B.tiny_bundle(vocoder=True))
    return path


def test_models_import_refuses_each_hostile_file(tiny_model: Path, tmp_path: Path) -> None:
    def poison(tensors: dict[str, torch.Tensor]) -> None:
        tensors["prior.start"] = tensors["prior.start"].clone()
        tensors["prior.start"].view(-1)[0] = float("nan")

    hostile = {
        "v99.sda": (B.rewrite(tiny_model, tmp_path / "v99.sda", meta_edit=lambda m: m.update(format_version=99)),
                    "newer sda (format 99)"),
        "nan.sda": (B.rewrite(tiny_model, tmp_path / "nan.sda", tensors_edit=poison),
                    "contains NaN or infinite values"),
        "extra.sda": (B.rewrite(tiny_model, tmp_path / "extra.sda",
                                tensors_edit=lambda t: t.update({"prior.extra": torch.ones(2)})),
                      "unexpected 1 tensor"),
        "bomb.sda": (B.make_bomb(tiny_model, tmp_path / "bomb.sda"), "implies"),
    }
    for name, (path, why) in hostile.items():
        start = time.perf_counter()
        result = runner.invoke(app, ["models", "import", str(path), "--name", name.removesuffix(".sda")])
        _one_clear_line(result, name, why)
        assert time.perf_counter() - start < 5.0, name  # the bomb is refused from its header, not allocated
    listed = runner.invoke(app, ["models", "list", "--json"])
    assert listed.exit_code == 0 and listed.output.strip() == "[]"  # nothing was let in

    accepted = runner.invoke(app, ["models", "import", str(tiny_model), "--name", "fine"])
    assert accepted.exit_code == 0, accepted.output


def test_a_broken_file_in_the_library_is_listed_as_broken_not_a_crash(tiny_model: Path, tmp_path: Path) -> None:
    from sda_engine import SdaHome

    models = SdaHome().models_dir
    models.mkdir(parents=True, exist_ok=True)
    B.rewrite(tiny_model, models / "future.sda", meta_edit=lambda m: m.update(format_version=99))
    listed = runner.invoke(app, ["models", "list"])
    assert listed.exit_code == 0, listed.output
    assert "broken: future.sda" in listed.output and "newer sda (format 99)" in listed.output
    assert "Traceback" not in listed.output

    # a catalogued model whose weights went bad later (same size, so the catalogue row stays)
    assert runner.invoke(app, ["models", "import", str(tiny_model), "--name", "rotting"]).exit_code == 0
    target = models / "rotting.sda"

    def poison(tensors: dict[str, torch.Tensor]) -> None:
        tensors["stats.std"] = tensors["stats.std"].clone()
        tensors["stats.std"][0] = float("inf")

    B.rewrite(tiny_model, tmp_path / "rot.sda", tensors_edit=poison)
    target.write_bytes((tmp_path / "rot.sda").read_bytes())
    shown = runner.invoke(app, ["models", "show", "rotting"])
    assert shown.exit_code == 1 and "broken:" in shown.output and "stats.std" in shown.output, shown.output
    assert "Traceback" not in shown.output


def test_generate_refuses_to_replace_a_file_without_overwrite(tiny_model: Path, tmp_path: Path) -> None:
    assert runner.invoke(app, ["models", "import", str(tiny_model), "--name", "tiny"]).exit_code == 0
    existing = tmp_path / "existing.wav"
    existing.write_bytes(b"precious")
    result = runner.invoke(app, ["generate", "tiny", "-o", str(existing), "--duration", "0.5", "--device", "cpu"])
    _one_clear_line(result, "existing.wav", "--overwrite")
    assert existing.read_bytes() == b"precious"


def test_export_audio_and_demo_data_refuse_to_replace_files(tmp_path: Path) -> None:
    source = _tones(tmp_path / "src", n=1) / "take0.wav"
    out = tmp_path / "out.wav"
    out.write_bytes(b"precious")
    result = runner.invoke(app, ["export-audio", str(source), str(out)])
    _one_clear_line(result, "out.wav", "--overwrite")
    assert out.read_bytes() == b"precious"
    assert runner.invoke(app, ["export-audio", str(source), str(out), "--overwrite"]).exit_code == 0

    demo = tmp_path / "demo"
    demo.mkdir()
    assert runner.invoke(app, ["demo-data", str(demo)]).exit_code == 0
    again = runner.invoke(app, ["demo-data", str(demo)])
    _one_clear_line(again, "already there", "--overwrite")


@pytest.mark.parametrize("name", ["../../etc/x", "..", "-rf", " padded ", "a\nb"])
def test_hostile_dataset_and_preset_names_are_refused_by_the_rule(name: str, tmp_path: Path) -> None:
    source = _tones(tmp_path / "src", n=1)
    imported = runner.invoke(app, ["dataset", "import", str(source), f"--name={name}"])
    line = _one_clear_line(imported, "is not a usable dataset name")
    assert "Traceback" not in line
    saved = runner.invoke(app, ["presets", "save", "--set", "seed=3", "--", name])
    _one_clear_line(saved, "is not a usable preset name")
    assert not list(tmp_path.parent.glob("etc"))


def test_dataset_validate_names_the_nan_file_and_the_repair(tmp_path: Path) -> None:
    folder = _tones(tmp_path / "ds", n=2)
    bad = np.sin(np.arange(SR) / 20.0).astype(np.float32) * 0.3
    bad[1000:1010] = np.nan
    sf.write(folder / "poisoned.wav", bad, SR, subtype="FLOAT")
    result = runner.invoke(app, ["dataset", "validate", str(folder)])
    assert result.exit_code == 1, result.output
    assert "poisoned.wav" in result.output and "NaN" in result.output
    assert "--repair-non-finite" in result.output
    imported = runner.invoke(app, ["dataset", "import", str(folder), "--name", "fixed", "--repair-non-finite",
                                   "--json"])
    assert imported.exit_code == 0, imported.output
    assert '"rejected": []' in imported.output


def _train_cmd(dataset: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "sda_cli.main", "train", str(dataset), "--model", "twin", "--size", "tiny",
            "--no-controls", "--device", "cpu", *extra]


def test_racing_trainings_and_the_time_budget(tmp_path: Path) -> None:
    """Two ``sda train DIR --model twin`` processes started together: exactly one exits 0, the other says another
    job is training it. Meanwhile (to keep this file short) a third job, in this process, trains with
    ``--max-minutes 0.5`` and must finish, whole job, within 30 s plus :data:`SLACK_S`."""
    dataset = _tones(tmp_path / "tones")
    env = {**os.environ, "SDA_DEVICE": "cpu", "OMP_NUM_THREADS": "1"}
    cmd = _train_cmd(dataset, "--steps", "3", "--prior-steps", "3")
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    try:
        start = time.perf_counter()
        budget = runner.invoke(app, ["train", str(dataset), "--model", "budget", "--size", "tiny", "--no-controls",
                                     "--device", "cpu", "--max-minutes", "0.5"])
        wall = time.perf_counter() - start
        outputs = [p.communicate(timeout=240)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 1], (codes, outputs)
    loser = outputs[codes.index(1)]
    assert "model 'twin' is being trained by another job" in loser, loser
    assert "Traceback" not in loser

    assert budget.exit_code == 0, budget.output
    assert "verdict: " in budget.output  # the engine's one-sentence "still improving / converged" verdict
    print(f"--max-minutes 0.5: whole job {wall:.1f} s (limit 30 s + {SLACK_S:.0f} s slack)")
    assert wall < 30.0 + SLACK_S, budget.output
