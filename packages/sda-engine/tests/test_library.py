"""Tests for the model library: add/list/search/resolve/delete/rename and crash consistency."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from sda_audio.errors import SdaError
from sda_engine.store.home import SdaHome
from sda_engine.store.library import ModelLibrary
from sda_engine.store.model_meta import file_sha256, summarize_model


def fake_sda(path: Path, seed: int = 0, *, kind: str = "rvq", dataset: str = "drums", vocoder: bool = False,
             prior: bool = True, n_files: int = 12) -> Path:
    """A tiny real safetensors file with sda metadata (no training)."""
    rng = np.random.default_rng(seed)
    tensors = {"autoencoder.encoder.weight": rng.standard_normal((4, 4)).astype(np.float32),
               "mel_stats.mean": np.zeros(128, np.float32), "mel_stats.std": np.ones(128, np.float32)}
    if prior:
        tensors["prior.embed.weight"] = rng.standard_normal((8, 4)).astype(np.float32)
    if vocoder:
        tensors["vocoder.generator.conv.weight"] = rng.standard_normal((2, 2)).astype(np.float32)
    meta = {"format_version": 2, "kind": kind,
            "dataset": {"name": dataset, "n_files": n_files, "duration": 61.5, "sha256": f"hash-{dataset}"},
            "metrics": {"val_loss": 0.25 + seed},
            "parts": {"prior": prior, "vocoder": vocoder, "control": False}}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"sda": json.dumps(meta)})
    return path


def real_sda(path: Path, seed: int = 1) -> Path:
    """A tiny model file that passes the one model-file check (``import_model`` runs it; ``fake_sda`` would not)."""
    import torch

    from sda_models.autoencoder import build_autoencoder
    from sda_models.configs import AutoencoderConfig
    from sda_models.model_file import ModelBundle, save_model
    from sda_models.normalization import MelStats

    config = AutoencoderConfig(kind="rvq", channels=(8, 12, 16), latent_dim=8, res_blocks=1, kernel_size=3,
                               dilations=(1,), rvq_levels=2, codebook_size=16, codebook_dim=8)
    stats = MelStats(mean=torch.zeros(128) - 5, std=torch.ones(128))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_model(path, ModelBundle(metadata={}, autoencoder=build_autoencoder(config, seed=seed), stats=stats))
    return path


@pytest.fixture
def home(tmp_path) -> SdaHome:
    return SdaHome(tmp_path / "home")


@pytest.fixture
def lib(home) -> ModelLibrary:
    return ModelLibrary(home)


def rows(home: SdaHome) -> set[str]:
    with home.catalog.connect() as conn:
        return {r[0] for r in conn.execute("SELECT name FROM models")}


def files(home: SdaHome) -> set[str]:
    return {p.name.removesuffix(".sda") for p in home.models_dir.glob("*.sda") if not p.name.startswith(".")}


def assert_consistent(home: SdaHome) -> None:
    assert rows(home) == files(home)
    assert not [p for p in home.models_dir.iterdir() if p.name.startswith(".")], "temp files left"


def test_summary_reads_metadata_and_parts(tmp_path):
    src = fake_sda(tmp_path / "m.sda", vocoder=True)
    s = summarize_model(src)
    assert (s.kind, s.dataset_name, s.n_files, s.duration, s.format_version) == ("rvq", "drums", 12, 61.5, 2)
    assert s.has_prior and s.has_vocoder and not s.has_control
    assert s.file_sha256 == file_sha256(src) and s.size_bytes == src.stat().st_size


def test_not_a_model_is_clear_error(tmp_path, lib):
    bad = tmp_path / "bad.sda"
    bad.write_bytes(b"garbage")
    with pytest.raises(SdaError, match="bad.sda"):
        lib.add_model(bad, "bad")
    assert rows(lib.home) == set() and files(lib.home) == set()


def test_add_get_list_filters(tmp_path, lib):
    rec = lib.add_model(fake_sda(tmp_path / "a.sda"), "drums-a", tags=["drums", "dark", "drums"],
                        description="first try")
    assert rec.path == lib.home.models_dir / "drums-a.sda" and rec.path.is_file()
    assert (tmp_path / "a.sda").is_file()  # copied, not moved
    assert rec.tags == ("drums", "dark") and rec.kind == "rvq" and rec.has_prior and not rec.has_vocoder
    assert rec.metrics == {"val_loss": 0.25}
    lib.add_model(fake_sda(tmp_path / "b.sda", 1, kind="vae", dataset="ambient", vocoder=True), "pads")
    assert [r.name for r in lib.list_models()] == ["drums-a", "pads"]
    assert [r.name for r in lib.list_models(kind="vae")] == ["pads"]
    assert [r.name for r in lib.list_models(tag="dark")] == ["drums-a"]
    assert [r.name for r in lib.list_models(dataset="ambient")] == ["pads"]
    assert [r.name for r in lib.list_models(has_vocoder=True)] == ["pads"]
    assert [r.name for r in lib.list_models(has_vocoder=False)] == ["drums-a"]
    assert len(lib.list_models(since="2000-01-01", until=rec.created[:10])) == 2
    assert lib.list_models(since="2999-01-01") == []
    d = lib.get("pads").to_dict()
    json.dumps(d)
    assert d["has_vocoder"] is True and d["dataset_name"] == "ambient"


def test_add_existing_name_needs_overwrite(tmp_path, lib):
    lib.add_model(fake_sda(tmp_path / "a.sda", 0), "m", tags=["x"])
    with pytest.raises(SdaError, match="already exists"):
        lib.add_model(fake_sda(tmp_path / "b.sda", 1), "m")
    rec = lib.add_model(tmp_path / "b.sda", "m", overwrite=True)
    assert rec.file_sha256 == file_sha256(tmp_path / "b.sda") and rec.tags == ()


def test_add_move(tmp_path, lib):
    src = fake_sda(tmp_path / "a.sda")
    lib.add_model(src, "moved", move=True)
    assert not src.exists() and lib.get("moved").path.is_file()


def test_search_and_get_errors(tmp_path, lib):
    lib.add_model(fake_sda(tmp_path / "a.sda"), "kick-model", tags=["percussive"], description="tight 909 kicks")
    lib.add_model(fake_sda(tmp_path / "b.sda", 1, dataset="ambient"), "drone")
    assert [r.name for r in lib.search("909")] == ["kick-model"]
    assert [r.name for r in lib.search("PERCUSSIVE")] == ["kick-model"]
    assert [r.name for r in lib.search("ambient")] == ["drone"]
    assert [r.name for r in lib.search("kick tight")] == ["kick-model"]
    assert lib.search("kick ambient") == []
    assert lib.search("%") == []
    with pytest.raises(SdaError, match="library lists the models"):
        lib.get("nope")


def test_resolve_name_or_path(tmp_path, lib):
    src = fake_sda(tmp_path / "outside.sda")
    lib.add_model(src, "inlib")
    assert lib.resolve("inlib") == lib.home.models_dir / "inlib.sda"
    assert lib.resolve(str(src)) == src.resolve()
    assert lib.resolve(src) == src.resolve()
    with pytest.raises(SdaError, match="no model file"):
        lib.resolve(tmp_path / "missing.sda")
    with pytest.raises(SdaError, match="no model named"):
        lib.resolve("missing")
    assert lib.find_by_path(src).name == "inlib"  # same bytes


def test_import_export_update(tmp_path, lib):
    rec = lib.import_model(real_sda(tmp_path / "My Model!.sda"))
    assert rec.name == "My-Model"
    out = lib.export_model("My-Model", tmp_path)
    assert out == tmp_path / "My-Model.sda" and file_sha256(out) == rec.file_sha256
    with pytest.raises(SdaError, match="already there"):
        lib.export_model("My-Model", tmp_path)
    assert lib.export_model("My-Model", tmp_path / "new-folder") == tmp_path / "new-folder" / "My-Model.sda"
    assert lib.export_model("My-Model", tmp_path / "x.sda").is_file()
    lib.tag("My-Model", add=["keep"])
    newer = lib.update_model("My-Model", fake_sda(tmp_path / "v2.sda", 3, vocoder=True))
    assert newer.tags == ("keep",) and newer.has_vocoder and newer.created == rec.created
    assert newer.file_sha256 != rec.file_sha256


def test_rename_moves_file_corpus_checkpoints_and_presets(tmp_path, lib):
    from sda_engine.store.history import History, HistoryRecord
    from sda_engine.store.presets import PresetStore

    lib.add_model(fake_sda(tmp_path / "a.sda"), "old")
    lib.corpus_index_path("old").write_bytes(b"idx")
    lib.checkpoint_dir("old").mkdir(parents=True)
    presets = PresetStore(lib.home)
    presets.save("soft", {"temperature": 0.7}, model="old")
    history = History(lib.home)
    history.record(HistoryRecord("old", "sha", {}, 1, tmp_path / "gen.wav"))
    rec = lib.rename("old", "new")
    assert rec.path == lib.home.models_dir / "new.sda" and rec.path.is_file()
    assert lib.corpus_index_path("new").is_file() and lib.checkpoint_dir("new").is_dir()
    assert presets.show("soft", model="new").model_name == "new"
    assert [e.model_name for e in history.list()] == ["new"]
    assert_consistent(lib.home)


def test_tag_and_describe(tmp_path, lib):
    lib.add_model(fake_sda(tmp_path / "a.sda"), "m", tags=["a", "b"])
    assert lib.tag("m", add=["c"], remove=["a"]).tags == ("b", "c")
    assert lib.set_description("m", "hello").description == "hello"


def test_delete_removes_row_file_and_extras(tmp_path, lib):
    lib.add_model(fake_sda(tmp_path / "a.sda"), "gone")
    lib.corpus_index_path("gone").write_bytes(b"idx")
    lib.delete("gone")
    assert rows(lib.home) == set() and files(lib.home) == set()
    assert not lib.corpus_index_path("gone").exists()
    with pytest.raises(SdaError):
        lib.delete("gone")


V1_FIXTURE = Path(__file__).resolve().parents[2] / "sda-models" / "tests" / "fixtures" / "tiny_v1.sda"


def test_import_refuses_what_loading_refuses(tmp_path, lib):
    with pytest.raises(SdaError, match="configs"):  # a header that parses but names no configs
        lib.import_model(fake_sda(tmp_path / "hollow.sda"))
    assert lib.list_models() == [] and not any(lib.home.models_dir.glob("*.sda"))


def test_import_v1_file_uses_model_file_migration(lib):
    if not V1_FIXTURE.is_file():
        pytest.skip(f"{V1_FIXTURE} not present")
    pytest.importorskip("sda_models.model_file")
    rec = lib.import_model(V1_FIXTURE)
    assert rec.name == "tiny-v1-fixture"  # the name stored in the file's metadata
    assert rec.format_version == 2  # read_metadata migrated it in memory
    assert (rec.dataset_name, rec.n_files, rec.duration) == ("synthetic", 3, 12.5)
    assert rec.metrics == {"val_loss": 0.75} and not rec.has_vocoder
    before = rec.file_sha256
    upgraded = lib.upgrade_model(rec.name)  # rewrites the file itself in format 2
    assert upgraded.file_sha256 != before and upgraded.format_version == 2
    from safetensors import safe_open

    with safe_open(str(upgraded.path), "numpy") as handle:
        assert json.loads(handle.metadata()["sda"])["format_version"] == 2
    assert ModelLibrary(lib.home).last_reconcile.changed is False  # the .bak backup is left alone


def test_concurrent_adds_from_threads(tmp_path, lib):
    from concurrent.futures import ThreadPoolExecutor

    sources = [fake_sda(tmp_path / f"s{i}.sda", i) for i in range(6)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: ModelLibrary(lib.home).add_model(sources[i], f"m{i}"), range(6)))
    assert [r.name for r in lib.list_models()] == [f"m{i}" for i in range(6)]
    assert_consistent(lib.home)


# crash consistency --------------------------------------------------------------------------------
def test_crash_between_file_and_row_is_recatalogued(tmp_path, home, monkeypatch):
    lib = ModelLibrary(home)
    monkeypatch.setattr(ModelLibrary, "_upsert", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        lib.add_model(fake_sda(tmp_path / "a.sda"), "m")
    # the add removed its own file on the way out
    assert files(home) == set() and rows(home) == set()
    monkeypatch.undo()
    # now a hard crash: the file was renamed in but the process died before the row (no cleanup ran)
    fake_sda(home.models_dir / "orphan.sda", 2, vocoder=True)
    report = ModelLibrary(home).last_reconcile
    assert report.recatalogued == ["orphan"]
    assert ModelLibrary(home).get("orphan").has_vocoder
    assert_consistent(home)


def test_failed_sqlite_insert_leaves_no_file(tmp_path, home, monkeypatch):
    lib = ModelLibrary(home)
    original = lib.catalog.transaction

    def broken():
        raise SdaError("catalogue error (disk I/O error)")

    monkeypatch.setattr(lib.catalog, "transaction", broken)
    with pytest.raises(SdaError, match="disk I/O"):
        lib.add_model(fake_sda(tmp_path / "a.sda"), "m")
    monkeypatch.setattr(lib.catalog, "transaction", original)
    assert_consistent(home)
    assert files(home) == set()


def test_crash_during_copy_leaves_temp_that_reconcile_cleans(tmp_path, home, monkeypatch):
    lib = ModelLibrary(home)

    def die(src, dst):
        Path(dst).write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr("sda_engine.store.library.shutil.copyfile", die)
    with pytest.raises(KeyboardInterrupt):
        lib.add_model(fake_sda(tmp_path / "a.sda"), "m")
    assert_consistent(home)  # atomic_path removed its temp file
    # a temp file from a killed process (no cleanup ran)
    (home.models_dir / ".m.abc123.tmp.sda").write_bytes(b"half")
    report = ModelLibrary(home, reconcile=False).reconcile(temp_age_s=0)
    assert report.temp_files_removed == [".m.abc123.tmp.sda"]
    assert_consistent(home)


def test_crash_mid_delete_is_finished(tmp_path, home, monkeypatch):
    lib = ModelLibrary(home)
    lib.add_model(fake_sda(tmp_path / "a.sda"), "a")
    lib.add_model(fake_sda(tmp_path / "b.sda", 1), "b")
    # crash after marking, before the file is removed
    monkeypatch.setattr(ModelLibrary, "_finish_delete", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        lib.delete("a")
    monkeypatch.undo()
    assert [r.name for r in lib.list_models()] == ["b"]  # a half-deleted model is never listed
    # crash after the file is removed, before the row goes
    lib.get("b").path.unlink()
    report = ModelLibrary(home).last_reconcile
    assert report.finished_deletes == ["a"] and report.removed_rows == ["b"]
    assert_consistent(home)
    assert rows(home) == set()


def test_crash_mid_rename_repoints_row(tmp_path, home, monkeypatch):
    lib = ModelLibrary(home)
    lib.add_model(fake_sda(tmp_path / "a.sda"), "old", tags=["keep"], description="mine")
    # simulate a kill after the file rename but before the row's commit
    os.replace(home.models_dir / "old.sda", home.models_dir / "new.sda")
    report = ModelLibrary(home).last_reconcile
    assert report.repointed == [("old", "new")]
    rec = ModelLibrary(home).get("new")
    assert rec.tags == ("keep",) and rec.description == "mine"
    assert_consistent(home)


def test_rename_commit_failure_puts_file_back(tmp_path, home, monkeypatch):
    lib = ModelLibrary(home)
    lib.add_model(fake_sda(tmp_path / "a.sda"), "old")
    real_replace = os.replace
    calls = []

    def replace_then_fail(src, dst):
        real_replace(src, dst)
        calls.append(dst)
        if len(calls) == 1:
            raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr("sda_engine.store.library.os.replace", replace_then_fail)
    with pytest.raises(SdaError):
        lib.rename("old", "new")
    monkeypatch.undo()
    assert files(home) == {"old"} and rows(home) == {"old"}


def test_file_replaced_outside_is_refreshed(tmp_path, home):
    lib = ModelLibrary(home)
    lib.add_model(fake_sda(tmp_path / "a.sda", prior=False), "m")
    fake_sda(home.models_dir / "m.sda", 5, vocoder=True)  # different size
    report = ModelLibrary(home).last_reconcile
    assert report.refreshed == ["m"]
    assert ModelLibrary(home).get("m").has_vocoder


def test_killed_process_between_steps(tmp_path, home):
    """A real kill (os._exit) right after the file lands and before the row is written."""
    src = fake_sda(tmp_path / "a.sda")
    code = textwrap.dedent(f"""
        import os
        from sda_engine.store.home import SdaHome
        from sda_engine.store.library import ModelLibrary
        ModelLibrary._upsert = lambda *a, **k: os._exit(9)
        ModelLibrary(SdaHome({str(home.root)!r})).add_model({str(src)!r}, "killed")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert proc.returncode == 9, proc.stderr.decode()
    assert files(home) == {"killed"} and rows(home) == set()
    assert ModelLibrary(home).last_reconcile.recatalogued == ["killed"]
    assert_consistent(home)


