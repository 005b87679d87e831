"""Tests for generation history: record/list/show, loudness-matched A/B, feeding back into a dataset."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sda_audio.errors import SdaError
from sda_engine.store.ab import integrated_loudness, match_gains, peak_dbfs
from sda_engine.store.history import History, HistoryRecord
from sda_engine.store.home import SdaHome
from sda_engine.store.model_meta import file_sha256


def tone(path: Path, amp: float, sr: int = 44100, seconds: float = 1.0, channels: int = 1,
         freq: float = 440.0, seed: int = 0) -> Path:
    t = np.arange(int(sr * seconds)) / sr
    rng = np.random.default_rng(seed)
    mono = amp * np.sin(2 * np.pi * freq * t) + 0.01 * amp * rng.standard_normal(t.size)
    data = np.stack([mono] * channels, axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, sr, subtype="PCM_24")
    return path


@pytest.fixture
def hist(tmp_path) -> History:
    return History(SdaHome(tmp_path / "home"))


def rec(hist: History, audio: Path, seed: int = 1, model: str = "drums", **params):
    return hist.record(HistoryRecord(model, "abc123", {"temperature": 1.0, "sliders": {"bright": 0.1}, **params},
                                     seed, audio, audio.with_suffix(".wav.json"), "bigvgan",
                                     "no per-model vocoder", 2.0, 44100, None))


def test_record_list_show(tmp_path, hist):
    a = rec(hist, tone(tmp_path / "a.wav", 0.5), seed=1)
    b = rec(hist, tone(tmp_path / "b.wav", 0.5), seed=2, model="pads")
    assert a.id != b.id and a.format == "wav" and a.params["sliders"] == {"bright": 0.1}
    assert [e.id for e in hist.list()] == [b.id, a.id]  # newest first
    assert [e.id for e in hist.list(model="drums")] == [a.id]
    assert [e.id for e in hist.list(limit=1)] == [b.id]
    shown = hist.show(a.id)
    assert shown == a and shown.audio_exists and shown.audio_path.is_absolute()
    d = shown.to_dict()
    json.dumps(d)
    assert d["vocoder_reason"] == "no per-model vocoder"
    with pytest.raises(SdaError, match="no generation"):
        hist.show(9999)
    assert hist.annotate(a.id, "keeper").notes == "keeper"
    hist.delete(b.id, remove_files=True)
    assert not (tmp_path / "b.wav").exists() and [e.id for e in hist.list()] == [a.id]


def test_new_audio_path_is_unique(hist):
    first = hist.new_audio_path("drums", seed=3)
    assert first.parent.parent == hist.home.history_dir and first.name.endswith("_s3.wav")
    first.write_bytes(b"x")
    second = hist.new_audio_path("drums", seed=3)
    assert second != first and not second.exists()


def test_thumbnail_is_cached(tmp_path, hist):
    from PIL import Image

    a = rec(hist, tone(tmp_path / "a.wav", 0.5))
    png = hist.thumbnail(a.id, width=120, height=30)
    assert png.parent == hist.home.history_dir / "thumbnails"
    assert Image.open(png).size == (120, 30)
    stamp = png.stat().st_mtime_ns
    assert hist.thumbnail(a.id, width=120, height=30) == png and png.stat().st_mtime_ns == stamp


def test_ab_matches_loudness_to_the_quieter(tmp_path, hist):
    a = rec(hist, tone(tmp_path / "a.wav", 0.5, channels=2), seed=1)
    b = rec(hist, tone(tmp_path / "b.wav", 0.1, sr=48000), seed=2, temperature=0.8, sliders={"bright": 0.7})
    cmp = hist.ab(a.id, b.id)
    assert cmp.a_matched.path.parent == hist.home.ab_dir
    assert cmp.a_matched.lufs > cmp.b_matched.lufs + 10  # a was ~14 dB louder
    assert cmp.b_matched.gain_db == pytest.approx(0.0)
    assert cmp.a_matched.gain_db == pytest.approx(cmp.b_matched.lufs - cmp.a_matched.lufs)
    assert cmp.a_matched.matched_lufs == pytest.approx(cmp.b_matched.matched_lufs, abs=0.1)
    info = sf.info(str(cmp.a_matched.path))
    assert (info.subtype, info.samplerate, info.channels) == ("PCM_24", 44100, 2)
    assert sf.info(str(cmp.b_matched.path)).samplerate == 48000
    assert measured(cmp.a_matched.path) == pytest.approx(measured(cmp.b_matched.path), abs=0.1)
    assert cmp.param_differences == {"params.sliders.bright": (0.1, 0.7), "params.temperature": (1.0, 0.8),
                                     "seed": (1, 2)}
    json.dumps(cmp.to_dict())


def measured(path: Path) -> float:
    data, sr = sf.read(str(path), always_2d=True)
    return integrated_loudness(data, sr)


def test_ab_never_clips(tmp_path, hist):
    # a: loud tone with peak ~ -0.1 dBFS; b: noise bursts, same peak but much lower loudness
    a = rec(hist, tone(tmp_path / "a.wav", 0.98), seed=1)
    sr = 44100
    burst = np.zeros(sr)
    burst[::2000] = 0.98
    sf.write(str(tmp_path / "b.wav"), burst, sr, subtype="PCM_24")
    b = rec(hist, tmp_path / "b.wav", seed=2)
    cmp = hist.ab(a.id, b.id, out_dir=tmp_path / "out")
    assert cmp.b_matched.gain_db < 0 and cmp.a_matched.gain_db < cmp.b_matched.gain_db
    for m in (cmp.a_matched, cmp.b_matched):
        data, _ = sf.read(str(m.path))
        assert peak_dbfs(data) <= -1.0 + 1e-3
    assert measured(cmp.a_matched.path) == pytest.approx(measured(cmp.b_matched.path), abs=0.2)


def test_match_gains_edge_cases():
    assert match_gains([-20.0, -30.0], [-10.0, -10.0]) == [-10.0, 0.0]
    assert match_gains([-20.0, -30.0], [-10.0, -0.5]) == [-10.5, -0.5]
    assert match_gains([-math.inf, -30.0], [-math.inf, -6.0]) == [0.0, 0.0]
    assert match_gains([-math.inf, -math.inf], [-math.inf, -math.inf]) == [0.0, 0.0]


def test_ab_short_clips_and_missing_audio(tmp_path, hist):
    a = rec(hist, tone(tmp_path / "a.wav", 0.5, seconds=0.1))
    b = rec(hist, tone(tmp_path / "b.wav", 0.25, seconds=0.1))
    cmp = hist.ab(a.id, b.id)
    assert cmp.a_matched.gain_db == pytest.approx(-6.02, abs=0.1)
    (tmp_path / "b.wav").unlink()
    with pytest.raises(SdaError, match=f"generation #{b.id} is missing"):
        hist.ab(a.id, b.id)


def test_feed_copies_and_skips_duplicates(tmp_path, hist):
    a = rec(hist, tone(tmp_path / "gen" / "a.wav", 0.5, seed=1))
    b = rec(hist, tone(tmp_path / "gen" / "b.wav", 0.4, seed=2))
    dup = rec(hist, tone(tmp_path / "gen" / "a-copy.wav", 0.5, seed=1))  # same bytes as a
    dataset = tmp_path / "ds"
    tone(dataset / "already.wav", 0.3, seed=3)
    c = rec(hist, tone(tmp_path / "gen" / "c.wav", 0.3, seed=3))  # same bytes as the dataset's file
    result = hist.feed([a.id, b.id, dup.id, c.id], dataset)
    assert set(result.added) == {a.id, b.id}
    assert set(result.skipped) == {dup.id, c.id}
    hashes = {file_sha256(p) for p in dataset.rglob("*.wav")}
    assert file_sha256(a.audio_path) in hashes and file_sha256(b.audio_path) in hashes
    assert all(p.is_file() and p.parent == dataset for p in result.added.values())
    if result.manifest_updated:  # sda_audio.dataset.import_dataset recorded them in the manifest
        manifest = json.loads((dataset / "manifest.json").read_text())
        recorded = {e["path"] for e in manifest["entries"]}
        assert {p.name for p in result.added.values()} <= recorded
    again = hist.feed([a.id, b.id], dataset)
    assert again.added == {} and set(again.skipped) == {a.id, b.id}
    json.dumps(result.to_dict())
