"""The audio and dataset verbs of the ``sda`` command, as a person would run them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from sda_cli.main import app

runner = CliRunner()


def run(*args: str):
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    result = runner.invoke(app, ["demo-data", str(folder)])
    assert result.exit_code == 0, result.output
    return folder


def test_demo_data_then_info_and_validate(demo: Path) -> None:
    files = sorted(demo.glob("*.wav"))
    assert len(files) >= 10
    info = run("dataset", "info", str(demo), "--json")
    assert info.exit_code == 0, info.output
    summary = json.loads(info.output)
    assert summary["file_count"] == len(files)
    assert run("dataset", "validate", str(demo)).exit_code == 0


def test_info_writes_thumbnails(demo: Path, tmp_path: Path) -> None:
    result = run("dataset", "info", str(demo), "--thumbnails", str(tmp_path / "thumbs"))
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "thumbs").glob("*.png"))) == len(list(demo.glob("*.wav")))


def test_broken_dataset_gets_a_report_and_exit_1(demo: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    for path in sorted(demo.glob("*.wav"))[:5]:
        (bad / path.name).write_bytes(path.read_bytes())
    (bad / "corrupt.flac").write_bytes(np.random.default_rng(0).bytes(5000))
    (bad / "empty.wav").write_bytes(b"")
    sf.write(bad / "silent.wav", np.zeros(44100 * 2, dtype=np.float32), 44100)
    (bad / "notes.wav").write_text("this is a text file, not audio\n")
    result = run("dataset", "validate", str(bad))
    assert result.exit_code == 1
    for name in ("corrupt.flac", "empty.wav", "silent.wav", "notes.wav"):
        assert name in result.output


def test_too_few_files_is_not_trainable(demo: Path, tmp_path: Path) -> None:
    few = tmp_path / "few"
    few.mkdir()
    for path in sorted(demo.glob("*.wav"))[:3]:
        (few / path.name).write_bytes(path.read_bytes())
    result = run("dataset", "validate", str(few), "--json")
    assert result.exit_code == 1
    assert json.loads(result.output)["ok"] is False


def test_import_skips_duplicates(demo: Path, tmp_path: Path) -> None:
    result = run("dataset", "import", str(demo), str(sorted(demo.glob("*.wav"))[0]), "--name", "mine",
                 "--dest", str(tmp_path / "mine"), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{"):])
    assert len(data["imported"]) == len(list(demo.glob("*.wav")))
    assert len(data["duplicates"]) == 1
    assert (tmp_path / "mine" / "manifest.json").is_file()


def test_describe_prints_every_descriptor(demo: Path) -> None:
    files = sorted(demo.glob("*.wav"))[:2]
    result = run("describe", *map(str, files), "--json")
    assert result.exit_code == 0, result.output
    values = json.loads(result.output)
    for per_file in values.values():
        assert {"brightness", "warmth", "roughness", "tension", "rhythmic", "pulse", "density",
                "reverberance"} <= set(per_file)


@pytest.mark.parametrize(("fmt", "rate", "depth", "channels", "subtype"), [
    ("wav", 48000, 24, "stereo", "PCM_24"),
    ("wav", 96000, 32, "mono", "FLOAT"),
    ("flac", 44100, 16, "stereo", "PCM_16"),
    ("wav", 48000, 24, "binaural", "PCM_24"),
])
def test_export_audio(demo: Path, tmp_path: Path, fmt: str, rate: int, depth: int, channels: str,
                      subtype: str) -> None:
    source = sorted(demo.glob("*.wav"))[0]
    out = tmp_path / f"out.{fmt}"
    result = run("export-audio", str(source), str(out), "--sample-rate", str(rate), "--bit-depth", str(depth),
                 "--channels", channels)
    assert result.exit_code == 0, result.output
    info = sf.info(out)
    assert info.samplerate == rate
    assert info.subtype == subtype
    assert info.channels == (1 if channels == "mono" else 2)
    assert json.loads(Path(str(out) + ".json").read_text())


def test_missing_input_is_one_line_error(tmp_path: Path) -> None:
    result = run("export-audio", str(tmp_path / "nope.wav"), str(tmp_path / "out.wav"))
    assert result.exit_code != 0
    assert "nope.wav" in result.output


def test_unwritable_output_is_one_line_error(demo: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run("export-audio", str(sorted(demo.glob("*.wav"))[0]), str(blocker / "sub" / "out.wav"))
    assert result.exit_code != 0
    assert "error" in result.output
