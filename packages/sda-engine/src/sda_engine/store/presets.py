"""Named sets of generation settings, global or per model (PRES-01..03).

A preset stores the settings a person set (duration, seed, temperature, musical controls, output format,
...) as partial overrides of :class:`~sda_engine.generate.request.GenerationRequest`, so they can be recalled later.
A model-specific preset wins over a global one of the same name. Presets of a model follow it when it is renamed and go when it is deleted (foreign key cascade).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sda_audio.errors import SdaError
from sda_audio.names import validate_name
from sda_engine.generate.request import FIELDS, GenerationRequest, fold_controls, migrate_legacy
from sda_engine.store.catalogue import now_iso
from sda_engine.store.home import SdaHome

log = logging.getLogger(__name__)

ALLOWED_KEYS: tuple[str, ...] = tuple(sorted(FIELDS))
"""The settings a preset may hold: the flat fields of :class:`~sda_engine.generate.request.GenerationRequest`."""


def validate_preset_name(name: str) -> str:
    """Preset names follow sda's one name rule (:func:`sda_audio.names.validate_name`): no path separators,
    no leading dot or dash, no ``..``, no control characters, not padded; returned normalised (NFC)."""
    return validate_name(name, "preset")


def validate_params(params: Mapping[str, Any], legacy: bool = False) -> dict[str, Any]:
    """A preset's settings as flat, validated, JSON-safe overrides of :class:`GenerationRequest`.

    Keys are the request's flat field names (``duration``, ``temperature``, ``controls``, ``channels``, ...);
    keys of presets saved before the request type existed are migrated (``channels: 2`` -> ``"stereo"``,
    ``sliders`` -> ``controls``, ``count`` -> ``variations``, ...; with ``legacy``, a stored ``density`` is the
    old 0.1..2 factor). Flat control names (``brightness``) go into ``controls``. Raises ``SdaError`` naming the
    bad key.
    """
    if not isinstance(params, Mapping):
        raise SdaError("preset settings must be a mapping of setting names to values")
    migrated = fold_controls(migrate_legacy(params, legacy), {})
    unknown = sorted(set(migrated) - set(FIELDS))
    if unknown:
        raise SdaError(f"unknown preset setting(s): {', '.join(unknown)}",
                       hint=f"allowed: {', '.join(ALLOWED_KEYS)} and the musical controls")
    try:
        flat = GenerationRequest.from_dict(migrated).to_flat()
    except SdaError as exc:
        raise SdaError(f"preset setting not usable: {exc}") from None
    clean = {key: flat[key] for key in migrated}
    json.dumps(clean)
    return clean


@dataclass(frozen=True)
class Preset:
    """A saved set of controls; ``model_name`` is ``None`` for a global preset."""

    id: int
    name: str
    model_name: str | None
    params: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    updated: str = ""

    @property
    def scope(self) -> str:
        return self.model_name if self.model_name is not None else "global"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "model_name": self.model_name, "scope": self.scope,
                "params": dict(self.params), "created": self.created, "updated": self.updated}

    def request(self, base: GenerationRequest | None = None) -> GenerationRequest:
        """The preset applied on top of ``base`` (default: sda's defaults)."""
        return GenerationRequest.from_dict(self.params, base)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Preset:
        params = json.loads(row["params_json"])
        try:
            params = validate_params(params, legacy=True)  # presets saved by older versions are read in today's terms
        except SdaError as exc:
            log.warning("preset %r holds settings this version cannot use (%s); shown as stored", row["name"], exc)
        return cls(id=row["id"], name=row["name"], model_name=row["model_name"],
                   params=params, created=row["created"], updated=row["updated"])


def _where(model: str | None) -> tuple[str, tuple[Any, ...]]:
    return ("model_name IS NULL", ()) if model is None else ("model_name = ?", (model,))


class PresetStore:
    """Presets in the catalogue."""

    def __init__(self, home: SdaHome | None = None) -> None:
        self.home = home if home is not None else SdaHome()
        self.catalog = self.home.catalog

    def _check_model(self, conn: sqlite3.Connection, model: str | None) -> None:
        if model is None:
            return
        row = conn.execute("SELECT 1 FROM models WHERE name = ? AND state = 'ready'", (model,)).fetchone()
        if row is None:
            raise SdaError(f"no model named {model!r} for this preset",
                           hint="your model library lists the models you have; leave out the model for a global preset")

    def _find(self, conn: sqlite3.Connection, name: str, model: str | None) -> sqlite3.Row | None:
        clause, args = _where(model)
        return conn.execute(f"SELECT * FROM presets WHERE name = ? AND {clause}", (name, *args)).fetchone()

    def save(self, name: str, params: Mapping[str, Any], model: str | None = None,
             overwrite: bool = False) -> Preset:
        """Save ``params`` as preset ``name`` (global when ``model`` is ``None``)."""
        name = validate_preset_name(name)
        clean = validate_params(params)
        now = now_iso()
        with self.catalog.transaction() as conn:
            self._check_model(conn, model)
            existing = self._find(conn, name, model)
            if existing is not None and not overwrite:
                where = f"model {model!r}" if model else "global presets"
                raise SdaError(f"a preset named {name!r} already exists in {where}",
                               hint="choose another name or replace it", action="overwrite")
            if existing is not None:
                conn.execute("UPDATE presets SET params_json = ?, updated = ? WHERE id = ?",
                             (json.dumps(clean), now, existing["id"]))
            else:
                conn.execute("INSERT INTO presets (name, model_name, params_json, created, updated) "
                             "VALUES (?, ?, ?, ?, ?)", (name, model, json.dumps(clean), now, now))
            row = self._find(conn, name, model)
        assert row is not None  # written in this transaction
        log.info("saved preset %s (%s)", name, model or "global")
        return Preset.from_row(row)

    def list(self, model: str | None = None) -> list[Preset]:
        """Global presets plus ``model``'s; with ``model=None``, every preset (global and per model)."""
        sql = "SELECT * FROM presets"
        args: tuple[Any, ...] = ()
        if model is not None:
            sql += " WHERE model_name IS NULL OR model_name = ?"
            args = (model,)
        sql += " ORDER BY name, model_name IS NOT NULL, model_name"
        with self.catalog.connect() as conn:
            return [Preset.from_row(row) for row in conn.execute(sql, args)]

    def show(self, name: str, model: str | None = None) -> Preset:
        """The preset ``name``: ``model``'s own if it has one, else the global one."""
        with self.catalog.connect() as conn:
            row = self._find(conn, name, model) if model is not None else None
            if row is None:
                row = self._find(conn, name, None)
        if row is None:
            where = f" for model {model!r} or globally" if model else ""
            raise SdaError(f"no preset named {name!r}{where}", hint="the list of presets shows which exist")
        return Preset.from_row(row)

    def params_for(self, name: str, model: str | None = None, overrides: Mapping[str, Any] | None = None
                   ) -> dict[str, Any]:
        """A preset's settings with ``overrides`` on top (``controls`` are merged slider by slider)."""
        params = dict(self.show(name, model).params)
        for key, value in validate_params(overrides or {}).items():
            if key == "controls" and isinstance(params.get("controls"), dict):
                params["controls"] = {**params["controls"], **value}
            else:
                params[key] = value
        return params

    def rename(self, old: str, new: str, model: str | None = None) -> Preset:
        """Rename preset ``old`` of ``model`` (or global) to ``new``."""
        new = validate_preset_name(new)
        with self.catalog.transaction() as conn:
            row = self._find(conn, old, model)
            if row is None:
                raise SdaError(f"no preset named {old!r}" + (f" for model {model!r}" if model else ""),
                               hint="the list of presets shows which exist")
            if self._find(conn, new, model) is not None:
                raise SdaError(f"a preset named {new!r} already exists", hint="choose another name")
            conn.execute("UPDATE presets SET name = ?, updated = ? WHERE id = ?", (new, now_iso(), row["id"]))
            row = self._find(conn, new, model)
        assert row is not None  # renamed in this transaction
        return Preset.from_row(row)

    def delete(self, name: str, model: str | None = None) -> Preset:
        """Delete preset ``name`` of ``model`` (or the global one); returns what was deleted."""
        with self.catalog.transaction() as conn:
            row = self._find(conn, name, model)
            if row is None:
                raise SdaError(f"no preset named {name!r}" + (f" for model {model!r}" if model else ""),
                               hint="the list of presets shows which exist")
            conn.execute("DELETE FROM presets WHERE id = ?", (row["id"],))
        return Preset.from_row(row)
