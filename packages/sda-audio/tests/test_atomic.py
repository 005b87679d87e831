"""Atomic writes: all or nothing, usual permissions, clear errors."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from sda_audio.atomic import atomic_path, atomic_write_text
from sda_audio.errors import SdaError


def test_write_replaces_whole_file_with_usual_permissions(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_failure_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("keep me")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_full_disk_is_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    with pytest.raises(SdaError, match="disk is full"):
        with atomic_path(target):
            raise OSError(errno.ENOSPC, "No space left on device")
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_unwritable_place_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SdaError, match="file"):
        atomic_write_text(blocker / "sub" / "a.txt", "x")
