"""The catalogue's ``models`` table: :class:`ModelRecord` and the row writes that the library and its repair share.

:mod:`sda_engine.store.library` (the library's operations) and :mod:`sda_engine.store.library_repair` (repairs
after an interrupted one) both build on this module, so neither imports the other.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sda_engine.store.catalogue import Catalog, now_iso
from sda_engine.store.model_meta import ModelSummary

COLUMNS = ("name, path, kind, created, updated, dataset_name, dataset_hash, n_files, duration, "
           "format_version, has_prior, has_vocoder, has_control, file_sha256, size_bytes, metrics_json, "
           "tags_json, description, state")


@dataclass(frozen=True)
class ModelRecord:
    """One catalogued model (``path`` is absolute; times are ISO 8601 UTC strings)."""

    id: int
    name: str
    path: Path
    kind: str | None
    created: str
    updated: str
    dataset_name: str | None
    dataset_hash: str | None
    n_files: int | None
    duration: float | None
    format_version: int | None
    has_prior: bool
    has_vocoder: bool
    has_control: bool
    file_sha256: str | None
    size_bytes: int | None
    metrics: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        data["tags"] = list(self.tags)
        return data

    @classmethod
    def from_row(cls, row: sqlite3.Row, root: Path) -> ModelRecord:
        return cls(
            id=row["id"], name=row["name"], path=root / row["path"], kind=row["kind"],
            created=row["created"], updated=row["updated"], dataset_name=row["dataset_name"],
            dataset_hash=row["dataset_hash"], n_files=row["n_files"], duration=row["duration"],
            format_version=row["format_version"], has_prior=bool(row["has_prior"]),
            has_vocoder=bool(row["has_vocoder"]), has_control=bool(row["has_control"]),
            file_sha256=row["file_sha256"], size_bytes=row["size_bytes"],
            metrics=json.loads(row["metrics_json"] or "{}"),
            tags=tuple(json.loads(row["tags_json"] or "[]")), description=row["description"] or "",
        )


def relative_path(root: Path, path: Path) -> str:
    """``path`` as the catalogue stores it: relative to the home folder, with ``/`` separators."""
    return path.relative_to(root).as_posix()


def upsert_row(conn: sqlite3.Connection, root: Path, name: str, target: Path, summary: ModelSummary,
               tags: list[str] | None, description: str | None) -> None:
    """Insert or update the row of model ``name`` (file ``target``); ``None`` tags/description keep the old ones."""
    now = now_iso()
    values = (name, relative_path(root, target), summary.kind, now, now, summary.dataset_name,
              summary.dataset_hash, summary.n_files, summary.duration, summary.format_version,
              int(summary.has_prior), int(summary.has_vocoder), int(summary.has_control),
              summary.file_sha256, summary.size_bytes, json.dumps(summary.metrics, default=str),
              json.dumps(tags or []), description or "", "ready")
    keep = {"tags_json": tags is None, "description": description is None}
    updates = [f"{col} = excluded.{col}" for col in
               ("path", "kind", "updated", "dataset_name", "dataset_hash", "n_files", "duration",
                "format_version", "has_prior", "has_vocoder", "has_control", "file_sha256",
                "size_bytes", "metrics_json", "tags_json", "description", "state") if not keep.get(col)]
    conn.execute(f"INSERT INTO models ({COLUMNS}) VALUES ({', '.join('?' * 19)}) "
                 f"ON CONFLICT(name) DO UPDATE SET {', '.join(updates)}", values)


def finish_delete(catalog: Catalog, name: str, path: Path) -> None:
    """The second half of a delete: remove the file, then the row marked ``deleting``."""
    path.unlink(missing_ok=True)
    with catalog.transaction() as conn:
        conn.execute("DELETE FROM models WHERE name = ? AND state = 'deleting'", (name,))
