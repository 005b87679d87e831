"""Datasets: a folder of a musician's recordings plus a ``manifest.json`` describing them.

``import_dataset`` copies files (or whole folders, recursively) into the dataset folder, skipping
content duplicates and rejecting files that cannot be used, and keeps the manifest up to date. A
folder of audio without a manifest is still a dataset: :func:`load_manifest` computes one on the fly.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sda_audio.atomic import atomic_path, atomic_write_json
from sda_audio.errors import SdaError
from sda_audio.files import MANIFEST_NAME, Sources, file_sha256, iter_candidate_files, list_audio_files
from sda_audio.io import AudioReadError, audio_info, is_supported
from sda_audio.names import validate_name
from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events
from sda_audio.repair import repair_audio_file
from sda_audio.validation import validate_file

log = logging.getLogger(__name__)

MANIFEST_FORMAT = "sda-dataset"
MANIFEST_VERSION = 1


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


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


def _check_usable(path: Path, repair_non_finite: bool = False) -> tuple[str | None, int]:
    """Why ``path`` cannot join a dataset (``None`` when it can: decodes and has sound), and how many of its
    samples are NaN/infinite (to be set to 0 in the copy when the repair is accepted)."""
    report = validate_file(path, min_duration=0.0, repair_non_finite=repair_non_finite)
    errors = [i for i in report.issues if i.severity == "error"]
    return ("; ".join(i.message for i in errors) if errors else None), report.non_finite


def import_dataset(
    sources: Sources,
    dest_folder: str | Path,
    name: str,
    on_event: ProgressCallback = ignore_events,
    cancel: CancelToken | None = None,
    repair_non_finite: bool = False,
) -> ImportResult:
    """Copy recordings into the dataset folder ``dest_folder`` and record them in its manifest.

    Args:
        sources: audio files and/or folders (walked recursively).
        dest_folder: the dataset's own folder (created if missing; may already hold a dataset).
        name: the dataset's name, stored in the manifest.
        on_event: progress callback (job ``import``).
        cancel: stops between files; what was copied so far is kept and recorded.
        repair_non_finite: the user accepts that NaN/infinite samples are set to 0: such files are imported
            as repaired copies (:func:`sda_audio.repair.repair_audio_file`; the original is untouched)
            instead of being rejected.

    Returns:
        An :class:`ImportResult` listing imported files, skipped duplicates (by content hash, also
        against files already in the dataset) and rejected files with the reason.
    """
    name = validate_name(name, "dataset")
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
            reason, non_finite = _check_usable(source, repair_non_finite)
            if reason is not None:
                result.rejected.append(RejectedFile(source, reason))
                on_event(ProgressEvent("import", "warning", step, len(candidates), f"rejected {source}: {reason}"))
                continue
            target = dest / _unique_name(dest, source.name, taken)
            if non_finite:
                repair_audio_file(source, target)
                on_event(ProgressEvent("import", "warning", step, len(candidates),
                                       f"{source.name}: {non_finite} NaN/infinite samples set to 0 in the copy"))
            else:
                with atomic_path(target) as tmp:
                    shutil.copyfile(source, tmp)
            entry = describe_file(target, dest, source=str(source.resolve()),
                                  sha256=None if non_finite else digest)
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
