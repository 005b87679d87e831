"""Hostile recordings: NaN/infinite samples, an all-infinite file, MP3 that cannot be decoded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sda_audio import io as audio_io
from sda_audio.dataset import import_dataset, load_manifest
from sda_audio.errors import AudioReadError
from sda_audio.files import file_sha256
from sda_audio.io import NonFiniteAudioError, audio_info, mp3_supported, read_audio, repair_non_finite
from sda_audio.repair import repair_audio_file
from sda_audio.validation import validate_dataset, validate_file

RATE = 44100


def tone(seconds: float = 1.0, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def float_wav(path: Path, samples: np.ndarray) -> Path:
    sf.write(str(path), samples, RATE, subtype="FLOAT")
    return path


def nan_wav(path: Path, bad: int = 100) -> Path:
    x = tone()
    x[1000:1000 + bad // 2] = np.nan
    x[5000:5000 + bad - bad // 2] = np.inf
    return float_wav(path, x)


def dataset_with(folder: Path, extra: dict[str, np.ndarray]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(5):
        sf.write(str(folder / f"good{i}.wav"), tone(freq=200.0 + 50 * i), RATE, subtype="PCM_16")
    for name, samples in extra.items():
        float_wav(folder / name, samples)
    return folder


def test_nan_samples_are_an_error_named_per_file(tmp_path: Path) -> None:
    folder = dataset_with(tmp_path / "data", {})
    bad = nan_wav(folder / "broken.wav", bad=100)
    report = validate_dataset(folder)
    assert not report.ok and bad not in report.usable_files
    [issue] = [i for i in report.file_errors if i.code == "non_finite"]
    assert issue.path == bad and "100 of 44100 samples" in issue.message and "NaN or infinite" in issue.message
    assert "accept the repair" in issue.message
    assert "broken.wav" in report.to_text() and report.non_finite_files == [bad]
    assert validate_file(bad).to_dict()["non_finite"] == 100

    accepted = validate_dataset(folder, repair_non_finite=True)
    assert accepted.ok and bad in accepted.usable_files
    [warning] = [i for i in accepted.warnings if i.code == "non_finite"]
    assert warning.path == bad and "set to 0 as you accepted" in warning.message


def test_read_audio_refuses_non_finite_samples_unless_the_repair_is_accepted(tmp_path: Path) -> None:
    bad = nan_wav(tmp_path / "broken.wav", bad=10)
    with pytest.raises(NonFiniteAudioError, match=r"10 of 44100 samples .* NaN or infinite") as info:
        read_audio(bad)
    assert str(bad) in str(info.value) and info.value.count == 10
    clip = read_audio(bad, non_finite="zero")
    assert np.isfinite(clip.samples).all() and clip.samples[0, 1000] == 0.0
    clean = tone()
    assert np.array_equal(clip.samples[0, :1000], clean[:1000])
    repaired, count = repair_non_finite(np.array([1.0, np.nan, -np.inf, 0.5], dtype=np.float32))
    assert count == 2 and repaired.tolist() == [1.0, 0.0, 0.0, 0.5]


def test_an_all_infinite_file_is_reported_as_non_finite_not_silent(tmp_path: Path) -> None:
    path = float_wav(tmp_path / "inf.wav", np.full(RATE, np.inf, dtype=np.float32))
    for repair in (False, True):
        report = validate_file(path, repair_non_finite=repair)
        codes = [i.code for i in report.issues]
        assert codes == ["non_finite"] and report.status == "error", report.issues
        assert "every sample is NaN or infinite" in report.issues[0].message
        assert "silent" not in report.issues[0].message
    with pytest.raises(NonFiniteAudioError, match="every sample is NaN or infinite"):
        read_audio(path)


def test_import_rejects_non_finite_files_or_imports_a_repaired_copy(tmp_path: Path) -> None:
    source = dataset_with(tmp_path / "src", {})
    bad = nan_wav(source / "broken.wav", bad=20)
    original = bad.read_bytes()
    result = import_dataset([source], tmp_path / "ds", "ds")
    assert [r.source.name for r in result.rejected] == ["broken.wav"]
    assert "NaN or infinite" in result.rejected[0].reason

    result = import_dataset([source], tmp_path / "ds2", "ds2", repair_non_finite=True)
    assert not result.rejected and len(result.imported) == 6
    copy = tmp_path / "ds2" / "broken.wav"
    assert bad.read_bytes() == original  # the user's file is never modified
    data, _ = sf.read(str(copy), dtype="float32")
    assert np.isfinite(data).all() and sf.info(str(copy)).subtype == "FLOAT"
    entry = next(e for e in load_manifest(tmp_path / "ds2").entries if e.path == "broken.wav")
    assert entry.sha256 == file_sha256(copy)
    assert validate_dataset(tmp_path / "ds2").ok


def test_repair_audio_file_keeps_the_format(tmp_path: Path) -> None:
    x = np.stack([tone(), tone(freq=330.0)], axis=1).astype(np.float64)
    x[10, 1] = np.nan
    sf.write(str(tmp_path / "in.wav"), x, RATE, subtype="DOUBLE")
    assert repair_audio_file(tmp_path / "in.wav", tmp_path / "out.wav") == 1
    info = sf.info(str(tmp_path / "out.wav"))
    assert (info.subtype, info.channels, info.samplerate) == ("DOUBLE", 2, RATE)
    assert read_audio(tmp_path / "out.wav").samples[1, 10] == 0.0


@pytest.mark.skipif(not mp3_supported(), reason="this libsndfile has no MP3 support")
def test_a_valid_mp3_reads(tmp_path: Path) -> None:
    path = tmp_path / "tone.mp3"
    sf.write(str(path), tone(), RATE, format="MP3")
    info = audio_info(path)
    assert (info.format, info.sample_rate, info.channels) == ("MP3", RATE, 1)
    clip = read_audio(path)
    assert clip.channels == 1 and abs(clip.frames - RATE) < 2000 and 0.2 < np.abs(clip.samples).max() < 0.4
    assert validate_file(path).status == "ok"


@pytest.mark.skipif(not mp3_supported(), reason="this libsndfile has no MP3 support")
def test_an_undecodable_mp3_says_what_failed(tmp_path: Path) -> None:
    good = tmp_path / "tone.mp3"
    sf.write(str(good), tone(), RATE, format="MP3")
    path = tmp_path / "cut.mp3"
    path.write_bytes(good.read_bytes()[:400])  # the stream's first (header) frame only: nothing to decode
    with pytest.raises(AudioReadError) as info:
        read_audio(path)
    text = str(info.value)
    assert str(path) in text and "no decodable MPEG audio stream" in text and "truncated, damaged" in text
    assert "does not exist or is not a regular file (possibly a pipe" not in text
    report = validate_file(path)
    assert report.status == "error" and "no decodable MPEG audio stream" in report.issues[0].message


def test_mp3_without_libsndfile_support_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "tone.mp3"
    path.write_bytes(b"\xff\xfb\x90\xc4" + bytes(2000))

    def no_mp3(*args: object, **kwargs: object) -> None:
        raise sf.LibsndfileError(1, prefix=f"Error opening {str(path)!r}: ")

    monkeypatch.setattr(audio_io, "mp3_supported", lambda: False)
    monkeypatch.setattr(audio_io.sf, "read", no_mp3)
    with pytest.raises(AudioReadError, match=r"cannot read MP3 \(libsndfile 1.1 or newer can"):
        read_audio(path)
