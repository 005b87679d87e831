"""sda's base models: small autoencoders that have heard broad, legally usable audio before a user's files.

Each base is an ordinary ``.sda`` model file (safetensors; no prior) in :data:`WEIGHTS`, listed with its hash in
``weights/index.json``. This package holds data and reads its index; it imports nothing heavy (no torch): the
engine (``sda_engine.train.base_start``) loads a base and starts a user's training from it.

``index.json``: ``{"bases": [{"file", "name", "size", "kind", "sha256", "steps", "fine_tune_by_default",
"evidence"}]}``. ``fine_tune_by_default`` is set only where ``benchmarks/base.py`` measured fine-tuning from
the base better than training from scratch on most shared sets at equal minutes (docs/base.md); a base without it
is used when asked for (``sda train --base``).

``SDA_BASE_DIR``: a folder of ``.sda`` bases (with or without an ``index.json``) used instead of the shipped ones
(benchmarks of a base still training; a developer's own).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

__version__ = "0.1.0"

WEIGHTS = Path(__file__).resolve().parent / "weights"
INDEX = "index.json"
ENV_DIR = "SDA_BASE_DIR"


class BaseIndexError(ValueError):
    """The index of the bases cannot be read, or a base's file does not match its recorded hash."""


@dataclass(frozen=True)
class ShippedBase:
    """One base: its model file, its shapes (``size``, ``kind``), its hash and whether sda starts from it by
    default."""

    name: str
    size: str
    kind: str
    path: Path
    sha256: str
    steps: int | None = None
    fine_tune_by_default: bool = False
    evidence: str = ""

    def verify(self) -> None:
        """Raise :class:`BaseIndexError` unless the file is there and has the recorded hash."""
        if not self.path.is_file():
            raise BaseIndexError(f"the base model file {self.path} is missing; reinstall sda-base")
        digest = file_sha256(self.path)
        if digest != self.sha256:
            raise BaseIndexError(f"the base model file {self.path} does not match its recorded hash "
                                 f"({digest[:12]} instead of {self.sha256[:12]}); reinstall sda-base")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def base_dir() -> Path:
    """Where the bases are read from: ``$SDA_BASE_DIR`` when set, else the shipped :data:`WEIGHTS`."""
    override = os.environ.get(ENV_DIR)
    return Path(override).expanduser() if override else WEIGHTS


def shipped_bases(folder: Path | None = None) -> list[ShippedBase]:
    """The bases in ``folder`` (default :func:`base_dir`): from its ``index.json``, or, in a folder without one,
    every ``base-SIZE-KIND.sda`` in it (hashed now, not fine-tuned from by default)."""
    folder = base_dir() if folder is None else Path(folder)
    index = folder / INDEX
    if not index.is_file():
        found = []
        for path in sorted(folder.glob("base-*-*.sda")) if folder.is_dir() else []:
            _, size, kind = path.stem.split("-", 2)
            found.append(ShippedBase(name=f"sda-{path.stem}", size=size, kind=kind, path=path,
                                     sha256=file_sha256(path)))
        return found
    try:
        entries = json.loads(index.read_text())["bases"]
        return [ShippedBase(name=str(e["name"]), size=str(e["size"]), kind=str(e["kind"]),
                            path=folder / str(e["file"]), sha256=str(e["sha256"]),
                            steps=int(e["steps"]) if e.get("steps") is not None else None,
                            fine_tune_by_default=bool(e.get("fine_tune_by_default", False)),
                            evidence=str(e.get("evidence", ""))) for e in entries]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BaseIndexError(f"cannot read the index of the base models {index}: {exc}") from exc


def find_base(size: str, kind: str, folder: Path | None = None) -> ShippedBase | None:
    """The base with these shapes, or ``None``."""
    for base in shipped_bases(folder):
        if base.size == size and base.kind == kind:
            return base
    return None
