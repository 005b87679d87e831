"""The SQLite catalogue of models, presets and generation history.

One file (``catalog.sqlite3``) in WAL mode with ``synchronous=NORMAL`` and foreign keys on. The
schema version lives in ``PRAGMA user_version`` and moves forward through ``MIGRATIONS`` (a list of
pure SQL steps, index ``i`` upgrades version ``i`` to ``i + 1``). Every operation opens its own
short-lived connection, so the catalogue is safe to use from several threads and processes.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from sda_audio.errors import SdaError

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 10.0

_V1 = """
CREATE TABLE models (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    kind TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    dataset_name TEXT,
    dataset_hash TEXT,
    n_files INTEGER,
    duration REAL,
    format_version INTEGER,
    has_prior INTEGER NOT NULL DEFAULT 0,
    has_vocoder INTEGER NOT NULL DEFAULT 0,
    has_control INTEGER NOT NULL DEFAULT 0,
    file_sha256 TEXT,
    size_bytes INTEGER,
    metrics_json TEXT NOT NULL DEFAULT '{}',
    tags_json TEXT NOT NULL DEFAULT '[]',
    description TEXT NOT NULL DEFAULT ''
);
CREATE TABLE presets (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    model_name TEXT REFERENCES models(name) ON UPDATE CASCADE ON DELETE CASCADE,
    params_json TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    UNIQUE (name, model_name)
);
CREATE TABLE history (
    id INTEGER PRIMARY KEY,
    created TEXT NOT NULL,
    model_name TEXT,
    model_sha256 TEXT,
    params_json TEXT NOT NULL DEFAULT '{}',
    seed INTEGER,
    audio_path TEXT NOT NULL,
    sidecar_path TEXT,
    vocoder TEXT,
    vocoder_reason TEXT,
    duration REAL,
    sample_rate INTEGER,
    format TEXT,
    notes TEXT NOT NULL DEFAULT ''
);
"""

# v2: a state column for crash-consistent deletes, one global preset per name (SQLite treats
# NULLs as distinct in UNIQUE), and indexes for the common history queries.
_V2 = """
ALTER TABLE models ADD COLUMN state TEXT NOT NULL DEFAULT 'ready';
CREATE UNIQUE INDEX presets_global_name ON presets(name) WHERE model_name IS NULL;
CREATE INDEX history_created ON history(created);
CREATE INDEX history_model ON history(model_name);
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2)
SCHEMA_VERSION = len(MIGRATIONS)


def now_iso() -> str:
    """Current UTC time as an ISO 8601 string with milliseconds (sorts as text)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def to_iso(value: datetime | str) -> str:
    """Normalise a datetime (naive = UTC) or ISO string to the catalogue's timestamp format."""
    if isinstance(value, str):
        if len(value) == 10:  # a bare date
            return value
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def migrate(conn: sqlite3.Connection, path: Path, target: int = SCHEMA_VERSION) -> int:
    """Bring the schema forward to ``target``; return the version found before migrating."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    if current == target:
        return current  # the common case: no write lock taken
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = conn.execute("PRAGMA user_version").fetchone()[0]
        if found > SCHEMA_VERSION:
            raise SdaError(
                f"the catalogue has schema version {found}, newer than this sda understands "
                f"({SCHEMA_VERSION})", path=path, hint="upgrade sda",
            )
        for version in range(found, target):
            log.info("migrating catalogue %s from schema %d to %d", path, version, version + 1)
            _run_script(conn, MIGRATIONS[version])
        if target > found:
            conn.execute(f"PRAGMA user_version = {int(target)}")
        conn.execute("COMMIT")
        return found
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _db_error(exc: sqlite3.Error, path: Path) -> SdaError:
    text = str(exc)
    if "not a database" in text or "malformed" in text:
        return SdaError(f"the catalogue is damaged ({text})", path=path,
                        hint="move the file aside; sda rebuilds the model list from models/ on next start")
    if "locked" in text or "busy" in text:
        return SdaError(f"the catalogue is busy ({text})", path=path,
                        hint="another sda process is writing; try again in a moment")
    return SdaError(f"catalogue error ({text})", path=path,
                    hint="check the sda home folder is writable and the disk is not full")


def open_connection(path: Path, migrate_to: int | None = SCHEMA_VERSION) -> sqlite3.Connection:
    """Open a configured connection (WAL, NORMAL sync, foreign keys, busy timeout, Row factory)."""
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    except sqlite3.Error as exc:
        raise _db_error(exc, path) from exc
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        if migrate_to is not None:
            migrate(conn, path, migrate_to)
    except sqlite3.Error as exc:
        conn.close()
        raise _db_error(exc, path) from exc
    except BaseException:
        conn.close()
        raise
    return conn


class Catalog:
    """Access to ``catalog.sqlite3``; the schema is created or migrated when first opened."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        open_connection(self.path).close()

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode, for reads; closed afterwards."""
        conn = open_connection(self.path, migrate_to=None)
        try:
            yield conn
        except sqlite3.Error as exc:
            raise _db_error(exc, self.path) from exc
        finally:
            conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on success, rolled back on error."""
        with self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def schema_version(self) -> int:
        with self.connect() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])
