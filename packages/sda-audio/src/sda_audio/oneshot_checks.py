"""Checks that generated audio keeps the form of its set: one-shots and phrases.

Pure functions of :class:`~sda_audio.events.EventMap` values (and of log-mels the caller computes), so the
engine can run them on what it generates and on the real files it trained on, with no model involved.

One-shot checks (each a :class:`Check`; :func:`check_oneshot` runs them all):

- ``attack``: the first event comes within 80 ms of the file start (onset plus its rise to within 6 dB of
  its peak). Measured from the file's first sample, not the trimmed start: a one-shot is triggered, so its
  hit must be where the file begins.
- ``second_onset``: no strong onset (as :func:`sda_audio.forms.strong_events`) more than 150 ms after the
  first.
- ``tail``: the tail level, the RMS of the last 50 ms relative to the highest frame level (dB; see
  :func:`sda_audio.events.tail_level_db`), is at most 10 dB above the real files' median tail: the sound has
  decayed about as far as the real ones by the time it stops.
- ``length``: the sound's length (``sound_end - sound_start``, silence at either end left out) lies within
  the real files' range, widened by 20 % at each end.

:func:`novelty` says how far a generated event is from the training events compared with real events the
model never saw (~0 = a copy). Phrase checks (:func:`check_phrase`) compare the onset rate, the quiet floor
between strokes and the regularity of the inter-onset intervals with the range of the real phrases.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sda_audio.errors import SdaError
from sda_audio.events import EventMap, ioi_cv
from sda_audio.forms import DEFAULT_FORM_OPTIONS, FormOptions, first_event, strong_events


@dataclass(frozen=True)
class Check:
    """One check on one file: its name, whether it passed, the measured value, the limit and a sentence."""

    name: str
    passed: bool
    value: float
    limit: float
    message: str


@dataclass(frozen=True)
class CheckReport:
    """All checks on one generated file."""

    checks: tuple[Check, ...]
    path: Path | None = None

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> tuple[str, ...]:
        """Names of the checks that failed."""
        return tuple(c.name for c in self.checks if not c.passed)


@dataclass(frozen=True)
class OneShotReference:
    """What the real one-shots of a set look like: median tail level (dB re peak) and sound length range (s)."""

    tail_db: float
    min_length: float
    max_length: float
    files: int


@dataclass(frozen=True)
class OneShotLimits:
    """The one-shot checks' limits: seconds, dB, and the share the length range is widened by."""

    max_attack: float = 0.08
    second_onset_after: float = 0.15
    tail_tolerance_db: float = 10.0
    length_tolerance: float = 0.2


DEFAULT_ONESHOT_LIMITS = OneShotLimits()


def oneshot_reference(real: Iterable[EventMap]) -> OneShotReference:
    """The reference the one-shot checks compare with, from the event maps of the real one-shots (give the
    files :func:`sda_audio.forms.detect_set_form` called ``oneshot``: a drum roll in the set would stretch the
    length range)."""
    maps = list(real)
    if not maps:
        raise SdaError("no real recordings to compare the generated one-shots with",
                       hint="give the event maps of the training files")
    lengths = [m.sound_duration for m in maps]
    return OneShotReference(tail_db=float(np.median([m.tail_db for m in maps])), min_length=float(min(lengths)),
                            max_length=float(max(lengths)), files=len(maps))


def attack_time(m: EventMap, options: FormOptions = DEFAULT_FORM_OPTIONS) -> float:
    """Seconds from the file start to the first event's rise (its onset plus ``rise``; the first event as
    :func:`sda_audio.forms.first_event`); inf without events."""
    first = first_event(m, options)
    return first.onset + first.rise if first is not None else float("inf")


