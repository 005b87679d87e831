"""Generation history (OUT-08/09) and feeding chosen generations back into a dataset (FEED-01/02).

Every generation is one catalogue row with its parameter snapshot, seed, model (name and file
SHA-256), vocoder and audio/sidecar paths. ``ab`` writes loudness-matched copies of two
generations for a fair comparison; ``feed`` copies chosen generations into a dataset folder.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sda_audio.atomic import atomic_path
from sda_audio.errors import SdaError
from sda_audio.progress import ProgressCallback, ignore_events
from sda_engine.store.ab import MatchedAudio, differences, loudness_match
from sda_engine.store.catalogue import now_iso
from sda_engine.store.home import SdaHome
from sda_engine.store.model_meta import file_sha256

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".opus"}


def taken_error(path: Path) -> SdaError:
    """The error for a file name that is already taken (the remedy: action ``overwrite``)."""
    return SdaError("a file is already there", path=path, hint="choose another name, or replace it",
                    action="overwrite")


def claim_file(path: Path) -> Path:
    """Create ``path`` empty, exclusively (``O_EXCL``: of two callers racing for one name, exactly one gets
    it), for an atomic write to replace; raises :func:`taken_error` when something is there. How generations
    and A/B copies are written without replacing anything."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    except FileExistsError:
        raise taken_error(path) from None
    os.close(fd)
    return path


@dataclass(frozen=True)
class HistoryEntry:
    """One past generation."""

    id: int
    created: str
    model_name: str | None
    model_sha256: str | None
    params: dict[str, Any]
    seed: int | None
    audio_path: Path
    sidecar_path: Path | None
    vocoder: str | None
    vocoder_reason: str | None
    duration: float | None
    sample_rate: int | None
    format: str | None
    notes: str = ""

    @property
    def audio_exists(self) -> bool:
        return self.audio_path.is_file()

    def settings(self) -> dict[str, Any]:
        """Everything that shaped the sound, for comparisons."""
        return {"model_name": self.model_name, "model_sha256": self.model_sha256, "seed": self.seed,
                "vocoder": self.vocoder, "duration": self.duration, "sample_rate": self.sample_rate,
                "format": self.format, "params": self.params}

    def request(self) -> Any:
        """The :class:`~sda_engine.generate.request.GenerationRequest` that makes this sound again (rows written before
        the request type existed are migrated)."""
        from sda_engine.generate.request import GenerationRequest

        return GenerationRequest.from_dict(self.params, legacy="render" not in self.params)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["audio_path"] = str(self.audio_path)
        data["sidecar_path"] = str(self.sidecar_path) if self.sidecar_path else None
        data["audio_exists"] = self.audio_exists
        return data

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> HistoryEntry:
        return cls(id=row["id"], created=row["created"], model_name=row["model_name"],
                   model_sha256=row["model_sha256"], params=json.loads(row["params_json"] or "{}"),
                   seed=row["seed"], audio_path=Path(row["audio_path"]),
                   sidecar_path=Path(row["sidecar_path"]) if row["sidecar_path"] else None,
                   vocoder=row["vocoder"], vocoder_reason=row["vocoder_reason"], duration=row["duration"],
                   sample_rate=row["sample_rate"], format=row["format"], notes=row["notes"] or "")


@dataclass(frozen=True)
class ABComparison:
    """Two generations side by side: settings that differ and loudness-matched copies."""

    a: HistoryEntry
    b: HistoryEntry
    param_differences: dict[str, tuple[Any, Any]]
    a_matched: MatchedAudio
    b_matched: MatchedAudio

    @property
    def a_path(self) -> Path:
        return self.a.audio_path

    @property
    def b_path(self) -> Path:
        return self.b.audio_path

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a.to_dict(), "b": self.b.to_dict(),
                "param_differences": {k: list(v) for k, v in self.param_differences.items()},
                "a_matched": self.a_matched.to_dict(), "b_matched": self.b_matched.to_dict()}


@dataclass(frozen=True)
class FeedResult:
    """What ``feed`` put into the dataset folder."""

    dataset: Path
    added: dict[int, Path] = field(default_factory=dict)
    skipped: dict[int, str] = field(default_factory=dict)
    manifest_updated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": str(self.dataset), "added": {str(k): str(v) for k, v in self.added.items()},
                "skipped": {str(k): v for k, v in self.skipped.items()},
                "manifest_updated": self.manifest_updated}


