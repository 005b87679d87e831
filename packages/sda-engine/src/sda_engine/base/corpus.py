"""``sda base corpus OUT/``: render the base model's corpus (see docs/base.md), resumably.

Each sound of :func:`~sda_engine.base.plan.plan_corpus` becomes a mono 44.1 kHz 24-bit FLAC under ``OUT/``,
written atomically. ``OUT/manifest.json`` lists every file with its source, what made it (program, notes,
velocities and lengths, or synthesis recipe and seed) and its duration, and the total. The manifest is
rewritten as the work goes, so a run stopped half-way (Ctrl-C, a crash, a full disk) continues where it
stopped: a file is rendered again only when it is missing, unreadable, or was made from another spec, and the
temporary files of a write that was killed half-way are deleted. Files of an earlier, different corpus in the
same folder (another size, seed or sources) are left alone, with a warning, and are not in the manifest.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from sda_audio import synth_corpus
from sda_audio.atomic import atomic_path, atomic_write_json
from sda_audio.errors import SdaError
from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events
from sda_engine.base import midi
from sda_engine.base.plan import DEFAULT_MINUTES, SOURCES, CorpusItem, plan_corpus
from sda_engine.store.locks import folder_lock

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
SUBTYPE = "PCM_24"
PEAK_LIMIT = 0.98
"""A rendered sound whose peak passes this is scaled down to it (recorded as ``gain`` in the manifest)."""
SAVE_EVERY = 10.0
"""Seconds between manifest rewrites while rendering."""
LICENCES = {
    "gm": "Fluid R3 GM soundfont by Frank Wen, MIT licence (Debian package fluid-soundfont-gm); "
          "rendered with fluidsynth (LGPL-2.1, run as an external program)",
    "gm_drums": "Fluid R3 GM soundfont by Frank Wen, MIT licence (Debian package fluid-soundfont-gm); "
                "rendered with fluidsynth (LGPL-2.1, run as an external program)",
    "sda_synth": "sda's own synthesis (numpy), under the project's licence (MIT)",
}


@dataclass(frozen=True)
class CorpusResult:
    """What a run of :func:`build_corpus` did."""

    folder: Path
    manifest: Path
    files: int
    rendered: int
    skipped: int
    total_seconds: float
    seconds_by_source: dict[str, float]
    files_by_source: dict[str, int]
    wall_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"folder": str(self.folder), "manifest": str(self.manifest), "files": self.files,
                "rendered": self.rendered, "skipped": self.skipped, "total_seconds": round(self.total_seconds, 3),
                "seconds_by_source": {k: round(v, 3) for k, v in self.seconds_by_source.items()},
                "files_by_source": self.files_by_source, "wall_seconds": round(self.wall_seconds, 3)}


def _render(item: CorpusItem, soundfont: Path, gain: float) -> tuple[np.ndarray, dict[str, Any]]:
    """The audio of one item and what the render learnt (the tail it needed, whether it decayed)."""
    if item.source == "sda_synth":
        spec = item.spec
        return synth_corpus.render_recipe(spec["recipe"], spec["params"], spec["seed"]), {}
    notes = [midi.Note(n["start"], n["length"], n["pitch"], n["velocity"]) for n in item.spec["notes"]]
    done = midi.render_notes(notes, program=item.spec["program"], channel=item.spec["channel"],
                             soundfont=soundfont, gain=gain)
    return done.audio, {"render_tail": done.tail, "decayed_below_60db": done.decayed}


def _valid(path: Path, entry: dict[str, Any] | None, item: CorpusItem) -> bool:
    """Whether ``path`` is a finished render of ``item`` (same spec, mono 44.1 kHz, same length, and its last
    samples decode: a FLAC cut short keeps the length in its header, so the header alone would pass it)."""
    if entry is None or entry.get("spec_sha") != item.spec_sha or not path.is_file():
        return False
    try:
        with sf.SoundFile(str(path)) as handle:
            if handle.samplerate != midi.SAMPLE_RATE or handle.channels != 1 or handle.frames != entry.get("frames"):
                return False
            last = min(handle.frames, 4096)
            handle.seek(handle.frames - last)
            return len(handle.read(last)) == last
    except Exception:  # noqa: BLE001 - any decoder complaint means "render it again"
        return False


def _manifest(folder: Path, items: list[CorpusItem], entries: dict[str, dict[str, Any]], settings: dict[str, Any],
              complete: bool) -> dict[str, Any]:
    files = [entries[item.path] for item in items if item.path in entries]
    by_source: dict[str, float] = {}
    counts: dict[str, int] = {}
    for entry in files:
        by_source[entry["source"]] = by_source.get(entry["source"], 0.0) + entry["seconds"]
        counts[entry["source"]] = counts.get(entry["source"], 0) + 1
    kinds: dict[str, int] = {}
    for entry in files:
        key = f"{entry['source']}.{entry['kind']}"
        kinds[key] = kinds.get(key, 0) + 1
    return {
        "version": MANIFEST_VERSION, "complete": complete, "settings": settings,
        "sample_rate": midi.SAMPLE_RATE, "channels": 1, "format": f"FLAC {SUBTYPE}",
        "licences": {source: LICENCES[source] for source in counts},
        "planned_files": len(items), "files_count": len(files),
        "files_by_source": counts, "files_by_kind": kinds,
        "seconds_by_source": {k: round(v, 3) for k, v in by_source.items()},
        "total_seconds": round(sum(by_source.values()), 3),
        "total_minutes": round(sum(by_source.values()) / 60.0, 3),
        "files": files,
    }


def read_manifest(folder: str | Path) -> dict[str, Any] | None:
    """``OUT/manifest.json`` as a dict, or ``None`` when there is none (or it cannot be read)."""
    import json

    path = Path(folder) / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def build_corpus(folder: str | Path, minutes: float = DEFAULT_MINUTES, seed: int = 0, quick: bool = False,
                 sources: tuple[str, ...] = SOURCES, soundfont: str | Path = midi.SOUNDFONT, gain: float = 0.5,
                 limit: int | None = None, on_event: ProgressCallback = ignore_events,
                 cancel: CancelToken | None = None) -> CorpusResult:
    """Render the base corpus into ``folder`` (resumable; see the module docstring).

    Args:
        folder: where the audio and ``manifest.json`` go (created if missing).
        minutes: the size, in estimated minutes of audio (the manifest says the real total).
        seed: the same seed and minutes always give the same corpus.
        quick: a tiny corpus (about 20 s) for tests, whatever ``minutes`` says.
        sources: which of ``gm`` (Fluid R3 GM melodic programs), ``drums`` (its drum kits) and ``synth``
            (sda's own synthesis) to render.
        soundfont: the Fluid R3 GM ``.sf2`` (Debian's path by default).
        gain: fluidsynth's ``-g``.
        limit: render at most this many new files this run (to time a partial run; the manifest stays
            incomplete and a later run goes on).
        on_event: progress events (job ``base.corpus``).
        cancel: stops between files; what is rendered is kept.

    Raises:
        SdaError: ``gm`` or ``drums`` was asked for and fluidsynth or the soundfont is missing (the message
            names the Debian packages to install), a file could not be written, or another job is building
            into the same folder (the folder is locked while a build runs).
    """
    folder = Path(folder)
    soundfont = Path(soundfont)
    if {"gm", "drums"} & set(sources):
        midi.check_fluidsynth(soundfont)
    with folder_lock(folder, f"the corpus folder {folder}", "built"):
        return _build(folder, minutes, seed, quick, sources, soundfont, gain, limit, on_event, cancel)


def _build(folder: Path, minutes: float, seed: int, quick: bool, sources: tuple[str, ...], soundfont: Path,
           gain: float, limit: int | None, on_event: ProgressCallback, cancel: CancelToken | None) -> CorpusResult:
    """:func:`build_corpus` under the folder's lock (no other build can be writing or cleaning up there)."""
    start = time.monotonic()
    items = plan_corpus(minutes, seed, quick, tuple(sources))
    settings = {"minutes": minutes, "seed": seed, "quick": quick, "sources": list(sources), "gain": gain,
                "soundfont": soundfont.name, "command": _command(minutes, seed, quick, sources)}
    old = read_manifest(folder) or {}
    previous = {entry["path"]: entry for entry in old.get("files", []) if isinstance(entry, dict) and "path" in entry}
    entries: dict[str, dict[str, Any]] = {}
    job = "base.corpus"
    on_event(ProgressEvent(job, "start", 0, len(items), f"{len(items)} sounds into {folder}"))
    leftovers = _remove_leftovers(folder)
    if leftovers:
        log.info("removed %d unfinished file(s) of an interrupted run in %s", leftovers, folder)
    stale = sorted(set(previous) - {item.path for item in items})
    if stale:
        on_event(ProgressEvent(job, "warning", 0, len(items),
                               f"{len(stale)} file(s) in {folder} belong to an earlier corpus (another size, seed or "
                               f"sources) and are not in this one's manifest, e.g. {stale[0]}; they are left as they "
                               "are (delete them, or use an empty folder)"))
    rendered = skipped = 0
    last_save = time.monotonic()
    try:
        for step, item in enumerate(items, start=1):
            if cancel is not None:
                cancel.raise_if_cancelled("building the base corpus")
            path = folder / item.path
            entry = previous.get(item.path)
            if _valid(path, entry, item):
                assert entry is not None
                entries[item.path] = entry
                skipped += 1
            elif limit is not None and rendered >= limit:
                continue
            else:
                entries[item.path] = _write(item, path, soundfont, gain)
                rendered += 1
            on_event(ProgressEvent(job, "progress", step, len(items), item.path,
                                   metrics={"rendered": float(rendered), "skipped": float(skipped)}))
            if time.monotonic() - last_save > SAVE_EVERY:
                atomic_write_json(folder / MANIFEST, _manifest(folder, items, entries, settings, False))
                last_save = time.monotonic()
    finally:
        complete = len(entries) == len(items)
        folder.mkdir(parents=True, exist_ok=True)
        manifest = _manifest(folder, items, entries, settings, complete)
        atomic_write_json(folder / MANIFEST, manifest)
    result = CorpusResult(folder, folder / MANIFEST, len(entries), rendered, skipped, manifest["total_seconds"],
                          manifest["seconds_by_source"], manifest["files_by_source"], time.monotonic() - start)
    on_event(ProgressEvent(job, "done", len(items), len(items),
                           f"{len(entries)} files ({rendered} rendered, {skipped} already there), "
                           f"{result.total_seconds / 60:.1f} min of audio"
                           + ("" if complete else f"; {len(items) - len(entries)} still to render (run it again)"),
                           data=result.to_dict()))
    return result


def _write(item: CorpusItem, path: Path, soundfont: Path, gain: float) -> dict[str, Any]:
    audio, extra = _render(item, soundfont, gain)
    if audio.size == 0 or not np.isfinite(audio).all():
        raise SdaError(f"rendering {item.path} gave {'silence' if audio.size == 0 else 'non-finite samples'}",
                       hint="report it: the recipe is recorded in the corpus plan")
    peak = float(np.max(np.abs(audio)))
    scale = PEAK_LIMIT / peak if peak > PEAK_LIMIT else 1.0
    audio = audio * scale
    with atomic_path(path) as tmp:
        sf.write(str(tmp), audio.astype(np.float32), midi.SAMPLE_RATE, subtype=SUBTYPE, format="FLAC")
    return {"path": item.path, "source": item.source, "kind": item.kind, **item.spec, **extra,
            "frames": int(audio.size), "seconds": round(audio.size / midi.SAMPLE_RATE, 4),
            "peak_dbfs": round(20 * np.log10(max(peak * scale, 1e-12)), 2), "gain": round(scale, 6),
            "spec_sha": item.spec_sha}


def _remove_leftovers(folder: Path) -> int:
    """Delete the temporary files (``.NAME.XXXX.tmp.flac``, ``.manifest.XXXX.tmp.json``) that a run killed in the
    middle of a write left behind (:func:`~sda_audio.atomic.atomic_path` names them so); their count."""
    if not folder.is_dir():
        return 0
    count = 0
    for pattern in (".*.tmp.flac", f".{Path(MANIFEST).stem}.*.tmp.json"):
        for path in folder.rglob(pattern):
            if path.is_file():
                path.unlink(missing_ok=True)
                count += 1
    return count


def _command(minutes: float, seed: int, quick: bool, sources: tuple[str, ...]) -> str:
    parts = ["sda base corpus OUT/", f"--minutes {minutes:g}", f"--seed {seed}"]
    if quick:
        parts.append("--quick")
    if tuple(sources) != SOURCES:
        parts.append("--sources " + ",".join(sources))
    return " ".join(parts)
