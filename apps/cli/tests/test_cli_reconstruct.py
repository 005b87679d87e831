"""``sda reconstruct``: each recording as the model hears it, named after the original, never overwriting."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from sda_cli.main import app

GOLDEN = Path(__file__).resolve().parents[3] / "tests" / "golden" / "make_fixtures.py"
runner = CliRunner()


def _fixtures() -> Any:
    spec = importlib.util.spec_from_file_location("sda_golden_fixtures_for_reconstruct", GOLDEN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def model_and_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    fixtures = _fixtures()
    models = fixtures.install_models(tmp_path_factory.mktemp("models"))
    data = fixtures.make_dataset(tmp_path_factory.mktemp("data") / "ds")
    files = sorted(p for p in data.iterdir() if p.suffix in (".wav", ".flac"))[:2]
    return models / "golden_vae.sda", files


def _run(*args: str) -> Any:
    return runner.invoke(app, ["reconstruct", *args])


def test_reconstructions_are_named_after_the_originals_and_as_long(model_and_files, tmp_path: Path) -> None:
    model, files = model_and_files
    out = tmp_path / "heard"
    result = _run(str(model), *map(str, files), "-o", str(out), "--vocoder", "corpus", "--device", "cpu")
    assert result.exit_code == 0, result.output
    for original in files:
        written = out / f"{original.stem}.wav"
        info, source = sf.info(str(written)), sf.info(str(original))
        assert info.channels == 1 and info.samplerate == 48000
        assert abs(info.duration - source.duration) < 0.02
        sidecar = json.loads(written.with_name(written.name + ".json").read_text())
        assert sidecar["metadata"]["parameters"]["reconstruction_of"]["path"] == str(original.resolve())
        assert sidecar["metadata"]["request"]["render"]["dynamics"] == 0.0
        samples, _ = sf.read(str(written))
        assert np.isfinite(samples).all() and np.abs(samples).max() > 1e-3
        assert original.name in result.output


def test_an_existing_reconstruction_is_refused_without_overwrite_and_the_output_is_repeatable(
        model_and_files, tmp_path: Path) -> None:
    model, files = model_and_files
    out = tmp_path / "heard"
    args = (str(model), str(files[0]), "-o", str(out), "--vocoder", "corpus", "--device", "cpu")
    assert _run(*args).exit_code == 0
    first, _ = sf.read(str(out / f"{files[0].stem}.wav"))
    refused = _run(*args)
    assert refused.exit_code != 0 and "--overwrite" in refused.output
    assert _run(*args, "--overwrite").exit_code == 0
    again, _ = sf.read(str(out / f"{files[0].stem}.wav"))
    assert np.array_equal(first, again)


def test_two_originals_with_one_name_are_refused_before_any_work(model_and_files, tmp_path: Path) -> None:
    model, files = model_and_files
    twin = tmp_path / "elsewhere" / files[0].name
    twin.parent.mkdir()
    twin.write_bytes(files[0].read_bytes())
    result = _run(str(model), str(files[0]), str(twin), "-o", str(tmp_path / "heard"), "--device", "cpu")
    assert result.exit_code != 0 and "separate folders" in result.output
    assert not (tmp_path / "heard" / f"{files[0].stem}.wav").exists()