def _existing_hashes(folder: Path) -> set[str]:
    """SHA-256 of the dataset's audio (from manifest.json where it records them, else by hashing)."""
    hashes: set[str] = set()
    manifest = folder / "manifest.json"
    recorded: set[str] = set()
    if manifest.is_file():
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
            entries = data.get("entries", data.get("files", [])) if isinstance(data, dict) else data
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, dict) and entry.get("sha256"):
                    hashes.add(str(entry["sha256"]))
                    if entry.get("path"):
                        recorded.add(str(entry["path"]))
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("ignoring unreadable manifest %s: %s", manifest, exc)
    for path in folder.rglob("*"):
        if path.suffix.lower() in AUDIO_SUFFIXES and path.is_file():
            if path.relative_to(folder).as_posix() not in recorded:
                hashes.add(file_sha256(path))
    return hashes


@dataclass(frozen=True)
class HistoryRecord:
    """What one generation adds to the history: the model, the request of exactly that file (``params``), its
    seed, where its audio and sidecar are, and how it was vocoded."""

    model_name: str | None
    model_sha256: str | None
    params: Mapping[str, Any]
    seed: int | None
    audio_path: str | Path
    sidecar_path: str | Path | None = None
    vocoder: str | None = None
    vocoder_reason: str | None = None
    duration: float | None = None
    sample_rate: int | None = None
    format: str | None = None
    notes: str = ""