def test_killed_process_mid_delete(tmp_path, home):
    """A real kill after the row is marked for deletion and before the file is removed."""
    ModelLibrary(home).add_model(fake_sda(tmp_path / "a.sda"), "doomed")
    code = textwrap.dedent(f"""
        import os
        from sda_engine.store.home import SdaHome
        from sda_engine.store.library import ModelLibrary
        ModelLibrary._finish_delete = lambda *a, **k: os._exit(9)
        ModelLibrary(SdaHome({str(home.root)!r})).delete("doomed")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert proc.returncode == 9, proc.stderr.decode()
    assert files(home) == {"doomed"} and rows(home) == {"doomed"}
    lib = ModelLibrary(home, reconcile=False)
    assert lib.list_models() == []  # marked rows are hidden even before repair
    assert lib.reconcile().finished_deletes == ["doomed"]
    assert_consistent(home)
    assert files(home) == set()


def test_export_and_import_carry_the_corpus_index(tmp_path, lib):
    lib.add_model(real_sda(tmp_path / "src.sda"), "rain")
    lib.corpus_index_path("rain").write_bytes(b"corpus-index-bytes")
    exported = lib.export_model("rain", tmp_path / "out" / "rain-copy.sda")
    beside = tmp_path / "out" / "rain-copy.corpus.safetensors"
    assert beside.read_bytes() == b"corpus-index-bytes"
    lib.delete("rain")
    assert not lib.corpus_index_path("rain").exists()
    lib.import_model(exported, name="rain2")
    assert lib.corpus_index_path("rain2").read_bytes() == b"corpus-index-bytes"
