"""Datasets: a folder of a musician's recordings plus a ``manifest.json`` describing them.

``import_dataset`` copies files (or whole folders, recursively) into the dataset folder, skipping
content duplicates and rejecting files that cannot be used, and keeps the manifest up to date. A
folder of audio without a manifest is still a dataset: :func:`load_manifest` computes one on the fly.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sda_audio.atomic import atomic_path, atomic_write_json
from sda_audio.errors import SdaError
from sda_audio.io import AudioReadError, audio_info, is_supported
from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "sda-dataset"
MANIFEST_VERSION = 1
IGNORED_DIR_NAMES = frozenset({"thumbnails", "__pycache__", "__MACOSX"})
IGNORED_FILE_NAMES = frozenset({MANIFEST_NAME, "Thumbs.db", "desktop.ini"})

Sources = str | Path | Iterable[str | Path]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _as_list(sources: Sources) -> list[Path]:
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
    for source in _as_list(sources):
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


@dataclass(frozen=True)
class ManifestEntry:
    """One file of a dataset. ``path`` is relative to the dataset folder, with ``/`` separators."""

    path: str
    sha256: str
    duration: float
    sample_rate: int
    channels: int
    frames: int = 0
    source: str | None = None
    imported: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ManifestEntry:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class Manifest:
    """A dataset's description. ``computed`` is true when no ``manifest.json`` existed."""

    folder: Path
    name: str
    created: str
    entries: list[ManifestEntry] = field(default_factory=list)
    computed: bool = False
    updated: str | None = None

    def files(self) -> list[Path]:
        return [self.folder / e.path for e in self.entries]

    @property
    def total_duration(self) -> float:
        return float(sum(e.duration for e in self.entries))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "version": MANIFEST_VERSION,
            "name": self.name,
            "created": self.created,
            "updated": self.updated or self.created,
            "entries": [e.to_dict() for e in self.entries],
        }

    def save(self) -> Path:
        """Write ``manifest.json`` atomically."""
        target = self.folder / MANIFEST_NAME
        atomic_write_json(target, self.to_dict())
        self.computed = False
        return target


def describe_file(path: Path, folder: Path, source: str | None = None, sha256: str | None = None) -> ManifestEntry:
    """A manifest entry for ``path`` (inside ``folder``); raises AudioReadError if unreadable."""
    info = audio_info(path)
    return ManifestEntry(
        path=path.relative_to(folder).as_posix(),
        sha256=sha256 or file_sha256(path),
        duration=info.duration,
        sample_rate=info.sample_rate,
        channels=info.channels,
        frames=info.frames,
        source=source,
        imported=_now(),
    )


def load_manifest(folder: str | Path) -> Manifest:
    """The dataset in ``folder``: its ``manifest.json``, or one computed from the audio files there.

    Raises:
        SdaError: the folder does not exist or its manifest is not valid JSON.
    """
    import json

    folder = Path(folder)
    if not folder.is_dir():
        raise SdaError("dataset folder not found", path=folder, hint="import recordings into a dataset first")
    manifest_path = folder / MANIFEST_NAME
    if manifest_path.is_file():
        try:
            data = json.loads(manifest_path.read_text(encoding="utf-8"))
            entries = [ManifestEntry.from_dict(e) for e in data.get("entries", [])]
        except (ValueError, TypeError, AttributeError) as exc:
            raise SdaError(f"the dataset manifest is damaged ({exc})", path=manifest_path,
                           hint="delete manifest.json; sda rebuilds it from the audio files") from exc
        return Manifest(folder=folder, name=str(data.get("name", folder.name)), created=str(data.get("created", _now())),
                        entries=entries, updated=data.get("updated"))
    entries = []
    for path in list_audio_files(folder):
        try:
            entries.append(describe_file(path, folder))
        except AudioReadError as exc:
            log.warning("%s", exc)
    return Manifest(folder=folder, name=folder.name, created=_now(), entries=entries, computed=True)


@dataclass(frozen=True)
class DuplicateFile:
    source: Path
    duplicate_of: str  # dataset-relative path (or the source path seen earlier in this import)

    def __str__(self) -> str:
        return f"{self.source} (same content as {self.duplicate_of})"


@dataclass(frozen=True)
class RejectedFile:
    source: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


@dataclass
class ImportResult:
    """What :func:`import_dataset` did."""

    dataset: Path
    name: str
    imported: list[ManifestEntry] = field(default_factory=list)
    duplicates: list[DuplicateFile] = field(default_factory=list)
    rejected: list[RejectedFile] = field(default_factory=list)
    manifest: Manifest | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": str(self.dataset),
            "name": self.name,
            "imported": [e.to_dict() for e in self.imported],
            "duplicates": [{"source": str(d.source), "duplicate_of": d.duplicate_of} for d in self.duplicates],
            "rejected": [{"source": str(r.source), "reason": r.reason} for r in self.rejected],
            "total_files": len(self.manifest.entries) if self.manifest else len(self.imported),
        }