def check_attack(m: EventMap, max_attack: float = 0.08) -> Check:
    """The first event reaches within 6 dB of its peak within ``max_attack`` of the file start."""
    t = attack_time(m)
    if not np.isfinite(t):
        return Check("attack", False, t, max_attack, "no event: the file is silent or has no onset")
    ok = t <= max_attack
    return Check("attack", ok, t, max_attack,
                 f"the hit comes {1000 * t:.0f} ms after the start ({'within' if ok else 'more than'} "
                 f"{1000 * max_attack:.0f} ms)")


def check_second_onset(m: EventMap, after: float = 0.15, options: FormOptions = DEFAULT_FORM_OPTIONS) -> Check:
    """No strong onset more than ``after`` seconds after the first event's onset; value: the earliest such."""
    first = first_event(m, options)
    if first is None:
        return Check("second_onset", True, float("nan"), after, "no onset at all")
    late = [e.onset - first.onset for e in strong_events(m, options) if e.onset > first.onset + after]
    if not late:
        return Check("second_onset", True, float("nan"), after,
                     f"no strong onset more than {1000 * after:.0f} ms after the first")
    return Check("second_onset", False, late[0], after,
                 f"{len(late)} more strong onset(s), the first {1000 * late[0]:.0f} ms after the hit: not a "
                 "single event")


def check_tail(m: EventMap, reference_tail_db: float, tolerance_db: float = 10.0) -> Check:
    """The tail level (RMS of the last 50 ms re the peak, dB) is at most ``tolerance_db`` above the real one."""
    limit = reference_tail_db + tolerance_db
    ok = m.tail_db <= limit
    return Check("tail", ok, m.tail_db, limit,
                 f"it ends {-m.tail_db:.0f} dB below its peak (real one-shots: {-reference_tail_db:.0f} dB; "
                 f"{'enough' if ok else 'cut off before it decays'})")


def check_length(m: EventMap, min_length: float, max_length: float, tolerance: float = 0.2) -> Check:
    """The sound's length lies in ``[min_length * (1 - tolerance), max_length * (1 + tolerance)]``."""
    lo, hi = min_length * (1.0 - tolerance), max_length * (1.0 + tolerance)
    length = m.sound_duration
    ok = lo <= length <= hi
    side = "" if ok else (" too short" if length < lo else " too long")
    return Check("length", ok, length, hi if length > hi else lo,
                 f"it sounds for {length:.2f} s (real: {min_length:.2f}-{max_length:.2f} s){side}")


def check_oneshot(m: EventMap, reference: OneShotReference, limits: OneShotLimits = DEFAULT_ONESHOT_LIMITS,
                  options: FormOptions = DEFAULT_FORM_OPTIONS, path: Path | None = None) -> CheckReport:
    """Every one-shot check (attack, second onset, tail, length) on one generated file's event map."""
    return CheckReport(checks=(
        check_attack(m, limits.max_attack),
        check_second_onset(m, limits.second_onset_after, options),
        check_tail(m, reference.tail_db, limits.tail_tolerance_db),
        check_length(m, reference.min_length, reference.max_length, limits.length_tolerance),
    ), path=path)


def logmel_onset(logmel: np.ndarray) -> int:
    """Frame of the largest rise of the band-mean log-mel (the time before the first frame counts as its
    quietest frame, so a sound that starts at frame 0 has its onset there)."""
    level = np.asarray(logmel, dtype=float).mean(axis=0)
    if len(level) == 0:
        return 0
    rise = np.diff(level, prepend=level.min())
    return int(np.argmax(rise))


