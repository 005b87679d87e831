"""The model library: ``.sda`` files in ``models/`` plus one catalogue row each.

Consistency rules (so a crash never leaves a row without a file nor a file without a row for
long): adding writes the file first (atomic rename) and then the row; deleting marks the row
``deleting``, removes the file, then the row; renaming renames the file inside the row's
transaction. ``reconcile()`` (run whenever a library is opened) finishes or repairs whatever an
interrupted operation left behind.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sqlite3
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from sda_audio.atomic import atomic_path
from sda_audio.errors import SdaError
from sda_audio.files import file_sha256
from sda_engine.store.catalogue import now_iso, to_iso
from sda_engine.store.home import MODEL_SUFFIX, SdaHome, validate_name
from sda_engine.store.library_repair import ReconcileReport, reconcile_library
from sda_engine.store.model_meta import ModelSummary, summarize_model
from sda_engine.store.model_rows import ModelRecord, finish_delete, relative_path, upsert_row

log = logging.getLogger(__name__)


def check_model_file(path: str | Path) -> dict:
    """The one model-file validation (``sda_models.model_check.check_model_file``: layout and finite values).

    Raises ``ModelFileError`` / ``NewerFormatError`` (both ``SdaError``) naming the file. Imported on use:
    it needs torch, which listing and reconciling the library never import.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise SdaError("no model file here", path=path, hint="check the path")
    from sda_models.model_file import check_model_file as check

    return check(path)

def _clean_tags(tags: Iterable[str]) -> list[str]:
    if isinstance(tags, str):
        tags = [tags]
    out: list[str] = []
    for tag in tags:
        tag = str(tag).strip()
        if tag and tag not in out:
            out.append(tag)
    return out


def _companion_index(model_path: Path) -> Path:
    """``x.sda`` -> ``x.corpus.safetensors`` (the corpus index exported beside a model)."""
    return model_path.with_name(model_path.name.removesuffix(MODEL_SUFFIX) + ".corpus.safetensors")


def _suggest_name(text: str) -> str:
    """A valid library name close to ``text`` ("My Model!" -> "My-Model")."""
    name = re.sub(r"\.{2,}", ".", re.sub(r"[^A-Za-z0-9._-]+", "-", text))
    while name.lower().endswith(MODEL_SUFFIX):
        name = name[: -len(MODEL_SUFFIX)]
    return name.strip("-._")[:80].rstrip("-._") or "model"