class History:
    """The generation history in the catalogue."""

    def __init__(self, home: SdaHome | None = None) -> None:
        self.home = home if home is not None else SdaHome()
        self.catalog = self.home.catalog

    def new_audio_path(self, model_name: str | None, seed: int | None = None, extension: str = "wav") -> Path:
        """A fresh path for a generation: ``history/<YYYY-MM-DD>/<model>_<HHMMSS>[_s<seed>].<ext>``."""
        stamp = datetime.now(UTC)
        stem = f"{model_name or 'model'}_{stamp:%H%M%S}" + (f"_s{seed}" if seed is not None else "")
        folder = self.home.history_dir / f"{stamp:%Y-%m-%d}"
        folder.mkdir(parents=True, exist_ok=True)
        ext = extension.lstrip(".")
        path, n = folder / f"{stem}.{ext}", 2
        while path.exists():
            path, n = folder / f"{stem}-{n}.{ext}", n + 1
        return path

    def record(self, item: HistoryRecord) -> HistoryEntry:
        """Add one generation; returns the stored entry (with its id)."""
        model_name, model_sha256, seed, vocoder = item.model_name, item.model_sha256, item.seed, item.vocoder
        vocoder_reason, duration, sample_rate, format, notes = (item.vocoder_reason, item.duration,
                                                                item.sample_rate, item.format, item.notes)
        params, audio_path, sidecar_path = item.params, item.audio_path, item.sidecar_path
        params_json = json.dumps(dict(params), default=str, sort_keys=True)
        audio = str(Path(audio_path).expanduser().resolve())
        sidecar = str(Path(sidecar_path).expanduser().resolve()) if sidecar_path else None
        if format is None:
            format = Path(audio).suffix.lstrip(".").lower() or None
        with self.catalog.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO history (created, model_name, model_sha256, params_json, seed, audio_path, "
                "sidecar_path, vocoder, vocoder_reason, duration, sample_rate, format, notes) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (now_iso(), model_name, model_sha256, params_json, seed, audio, sidecar, vocoder,
                 vocoder_reason, duration, sample_rate, format, notes))
            entry_id = cur.lastrowid
        assert entry_id is not None  # an INSERT always sets it
        return self.show(int(entry_id))

    def list(self, limit: int | None = 50, model: str | None = None) -> list[HistoryEntry]:
        """Newest first; ``limit=None`` for all; ``model`` filters by model name."""
        sql, args = "SELECT * FROM history", []
        if model is not None:
            sql += " WHERE model_name = ?"
            args.append(model)
        sql += " ORDER BY created DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        with self.catalog.connect() as conn:
            return [HistoryEntry.from_row(row) for row in conn.execute(sql, args)]

    def show(self, entry_id: int) -> HistoryEntry:
        with self.catalog.connect() as conn:
            row = conn.execute("SELECT * FROM history WHERE id = ?", (int(entry_id),)).fetchone()
        if row is None:
            raise SdaError(f"no generation #{entry_id} in the history", hint="the history lists the generations you have")
        return HistoryEntry.from_row(row)

    def annotate(self, entry_id: int, notes: str) -> HistoryEntry:
        self.show(entry_id)
        with self.catalog.transaction() as conn:
            conn.execute("UPDATE history SET notes = ? WHERE id = ?", (notes, int(entry_id)))
        return self.show(entry_id)

    def delete(self, entry_id: int, remove_files: bool = False) -> HistoryEntry:
        """Forget one generation (and delete its audio and sidecar if ``remove_files``)."""
        entry = self.show(entry_id)
        with self.catalog.transaction() as conn:
            conn.execute("DELETE FROM history WHERE id = ?", (int(entry_id),))
        if remove_files:
            entry.audio_path.unlink(missing_ok=True)
            if entry.sidecar_path is not None:
                entry.sidecar_path.unlink(missing_ok=True)
        return entry

    def thumbnail(self, entry_id: int, width: int = 400, height: int = 80) -> Path:
        """A waveform PNG of a generation (``history/thumbnails/<id>.png``, redrawn if the audio is newer)."""
        from sda_audio.thumbnails import waveform_thumbnail

        entry = self.show(entry_id)
        if not entry.audio_exists:
            raise SdaError(f"the audio of generation #{entry.id} is missing", path=entry.audio_path,
                           hint="it was moved or deleted")
        png = self.home.history_dir / "thumbnails" / f"{entry.id}.png"
        if not png.is_file() or png.stat().st_mtime < entry.audio_path.stat().st_mtime:
            waveform_thumbnail(entry.audio_path, png, width=width, height=height)
        return png

    def ab(self, id1: int, id2: int, out_dir: str | Path | None = None, overwrite: bool = False) -> ABComparison:
        """Compare two generations: differing settings and loudness-matched 24-bit WAV copies.

        Copies go to ``out_dir`` (default ``history/ab/``) as ``ab_<id1>_<id2>_a.wav`` / ``_b.wav``; copies
        already there are refused (action ``overwrite``) unless ``overwrite``.
        """
        a, b = self.show(id1), self.show(id2)
        for entry in (a, b):
            if not entry.audio_exists:
                raise SdaError(f"the audio of generation #{entry.id} is missing", path=entry.audio_path,
                               hint="it was moved or deleted; pick another generation")
        folder = Path(out_dir) if out_dir is not None else self.home.ab_dir
        stem = folder / f"ab_{a.id}_{b.id}"
        targets = [stem.with_name(stem.name + "_a.wav"), stem.with_name(stem.name + "_b.wav")]
        claimed: list[Path] = []
        try:
            if not overwrite:
                folder.mkdir(parents=True, exist_ok=True)
                for target in targets:
                    claimed.append(claim_file(target))
            ma, mb = loudness_match([a.audio_path, b.audio_path], targets)
        except BaseException:
            for path in claimed:
                path.unlink(missing_ok=True)
            raise
        return ABComparison(a=a, b=b, param_differences=differences(a.settings(), b.settings()),
                            a_matched=ma, b_matched=mb)

    def feed(self, ids: Iterable[int], dataset_folder: str | Path, name: str | None = None,
             on_event: ProgressCallback = ignore_events) -> FeedResult:
        """Copy chosen generations into a dataset folder, skipping ones already there (same bytes).

        Uses ``sda_audio.dataset.import_dataset`` when available so the dataset's manifest is
        updated; otherwise the files are copied in as ``sda-gen-<id>.<ext>``.
        """
        folder = Path(dataset_folder).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        seen = _existing_hashes(folder)
        chosen: dict[int, Path] = {}
        skipped: dict[int, str] = {}
        for entry_id in ids:
            entry = self.show(entry_id)
            if not entry.audio_exists:
                skipped[entry.id] = f"audio file missing: {entry.audio_path}"
                continue
            digest = file_sha256(entry.audio_path)
            if digest in seen:
                skipped[entry.id] = "already in the dataset"
                continue
            seen.add(digest)
            chosen[entry.id] = entry.audio_path
        try:
            from sda_audio.dataset import import_dataset
        except ImportError:
            import_dataset = None
        if import_dataset is not None and chosen:
            result = import_dataset(list(chosen.values()), folder, name or folder.name, on_event=on_event)
            by_source = {str(Path(e.source).resolve()): folder / e.path
                         for e in getattr(result, "imported", []) if getattr(e, "source", None)}
            reasons = {str(Path(r.source).resolve()): r.reason for r in getattr(result, "rejected", [])}
            reasons.update({str(Path(d.source).resolve()): "already in the dataset"
                            for d in getattr(result, "duplicates", [])})
            added = {}
            for entry_id, source in chosen.items():
                key = str(source.resolve())
                if key in by_source:
                    added[entry_id] = by_source[key]
                else:
                    skipped[entry_id] = reasons.get(key, "not imported")
            log.info("fed %d generation(s) into %s (%d skipped)", len(added), folder, len(skipped))
            return FeedResult(dataset=folder, added=added, skipped=skipped, manifest_updated=True)
        added = {}
        for entry_id, source in chosen.items():
            target = folder / f"sda-gen-{entry_id}{source.suffix.lower()}"
            with atomic_path(target) as tmp:
                shutil.copyfile(source, tmp)
            added[entry_id] = target
        log.info("fed %d generation(s) into %s (%d skipped)", len(added), folder, len(skipped))
        return FeedResult(dataset=folder, added=added, skipped=skipped, manifest_updated=False)
