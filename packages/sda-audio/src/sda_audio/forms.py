"""The *form* of a recording and of a set: one-shots, phrases or textures.

A musician's folder is often a set of one-shots (drum hits, tabla strokes, plucks), a set of phrases
(loops, rhythmic recordings: events with gaps) or a set of textures (drones, ambiences: continuous). sda
detects the form at training time so it can generate in that form. The rules read the events of
:func:`sda_audio.events.detect_events`, in this order:

- ``oneshot``: the first event comes within ``max_attack`` (80 ms) of where the sound starts (leading silence
  trimmed; its rise to within 6 dB of its peak, so a cymbal's slow bloom counts as the hit it is), no strong
  onset follows more than ``second_onset_after`` (150 ms) after it, and it decays: the second half of the
  time from the peak to the file end sits ``decay_db`` below the peak (median) and so do the last 50 ms.
- ``phrase``: several strong events (at least ``phrase_min_events``) whose gaps dip ``gap_db`` below their
  peaks (median), or a clear pulse (tempo confidence at least ``pulse_confidence`` over at least
  ``pulse_min_events`` onsets).
- ``texture``: the rest: a continuous level with few strong onsets for its length.

A strong onset is one whose event peaks within ``strong_accent_db`` of the loudest and that rose
``strong_rise_db`` or has an onset strength of ``strong_strength_db``. Confidence is 0.5 at a threshold and 1
well past all of them.

Calibrated on the shared CC0 sets at 44.1 kHz: drums 19/20 oneshot (the roll is a continuous buzz of
strokes 47 ms apart: texture), loops 15/17 phrase (a 3D printer's hum and a drone loop: texture), ambient
10/11 texture (lunar_land is an impact decaying 27 dB over 7 s: oneshot), and the demo data (drones, winds,
chord and cluster: texture; bells, pulses and plucks: phrase; a mixed set). ``decay_db`` -15/-19,
``gap_db`` -4/-9, ``pulse_confidence`` 0.4/0.6, ``strong_accent_db`` -15 or ``strong_strength_db`` 15 change
none of these; ``strong_rise_db`` 9 loses loop_perc2. Resampled to 22.05 kHz lunar_land becomes a texture;
at 16 kHz loop_weirdo does too (its gliding chirps over a drone barely move the spectral flux).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from scipy.ndimage import uniform_filter1d

from sda_audio.errors import SdaError
from sda_audio.events import DEFAULT_OPTIONS, FLOOR_DB, Event, EventMap, EventOptions, detect_events
from sda_audio.io import read_audio

log = logging.getLogger(__name__)

Form = Literal["oneshot", "phrase", "texture"]
FORMS: tuple[Form, ...] = ("oneshot", "phrase", "texture")


@dataclass(frozen=True)
class FormOptions:
    """Thresholds of the form rules (see the module docstring). Times in seconds, levels in dB."""

    max_attack: float = 0.08
    second_onset_after: float = 0.15
    strong_accent_db: float = -20.0
    strong_rise_db: float = 6.0
    strong_strength_db: float = 10.0
    decay_db: float = -17.0
    tail_db: float = -20.0
    phrase_min_events: int = 2
    gap_db: float = -6.0
    pulse_confidence: float = 0.5
    pulse_min_events: int = 4
    majority: float = 0.7


DEFAULT_FORM_OPTIONS = FormOptions()


@dataclass(frozen=True)
class FileForm:
    """The form of one recording, how sure, why, and the numbers the rules read.

    Attributes:
        form: ``oneshot``, ``phrase`` or ``texture``.
        confidence: 0.5 at a rule's threshold, 1 well past it.
        reasons: plain sentences with the measured numbers.
        attack: seconds from the sound's start to the first event's rise (nan without events).
        strong_events: strong onsets in the file.
        late_onsets: strong onsets more than ``second_onset_after`` after the first.
        decay_db: median level of the second half of peak-to-end relative to the peak.
        tail_db: RMS of the last 50 ms relative to the peak.
        gap_db: median depth of the gaps after the strong events but the last (0 with fewer than two).
        tempo_confidence: the pulse's autocorrelation, 0-1.
        onset_rate: strong onsets per second of sound.
        path: the file, when read from one.
        events: the measurements the rules read.
    """

    form: Form
    confidence: float
    reasons: tuple[str, ...]
    attack: float
    strong_events: int
    late_onsets: int
    decay_db: float
    tail_db: float
    gap_db: float
    tempo_confidence: float
    onset_rate: float
    path: Path | None = None
    events: EventMap | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class SetForm:
    """The form of a set of recordings.

    Attributes:
        form: the most common form (ties go to the higher summed confidence, then phrase, texture, oneshot).
        counts: files per form (every form present as a key).
        share: the most common form's share of the files.
        mixed: no form holds ``majority`` (70 %) of the files.
        message: one plain sentence for a person.
        files: the per-file results.
    """

    form: Form
    counts: Mapping[str, int]
    share: float
    mixed: bool
    message: str
    files: tuple[FileForm, ...] = field(repr=False)


def _score(value: float, threshold: float, scale: float) -> float:
    """0.5 at ``threshold``, rising to 1 at ``threshold - scale`` (below is better), clipped to [0, 1]."""
    if not np.isfinite(value):
        return 0.0
    return float(np.clip(0.5 + 0.5 * (threshold - value) / scale, 0.0, 1.0))


def strong_events(m: EventMap, options: FormOptions = DEFAULT_FORM_OPTIONS) -> list[Event]:
    """The events that count: peaking within ``strong_accent_db`` of the loudest, and rising
    ``strong_rise_db`` or with an onset strength of ``strong_strength_db`` (a hit in a compressed loop rises
    little but its spectrum jumps)."""
    return [e for e in m.events if e.accent >= options.strong_accent_db
            and (e.rise_db >= options.strong_rise_db or e.strength >= options.strong_strength_db)]


def first_event(m: EventMap, options: FormOptions = DEFAULT_FORM_OPTIONS) -> Event | None:
    """The first event peaking within ``strong_accent_db`` of the loudest (quieter ones before it are
    noise or a pickup, not the hit); ``None`` without events."""
    return next((e for e in m.events if e.accent >= options.strong_accent_db), None)


def _decay_db(m: EventMap, peak_time: float) -> float:
    """Median level (dB re the peak) of the second half of the time from ``peak_time`` to the file end."""
    env = m.envelope_db
    p = int(round(peak_time * m.frame_rate))
    mid = (p + len(env)) // 2
    tail = env[mid:]
    if len(tail) == 0:
        return 0.0
    smooth = uniform_filter1d(10.0 ** (tail / 10.0), max(1, round(0.025 * m.frame_rate)), mode="nearest")
    return float(np.median(10.0 * np.log10(np.maximum(smooth, 1e-30)))) - float(env[p])


def classify_events(m: EventMap, options: FormOptions = DEFAULT_FORM_OPTIONS, path: Path | None = None) -> FileForm:
    """The form of a recording from its :class:`~sda_audio.events.EventMap` (see the module for the rules)."""
    strong = strong_events(m, options)
    first = first_event(m, options)
    attack = first.onset + first.rise - m.sound_start if first is not None else float("nan")
    late = [e for e in strong if first is not None and e.onset > first.onset + options.second_onset_after]
    decay = _decay_db(m, first.peak) if first is not None else 0.0
    gaps = [e.gap_db for e in strong[:-1]]
    gap = float(np.median(gaps)) if gaps else 0.0
    rate = len(strong) / max(m.sound_duration, 1.0 / m.frame_rate)
    n_events = len(m.events)

    one_scores = {
        "attack": _score(max(attack, 0.0), options.max_attack, options.max_attack / 2),
        "late": 1.0 if not late else 0.4 / len(late),
        "decay": _score(decay, options.decay_db, 10.0),
        "tail": _score(m.tail_db, options.tail_db, 10.0),
    }
    oneshot = min(one_scores.values()) if first is not None else 0.0
    several = min(1.0, 0.5 + 0.1 * (len(strong) - options.phrase_min_events))
    gapped = min(several, _score(gap, options.gap_db, 6.0)) if len(strong) >= options.phrase_min_events else 0.0
    pulse = (_score(-m.tempo_confidence, -options.pulse_confidence, 0.3)
             if n_events >= options.pulse_min_events else 0.0)
    phrase = max(gapped, pulse)

    reasons: list[str] = []
    form: Form
    if m.peak_db <= FLOOR_DB + 1.0:
        form, confidence = "texture", 0.0
        reasons.append("silent: there is nothing to classify")
    elif oneshot >= 0.5:
        form, confidence = "oneshot", oneshot
        reasons.append(f"one event, within 6 dB of its peak {1000 * attack:.0f} ms after the sound starts "
                       f"(one-shots: within {1000 * options.max_attack:.0f} ms)")
        reasons.append(f"no strong onset more than {1000 * options.second_onset_after:.0f} ms after it")
        reasons.append(f"it decays: {decay:.0f} dB in the second half, {m.tail_db:.0f} dB in the last 50 ms")
    elif phrase >= 0.5:
        form, confidence = "phrase", phrase
        if gapped >= 0.5:
            reasons.append(f"{len(strong)} strong events in {m.sound_duration:.1f} s with gaps dipping "
                           f"{-gap:.0f} dB (median) between them")
        if pulse >= 0.5:
            reasons.append(f"a clear pulse: {m.tempo_bpm:.0f} BPM, confidence {m.tempo_confidence:.2f}")
    else:
        form, confidence = "texture", 1.0 - max(oneshot, phrase)
        reasons.append(f"continuous: {len(strong)} strong onset(s) in {m.sound_duration:.1f} s of sound, "
                       f"no clear pulse (confidence {m.tempo_confidence:.2f})")
        if first is not None and one_scores["attack"] < 0.5:
            reasons.append(f"it builds up: the first event rises for {1000 * attack:.0f} ms")
        elif first is not None and one_scores["decay"] < 0.5:
            reasons.append(f"it sustains: the second half sits only {-decay:.0f} dB below the peak")
    return FileForm(form=form, confidence=float(confidence), reasons=tuple(reasons), attack=float(attack),
                    strong_events=len(strong), late_onsets=len(late), decay_db=decay, tail_db=m.tail_db,
                    gap_db=gap, tempo_confidence=m.tempo_confidence, onset_rate=rate, path=path, events=m)


def detect_form(samples: np.ndarray | torch.Tensor, sample_rate: int, options: FormOptions = DEFAULT_FORM_OPTIONS,
                event_options: EventOptions = DEFAULT_OPTIONS, path: Path | None = None) -> FileForm:
    """The form of ``samples`` ``(C, T)`` or ``(T,)`` (mixed to mono): ``oneshot``, ``phrase`` or ``texture``."""
    return classify_events(detect_events(samples, sample_rate, event_options), options, path)


def detect_file_form(path: str | Path, options: FormOptions = DEFAULT_FORM_OPTIONS,
                     event_options: EventOptions = DEFAULT_OPTIONS) -> FileForm:
    """:func:`detect_form` of an audio file (read mono at its own rate)."""
    clip = read_audio(path, mono=True)
    return detect_form(clip.samples, clip.sample_rate, options, event_options, path=Path(path))


_TIE_ORDER: dict[str, int] = {"phrase": 0, "texture": 1, "oneshot": 2}


def detect_set_form(items: Iterable[FileForm | str | Path], options: FormOptions = DEFAULT_FORM_OPTIONS,
                    event_options: EventOptions = DEFAULT_OPTIONS) -> SetForm:
    """The form of a set from per-file results or file paths: the most common form, ``mixed`` when no form
    holds ``options.majority`` of the files. An empty set raises :class:`~sda_audio.errors.SdaError`."""
    files = tuple(i if isinstance(i, FileForm) else detect_file_form(i, options, event_options) for i in items)
    if not files:
        raise SdaError("cannot tell the form of an empty set of recordings", hint="add audio files to the dataset")
    counts: Counter[Form] = Counter(f.form for f in files)
    weight = {k: sum(f.confidence for f in files if f.form == k) for k in counts}
    form: Form = min(counts, key=lambda k: (-counts[k], -weight[k], _TIE_ORDER[k]))
    share = counts[form] / len(files)
    mixed = share < options.majority
    spread = ", ".join(f"{counts[k]} {k}" for k in sorted(counts, key=lambda k: (-counts[k], _TIE_ORDER[k])))
    if mixed:
        message = (f"mixed set: {spread} of {len(files)} files; no form holds {100 * options.majority:.0f} %, "
                   f"so it is treated as {form}, the most common")
    else:
        message = f"{form} set: {spread} of {len(files)} files ({100 * share:.0f} % {form})"
    log.info("set form: %s", message)
    return SetForm(form=form, counts={k: counts.get(k, 0) for k in FORMS}, share=share, mixed=mixed,
                   message=message, files=files)