class ModelLibrary:
    """Models in ``<home>/models`` and their catalogue rows.

    Args:
        home: the sda home (default: ``SdaHome()``).
        reconcile: repair leftovers of interrupted operations now (recommended).
    """

    def __init__(self, home: SdaHome | None = None, reconcile: bool = True) -> None:
        self.home = home if home is not None else SdaHome()
        self.catalog = self.home.catalog
        self.last_reconcile = self.reconcile() if reconcile else ReconcileReport()

    # paths ---------------------------------------------------------------------------------------
    def _rel(self, path: Path) -> str:
        return relative_path(self.home.root, path)

    def corpus_index_path(self, name: str) -> Path:
        """Where the corpus vocoder keeps this model's index (``corpus/<name>.corpus.safetensors``)."""
        return self.home.corpus_index_path(name)

    def checkpoint_dir(self, name: str) -> Path:
        """This model's training checkpoint folder (``checkpoints/<name>/``, not created here)."""
        return self.home.checkpoint_dir(name)

    # queries -------------------------------------------------------------------------------------
    def _row(self, conn: sqlite3.Connection, name: str) -> sqlite3.Row | None:
        return conn.execute("SELECT * FROM models WHERE name = ? AND state = 'ready'", (name,)).fetchone()

    def exists(self, name: str) -> bool:
        with self.catalog.connect() as conn:
            return self._row(conn, name) is not None

    def get(self, name: str) -> ModelRecord:
        """The record for ``name``; ``SdaError`` if there is none."""
        with self.catalog.connect() as conn:
            row = self._row(conn, name)
        if row is None:
            raise SdaError(f"no model named {name!r}", hint="your model library lists the models you have")
        return ModelRecord.from_row(row, self.home.root)

    def list_models(self, kind: str | None = None, tag: str | None = None, dataset: str | None = None,
                    has_vocoder: bool | None = None, since: datetime | str | None = None,
                    until: datetime | str | None = None) -> list[ModelRecord]:
        """Catalogued models sorted by name, filtered by kind, tag, dataset name, vocoder, created time.

        ``since``/``until`` take datetimes or ISO strings; a bare date ``YYYY-MM-DD`` for ``until``
        includes that whole day.
        """
        where, args = ["state = 'ready'"], []
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        if dataset is not None:
            where.append("dataset_name = ?")
            args.append(dataset)
        if has_vocoder is not None:
            where.append("has_vocoder = ?")
            args.append(int(has_vocoder))
        if since is not None:
            where.append("created >= ?")
            args.append(to_iso(since))
        if until is not None:
            bound = to_iso(until)
            where.append("created <= ?")
            args.append(bound + "T99" if len(bound) == 10 else bound)
        sql = f"SELECT * FROM models WHERE {' AND '.join(where)} ORDER BY name"
        with self.catalog.connect() as conn:
            records = [ModelRecord.from_row(row, self.home.root) for row in conn.execute(sql, args)]
        if tag is not None:
            records = [r for r in records if tag in r.tags]
        return records

    def search(self, text: str) -> list[ModelRecord]:
        """Models whose name, tags, description, kind or dataset name contain every word of ``text``."""
        words = text.split()
        where, args = ["state = 'ready'"], []
        for word in words:
            like = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append("(" + " OR ".join(f"{col} LIKE ? ESCAPE '\\'" for col in
                                           ("name", "tags_json", "description", "dataset_name", "kind")) + ")")
            args.extend([like] * 5)
        sql = f"SELECT * FROM models WHERE {' AND '.join(where)} ORDER BY name"
        with self.catalog.connect() as conn:
            return [ModelRecord.from_row(row, self.home.root) for row in conn.execute(sql, args)]

    def resolve(self, name_or_path: str | Path) -> Path:
        """A model file path from a library name or a path to a ``.sda`` file."""
        text = str(name_or_path)
        candidate = Path(text).expanduser()
        looks_like_path = (isinstance(name_or_path, Path) or text.endswith(MODEL_SUFFIX)
                           or os.sep in text or "/" in text)
        if looks_like_path or candidate.is_file():
            if candidate.is_file():
                return candidate.resolve()
            if looks_like_path:
                raise SdaError("no model file here", path=candidate,
                               hint="check the path, or give the name of a model in your library")
        record = self.get(text)
        if not record.path.is_file():
            self.reconcile()
            raise SdaError(f"the file of model {text!r} has gone missing", path=record.path,
                           hint="it was removed from the library; import the model file again")
        return record.path

    def find_by_path(self, path: str | Path) -> ModelRecord | None:
        """The library record whose file is ``path`` (or has the same bytes), else ``None``."""
        path = Path(path).resolve()
        for record in self.list_models():
            if record.path.resolve() == path:
                return record
        digest = file_sha256(path) if path.is_file() else None
        with self.catalog.connect() as conn:
            row = conn.execute("SELECT * FROM models WHERE file_sha256 = ? AND state = 'ready'",
                               (digest,)).fetchone()
        return ModelRecord.from_row(row, self.home.root) if row is not None else None

    # writes --------------------------------------------------------------------------------------
    def _upsert(self, conn: sqlite3.Connection, name: str, target: Path, summary: ModelSummary,
                tags: list[str] | None, description: str | None) -> None:
        upsert_row(conn, self.home.root, name, target, summary, tags, description)

    def _store(self, source: Path, name: str, *, tags: list[str] | None, description: str | None,
               move: bool, replacing: bool) -> ModelRecord:
        source = Path(source).expanduser()
        summary = summarize_model(source)  # validates before anything is written
        target = self.home.model_path(name)
        if source.resolve() != target.resolve():
            if move:
                try:
                    os.replace(source, target)
                except OSError:
                    with atomic_path(target) as tmp:
                        shutil.copyfile(source, tmp)
                    source.unlink()
            else:
                with atomic_path(target) as tmp:
                    shutil.copyfile(source, tmp)
        try:
            with self.catalog.transaction() as conn:
                self._upsert(conn, name, target, summary, tags, description)
        except BaseException:
            if not replacing:  # the file must not outlive its failed row
                target.unlink(missing_ok=True)
            raise
        log.info("catalogued model %s (%s)", name, target)
        return self.get(name)

    def add_model(self, source_path: str | Path, name: str, tags: Iterable[str] = (), description: str = "",
                  overwrite: bool = False, move: bool = False) -> ModelRecord:
        """Copy (or ``move``) a ``.sda`` file into the library as ``models/<name>.sda`` and catalogue it.

        For files sda itself has just written (training's model writer: ``save_model`` ran the structural check
        before writing). A file from outside goes through :meth:`import_model`, which runs the one model-file
        check (:func:`check_model_file`) first.
        """
        return self._add(Path(source_path), name, tags, description, overwrite, move)

    def _add(self, source_path: Path, name: str, tags: Iterable[str], description: str, overwrite: bool,
             move: bool) -> ModelRecord:
        """:meth:`add_model` for a file that already passed :func:`check_model_file`."""
        validate_name(name)
        exists = self.exists(name) or self.home.model_path(name).exists()
        if exists and not overwrite:
            raise SdaError(f"a model named {name!r} already exists",
                           hint="choose another name or replace it", action="overwrite")
        return self._store(Path(source_path), name, tags=_clean_tags(tags), description=description,
                           move=move, replacing=exists)

    def import_model(self, path: str | Path, name: str | None = None, tags: Iterable[str] = (),
                     description: str = "", overwrite: bool = False) -> ModelRecord:
        """Copy an outside ``.sda`` file into the library (name: given, else metadata name, else stem).

        The file must pass the one model-file check (:func:`check_model_file`: layout against its configs, no
        section bigger than the file, finite weights) first, so the library never accepts what loading refuses.
        """
        path = Path(path).expanduser()
        check_model_file(path)  # refused here exactly as loading would refuse it
        if name is None:
            meta_name = summarize_model(path).name
            name = _suggest_name(meta_name or path.name.removesuffix(MODEL_SUFFIX))
        record = self._add(path, name, tags, description, overwrite, move=False)
        beside = _companion_index(path)
        if beside.is_file():  # the corpus vocoder's index travels with an exported model
            with atomic_path(self.corpus_index_path(record.name)) as tmp:
                shutil.copyfile(beside, tmp)
        return record

    def update_model(self, name: str, path: str | Path, move: bool = False) -> ModelRecord:
        """Replace a model's file (after retraining/growing), keeping its name, tags and description."""
        self.get(name)
        return self._store(Path(path), name, tags=None, description=None, move=move, replacing=True)

    def refresh(self, name: str) -> ModelRecord:
        """Re-read a model file's metadata into its row."""
        record = self.get(name)
        return self._store(record.path, name, tags=None, description=None, move=False, replacing=True)

    def upgrade_model(self, name: str) -> ModelRecord:
        """Rewrite a model file in the current format (``sda_models.model_file``) and refresh its row."""
        # imported here: sda_models.model_file imports torch (measured ~4 s); the library's other
        # operations never need it
        from sda_models.model_file import upgrade_model_file

        record = self.get(name)
        upgrade_model_file(record.path)
        return self.refresh(name)

    def export_model(self, name: str, dest: str | Path, overwrite: bool = False) -> Path:
        """Copy a model out of the library atomically.

        ``dest`` is a folder (existing, or a new path without ``.sda`` ending) or a ``.sda`` file path.
        The model's corpus index (the offline vocoder's material) is copied beside it as
        ``<name>.corpus.safetensors``; :meth:`import_model` picks it up from there.
        """
        record = self.get(name)
        dest = Path(dest).expanduser()
        is_folder = dest.is_dir() or (not dest.exists() and dest.suffix.lower() != MODEL_SUFFIX)
        target = dest / f"{name}{MODEL_SUFFIX}" if is_folder else dest
        if target.exists() and not overwrite:
            raise SdaError("a file is already there", path=target, hint="choose another place or replace it", action="overwrite")
        with atomic_path(target) as tmp:
            shutil.copyfile(record.path, tmp)
        index = self.corpus_index_path(name)
        if index.is_file():  # without it the model has no offline vocoder on the other machine
            with atomic_path(_companion_index(target)) as tmp:
                shutil.copyfile(index, tmp)
        return target

    def delete(self, name: str, remove_extras: bool = True) -> ModelRecord:
        """Remove a model's file and row (and its corpus index and checkpoints if ``remove_extras``)."""
        record = self.get(name)
        with self.catalog.transaction() as conn:
            conn.execute("UPDATE models SET state = 'deleting' WHERE name = ?", (name,))
        self._finish_delete(name, record.path)
        if remove_extras:
            self.corpus_index_path(name).unlink(missing_ok=True)
            shutil.rmtree(self.checkpoint_dir(name), ignore_errors=True)
        log.info("deleted model %s", name)
        return record

    def _finish_delete(self, name: str, path: Path) -> None:
        finish_delete(self.catalog, name, path)

    def rename(self, old: str, new: str) -> ModelRecord:
        """Rename a model (file, row, its presets and history rows, corpus index and checkpoint folder)."""
        record = self.get(old)
        validate_name(new)
        target = self.home.model_path(new)
        if self.exists(new) or target.exists():
            raise SdaError(f"a model named {new!r} already exists", hint="choose another name")
        try:
            with self.catalog.transaction() as conn:
                conn.execute("UPDATE models SET name = ?, path = ?, updated = ? WHERE name = ?",
                             (new, self._rel(target), now_iso(), old))
                conn.execute("UPDATE history SET model_name = ? WHERE model_name = ?", (new, old))
                os.replace(record.path, target)
        except BaseException:
            if target.exists() and not record.path.exists():  # the row kept the old name: put the file back
                os.replace(target, record.path)
            raise
        for src, dst in ((self.corpus_index_path(old), self.corpus_index_path(new)),
                         (self.checkpoint_dir(old), self.checkpoint_dir(new))):
            if src.exists() and not dst.exists():
                os.replace(src, dst)
        return self.get(new)

    def _set(self, name: str, column: str, value: str) -> ModelRecord:
        self.get(name)
        with self.catalog.transaction() as conn:
            conn.execute(f"UPDATE models SET {column} = ?, updated = ? WHERE name = ?", (value, now_iso(), name))
        return self.get(name)

    def tag(self, name: str, add: Iterable[str] = (), remove: Iterable[str] = ()) -> ModelRecord:
        """Add and/or remove tags."""
        drop = set(_clean_tags(remove))
        tags = [t for t in _clean_tags([*self.get(name).tags, *_clean_tags(add)]) if t not in drop]
        return self._set(name, "tags_json", json.dumps(tags))

    def set_description(self, name: str, description: str) -> ModelRecord:
        return self._set(name, "description", description)

    # repair --------------------------------------------------------------------------------------
    def reconcile(self, temp_age_s: float = 600.0) -> ReconcileReport:
        """Make the catalogue and ``models/`` agree after an interrupted operation.

        Finishes half-done deletes, re-points rows whose file was renamed (same SHA-256), removes
        rows whose file vanished, catalogues orphan ``.sda`` files, refreshes rows whose file size
        changed, and removes temporary files older than ``temp_age_s`` seconds.
        """
        return reconcile_library(self.home, temp_age_s)
