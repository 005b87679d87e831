"""Tests for the sda home folder and the SQLite catalogue."""

from __future__ import annotations

import os
import sqlite3
import stat
import sys

import pytest

from sda_audio.errors import SdaError
from sda_engine.store.catalogue import MIGRATIONS, SCHEMA_VERSION, Catalog, open_connection, to_iso
from sda_engine.store.home import SUBFOLDERS, SdaHome, validate_name


def test_home_uses_sda_home_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SDA_HOME", str(tmp_path / "h"))
    home = SdaHome()
    assert home.root == tmp_path / "h"
    for sub in SUBFOLDERS:
        assert (tmp_path / "h" / sub).is_dir()
    assert home.model_path("drums") == tmp_path / "h" / "models" / "drums.sda"
    assert home.corpus_index_path("drums") == tmp_path / "h" / "corpus" / "drums.corpus.safetensors"
    assert home.checkpoint_dir("drums") == tmp_path / "h" / "checkpoints" / "drums"


def test_home_explicit_root_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("SDA_HOME", str(tmp_path / "env"))
    home = SdaHome(tmp_path / "explicit")
    assert home.root == tmp_path / "explicit"
    assert not (tmp_path / "env").exists()


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="permissions not enforced")
def test_home_not_writable_is_clear_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(SdaError, match="SDA_HOME"):
            SdaHome(locked / "home")
    finally:
        locked.chmod(stat.S_IRWXU)


def test_home_on_a_file_is_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SdaError, match="cannot create the sda home"):
        SdaHome(blocker / "home")


@pytest.mark.parametrize("bad", ["", " a", "../x", "x/y", ".hidden", "m.sda", "a..b", "x" * 81])
def test_bad_names_rejected(bad):
    with pytest.raises(SdaError, match="not a usable"):
        validate_name(bad)


def test_library_names_follow_the_one_naming_rule(tmp_path):
    import sda_audio.names

    assert validate_name is sda_audio.names.validate_name  # datasets, models and presets share it
    home = SdaHome(tmp_path)
    assert home.model_path("Field recordings 2") == home.models_dir / "Field recordings 2.sda"
    with pytest.raises(SdaError, match="not a usable dataset name"):
        home.dataset_dir("a/b")


def test_catalog_is_wal_with_schema(tmp_path):
    home = SdaHome(tmp_path)
    cat = home.catalog
    assert cat.schema_version() == SCHEMA_VERSION
    with cat.connect() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"models", "presets", "history"} <= tables


def test_catalog_migrates_v1_forward_keeping_rows(tmp_path):
    path = tmp_path / "catalog.sqlite3"
    conn = open_connection(path, migrate_to=1)
    conn.execute("INSERT INTO models (name, path, created, updated) VALUES ('old', 'models/old.sda', 't', 't')")
    conn.execute("INSERT INTO presets (name, model_name, params_json, created, updated) "
                 "VALUES ('p', NULL, '{}', 't', 't')")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()
    cat = Catalog(path)
    assert cat.schema_version() == len(MIGRATIONS) == SCHEMA_VERSION
    with cat.connect() as conn:
        row = conn.execute("SELECT name, state FROM models").fetchone()
        assert tuple(row) == ("old", "ready")
        # v2 forbids a second global preset of the same name
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO presets (name, model_name, params_json, created, updated) "
                         "VALUES ('p', NULL, '{}', 't', 't')")


def test_catalog_newer_schema_is_clear_error(tmp_path):
    path = tmp_path / "catalog.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(SdaError, match="newer than this sda"):
        Catalog(path)


def test_catalog_damaged_file_is_clear_error(tmp_path):
    path = tmp_path / "catalog.sqlite3"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(SdaError, match="damaged"):
        Catalog(path)


def test_transaction_rolls_back_on_error(tmp_path):
    cat = SdaHome(tmp_path).catalog
    with pytest.raises(RuntimeError):
        with cat.transaction() as conn:
            conn.execute("INSERT INTO history (created, audio_path) VALUES ('t', '/x.wav')")
            raise RuntimeError("boom")
    with cat.connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM history").fetchone()[0] == 0


def test_to_iso_normalises():
    assert to_iso("2026-01-02T03:04:05Z") == "2026-01-02T03:04:05.000+00:00"
    assert to_iso("2026-01-02") == "2026-01-02"
