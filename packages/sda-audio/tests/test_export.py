"""export_audio: every format x rate x depth x layout round-trips; loudness, ceiling, dither, tags, sidecar."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sda_audio import export as export_module
from sda_audio.errors import SdaError
from sda_audio.export import ExportSettings, export_audio, integrated_loudness

SR_IN = 44100


def _noise_tone(seconds: float = 0.5, channels: int = 2, level: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(1)
    t = np.arange(int(SR_IN * seconds)) / SR_IN
    tone = np.sin(2 * np.pi * 330 * t)
    return np.stack([level * (tone + 0.2 * rng.standard_normal(t.size)) for _ in range(channels)]).astype(np.float32)


def _square(seconds: float = 0.6) -> np.ndarray:
    t = np.arange(int(SR_IN * seconds)) / SR_IN
    return np.sign(np.sin(2 * np.pi * 441 * t)).astype(np.float32)[None]


COMBOS = (
    [("wav", r, b, c) for r in (44100, 48000, 96000) for b in (16, 24, 32) for c in ("mono", "stereo")]
    + [("flac", r, b, c) for r in (44100, 48000, 96000) for b in (16, 24) for c in ("mono", "stereo")]
    + [("mp3", r, 24, c) for r in (44100, 48000) for c in ("mono", "stereo")]
    + [("ogg", r, 24, c) for r in (44100, 48000, 96000) for c in ("mono", "stereo")]
)
SUBTYPES = {16: "PCM_16", 24: "PCM_24", 32: "FLOAT"}


@pytest.mark.parametrize("fmt,rate,bits,layout", COMBOS)
def test_every_combination_round_trips(tmp_path: Path, fmt: str, rate: int, bits: int, layout: str) -> None:
    settings = ExportSettings(format=fmt, sample_rate=rate, bit_depth=bits, channels=layout)
    source = _noise_tone(channels=1 if layout == "stereo" else 2)  # always convert the layout too
    path = export_audio(source, SR_IN, tmp_path / f"out.{fmt}", settings, metadata={"title": "combo"})
    assert path == tmp_path / f"out.{fmt}" and path.is_file()
    info = sf.info(str(path))
    assert info.samplerate == rate
    assert info.channels == (1 if layout == "mono" else 2)
    expected_subtype = {"mp3": "MPEG_LAYER_III", "ogg": "VORBIS"}.get(fmt, SUBTYPES[bits])
    assert info.subtype == expected_subtype
    assert abs(info.frames - round(source.shape[1] * rate / SR_IN)) < (3000 if fmt == "mp3" else 2)
    sidecar = json.loads(path.with_name(path.name + ".json").read_text())
    assert sidecar["settings"] == settings.to_dict()
    assert sidecar["source"]["sample_rate"] == SR_IN and sidecar["sample_rate"] == rate
    assert sidecar["metadata"] == {"title": "combo"}
    data, _ = sf.read(str(path), always_2d=True)
    assert np.max(np.abs(data)) <= 10 ** (-1 / 20) + 1e-6


@pytest.mark.parametrize("target", [-23.0, -14.0])
@pytest.mark.parametrize("fmt,bits", [("wav", 16), ("wav", 24), ("flac", 24), ("wav", 32)])
def test_loudness_lands_on_target(tmp_path: Path, target: float, fmt: str, bits: int) -> None:
    settings = ExportSettings(format=fmt, bit_depth=bits, loudness_lufs=target)
    path = export_audio(_noise_tone(level=0.01), SR_IN, tmp_path / f"loud.{fmt}", settings)
    data, sr = sf.read(str(path), always_2d=True)
    assert abs(integrated_loudness(data.T, sr) - target) < 0.5
    sidecar = json.loads(path.with_name(path.name + ".json").read_text())
    assert abs(sidecar["loudness_lufs_after"] - target) < 0.5
    assert sidecar["loudness_lufs_before"] < target - 5  # the quiet source was really raised


@pytest.mark.parametrize("fmt,bits", [("wav", 16), ("wav", 24), ("wav", 32), ("flac", 16), ("mp3", 24), ("ogg", 24)])
@pytest.mark.parametrize("loudness", [None, -6.0])
def test_full_scale_square_never_clips(tmp_path: Path, fmt: str, bits: int, loudness: float | None) -> None:
    ceiling = -1.0
    settings = ExportSettings(format=fmt, bit_depth=bits, loudness_lufs=loudness, peak_dbfs=ceiling)
    path = export_audio(_square(), SR_IN, tmp_path / f"sq.{fmt}", settings)
    data, _ = sf.read(str(path), always_2d=True)
    assert np.max(np.abs(data)) <= 10 ** (ceiling / 20) + 1e-6


def test_lower_ceiling_is_respected(tmp_path: Path) -> None:
    settings = ExportSettings(peak_dbfs=-6.0, loudness_lufs=-3.0)
    path = export_audio(_noise_tone(), SR_IN, tmp_path / "c.wav", settings)
    data, _ = sf.read(str(path), always_2d=True)
    assert np.max(np.abs(data)) <= 10 ** (-6 / 20) + 1e-6


def test_clip_shorter_than_loudness_block(tmp_path: Path) -> None:
    short = _noise_tone(seconds=0.15, level=0.05)
    assert integrated_loudness(short, SR_IN) is not None
    path = export_audio(short, SR_IN, tmp_path / "short.wav", ExportSettings(loudness_lufs=-20.0))
    data, sr = sf.read(str(path), always_2d=True)
    assert abs(integrated_loudness(data.T, sr) - (-20.0)) < 0.5


def test_silence_is_exported_without_normalising(tmp_path: Path) -> None:
    path = export_audio(np.zeros((2, 4410), np.float32), SR_IN, tmp_path / "s.wav", ExportSettings(loudness_lufs=-14))
    sidecar = json.loads(path.with_name(path.name + ".json").read_text())
    assert sidecar["loudness_lufs_before"] is None and sidecar["loudness_gain_db"] == 0.0


def test_tpdf_dither_is_seeded(tmp_path: Path) -> None:
    quiet = _noise_tone(level=1e-4)
    a = export_audio(quiet, SR_IN, tmp_path / "a.wav", ExportSettings(bit_depth=16, dither_seed=3))
    b = export_audio(quiet, SR_IN, tmp_path / "b.wav", ExportSettings(bit_depth=16, dither_seed=3))
    c = export_audio(quiet, SR_IN, tmp_path / "c.wav", ExportSettings(bit_depth=16, dither_seed=4))
    da, db, dc = (sf.read(str(p), dtype="int16")[0] for p in (a, b, c))
    np.testing.assert_array_equal(da, db)
    assert np.any(da != dc)
    # Dither decorrelates the error: digital silence becomes +-1 LSB noise, not zeros.
    silent = export_audio(np.zeros((1, 44100), np.float32), SR_IN, tmp_path / "z.wav",
                          ExportSettings(bit_depth=16, channels="mono"))
    z = sf.read(str(silent), dtype="int16")[0]
    assert set(np.unique(z)) <= {-1, 0, 1} and np.count_nonzero(z) > 1000


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "mp3"])
def test_tags_in_file(tmp_path: Path, fmt: str) -> None:
    path = export_audio(_noise_tone(), SR_IN, tmp_path / f"t.{fmt}", ExportSettings(format=fmt),
                        metadata={"title": "Night drones", "artist": "me", "seed": 7})
    with sf.SoundFile(str(path)) as handle:
        assert handle.title == "Night drones"
        assert handle.artist == "me"
        if fmt != "mp3":  # LAME writes its own name as the encoder
            assert "sda" in handle.software


@pytest.mark.parametrize("kwargs,match", [
    ({"sample_rate": 22050}, "sample rate"),
    ({"format": "mp3", "sample_rate": 96000}, "MP3"),
    ({"format": "flac", "bit_depth": 32}, "FLAC"),
    ({"bit_depth": 8}, "bit depth"),
    ({"channels": "quad"}, "channel layout"),
    ({"format": "aac"}, "format"),
    ({"peak_dbfs": 3.0}, "peak"),
    ({"mp3_bitrate": 1000}, "bitrate"),
])
def test_bad_settings_are_clear_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(SdaError, match=match):
        ExportSettings(**kwargs)


def test_path_extension_handling(tmp_path: Path) -> None:
    assert export_audio(_noise_tone(), SR_IN, tmp_path / "noext", ExportSettings(format="flac")).name == "noext.flac"
    with pytest.raises(SdaError, match="does not match"):
        export_audio(_noise_tone(), SR_IN, tmp_path / "x.wav", ExportSettings(format="flac"))
    with pytest.raises(SdaError, match="nothing to export"):
        export_audio(np.zeros((2, 0), np.float32), SR_IN, tmp_path / "e.wav")


def test_disk_full_is_a_clear_error_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(export_module, "_write", full)
    with pytest.raises(SdaError, match="disk is full"):
        export_audio(_noise_tone(), SR_IN, tmp_path / "full.wav")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_folder_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(SdaError, match="folder"):
        export_audio(_noise_tone(), SR_IN, blocker / "out.wav")
