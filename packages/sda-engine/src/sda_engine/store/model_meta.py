"""Read what the catalogue needs to know about a ``.sda`` file, without loading its weights.

Current-format files are read from the JSON stored under the safetensors header key ``sda`` (no torch);
older formats go through ``sda_models.model_file.read_metadata``, which migrates them. Every field is read
defensively: a file written by an older or newer sda still gets a catalogue row, with unknown fields left
empty.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors import safe_open

from sda_audio.errors import SdaError
from sda_audio.files import file_sha256

log = logging.getLogger(__name__)

METADATA_KEY = "sda"
CURRENT_FORMAT_VERSION = 2  # sda_models.model_file.FORMAT_VERSION
PART_PREFIXES = {"prior": "prior.", "vocoder": "vocoder.", "control": "control."}


@dataclass(frozen=True)
class ModelSummary:
    """The catalogue's view of one model file."""

    kind: str | None
    dataset_name: str | None
    dataset_hash: str | None
    n_files: int | None
    duration: float | None
    format_version: int | None
    has_prior: bool
    has_vocoder: bool
    has_control: bool
    file_sha256: str
    size_bytes: int
    metrics: dict[str, Any] = field(default_factory=dict)
    name: str | None = None


def _header(path: Path) -> tuple[dict[str, str], list[str]]:
    """Raw safetensors header metadata and tensor names (no tensor data is read)."""
    try:
        with safe_open(str(path), framework="numpy") as handle:
            return dict(handle.metadata() or {}), list(handle.keys())
    except Exception as exc:  # safetensors raises its own error types for bad headers
        raise SdaError(f"not an sda model file ({exc})", path=path,
                       hint="give a .sda model file that sda wrote when it trained a model") from exc


def read_model_metadata(path: Path) -> dict[str, Any]:
    """The model's metadata dict (format_version, kind, dataset, metrics, parts, ...).

    Current-format files are read straight from the safetensors header (no torch import, so
    listing and reconciling stay fast). Files of an older format (or with no readable ``sda``
    header) go through ``sda_models.model_file.read_metadata``, which migrates them.
    """
    path = Path(path)
    if not path.is_file():
        raise SdaError("no model file here", path=path, hint="check the path")
    raw, _ = _header(path)
    meta: Any = None
    if METADATA_KEY in raw:
        try:
            meta = json.loads(raw[METADATA_KEY])
        except json.JSONDecodeError:
            meta = None
    version = _as_int(meta.get("format_version")) if isinstance(meta, dict) else None
    if version is not None and version > CURRENT_FORMAT_VERSION:  # as sda_models.model_format says it (no torch)
        raise SdaError(f"made by a newer sda (format {version}); this sda reads formats up to "
                       f"{CURRENT_FORMAT_VERSION}", path=path, hint="upgrade sda to open it")
    if version is not None and version >= CURRENT_FORMAT_VERSION:
        return meta
    # imported here: sda_models.model_file imports torch (measured ~4 s), which listing and
    # reconciling a library of current-format files never need
    from sda_models.model_file import read_metadata

    migrated = read_metadata(path)
    return dict(migrated) if isinstance(migrated, Mapping) else {}


def _first(mapping: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = mapping.get(key)
        if value is not None:
            return value
    return None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _kind(meta: Mapping[str, Any]) -> str | None:
    kind = _first(meta, "kind", "model_kind", "model_type")
    if kind is None:
        for key in ("autoencoder", "autoencoder_config", "config"):
            section = meta.get(key)
            if isinstance(section, Mapping):
                nested = section.get("autoencoder")
                inner = nested if isinstance(nested, Mapping) else section
                kind = inner.get("kind")
                if kind is not None:
                    break
    return str(kind) if kind is not None else None


def _dataset_fields(meta: Mapping[str, Any]) -> tuple[str | None, str | None, int | None, float | None]:
    dataset = meta.get("dataset")
    if not isinstance(dataset, Mapping):
        name = dataset if isinstance(dataset, str) else None
        return name, None, None, None
    name = _first(dataset, "name")
    digest = _first(dataset, "hash", "sha256", "manifest_sha256", "dataset_hash")
    files = _first(dataset, "n_files", "files", "file_count", "num_files")
    n_files = len(files) if isinstance(files, list | tuple) else _as_int(files)
    duration = _as_float(_first(dataset, "duration", "total_duration", "duration_s", "total_duration_s"))
    return (str(name) if name is not None else None, str(digest) if digest is not None else None,
            n_files, duration)


def _has_part(meta: Mapping[str, Any], keys: list[str], part: str) -> bool:
    parts = meta.get("parts")
    if isinstance(parts, Mapping) and part in parts:
        value = parts[part]
        return bool(value) if not isinstance(value, Mapping) else bool(value.get("present", True))
    prefix = PART_PREFIXES[part]
    return any(key.startswith(prefix) for key in keys)


def summarize_model(path: Path) -> ModelSummary:
    """Read a model file's metadata and header into a ``ModelSummary`` (raises ``SdaError``)."""
    path = Path(path)
    meta = read_model_metadata(path)
    _, keys = _header(path)
    dataset_name, dataset_hash, n_files, duration = _dataset_fields(meta)
    metrics = meta.get("metrics")
    name = meta.get("name")
    return ModelSummary(
        kind=_kind(meta),
        dataset_name=dataset_name,
        dataset_hash=dataset_hash,
        n_files=n_files,
        duration=duration,
        format_version=_as_int(meta.get("format_version")),
        has_prior=_has_part(meta, keys, "prior"),
        has_vocoder=_has_part(meta, keys, "vocoder"),
        has_control=_has_part(meta, keys, "control"),
        file_sha256=file_sha256(path),
        size_bytes=path.stat().st_size,
        metrics=dict(metrics) if isinstance(metrics, Mapping) else {},
        name=str(name) if isinstance(name, str) else None,
    )
