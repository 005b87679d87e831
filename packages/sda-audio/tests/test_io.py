"""read_audio / audio_info: every supported format, resampling, downmix, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sda_audio.errors import AudioReadError, SdaError
from sda_audio.io import SUPPORTED_EXTENSIONS, AudioClip, audio_info, read_audio


def _write(path: Path, sr: int = 44100, channels: int = 2, seconds: float = 0.5, **kwargs) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    data = np.stack([0.5 * np.sin(2 * np.pi * (220 + 110 * c) * t) for c in range(channels)], axis=1)
    sf.write(str(path), data.astype(np.float32), sr, **kwargs)
    return data.T.astype(np.float32)


def test_reads_float32_channels_first(tmp_path: Path) -> None:
    expected = _write(tmp_path / "a.wav", sr=48000, channels=2, subtype="FLOAT")
    clip = read_audio(tmp_path / "a.wav")
    assert isinstance(clip, AudioClip)
    assert clip.samples.dtype == np.float32 and clip.samples.shape == (2, 24000)
    assert clip.sample_rate == 48000 and clip.channels == 2 and clip.frames == 24000
    assert clip.duration == pytest.approx(0.5)
    np.testing.assert_allclose(clip.samples, expected, atol=1e-6)
    assert clip.path == tmp_path / "a.wav"


@pytest.mark.parametrize("ext,kwargs", [(".wav", {}), (".aif", {"format": "AIFF"}), (".aiff", {}),
                                        (".flac", {}), (".ogg", {}), (".mp3", {"format": "MP3"})])
def test_every_supported_format_reads(tmp_path: Path, ext: str, kwargs: dict) -> None:
    assert ext in SUPPORTED_EXTENSIONS
    path = tmp_path / f"x{ext}"
    _write(path, channels=1, **kwargs)
    clip = read_audio(path)
    assert clip.sample_rate == 44100 and clip.channels == 1
    assert abs(clip.frames - 22050) < 2000  # lossy codecs may pad a little
    assert 0.3 < np.max(np.abs(clip.samples)) < 0.7


def test_resample_and_mono(tmp_path: Path) -> None:
    _write(tmp_path / "a.flac", sr=44100, channels=2, seconds=1.0)
    clip = read_audio(tmp_path / "a.flac", sample_rate=48000, mono=True)
    assert clip.samples.shape == (1, 48000) and clip.sample_rate == 48000
    assert clip.samples.dtype == np.float32


def test_audio_info(tmp_path: Path) -> None:
    _write(tmp_path / "a.wav", sr=22050, channels=3, seconds=0.25, subtype="PCM_24")
    info = audio_info(tmp_path / "a.wav")
    assert (info.frames, info.sample_rate, info.channels) == (5512, 22050, 3)
    assert info.duration == pytest.approx(5512 / 22050)
    assert info.format == "WAV" and info.subtype == "PCM_24"


def test_corrupt_file_names_file_and_decoder_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.flac"
    bad.write_bytes(np.random.default_rng(0).bytes(4000))
    with pytest.raises(AudioReadError) as err:
        read_audio(bad)
    text = str(err.value)
    assert "broken.flac" in text and "Format not recognised" in text and "WAV or FLAC" in text
    with pytest.raises(AudioReadError):
        audio_info(bad)


def test_unsupported_extension_and_missing_file(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not audio")
    with pytest.raises(AudioReadError, match="not a supported audio format"):
        read_audio(notes)
    with pytest.raises(SdaError, match="file not found"):
        read_audio(tmp_path / "nope.wav")


def test_reads_real_recording(shared_datasets: Path) -> None:
    path = sorted((shared_datasets / "drums").glob("*.flac"))[0]
    clip = read_audio(path)
    assert clip.sample_rate == 44100 and clip.samples.dtype == np.float32
    assert clip.frames == audio_info(path).frames > 0