_NAME_RE = re.compile(r"[^\w.\- ]+")


def _unique_name(folder: Path, name: str, taken: set[str]) -> str:
    stem, suffix = Path(name).stem, Path(name).suffix
    stem = _NAME_RE.sub("_", stem).strip(" .") or "audio"
    candidate, n = f"{stem}{suffix}", 2
    while candidate.lower() in taken or (folder / candidate).exists():
        candidate, n = f"{stem}-{n}{suffix}", n + 1
    taken.add(candidate.lower())
    return candidate


def _check_usable(path: Path) -> str | None:
    """Why ``path`` cannot join a dataset, or ``None`` when it can (decodes and has sound)."""
    from sda_audio.validation import validate_file

    report = validate_file(path, min_duration=0.0)
    errors = [i for i in report.issues if i.severity == "error"]
    return "; ".join(i.message for i in errors) if errors else None


def import_dataset(
    sources: Sources,
    dest_folder: str | Path,
    name: str,
    on_event: ProgressCallback = ignore_events,
    cancel: CancelToken | None = None,
) -> ImportResult:
    """Copy recordings into the dataset folder ``dest_folder`` and record them in its manifest.

    Args:
        sources: audio files and/or folders (walked recursively).
        dest_folder: the dataset's own folder (created if missing; may already hold a dataset).
        name: the dataset's name, stored in the manifest.
        on_event: progress callback (job ``import``).
        cancel: stops between files; what was copied so far is kept and recorded.

    Returns:
        An :class:`ImportResult` listing imported files, skipped duplicates (by content hash, also
        against files already in the dataset) and rejected files with the reason.
    """
    name = str(name).strip()
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise SdaError(f"'{name}' is not a usable dataset name", hint="use a short name without slashes, e.g. 'field-recordings'")
    dest = Path(dest_folder)
    candidates = list(iter_candidate_files(sources))
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SdaError(f"cannot create the dataset folder ({exc.strerror})", path=dest,
                       hint="choose a folder you can write to") from exc
    dest_resolved = dest.resolve()

    manifest = load_manifest(dest)
    manifest.name = name
    manifest.entries = [e for e in manifest.entries if (dest / e.path).is_file()]
    known: dict[str, str] = {e.sha256: e.path for e in manifest.entries}
    taken = {e.path.lower() for e in manifest.entries}
    result = ImportResult(dataset=dest, name=name, manifest=manifest)
    on_event(ProgressEvent("import", "start", 0, len(candidates), f"importing {len(candidates)} files into {name}"))

    try:
        for step, source in enumerate(candidates, start=1):
            if cancel is not None:
                cancel.raise_if_cancelled("the import")
            if source.resolve().is_relative_to(dest_resolved):
                continue  # already inside the dataset (e.g. re-importing the dataset folder itself)
            if not is_supported(source):
                reason = f"not a supported audio format ('{source.suffix or 'no extension'}')"
                result.rejected.append(RejectedFile(source, reason))
                on_event(ProgressEvent("import", "warning", step, len(candidates), f"rejected {source}: {reason}"))
                continue
            digest = file_sha256(source)
            if digest in known:
                result.duplicates.append(DuplicateFile(source, known[digest]))
                on_event(ProgressEvent("import", "warning", step, len(candidates),
                                       f"skipped {source}: same content as {known[digest]}"))
                continue
            reason = _check_usable(source)
            if reason is not None:
                result.rejected.append(RejectedFile(source, reason))
                on_event(ProgressEvent("import", "warning", step, len(candidates), f"rejected {source}: {reason}"))
                continue
            target = dest / _unique_name(dest, source.name, taken)
            with atomic_path(target) as tmp:
                shutil.copyfile(source, tmp)
            entry = describe_file(target, dest, source=str(source.resolve()), sha256=digest)
            manifest.entries.append(entry)
            result.imported.append(entry)
            known[digest] = entry.path
            on_event(ProgressEvent("import", "progress", step, len(candidates), f"copied {source.name}"))
    finally:
        manifest.updated = _now()
        manifest.save()
    on_event(ProgressEvent("import", "done", len(candidates), len(candidates),
                           f"{len(result.imported)} imported, {len(result.duplicates)} duplicates skipped, "
                           f"{len(result.rejected)} rejected",
                           data=result.to_dict()))
    return result
