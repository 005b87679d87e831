"""The form step of training: is the material one-shots, phrases or textures?

:func:`detect_training_form` measures every training file with :mod:`sda_audio.forms` (read mono at its own
rate, the rate the form rules were calibrated at) and returns the JSON-ready ``metadata["form"]`` section of the
model file: the set's form (or the one the person asked for), the per-form counts, a sentence for a person, and
what generation compares with and draws from - the real one-shots' reference (tail level, length range), the
real phrases' reference (onset rates, floor between strokes, IOI variation) and the timing of the material
(intervals between onsets, tempo, accents, lengths) and the room tone generated strokes sit on
(:mod:`sda_audio.room_tone`: the level and colour of the quiet floor of the files that are not textures).

It reads the files only: no random numbers are drawn and the training data is untouched, so a run with fixed
steps trains the same weights with or without it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from sda_audio.errors import SdaError
from sda_audio.events import EventMap
from sda_audio.forms import FORMS, FileForm, detect_form, detect_set_form, strong_events
from sda_audio.io import read_audio
from sda_audio.oneshot_checks import oneshot_reference, phrase_reference
from sda_audio.room_tone import file_floor, room_tone_from_floors

log = logging.getLogger(__name__)

FORM_CHOICES = ("auto", *FORMS)
"""What ``sda train --form`` accepts (``auto``: detect it)."""


def _finite(value: Any) -> Any:
    """JSON-safe numbers: NaN and infinities become ``None``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: _finite(v) for k, v in d.items()}


def _summary(values: Sequence[float]) -> dict[str, Any] | None:
    a = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    if a.size == 0:
        return None
    return {"median": float(np.median(a)), "p10": float(np.percentile(a, 10)), "p90": float(np.percentile(a, 90)),
            "n": int(a.size)}


def file_form(path: str | Path) -> FileForm:
    """The form of one training file (mono, at its own sample rate)."""
    return _measure_file(path)[0]


def _measure_file(path: str | Path) -> tuple[FileForm, tuple[float, np.ndarray] | None]:
    """The form of one training file and its quiet floor (:func:`sda_audio.room_tone.file_floor`), mono at its
    own rate: the file is read once for both, and only the measures are kept."""
    clip = read_audio(path, mono=True)
    return detect_form(clip.samples, clip.sample_rate, path=Path(path)), file_floor(clip.samples, clip.sample_rate)


def timing_of(maps: Sequence[EventMap]) -> dict[str, Any]:
    """The timing of the material: intervals between strong onsets, tempo, accents, lengths, floors."""
    iois: list[float] = []
    accents: list[float] = []
    rates: list[float] = []
    for m in maps:
        strong = strong_events(m)
        onsets = [e.onset for e in strong]
        iois += [float(b - a) for a, b in zip(onsets[:-1], onsets[1:], strict=True)]
        accents += [float(e.accent) for e in strong]
        rates.append(len(strong) / max(m.sound_duration, 1.0 / m.frame_rate))
    tempos = [float(m.tempo_bpm) for m in maps if m.tempo_bpm is not None and m.tempo_confidence >= 0.3]
    ioi_arr = np.asarray(iois, dtype=float)
    return {
        "iois": [round(x, 4) for x in iois[:256]],
        "ioi": _summary(iois),
        "ioi_cv": _finite(float(ioi_arr.std() / ioi_arr.mean())) if ioi_arr.size >= 2 and ioi_arr.mean() > 0 else None,
        "tempo_bpm": float(np.median(tempos)) if tempos else None,
        "accents": _summary(accents),
        "onset_rate": _summary(rates),
        "lengths": [round(float(m.sound_duration), 4) for m in maps],
        "floor_db": _summary([float(m.floor_db - m.peak_db) for m in maps]),
    }


def detect_training_form(files: Sequence[str | Path], forced: str | None = None) -> dict[str, Any]:
    """The ``metadata["form"]`` section for a model trained on ``files``.

    Args:
        files: the training files.
        forced: ``oneshot``, ``phrase`` or ``texture`` to use that form whatever is detected (``None`` or
            ``auto``: the detected form).

    Returns:
        ``{"form", "detected", "forced", "mixed", "counts", "share", "message", "files",
        "oneshot_reference", "phrase_reference", "timing"}``; the references are ``None`` where the set has no
        file of that form (a forced form uses every file).
    """
    if forced not in (None, "auto", *FORMS):
        raise SdaError(f"unknown form '{forced}'", hint="use auto, oneshot, phrase or texture")
    measured = [_measure_file(p) for p in files]
    forms = [f for f, _ in measured]
    detected = detect_set_form(forms)
    form = detected.form if forced in (None, "auto") else forced
    maps: dict[str, list[EventMap]] = {k: [f.events for f in forms if f.form == k and f.events is not None]
                                       for k in FORMS}
    every = [f.events for f in forms if f.events is not None]
    shots = maps["oneshot"] or (every if form == "oneshot" else [])
    phrases = maps["phrase"] or (every if form == "phrase" else [])
    message = detected.message
    if forced not in (None, "auto") and forced != detected.form:
        message += f"; generating as {forced}, as asked"
    return {
        "form": form,
        "detected": detected.form,
        "forced": forced not in (None, "auto"),
        "mixed": detected.mixed,
        "counts": dict(detected.counts),
        "share": detected.share,
        "message": message,
        "files": [{"file": Path(str(f.path)).name, "form": f.form, "confidence": round(f.confidence, 3)}
                  for f in forms],
        "oneshot_reference": _clean(asdict(oneshot_reference(shots))) if shots else None,
        "phrase_reference": _clean(asdict(phrase_reference(phrases))) if phrases else None,
        "timing": timing_of(phrases or shots or every),
        "room_tone": _room_tone([floor for f, floor in measured if f.form != "texture"]
                                or [floor for _, floor in measured]),
    }


def _room_tone(floors: Sequence[tuple[float, np.ndarray] | None]) -> dict[str, Any] | None:
    tone = room_tone_from_floors(floors)
    return tone.to_dict() if tone is not None else None

