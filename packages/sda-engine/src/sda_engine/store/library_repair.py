"""Repairs of the model library after an interrupted add, delete or rename (see ``library.py``).

Works on the home folder and the catalogue's ``models`` rows (:mod:`sda_engine.store.model_rows`) directly,
so the library imports this module and not the other way round.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sda_audio.errors import SdaError
from sda_audio.files import file_sha256
from sda_engine.store.catalogue import now_iso
from sda_engine.store.home import MODEL_SUFFIX, SdaHome, validate_name
from sda_engine.store.model_meta import summarize_model
from sda_engine.store.model_rows import finish_delete, relative_path, upsert_row

log = logging.getLogger(__name__)

_TMP_RE = re.compile(r"^\..+\.tmp")


@dataclass
class ReconcileReport:
    """What ``reconcile()`` repaired."""

    finished_deletes: list[str] = field(default_factory=list)
    removed_rows: list[str] = field(default_factory=list)
    recatalogued: list[str] = field(default_factory=list)
    repointed: list[tuple[str, str]] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)
    temp_files_removed: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    broken: dict[str, str] = field(default_factory=dict)
    """Each file in ``models/`` that could not be catalogued (file name) -> why (the check's one-line message)."""

    @property
    def changed(self) -> bool:
        return any(getattr(self, name) for name in self.__dataclass_fields__)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reconcile_library(home: SdaHome, temp_age_s: float = 600.0) -> ReconcileReport:
    """Make ``home``'s catalogue rows and ``models/`` files agree (see ``ModelLibrary.reconcile``)."""
    report = ReconcileReport()
    catalog = home.catalog
    models_dir = home.models_dir
    with catalog.connect() as conn:
        rows = conn.execute("SELECT name, path, state, size_bytes, file_sha256 FROM models").fetchall()
    for row in rows:
        if row["state"] == "deleting":
            finish_delete(catalog, row["name"], home.root / row["path"])
            report.finished_deletes.append(row["name"])
    rows = [r for r in rows if r["state"] != "deleting"]
    known = {(home.root / r["path"]).resolve() for r in rows}
    missing = {r["name"]: r for r in rows if not (home.root / r["path"]).is_file()}
    now = time.time()
    for path in sorted(models_dir.iterdir()) if models_dir.is_dir() else []:
        if _TMP_RE.match(path.name):
            try:
                stale = path.is_file() and now - path.stat().st_mtime >= temp_age_s
            except FileNotFoundError:  # another job's write just finished (renamed) or gave up (removed) it
                stale = False
            if stale:
                path.unlink(missing_ok=True)
                report.temp_files_removed.append(path.name)
            continue
        if path.suffix != MODEL_SUFFIX or not path.is_file() or path.resolve() in known:
            continue
        _adopt(home, path, missing, report)
    for name in missing:
        with catalog.transaction() as conn:
            conn.execute("DELETE FROM models WHERE name = ?", (name,))
        report.removed_rows.append(name)
    for row in rows:
        path = home.root / row["path"]
        if row["name"] not in missing and _size(path) not in (None, row["size_bytes"]):
            try:
                _catalogue(home, row["name"], path)
                report.refreshed.append(row["name"])
            except SdaError as exc:
                log.warning("could not refresh model %s: %s", row["name"], exc)
                report.unreadable.append(row["name"])
                report.broken[path.name] = str(exc)
    if report.changed:
        log.info("library reconciled: %s", report.to_dict())
    return report


def _catalogue(home: SdaHome, name: str, path: Path) -> None:
    """Write the row of model ``name`` from its file's metadata, keeping the row's tags and description."""
    summary = summarize_model(path)
    with home.catalog.transaction() as conn:
        upsert_row(conn, home.root, name, path, summary, None, None)


def _adopt(home: SdaHome, path: Path, missing: dict[str, sqlite3.Row], report: ReconcileReport) -> None:
    """Catalogue an orphan file, re-pointing a vanished row with the same bytes if there is one."""
    name = path.name.removesuffix(MODEL_SUFFIX)
    try:
        validate_name(name)
        digest = file_sha256(path)
    except (SdaError, OSError) as exc:
        log.warning("skipping %s: %s", path, exc)
        report.unreadable.append(path.name)
        report.broken[path.name] = str(exc)
        return
    for old_name, row in list(missing.items()):
        if row["file_sha256"] == digest and old_name != name:
            with home.catalog.transaction() as conn:
                conn.execute("UPDATE models SET name = ?, path = ?, updated = ? WHERE name = ?",
                             (name, relative_path(home.root, path), now_iso(), old_name))
                conn.execute("UPDATE history SET model_name = ? WHERE model_name = ?", (name, old_name))
            del missing[old_name]
            report.repointed.append((old_name, name))
            return
    try:
        _catalogue(home, name, path)
        missing.pop(name, None)
        report.recatalogued.append(name)
    except SdaError as exc:
        log.warning("cannot catalogue %s: %s", path, exc)
        report.unreadable.append(path.name)
        report.broken[path.name] = str(exc)


def _size(path: Path) -> int | None:
    """The file's size, or ``None`` when it is not a file (or vanished while looking: a concurrent delete)."""
    try:
        return path.stat().st_size if path.is_file() else None
    except FileNotFoundError:
        return None
