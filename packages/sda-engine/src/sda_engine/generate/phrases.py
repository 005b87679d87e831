"""Phrases: generated strokes placed in time with real silence between them.

A phrase is built, not sampled as one stream: the strokes are one-shots cut from the model's streams and proven
as in :mod:`sda_engine.generate.oneshots`, and they are placed at onsets scheduled from the following, over the
material's room tone (:mod:`sda_audio.room_tone`: the level and colour of its quiet floor, under the loudest
stroke by as much as the real files' floor is under theirs; digital silence for models trained before it was
measured):

- **density** (the control, -1..1): events per second, the material's median onset rate (stored at training;
  2/s for one-shots, which have no rate of their own) times :func:`~sda_engine.generate.request.density_factor`
  (0.1x at -1, 1x at 0, 2x at +1);
- **pulse** (-1..1): how strongly onsets lock to a period: at -1 the intervals vary like a Poisson process, at
  +1 every interval is the period (``bpm``, else the material's tempo, else 120 BPM, subdivided or multiplied
  to sit near the density's rate); in between the intervals' spread shrinks and onsets are pulled to the grid;
- **rhythmic** (-1..1): regular strokes vs swells: above 0 the short strokes are preferred, below 0 each event
  gets a slow rise (up to half its interval) and the long ones are preferred.

These three are realised by this scheduling ("steered"), never sent to the latent; the sidecar's
``notes.form.steered`` records each asked value and what was measured on the result. Accents come from the
material's accents (dB re the loudest stroke).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from sda_audio.events import detect_events
from sda_audio.forms import strong_events
from sda_audio.oneshot_checks import OneShotReference
from sda_audio.progress import CancelToken, ProgressCallback, ignore_events
from sda_audio.room_tone import RoomTone, lay_under
from sda_engine.generate.oneshots import SEED_STEP, Candidate, candidates_of, room_tone_note
from sda_engine.generate.renderer import Renderer
from sda_engine.generate.request import density_factor
from sda_engine.generate.sketch import RenderedAudio

log = logging.getLogger(__name__)

STEERED = ("density", "pulse", "rhythmic")
"""The controls a phrase realises by scheduling (removed from the stream's request)."""
DEFAULT_RATE = 2.0
DEFAULT_BPM = 120.0
POOL_STREAMS = 3
POOL_TARGET = 8
CUT_FADE = 0.008
MAX_LIFT_DB = 12.0
"""How far a quiet stroke is lifted towards the loudest one before the accents (dB)."""
ROOM_TONE_STREAM = 4
"""Seeds a phrase's room tone: ``[seed, ROOM_TONE_STREAM]``."""


def base_rate(timing: dict[str, Any]) -> float:
    """The material's median onset rate (events/s), or :data:`DEFAULT_RATE`; one-shots (one event per file)
    count as having none."""
    rate = (timing.get("onset_rate") or {}).get("median")
    iois = timing.get("ioi") or {}
    if isinstance(rate, (int, float)) and rate > 0 and iois.get("n"):
        return float(np.clip(rate, 0.25, 12.0))
    return DEFAULT_RATE


def period_for(rate: float, bpm: float) -> float:
    """The grid period: the beat of ``bpm`` halved or doubled until it is within a factor sqrt(2) of 1/rate."""
    period, want = 60.0 / bpm, 1.0 / rate
    while period > want * 1.42:
        period /= 2.0
    while period < want / 1.42:
        period *= 2.0
    return period


def schedule(duration: float, density: float, pulse: float, timing: dict[str, Any], bpm: float,
             seed: int) -> tuple[np.ndarray, dict[str, float]]:
    """Onset times (s) inside ``[0, duration)`` and the plan (rate, period, lock)."""
    rng = np.random.default_rng([seed, 2])
    rate = base_rate(timing) * density_factor(density)
    tempo = bpm or float(timing.get("tempo_bpm") or 0.0) or DEFAULT_BPM
    period = period_for(rate, tempo)
    lock = (pulse + 1.0) / 2.0  # 0 free .. 1 locked
    mean = 1.0 / rate if lock < 1.0 else period
    cv = max(1.0 - lock, 1e-3)
    shape = 1.0 / cv**2  # gamma with this CV: 1 at lock 0 (Poisson-like), tiny spread near lock 1
    onsets: list[float] = []
    t = float(rng.uniform(0.0, 0.1))
    while t < duration - 0.05:
        onsets.append(t)
        step = float(rng.gamma(shape, mean / shape))
        t += max(step, 0.03)
    times = np.asarray(onsets)
    if lock > 0.0 and len(times):
        grid = np.round(times / period) * period
        times = np.unique(np.round((1.0 - lock) * times + lock * grid, 5))
        times = times[(times >= 0.0) & (times < duration - 0.05)]
    return times, {"rate": rate, "period": period, "lock": lock, "bpm": tempo}


def stroke_pool(renderer: Renderer, seed: int, reference: OneShotReference, on_event: ProgressCallback,
                cancel: CancelToken | None) -> tuple[list[Candidate], RenderedAudio]:
    """Strokes for a phrase: the passing one-shots of up to :data:`POOL_STREAMS` streams (the best ones when
    none pass)."""
    pool: list[Candidate] = []
    every: list[Candidate] = []
    last: RenderedAudio | None = None
    for k in range(POOL_STREAMS):
        stream_seed = seed + k * SEED_STEP
        last = renderer.render(renderer.sample(stream_seed, on_event, cancel), on_event, cancel)
        found = candidates_of(last, reference, stream_seed)
        every += found
        pool += [c for c in found if c.report.passed]
        if len(pool) >= POOL_TARGET:
            break
    assert last is not None
    if not pool:
        pool = sorted(every, key=lambda c: c.failures)[:POOL_TARGET]
    return pool, last


def _accent_db(timing: dict[str, Any], rng: np.random.Generator) -> float:
    acc = timing.get("accents") or {}
    lo = float(acc.get("p10") or 0.0)
    return float(rng.uniform(min(lo, -1.0), 0.0))


def _level_gains(pool: Sequence[Candidate]) -> np.ndarray:
    """Per stroke, the gain that lifts its peak to the loudest stroke's (at most :data:`MAX_LIFT_DB`): a phrase's
    levels come from the material's accents, not from how loud each generated stroke happened to come out (a
    quiet stroke on the beat would otherwise vanish from the pulse)."""
    peaks = np.array([float(np.abs(c.samples).max()) if c.samples.size else 0.0 for c in pool])
    top = float(peaks.max()) if peaks.size else 0.0
    lift = 10.0 ** (MAX_LIFT_DB / 20.0)
    return np.where(peaks > 0, np.minimum(top / np.maximum(peaks, 1e-12), lift), 1.0)


def place(pool: Sequence[Candidate], onsets: np.ndarray, duration: float, sample_rate: int, channels: int,
          rhythmic: float, timing: dict[str, Any], seed: int) -> np.ndarray:
    """Strokes from ``pool`` placed at ``onsets`` on silence, each levelled to the loudest stroke's peak and then
    accented; each ends before the next onset (a short fade where it is still sounding), below 0 ``rhythmic``
    each rises slowly (a swell)."""
    rng = np.random.default_rng([seed, 3])
    total = int(round(duration * sample_rate))
    out = np.zeros((channels, total), dtype=np.float32)
    if not pool:
        return out
    lengths = np.array([c.length for c in pool])
    gains = _level_gains(pool)
    for i, t in enumerate(onsets):
        gap = (onsets[i + 1] if i + 1 < len(onsets) else duration) - t
        fits = np.flatnonzero(lengths <= gap)
        if rhythmic < 0 and len(pool) > 1:  # swells: prefer the long strokes
            order = np.argsort(-lengths)
            choices = order[: max(1, len(order) // 2)]
        elif len(fits):
            choices = fits
        else:
            choices = np.argsort(lengths)[: max(1, len(lengths) // 3)]
        pick = int(rng.choice(choices))
        stroke = pool[pick].samples * np.float32(gains[pick])
        stroke = stroke if stroke.shape[0] == channels else np.repeat(stroke.mean(axis=0, keepdims=True), channels, 0)
        start = int(round(t * sample_rate))
        n = min(stroke.shape[-1], total - start, int(gap * sample_rate))
        if n <= 0:
            continue
        seg = np.array(stroke[:, :n], dtype=np.float32, copy=True)
        if n < stroke.shape[-1]:  # still sounding at the next onset: a short fade
            k = min(n // 2, int(CUT_FADE * sample_rate))
            if k > 0:
                seg[:, -k:] *= np.linspace(1.0, 0.0, k, dtype=np.float32)
        if rhythmic < 0:
            rise = min(n, int(-rhythmic * 0.5 * gap * sample_rate))
            if rise > 1:
                seg[:, :rise] *= np.linspace(0.0, 1.0, rise, dtype=np.float32) ** 2
        seg *= np.float32(10.0 ** (_accent_db(timing, rng) / 20.0))
        out[:, start:start + n] += seg
    return out


@dataclass(frozen=True)
class PhraseMaterial:
    """What a phrase takes from the model's material: the one-shot reference its strokes are checked against,
    the timing (:func:`sda_engine.generate.forms.timing_of`) and the room tone under the strokes (``None``:
    digital silence between them, for models trained before it was measured)."""

    reference: OneShotReference
    timing: dict[str, Any]
    tone: RoomTone | None = None


def render_phrase(renderer: Renderer, seed: int, duration: float, material: PhraseMaterial,
                  controls: dict[str, float], bpm: float = 0.0,
                  on_event: ProgressCallback = ignore_events, cancel: CancelToken | None = None,
                  strokes: tuple[list[Candidate], RenderedAudio] | None = None) -> RenderedAudio:
    """A phrase of ``duration`` seconds for ``seed`` (see the module); ``controls`` holds the asked density,
    pulse and rhythmic (-1..1; missing = 0). ``notes["form"]["steered"]`` says what each became. ``strokes``:
    a :func:`stroke_pool` of this seed made before (phrases of one seed with other timings reuse it)."""
    reference, timing, tone = material.reference, material.timing, material.tone
    density, pulse, rhythmic = (float(controls.get(k, 0.0)) for k in STEERED)
    pool, last = strokes if strokes is not None else stroke_pool(renderer, seed, reference, on_event, cancel)
    onsets, plan = schedule(duration, density, pulse, timing, bpm, seed)
    sr = last.sample_rate
    samples = place(pool, onsets, duration, sr, last.samples.shape[0], rhythmic, timing, seed)
    if tone is not None and np.any(samples):
        peak = detect_events(samples.mean(axis=0), sr).peak_db
        samples = lay_under(samples, tone, peak, sr, [seed, ROOM_TONE_STREAM])
    measured = detect_events(samples.mean(axis=0), sr)
    strong = strong_events(measured)
    on = np.array([e.onset for e in strong])
    iois = np.diff(on)
    cv = float(iois.std() / iois.mean()) if len(iois) >= 2 and iois.mean() > 0 else None
    attacks = [e.rise for e in strong]
    steered = {
        "density": {"asked": density, "events_per_second": round(plan["rate"], 3),
                    "measured_onsets_per_second": round(len(strong) / duration, 3), "how": "steered"},
        "pulse": {"asked": pulse, "lock": round(plan["lock"], 3), "bpm": round(plan["bpm"], 2),
                  "period": round(plan["period"], 4), "measured_ioi_cv": round(cv, 3) if cv is not None else None,
                  "how": "steered"},
        "rhythmic": {"asked": rhythmic, "strokes": "swells" if rhythmic < 0 else "strokes",
                     "measured_median_rise": round(float(np.median(attacks)), 4) if attacks else None,
                     "how": "steered"},
    }
    note = {"form": "phrase", "events": int(len(onsets)), "strokes_in_pool": len(pool),
            "strokes_passing": sum(1 for c in pool if c.report.passed), "silence": room_tone_note(tone),
            "floor_db": round(float(measured.floor_db), 2), "steered": steered}
    notes = {**last.notes, "form": note}
    return replace(last, samples=samples, seed=seed, notes=notes, seams=[])
