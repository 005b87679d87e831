"""sda_audio.files: which files are recordings, and their hash."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sda_audio.errors import SdaError
from sda_audio.files import file_sha256, iter_candidate_files, list_audio_files


def _touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_candidates_skip_what_is_not_a_recording(tmp_path: Path) -> None:
    keep = [_touch(tmp_path / "a.wav"), _touch(tmp_path / "notes.txt"), _touch(tmp_path / "sub" / "b.flac")]
    for skipped in (".hidden.wav", "manifest.json", "a.wav.json", "x.tmp", "Thumbs.db", "thumbnails/t.wav",
                    ".git/c.wav", "__MACOSX/d.wav"):
        _touch(tmp_path / skipped)
    assert sorted(iter_candidate_files(tmp_path)) == sorted(keep)
    assert list_audio_files(tmp_path) == [tmp_path / "a.wav", tmp_path / "sub" / "b.flac"]
    assert list_audio_files([tmp_path / "a.wav", tmp_path / "a.wav"]) == [tmp_path / "a.wav"]  # no duplicates
    assert list(iter_candidate_files(tmp_path, recursive=False)) == [tmp_path / "a.wav", tmp_path / "notes.txt"]


def test_missing_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SdaError, match="no such file or folder"):
        list(iter_candidate_files(tmp_path / "nope"))


def test_file_sha256_reads_in_chunks(tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000
    path = _touch(tmp_path / "f.bin", data)
    assert file_sha256(path, chunk=1000) == file_sha256(path) == hashlib.sha256(data).hexdigest()
