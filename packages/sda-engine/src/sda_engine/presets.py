"""Named sets of generation controls, global or per model (PRES-01..03).

A preset stores the controls a person set (duration, seed, temperature, sliders, output format, ...)
so they can be recalled later. A model-specific preset wins over a global one of the same name.
Presets of a model follow it when it is renamed and go when it is deleted (foreign key cascade).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sda_audio.errors import SdaError
from sda_engine.catalog import now_iso
from sda_engine.home import SdaHome

log = logging.getLogger(__name__)

_NUMBER = (int, float)
# key -> accepted types (bool is rejected where a number is expected).
PARAM_TYPES: dict[str, tuple[type, ...]] = {
    "duration": _NUMBER,
    "seed": (int,),
    "temperature": _NUMBER,
    "top_k": (int,),
    "top_p": _NUMBER,
    "density": _NUMBER,
    "channels": (int,),
    "stereo_width": _NUMBER,
    "spatial": (str,),
    "azimuth": _NUMBER,
    "elevation": _NUMBER,
    "format": (str,),
    "sample_rate": (int,),
    "bit_depth": (int,),
    "mp3_bitrate": (int,),
    "loudness_lufs": _NUMBER,
    "peak_dbfs": _NUMBER,
    "vocoder": (str,),
    "crossfade": _NUMBER,
    "count": (int,),
    "blend": (dict,),
    "sliders": (dict,),
}
_TYPE_WORDS = {int: "whole number", str: "text", dict: "mapping of names to numbers"}
ALLOWED_KEYS: tuple[str, ...] = tuple(sorted(PARAM_TYPES))


def validate_preset_name(name: str) -> str:
    """Preset names are free text (spaces allowed), 1-80 characters, no control characters."""
    if not isinstance(name, str) or not name.strip() or len(name) > 80 or name != name.strip() \
            or any(ord(ch) < 32 for ch in name):
        raise SdaError(f"{name!r} is not a usable preset name",
                       hint="use 1-80 characters without leading/trailing spaces or control characters")
    return name


def validate_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Check keys and value types; return a plain JSON-safe copy or raise ``SdaError``."""
    if not isinstance(params, Mapping):
        raise SdaError("preset parameters must be a mapping of control names to values")
    unknown = sorted(set(params) - set(PARAM_TYPES))
    if unknown:
        raise SdaError(f"unknown preset parameter(s): {', '.join(unknown)}",
                       hint=f"allowed: {', '.join(ALLOWED_KEYS)}")
    clean: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        types = PARAM_TYPES[key]
        if isinstance(value, bool) or not isinstance(value, types):
            names = "number" if types == _NUMBER else " or ".join(_TYPE_WORDS[t] for t in types)
            raise SdaError(f"preset parameter {key!r} must be a {names}, not {value!r}")
        if key in ("sliders", "blend"):
            value = {str(k): v for k, v in value.items()}
            bad = [k for k, v in value.items() if isinstance(v, bool) or not isinstance(v, _NUMBER)]
            if bad:
                raise SdaError(f"preset {key} values must be numbers; check {', '.join(bad)}")
        clean[key] = value
    json.dumps(clean)  # everything above is JSON-safe; fail loudly if not
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

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Preset:
        return cls(id=row["id"], name=row["name"], model_name=row["model_name"],
                   params=json.loads(row["params_json"]), created=row["created"], updated=row["updated"])


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
                           hint="`sda models list` shows what you have; leave out the model for a global preset")

    def _find(self, conn: sqlite3.Connection, name: str, model: str | None) -> sqlite3.Row | None:
        clause, args = _where(model)
        return conn.execute(f"SELECT * FROM presets WHERE name = ? AND {clause}", (name, *args)).fetchone()

    def save(self, name: str, params: Mapping[str, Any], model: str | None = None,
             overwrite: bool = False) -> Preset:
        """Save ``params`` as preset ``name`` (global when ``model`` is ``None``)."""
        validate_preset_name(name)
        clean = validate_params(params)
        now = now_iso()
        with self.catalog.transaction() as conn:
            self._check_model(conn, model)
            existing = self._find(conn, name, model)
            if existing is not None and not overwrite:
                where = f"model {model!r}" if model else "global presets"
                raise SdaError(f"a preset named {name!r} already exists in {where}",
                               hint="choose another name or pass --overwrite")
            if existing is not None:
                conn.execute("UPDATE presets SET params_json = ?, updated = ? WHERE id = ?",
                             (json.dumps(clean), now, existing["id"]))
            else:
                conn.execute("INSERT INTO presets (name, model_name, params_json, created, updated) "
                             "VALUES (?, ?, ?, ?, ?)", (name, model, json.dumps(clean), now, now))
            row = self._find(conn, name, model)
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
            raise SdaError(f"no preset named {name!r}{where}", hint="`sda presets list` shows them")
        return Preset.from_row(row)

    def params_for(self, name: str, model: str | None = None, overrides: Mapping[str, Any] | None = None
                   ) -> dict[str, Any]:
        """A preset's params with ``overrides`` on top (``sliders`` are merged key by key)."""
        params = dict(self.show(name, model).params)
        for key, value in validate_params(overrides or {}).items():
            if key == "sliders" and isinstance(params.get("sliders"), dict):
                params["sliders"] = {**params["sliders"], **value}
            else:
                params[key] = value
        return params

    def rename(self, old: str, new: str, model: str | None = None) -> Preset:
        """Rename preset ``old`` of ``model`` (or global) to ``new``."""
        validate_preset_name(new)
        with self.catalog.transaction() as conn:
            row = self._find(conn, old, model)
            if row is None:
                raise SdaError(f"no preset named {old!r}" + (f" for model {model!r}" if model else ""),
                               hint="`sda presets list` shows them")
            if self._find(conn, new, model) is not None:
                raise SdaError(f"a preset named {new!r} already exists", hint="choose another name")
            conn.execute("UPDATE presets SET name = ?, updated = ? WHERE id = ?", (new, now_iso(), row["id"]))
            row = self._find(conn, new, model)
        return Preset.from_row(row)

    def delete(self, name: str, model: str | None = None) -> Preset:
        """Delete preset ``name`` of ``model`` (or the global one); returns what was deleted."""
        with self.catalog.transaction() as conn:
            row = self._find(conn, name, model)
            if row is None:
                raise SdaError(f"no preset named {name!r}" + (f" for model {model!r}" if model else ""),
                               hint="`sda presets list` shows them")
            conn.execute("DELETE FROM presets WHERE id = ?", (row["id"],))
        return Preset.from_row(row)
