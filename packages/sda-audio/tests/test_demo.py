"""make_demo_dataset: varied, valid, deterministic, fast."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import soundfile as sf

from sda_audio.demo import make_demo_dataset
from sda_audio.validation import validate_dataset


def _centroid(path: Path) -> float:
    data, sr = sf.read(str(path), always_2d=True)
    mag = np.abs(np.fft.rfft(data.mean(axis=1)))
    freqs = np.fft.rfftfreq(data.shape[0], 1 / sr)
    return float(np.sum(freqs * mag) / np.sum(mag))


def test_demo_dataset(tmp_path: Path) -> None:
    start = time.process_time()
    paths = make_demo_dataset(tmp_path / "demo", seed=0)
    elapsed = time.process_time() - start
    assert elapsed < 10, f"demo took {elapsed:.1f} s of CPU"  # ~2 s normally; generous for busy CI

    assert len(paths) == 12 and len({p.name for p in paths}) == 12
    infos = [sf.info(str(p)) for p in paths]
    assert all(i.samplerate == 44100 and i.subtype == "PCM_24" for i in infos)
    assert all(3.0 <= i.duration <= 6.0 for i in infos)
    assert {i.channels for i in infos} == {1, 2}

    report = validate_dataset(tmp_path / "demo")
    assert report.ok and not report.file_errors and not report.warnings, report.to_text()

    centroids = [_centroid(p) for p in paths]
    assert max(centroids) / min(centroids) > 8  # from low drones to bright wind and clicks


def test_demo_is_deterministic_per_seed(tmp_path: Path) -> None:
    names = ["wind_bright", "bell_high", "pluck_reverb"]
    a = make_demo_dataset(tmp_path / "a", seed=3, names=names)
    b = make_demo_dataset(tmp_path / "b", seed=3, names=names)
    c = make_demo_dataset(tmp_path / "c", seed=4, names=names)
    assert [p.name for p in a] == ["bell_high.wav", "wind_bright.wav", "pluck_reverb.wav"]
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    assert all(x.read_bytes() != y.read_bytes() for x, y in zip(a, c, strict=True))
