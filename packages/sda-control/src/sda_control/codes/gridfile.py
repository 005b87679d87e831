"""The ``.sdacodes`` file: one safetensors file holding a code grid and its edit log (no pickle).

Tensors (int64): ``codes`` ``(levels, frames)``; for edit ``i``: ``edit.<i>.before`` and ``edit.<i>.after``
``(levels, stop - start)``. The safetensors header metadata holds one key, ``sda_codes``, a JSON object::

    {"format": "sda-codes", "format_version": 1, "created": ISO time,
     "model": {"name", "sha256", "levels", "codebook_size", "frame_seconds", "path"},
     "source": {"path", "sha256", "sample_rate", "channels", "seconds"} | {"blend": {...}} | null,
     "edits": [{"op", "params", "start", "stop", "when"}, ...], "position": applied edits}

Reading validates the header byte by byte first (:func:`sda_models.model_format.read_header`), then every
JSON field and every tensor's name, shape and range; any problem is one :class:`GridFileError` naming the file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save

from sda_audio.atomic import atomic_write_bytes
from sda_audio.errors import SdaError
from sda_control.codes.grid import CodeGrid, Edit, ModelRef
from sda_models.model_format import ModelFileError, read_header

FORMAT = "sda-codes"
FORMAT_VERSION = 1
METADATA_KEY = "sda_codes"
EXTENSION = ".sdacodes"
MAX_EDITS = 10_000
MAX_LEVELS = 64
GRID_HINT = "the grid file is damaged or not an sda code grid; encode the audio again"


class GridFileError(SdaError):
    """A ``.sdacodes`` file that cannot be read: missing, truncated, corrupted, hostile or of another kind."""

    def __init__(self, message: str, *, path: str | Path | None = None, hint: str | None = GRID_HINT) -> None:
        super().__init__(message, path=path, hint=hint)


def save_grid(grid: CodeGrid, path: str | Path) -> Path:
    """Write ``grid`` to ``path`` atomically; returns the path (also stored in ``grid.path``)."""
    path = Path(path)
    tensors = {"codes": grid.codes.to(torch.int64).contiguous()}
    edits = []
    for i, e in enumerate(grid.edits):
        tensors[f"edit.{i}.before"] = e.before.to(torch.int64).contiguous()
        tensors[f"edit.{i}.after"] = e.after.to(torch.int64).contiguous()
        edits.append({"op": e.op, "params": e.params, "start": e.start, "stop": e.stop, "when": e.when})
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "created": grid.created,
            "model": grid.model.to_dict(), "source": grid.source, "edits": edits, "position": grid.position}
    atomic_write_bytes(path, save(tensors, metadata={METADATA_KEY: json.dumps(meta)}))
    grid.path = path
    return path


def load_grid(path: str | Path) -> CodeGrid:
    """Read a ``.sdacodes`` file; every problem is a :class:`GridFileError` naming the file."""
    path = Path(path)
    if path.is_dir():
        raise GridFileError("is a folder, not a code grid", path=path, hint="give a .sdacodes file")
    if not path.exists():
        raise GridFileError("code grid not found", path=path, hint="check the path, or encode a sound first")
    try:
        header = read_header(path)
    except ModelFileError as exc:
        raise GridFileError(exc.message.replace("a model file", "a code grid").replace("model file", "code grid"),
                            path=path) from None
    text = header.metadata.get(METADATA_KEY)
    if text is None:
        raise GridFileError("no sda_codes metadata (a safetensors file, but not an sda code grid)", path=path)
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise GridFileError(f"its metadata is not valid JSON ({type(exc).__name__})", path=path) from None
    _check_meta(meta, path)
    if meta["format_version"] > FORMAT_VERSION:
        raise GridFileError(f"made by a newer sda (grid format {meta['format_version']}); this sda reads "
                            f"format {FORMAT_VERSION}", path=path, hint="upgrade sda to open it")
    model = _model_ref(meta["model"], path)
    n_edits = len(meta["edits"])
    expected = {"codes"} | {f"edit.{i}.{w}" for i in range(n_edits) for w in ("before", "after")}
    names = set(header.tensors)
    if names != expected:
        extra, missing = sorted(names - expected)[:3], sorted(expected - names)[:3]
        raise GridFileError(f"its tensors do not match its edit log (missing {missing}, unexpected {extra})",
                            path=path)
    for name, entry in header.tensors.items():
        if entry.dtype != "I64" or len(entry.shape) != 2 or entry.shape[0] != model.levels:
            raise GridFileError(f"tensor '{name}' is {entry.dtype} {list(entry.shape)}, expected int64 "
                                f"({model.levels}, frames)", path=path)
    frames = header.tensors["codes"].shape[1]
    edits_meta = meta["edits"]
    for i, e in enumerate(edits_meta):
        width = e["stop"] - e["start"]
        if not (0 <= e["start"] < e["stop"] <= frames):
            raise GridFileError(f"edit {i + 1} covers frames {e['start']}..{e['stop']} outside the grid's "
                                f"{frames} frames", path=path)
        for w in ("before", "after"):
            if header.tensors[f"edit.{i}.{w}"].shape[1] != width:
                raise GridFileError(f"edit {i + 1} holds {header.tensors[f'edit.{i}.{w}'].shape[1]} frames "
                                    f"but covers {width}", path=path)
    try:
        tensors = load_file(str(path))
    except Exception as exc:  # the header was validated; anything left is a damaged file
        raise GridFileError(f"cannot read its tensors ({type(exc).__name__})", path=path) from None
    for name, t in tensors.items():
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= model.codebook_size):
            raise GridFileError(f"tensor '{name}' holds codes outside 0..{model.codebook_size - 1}", path=path)
    edits = [Edit(op=e["op"], params=e["params"], start=e["start"], stop=e["stop"],
                  before=tensors[f"edit.{i}.before"], after=tensors[f"edit.{i}.after"], when=e["when"])
             for i, e in enumerate(edits_meta)]
    return CodeGrid(codes=tensors["codes"], model=model, source=meta["source"], edits=edits,
                    position=meta["position"], created=meta["created"], path=path)


def _check_meta(meta: Any, path: Path) -> None:
    def need(ok: bool, what: str) -> None:
        if not ok:
            raise GridFileError(f"its metadata {what}", path=path)

    need(isinstance(meta, dict), "is not a JSON object")
    need(meta.get("format") == FORMAT, f"says format {str(meta.get('format'))[:30]!r}, not {FORMAT!r}")
    version = meta.get("format_version")
    need(type(version) is int and version >= 1, "has no valid format_version")
    need(isinstance(meta.get("created"), str), "has no creation time")
    need(isinstance(meta.get("model"), dict), "names no model")
    need(meta.get("source") is None or isinstance(meta.get("source"), dict), "has a malformed source")
    edits = meta.get("edits")
    need(isinstance(edits, list) and len(edits) <= MAX_EDITS, f"has no edit list (or more than {MAX_EDITS})")
    for e in edits:
        need(isinstance(e, dict) and isinstance(e.get("op"), str) and isinstance(e.get("params"), dict)
             and isinstance(e.get("when"), str) and type(e.get("start")) is int and type(e.get("stop")) is int,
             "has a malformed edit")
    position = meta.get("position")
    need(type(position) is int and 0 <= position <= len(edits), "has an edit position outside its edit log")


def _model_ref(m: dict[str, Any], path: Path) -> ModelRef:
    ok = (isinstance(m.get("name"), str) and isinstance(m.get("sha256"), str)
          and type(m.get("levels")) is int and 1 <= m["levels"] <= MAX_LEVELS
          and type(m.get("codebook_size")) is int and 2 <= m["codebook_size"] <= 65536
          and isinstance(m.get("frame_seconds"), int | float) and math.isfinite(m["frame_seconds"])
          and 0 < m["frame_seconds"] < 10 and (m.get("path") is None or isinstance(m.get("path"), str)))
    if not ok:
        raise GridFileError("its model description is malformed", path=path)
    return ModelRef(name=m["name"], sha256=m["sha256"], levels=m["levels"], codebook_size=m["codebook_size"],
                    frame_seconds=float(m["frame_seconds"]), path=m.get("path"))
