"""Which files in a folder are recordings, and their content hash.

Shared by dataset import (:mod:`sda_audio.dataset`), validation (:mod:`sda_audio.validation`), summaries and
thumbnails, so every one of them sees the same files: hidden files and folders, ``manifest.json``, sda's own
sidecars (``take.wav.json``), temporary files and ``thumbnails`` folders are never recordings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from sda_audio.errors import SdaError
from sda_audio.io import is_supported

MANIFEST_NAME = "manifest.json"
IGNORED_DIR_NAMES = frozenset({"thumbnails", "__pycache__", "__MACOSX"})
IGNORED_FILE_NAMES = frozenset({MANIFEST_NAME, "Thumbs.db", "desktop.ini"})

Sources = str | Path | Iterable[str | Path]


def as_paths(sources: Sources) -> list[Path]:
    """``sources`` (one path or several) as a list of paths."""
    if isinstance(sources, str | Path):
        return [Path(sources)]
    return [Path(s) for s in sources]


def _ignored(path: Path) -> bool:
    name = path.name
    if name.startswith(".") or name in IGNORED_FILE_NAMES or name.endswith(".tmp"):
        return True
    # sda's own sidecars ("take.wav.json") and thumbnail indexes are not recordings.
    return name.endswith(".json") and is_supported(name[: -len(".json")])


def iter_candidate_files(sources: Sources, recursive: bool = True) -> Iterator[Path]:
    """Every non-hidden file in ``sources`` (files given directly, folders walked), audio or not.

    Hidden files and folders, ``manifest.json``, sidecars (``take.wav.json``) and ``thumbnails``
    folders are skipped. Files given
    directly are yielded as they are (even hidden ones). Order: sorted within each source.

    Raises:
        SdaError: a source does not exist.
    """
    for source in as_paths(sources):
        if not source.exists():
            raise SdaError("no such file or folder", path=source, hint="check the path")
        if source.is_file():
            yield source
            continue
        pattern = source.rglob("*") if recursive else source.glob("*")
        for path in sorted(pattern):
            rel_parts = path.relative_to(source).parts
            if any(p.startswith(".") or p in IGNORED_DIR_NAMES for p in rel_parts[:-1]):
                continue
            if path.is_file() and not _ignored(path):
                yield path


def list_audio_files(sources: Sources, recursive: bool = True) -> list[Path]:
    """Audio files (by extension, see :data:`~sda_audio.io.SUPPORTED_EXTENSIONS`) in files/folders."""
    seen: set[Path] = set()
    out: list[Path] = []
    for path in iter_candidate_files(sources, recursive):
        key = path.resolve()
        if is_supported(path) and key not in seen:
            seen.add(key)
            out.append(path)
    return out


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
