"""The base package: a light index of shipped base files with their hashes, read without torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import sda_base
from sda_base import BaseIndexError, ShippedBase, file_sha256, find_base, shipped_bases


def test_the_shipped_index_is_readable_and_every_listed_file_matches_its_hash() -> None:
    for base in shipped_bases(sda_base.WEIGHTS):
        base.verify()  # raises on a missing file or another hash
        assert base.size in ("tiny", "small", "full") and base.kind in ("rvq", "vae")
        assert base.evidence or not base.fine_tune_by_default  # a default is backed by a measurement


def test_importing_the_package_pulls_no_torch() -> None:
    code = "import sys, sda_base; sda_base.shipped_bases(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_a_folder_without_an_index_lists_its_base_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "base-tiny-rvq.sda").write_bytes(b"weights")
    (tmp_path / "notes.txt").write_text("not a base")
    monkeypatch.setenv(sda_base.ENV_DIR, str(tmp_path))
    [base] = shipped_bases()
    assert (base.size, base.kind, base.sha256) == ("tiny", "rvq", file_sha256(tmp_path / "base-tiny-rvq.sda"))
    assert not base.fine_tune_by_default
    assert find_base("tiny", "rvq") == base and find_base("small", "rvq") is None


def test_a_changed_file_or_a_broken_index_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "base-tiny-rvq.sda"
    path.write_bytes(b"weights")
    base = ShippedBase(name="b", size="tiny", kind="rvq", path=path, sha256=file_sha256(path))
    base.verify()
    path.write_bytes(b"other weights")
    with pytest.raises(BaseIndexError, match="does not match"):
        base.verify()
    (tmp_path / "index.json").write_text(json.dumps({"bases": [{"file": "x.sda"}]}))
    with pytest.raises(BaseIndexError, match="cannot read"):
        shipped_bases(tmp_path)
