"""summarize_dataset and cached waveform thumbnails."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image

from sda_audio.summary import summarize_dataset
from sda_audio.thumbnails import INDEX_NAME, dataset_thumbnails, envelope, waveform_thumbnail


def _wav(path: Path, seconds: float, sr: int = 44100, channels: int = 1, level: float = 0.5) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(sr * seconds)) / sr
    sf.write(str(path), np.stack([level * np.sin(2 * np.pi * 100 * t)] * channels, axis=1), sr)
    return path


def test_summary_counts(tmp_path: Path) -> None:
    _wav(tmp_path / "a.wav", 1.0)
    _wav(tmp_path / "b.wav", 2.0, sr=48000, channels=2)
    _wav(tmp_path / "sub" / "c.wav", 0.5)
    (tmp_path / "bad.wav").write_text("not audio")
    summary = summarize_dataset(tmp_path)
    assert summary.file_count == 3
    assert abs(summary.total_duration - 3.5) < 1e-6
    assert summary.sample_rates == {44100: 2, 48000: 1}
    assert summary.channels == {1: 2, 2: 1}
    assert not summary.consistent_sample_rate
    assert [f.relative for f in summary.files] == ["a.wav", "b.wav", "sub/c.wav"]
    assert summary.files[1].name == "b.wav" and summary.files[1].channels == 2
    assert [p.name for p in summary.unreadable] == ["bad.wav"]
    assert summary.shortest == 0.5 and summary.longest == 2.0
    assert json.loads(json.dumps(summary.to_dict()))["sample_rates"] == {"44100": 2, "48000": 1}


def test_envelope_is_min_max_per_column() -> None:
    x = np.zeros((2, 1000), np.float32)
    x[0, 100] = 1.0
    x[1, 900] = -1.0
    lo, hi = envelope(x, 10)
    assert hi[1] == 0.5 and lo[9] == -0.5  # channels are mixed
    assert np.count_nonzero(hi) == 1 and np.count_nonzero(lo) == 1
    lo, hi = envelope(x[:, :5], 10)  # fewer samples than columns still works
    assert lo.shape == hi.shape == (10,)


def test_waveform_thumbnail_draws_the_envelope(tmp_path: Path) -> None:
    loud = waveform_thumbnail(_wav(tmp_path / "loud.wav", 1.0, level=0.9), tmp_path / "loud.png", 200, 60)
    quiet = waveform_thumbnail(_wav(tmp_path / "quiet.wav", 1.0, level=0.0), tmp_path / "quiet.png", 200, 60)
    a = np.asarray(Image.open(loud).convert("L"), dtype=float)
    b = np.asarray(Image.open(quiet).convert("L"), dtype=float)
    assert a.shape == (60, 200)
    rows_lit_loud = np.count_nonzero((a > 100).any(axis=1))
    rows_lit_quiet = np.count_nonzero((b > 100).any(axis=1))
    assert rows_lit_loud > 45  # 0.9 of full scale fills most of the height
    assert rows_lit_quiet <= 1  # silence is only the centre line


def test_dataset_thumbnails_are_cached(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _wav(data / "a.wav", 0.5)
    _wav(data / "b.wav", 0.5, level=0.2)
    (data / "broken.wav").write_text("nope")
    out = tmp_path / "thumbs"

    first = dataset_thumbnails(data, out)
    assert len(first) == 2 and len(first.drawn) == 2 and not first.reused
    assert [p.name for p in first.failed] == ["broken.wav"]
    assert all(p.is_file() and Image.open(p).size == (400, 80) for p in first)
    stamps = {p: p.stat().st_mtime_ns for p in first}

    second = dataset_thumbnails(data, out)
    assert list(second) == list(first) and not second.drawn and len(second.reused) == 2
    assert {p: p.stat().st_mtime_ns for p in second} == stamps

    _wav(data / "b.wav", 0.5, level=0.8)  # content changes
    os.utime(data / "b.wav", ns=(1, 1))
    third = dataset_thumbnails(data, out)
    assert [p.name[:2] for p in third.drawn] == ["b-"]
    assert third[0] == first[0] and third[1] != first[1]
    assert not first[1].exists()  # the stale picture is removed
    index = json.loads((out / INDEX_NAME).read_text())
    assert set(index) == {"a.wav", "b.wav"}
