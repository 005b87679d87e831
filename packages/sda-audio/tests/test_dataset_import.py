"""import_dataset / load_manifest / list_audio_files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sda_audio.dataset import import_dataset, load_manifest
from sda_audio.errors import Cancelled, SdaError
from sda_audio.files import MANIFEST_NAME, list_audio_files
from sda_audio.progress import CancelToken, ProgressEvent


def _wav(path: Path, freq: float, seconds: float = 0.6, sr: int = 44100, channels: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(sr * seconds)) / sr
    data = np.stack([0.4 * np.sin(2 * np.pi * freq * t)] * channels, axis=1)
    sf.write(str(path), data, sr, subtype="PCM_16")
    return path


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    _wav(src / "a" / "take.wav", 220)
    _wav(src / "b" / "take.wav", 330, channels=2)  # same name, different content
    _wav(src / "b" / "deep" / "low.wav", 110, sr=48000)
    (src / "b" / "copy_of_a.wav").write_bytes((src / "a" / "take.wav").read_bytes())  # duplicate
    (src / "b" / "broken.flac").write_bytes(np.random.default_rng(0).bytes(3000))
    (src / "notes.txt").write_text("session notes")
    (src / ".hidden.wav").write_bytes(b"junk")
    return src


def test_list_audio_files(recordings: Path) -> None:
    names = [p.relative_to(recordings).as_posix() for p in list_audio_files(recordings)]
    assert names == ["a/take.wav", "b/broken.flac", "b/copy_of_a.wav", "b/deep/low.wav", "b/take.wav"]
    assert list_audio_files(recordings, recursive=False) == []
    assert list_audio_files([recordings / "a" / "take.wav", recordings / "a"]) == [recordings / "a" / "take.wav"]


def test_import_recursive_with_duplicates_rejections_and_collisions(recordings: Path, tmp_path: Path) -> None:
    events: list[ProgressEvent] = []
    dest = tmp_path / "datasets" / "mine"
    result = import_dataset([recordings], dest, "mine", on_event=events.append)

    assert sorted(e.path for e in result.imported) == ["low.wav", "take-2.wav", "take.wav"]
    assert [d.source.name for d in result.duplicates] == ["copy_of_a.wav"]
    assert "same content" in str(result.duplicates[0])
    rejected = {r.source.name: r.reason for r in result.rejected}
    assert set(rejected) == {"broken.flac", "notes.txt"}
    assert "Format not recognised" in rejected["broken.flac"]
    assert "not a supported audio format" in rejected["notes.txt"]
    assert not (dest / "broken.flac").exists() and not (dest / "notes.txt").exists()

    manifest = json.loads((dest / MANIFEST_NAME).read_text())
    assert manifest["name"] == "mine" and len(manifest["entries"]) == 3
    by_path = {e["path"]: e for e in manifest["entries"]}
    assert by_path["low.wav"]["sample_rate"] == 48000 and by_path["low.wav"]["channels"] == 1
    assert by_path["low.wav"]["duration"] == pytest.approx(0.6)
    assert by_path["low.wav"]["source"].endswith("deep/low.wav")
    for entry in manifest["entries"]:
        assert len(entry["sha256"]) == 64
        assert (dest / entry["path"]).read_bytes()  # the file is really there

    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and "warning" in kinds
    assert json.dumps(result.to_dict())
    assert not list(dest.glob(".*tmp*"))  # no leftovers from atomic writes


def test_second_import_skips_files_already_in_dataset(recordings: Path, tmp_path: Path) -> None:
    dest = tmp_path / "ds"
    import_dataset(recordings / "a", dest, "ds")
    again = import_dataset([recordings / "a" / "take.wav", recordings / "b" / "take.wav"], dest, "ds")
    assert [d.duplicate_of for d in again.duplicates] == ["take.wav"]
    assert [e.path for e in again.imported] == ["take-2.wav"]
    assert len(load_manifest(dest).entries) == 2


def test_folder_without_manifest_is_a_dataset(tmp_path: Path) -> None:
    _wav(tmp_path / "x.wav", 200)
    _wav(tmp_path / "sub" / "y.wav", 300, seconds=1.0)
    manifest = load_manifest(tmp_path)
    assert manifest.computed and manifest.name == tmp_path.name
    assert sorted(e.path for e in manifest.entries) == ["sub/y.wav", "x.wav"]
    assert manifest.total_duration == pytest.approx(1.6)
    assert not (tmp_path / MANIFEST_NAME).exists()


def test_damaged_manifest_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(SdaError, match="manifest"):
        load_manifest(tmp_path)


def test_cancel_keeps_what_was_copied(recordings: Path, tmp_path: Path) -> None:
    token = CancelToken()
    seen: list[ProgressEvent] = []

    def stop_after_first(event: ProgressEvent) -> None:
        seen.append(event)
        if event.kind == "progress":
            token.cancel()

    with pytest.raises(Cancelled):
        import_dataset(recordings, tmp_path / "ds", "ds", on_event=stop_after_first, cancel=token)
    manifest = load_manifest(tmp_path / "ds")
    assert not manifest.computed and len(manifest.entries) == 1


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(SdaError, match="no such file"):
        import_dataset(tmp_path / "missing", tmp_path / "ds", "ds")
    with pytest.raises(SdaError, match="dataset name"):
        import_dataset(tmp_path, tmp_path / "ds", "a/b")
