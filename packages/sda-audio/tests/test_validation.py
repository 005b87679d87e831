"""validate_file / validate_dataset: real recordings pass; every kind of broken file is named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sda_audio.validation import validate_dataset, validate_file


def _wav(path: Path, data: np.ndarray, sr: int = 44100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.asarray(data, dtype=np.float32).T, sr, subtype="PCM_16")
    return path


def _tone(seconds: float = 1.0, sr: int = 44100, channels: int = 1, level: float = 0.3, freq: float = 220) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return np.tile(level * np.sin(2 * np.pi * freq * t), (channels, 1))


@pytest.mark.parametrize("name", ["ambient", "loops", "drums"])
def test_real_recordings_validate_cleanly(shared_datasets: Path, name: str) -> None:
    report = validate_dataset(shared_datasets / name)
    assert report.ok, report.to_text()
    assert not report.errors and not report.file_errors
    assert len(report.usable_files) == len(report.files) >= 5
    assert report.sample_rates == {44100}
    assert report.total_duration > 10


def _problem_folder(root: Path, good: int) -> Path:
    for i in range(good):
        _wav(root / f"good{i}.wav", _tone(freq=200 + 50 * i))
    (root / "corrupt.flac").write_bytes(np.random.default_rng(0).bytes(5000))
    (root / "zero_bytes.wav").write_bytes(b"")
    _wav(root / "no_frames.wav", np.zeros((1, 0)))
    _wav(root / "silent.wav", np.zeros((1, 44100)))
    (root / "text.wav").write_text("this is a text file pretending to be a wav\n" * 20)
    (root / "readme.txt").write_text("notes")
    (root / ".DS_Store").write_bytes(b"\0\1")
    (root / "manifest.json").write_text("{}")
    (root / "good0.wav.json").write_text("{}")  # an export sidecar
    (root / "thumbnails").mkdir()
    (root / "thumbnails" / "x.png").write_bytes(b"png")
    return root


EXPECTED = {"corrupt.flac": "unreadable", "zero_bytes.wav": "empty", "no_frames.wav": "empty",
            "silent.wav": "silent", "text.wav": "unreadable", "readme.txt": "unsupported_format"}


def test_problem_files_are_named_and_make_the_dataset_not_ready(tmp_path: Path) -> None:
    report = validate_dataset(_problem_folder(tmp_path, good=5))
    by_name = {f.path.name: f for f in report.files}
    assert set(by_name) == {f"good{i}.wav" for i in range(5)} | set(EXPECTED)  # hidden/manifest/thumbnails ignored
    for name, code in EXPECTED.items():
        assert by_name[name].status == "error"
        assert [i.code for i in by_name[name].issues] == [code]
    assert "Format not recognised" in by_name["corrupt.flac"].issues[0].message
    assert all(by_name[f"good{i}.wav"].status == "ok" for i in range(5))
    assert not report.ok and [i.code for i in report.errors] == ["unusable_files"]
    assert all(name in report.errors[0].message for name in EXPECTED)
    assert len(report.usable_files) == 5 and report.total_duration == pytest.approx(5.0)
    text = report.to_text()
    for name in EXPECTED:
        assert name in text
    assert "NOT READY" in text
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False and data["usable_count"] == 5


def test_too_few_usable_files_is_an_error(tmp_path: Path) -> None:
    report = validate_dataset(_problem_folder(tmp_path, good=4))
    assert not report.ok
    assert [i.code for i in report.errors] == ["too_few_files", "unusable_files"]
    assert "at least 5" in report.to_text() and "NOT READY" in report.to_text()


def test_empty_and_missing_folders(tmp_path: Path) -> None:
    assert [i.code for i in validate_dataset(tmp_path).errors] == ["no_audio"]
    assert [i.code for i in validate_dataset(tmp_path / "missing").errors] == ["not_found"]


def test_too_many_files_is_a_warning(tmp_path: Path) -> None:
    for i in range(4):
        _wav(tmp_path / f"f{i}.wav", _tone(seconds=0.6))
    report = validate_dataset(tmp_path, min_files=2, max_files=3)
    assert report.ok and "too_many_files" in {i.code for i in report.warnings}


def test_file_warnings_and_notes(tmp_path: Path) -> None:
    short = validate_file(_wav(tmp_path / "short.wav", _tone(seconds=0.2)))
    assert short.status == "warning" and short.usable and [i.code for i in short.issues] == ["too_short"]
    assert "loop" in short.issues[0].message

    clipped = validate_file(_wav(tmp_path / "clip.wav", np.clip(_tone(level=3.0), -1, 1)))
    assert clipped.status == "warning" and [i.code for i in clipped.issues] == ["clipped"]
    assert clipped.clipped_fraction > 0.5 and clipped.peak == pytest.approx(1.0, abs=1e-3)

    odd = validate_file(_wav(tmp_path / "odd.wav", _tone(sr=22050, channels=4), sr=22050))
    assert odd.status == "ok" and sorted(i.code for i in odd.issues) == ["many_channels", "unusual_rate"]
    assert (odd.sample_rate, odd.channels) == (22050, 4)

    fine = validate_file(_wav(tmp_path / "fine.wav", _tone(level=0.5)))
    assert fine.status == "ok" and not fine.issues
    assert fine.rms_dbfs == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.1)


def test_never_raises(tmp_path: Path) -> None:
    assert validate_file(tmp_path).status == "error"
    assert validate_file(tmp_path / "nope.wav").issues[0].code == "missing"


def test_mixed_sample_rates_are_reported(tmp_path: Path) -> None:
    for i, sr in enumerate([44100, 44100, 48000, 48000, 96000]):
        _wav(tmp_path / f"f{i}.wav", _tone(sr=sr), sr=sr)
    report = validate_dataset(tmp_path)
    assert report.ok and report.sample_rates == {44100, 48000, 96000}
    assert "mixed_sample_rates" in {i.code for i in report.warnings}


def test_duplicate_content_is_a_warning(tmp_path: Path) -> None:
    for i in range(5):
        _wav(tmp_path / f"f{i}.wav", _tone(freq=100 + 40 * i))
    (tmp_path / "copy.wav").write_bytes((tmp_path / "f2.wav").read_bytes())
    report = validate_dataset(tmp_path)
    assert report.ok
    dup = [i for i in report.warnings if i.code == "duplicate_files"]
    assert len(dup) == 1 and "f2.wav" in dup[0].message and "copy.wav" in dup[0].message