def _check_logmel(x: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.ndim != 2 or a.shape[1] == 0:
        raise SdaError(f"novelty needs log-mels shaped (n_mels, frames), got {what} shaped {a.shape}")
    if not np.isfinite(a).all():
        raise SdaError(f"the {what} log-mel holds NaN or infinite values", hint="floor the log before passing it")
    return a


def logmel_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Onset-aligned distance of two log-mels ``(n_mels, frames)``.

    Each is cut at its onset (:func:`logmel_onset`); the distance is the mean absolute difference over the
    bands and the common length after the onsets (the log-mels' own unit, e.g. dB or nats). Only that common
    part is compared, so a sound is judged by its attack and as much of its decay as both have.
    """
    a, b = _check_logmel(a, "first"), _check_logmel(b, "second")
    if a.shape[0] != b.shape[0]:
        raise SdaError(f"log-mels with different band counts ({a.shape[0]} and {b.shape[0]}) cannot be compared",
                       hint="compute every log-mel with the same mel settings")
    a, b = a[:, logmel_onset(a):], b[:, logmel_onset(b):]
    n = min(a.shape[1], b.shape[1])
    return float(np.mean(np.abs(a[:, :n] - b[:, :n])))


def nearest_distance(logmel: np.ndarray, references: Sequence[np.ndarray]) -> float:
    """:func:`logmel_distance` to the nearest of ``references``."""
    if not references:
        raise SdaError("no training events to measure novelty against", hint="give the training events' log-mels")
    return min(logmel_distance(logmel, r) for r in references)


def novelty(generated_logmel: np.ndarray, training_event_logmels: Sequence[np.ndarray],
            heldout_event_logmels: Sequence[np.ndarray]) -> float:
    """How new a generated event is: its distance to the nearest training event over the median of the same
    for held-out real events (:func:`logmel_distance`, onset-aligned mean absolute log-mel difference).

    ~0: a copy of a training event; ~1: as far from the training events as real events the model never saw;
    well above 1: farther than real sounds of the set go. A held-out median of 0 (duplicates in the data)
    gives 0 for a copy and inf otherwise.
    """
    if not heldout_event_logmels:
        raise SdaError("no held-out events to scale novelty by", hint="keep a few real events out of training")
    d = nearest_distance(generated_logmel, training_event_logmels)
    scale = float(np.median([nearest_distance(h, training_event_logmels) for h in heldout_event_logmels]))
    if scale <= 0.0:
        return 0.0 if d <= 0.0 else float("inf")
    return d / scale


@dataclass(frozen=True)
class PhraseMeasures:
    """What the phrase checks compare.

    Attributes:
        onset_rate: strong onsets per second of sound.
        gap_floor_db: the quiet floor between strokes: the median over consecutive strong onsets of the lowest
            level between them, relative to the file's peak (dB); the quiet floor (10th percentile of frame
            levels) re the peak when there are fewer than two strokes.
        ioi_cv: coefficient of variation of the intervals between strong onsets (nan with fewer than three).
    """

    onset_rate: float
    gap_floor_db: float
    ioi_cv: float


def phrase_measures(m: EventMap, options: FormOptions = DEFAULT_FORM_OPTIONS) -> PhraseMeasures:
    """Onset rate, floor between strokes and IOI regularity of one recording (see :class:`PhraseMeasures`)."""
    strong = strong_events(m, options)
    onsets = np.array([e.onset for e in strong])
    rate = len(strong) / max(m.sound_duration, 1.0 / m.frame_rate)
    frames = np.round(onsets * m.frame_rate).astype(int)
    dips = [float(m.envelope_db[a:b].min()) for a, b in zip(frames[:-1], frames[1:], strict=True) if b > a]
    floor = float(np.median(dips)) if dips else m.floor_db
    return PhraseMeasures(onset_rate=rate, gap_floor_db=floor - m.peak_db,
                          ioi_cv=ioi_cv(np.diff(onsets)) if len(onsets) >= 3 else float("nan"))


@dataclass(frozen=True)
class PhraseReference:
    """The range of :class:`PhraseMeasures` over the real phrases of a set (``nan`` where none can tell).

    Attributes:
        min_rate, max_rate: onset rates (per second).
        max_gap_floor_db: the shallowest floor between strokes (dB re peak).
        min_ioi_cv, max_ioi_cv: IOI coefficients of variation.
        files: how many real files.
    """

    min_rate: float
    max_rate: float
    max_gap_floor_db: float
    min_ioi_cv: float
    max_ioi_cv: float
    files: int


@dataclass(frozen=True)
class PhraseLimits:
    """How far past the real range a generated phrase may go: onset-rate factor, floor dB, IOI CV."""

    rate_factor: float = 1.25
    floor_tolerance_db: float = 6.0
    cv_tolerance: float = 0.1


DEFAULT_PHRASE_LIMITS = PhraseLimits()


def phrase_reference(real: Iterable[EventMap], options: FormOptions = DEFAULT_FORM_OPTIONS) -> PhraseReference:
    """The reference the phrase checks compare with, from the event maps of the real phrases (give the files
    :func:`sda_audio.forms.detect_set_form` called ``phrase``: a texture in the set would widen every range)."""
    measures = [phrase_measures(m, options) for m in real]
    if not measures:
        raise SdaError("no real recordings to compare the generated phrases with",
                       hint="give the event maps of the training files")
    rates = [x.onset_rate for x in measures]
    cvs = [x.ioi_cv for x in measures if np.isfinite(x.ioi_cv)]
    return PhraseReference(min_rate=float(min(rates)), max_rate=float(max(rates)),
                           max_gap_floor_db=float(max(x.gap_floor_db for x in measures)),
                           min_ioi_cv=float(min(cvs)) if cvs else float("nan"),
                           max_ioi_cv=float(max(cvs)) if cvs else float("nan"), files=len(measures))


def check_phrase(m: EventMap, reference: PhraseReference, limits: PhraseLimits = DEFAULT_PHRASE_LIMITS,
                 options: FormOptions = DEFAULT_FORM_OPTIONS, path: Path | None = None) -> CheckReport:
    """The phrase checks on one generated file's event map, against the range of the real phrases.

    - ``onset_rate``: within ``[min_rate / rate_factor, max_rate * rate_factor]``.
    - ``floor``: the floor between strokes at most ``floor_tolerance_db`` above the shallowest real one (gaps
      that do not dip are the usual failure; deeper gaps pass).
    - ``ioi_cv``: within the real IOI CV range widened by ``cv_tolerance`` (passes when either side has too
      few onsets to tell).
    """
    x = phrase_measures(m, options)
    lo, hi = reference.min_rate / limits.rate_factor, reference.max_rate * limits.rate_factor
    rate_ok = lo <= x.onset_rate <= hi
    floor_limit = reference.max_gap_floor_db + limits.floor_tolerance_db
    floor_ok = x.gap_floor_db <= floor_limit
    checks = [
        Check("onset_rate", rate_ok, x.onset_rate, hi if x.onset_rate > hi else lo,
              f"{x.onset_rate:.1f} onsets/s (real: {reference.min_rate:.1f}-{reference.max_rate:.1f})"),
        Check("floor", floor_ok, x.gap_floor_db, floor_limit,
              f"between strokes it falls to {x.gap_floor_db:.0f} dB re its peak (real: "
              f"{reference.max_gap_floor_db:.0f} dB or lower{'' if floor_ok else '; the gaps do not dip'})"),
    ]
    if np.isfinite(x.ioi_cv) and np.isfinite(reference.min_ioi_cv):
        cv_lo, cv_hi = reference.min_ioi_cv - limits.cv_tolerance, reference.max_ioi_cv + limits.cv_tolerance
        cv_ok = cv_lo <= x.ioi_cv <= cv_hi
        checks.append(Check("ioi_cv", cv_ok, x.ioi_cv, cv_hi if x.ioi_cv > cv_hi else cv_lo,
                            f"IOI variation {x.ioi_cv:.2f} (real: {reference.min_ioi_cv:.2f}-"
                            f"{reference.max_ioi_cv:.2f})"))
    else:
        checks.append(Check("ioi_cv", True, x.ioi_cv, float("nan"), "too few onsets to compare the timing"))
    return CheckReport(checks=tuple(checks), path=path)
