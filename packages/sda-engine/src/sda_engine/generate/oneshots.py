"""One-shots: single events with the attack at the start and a decay to silence (a sample pack).

The model makes streams, not single hits, so a one-shot is cut from a stream and proven afterwards:

1. render a stream a few times longer than the longest real one-shot from the seed (the same renderer, request
   and vocoder as any generation);
2. segment it with :func:`sda_audio.events.detect_events` and take each strong event from just before its
   onset to the end of its decay (where it reached the quiet level: never cut mid-decay). The model's streams
   rarely fall silent between strokes (short training files are looped), so below that level the event's own
   decay rate is carried on to 40 dB lower (at most 0.6x the longest real length, never past the next stroke)
   and a 10 ms fade ends it: the fade is only ever below the floor. Under the whole cut lies the material's room
   tone (:mod:`sda_audio.room_tone`, stored at training: as far under the hit's peak as the real files' quiet
   floor is under theirs), so the hit ends in the room it was recorded in, not in digital silence;
3. decode and re-measure each cut and run :func:`sda_audio.oneshot_checks.check_oneshot` against the model's
   stored reference (attack within 80 ms, no second onset after 150 ms, tail as deep as the real files',
   length in the real range); candidates are tried nearest first to a length drawn from the real one-shots'
   lengths (a pack keeps the set's mix of short and long hits);
4. keep the first that passes; if none does, render the next stream (seeds derived from the seed, at most
   :data:`MAX_STREAMS`), and if none passes at all keep the best and say so in the notes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from sda_audio.events import Event, EventMap, detect_events
from sda_audio.forms import strong_events
from sda_audio.oneshot_checks import CheckReport, OneShotReference, check_oneshot
from sda_audio.progress import CancelToken, ProgressCallback, ignore_events
from sda_audio.room_tone import RoomTone, lay_under
from sda_engine.generate.renderer import Renderer
from sda_engine.generate.sketch import RenderedAudio

log = logging.getLogger(__name__)

PREROLL = 0.004
"""Seconds kept before a detected onset (the detector's frames are ~6 ms: the hit's first samples)."""
FADE = 0.01
"""Seconds of fade after the end of the decay (already below the quiet level)."""
MAX_STREAMS = 4
"""Streams rendered per one-shot at most before the best candidate is kept."""
SEED_STEP = 100_003
"""Stream ``k`` of a one-shot with seed ``s`` uses seed ``s + k * SEED_STEP``."""
MIN_STREAM = 3.0
MAX_STREAM = 8.0
TAIL_DB = -40.0
"""How far below the quiet level the carried-on decay goes (dB) before the final fade."""
ROOM_TONE_STREAM = 7
"""Seeds a cut's room tone: ``[stream_seed, start_sample, ROOM_TONE_STREAM]``."""
MIN_DECAY = 20.0
"""dB per second: the slowest decay carried on (a held sound still ends within 2 s)."""


@dataclass
class Candidate:
    """One event cut from a stream, re-measured."""

    samples: np.ndarray
    report: CheckReport
    events: EventMap
    stream_seed: int
    start: float
    end: float
    tail: float = 0.0

    @property
    def length(self) -> float:
        return self.samples.shape[-1] / self.events.sample_rate

    @property
    def failures(self) -> int:
        return len(self.report.failed)


def stream_seconds(reference: OneShotReference) -> float:
    """How long a stream to render: room for several events of the longest real length."""
    return float(np.clip(2.0 * reference.max_length, MIN_STREAM, MAX_STREAM))


def _decay_rate(e: Event, events: EventMap) -> float:
    """The event's own decay, dB per second from its peak to its end (at least :data:`MIN_DECAY`)."""
    end_frame = min(len(events.envelope_db) - 1, int(round(e.end * events.frame_rate)))
    drop = e.peak_db - float(events.envelope_db[end_frame])
    return max(drop / max(e.end - e.peak, 0.01), MIN_DECAY)


def cut_events(samples: np.ndarray, sample_rate: int, events: EventMap, max_tail: float = 1.0
               ) -> list[tuple[int, int, int, Event]]:
    """``(start, end_of_decay, end, event)`` sample positions of the strong events, decayed ones first: from
    just before the onset to where the decay reached the quiet level, then a tail of at most ``max_tail`` s
    (never past the next strong onset) over which :func:`continue_decay` carries the event's own decay on to
    :data:`TAIL_DB`."""
    total = samples.shape[-1]
    strong = strong_events(events)
    out = []
    for i, e in enumerate(strong):
        start = max(0, int(round((e.onset - PREROLL) * sample_rate)))
        decay_end = min(total, int(round(e.end * sample_rate)))
        following = strong[i + 1].onset if i + 1 < len(strong) else total / sample_rate
        tail = min(-TAIL_DB / _decay_rate(e, events), max_tail, max(following - e.end - PREROLL, 0.0))
        end = min(total, decay_end + int(round(max(tail, FADE) * sample_rate)))
        if end - start > int(0.02 * sample_rate):
            out.append((start, decay_end, end, e))
    return sorted(out, key=lambda c: not c[3].decayed)


def continue_decay(cut: np.ndarray, decay_end: int) -> np.ndarray:
    """Below the floor: from ``decay_end`` (where the event reached the quiet level) to the end of ``cut``, a
    gain falling linearly in dB to :data:`TAIL_DB` (the event's own decay carried on, so the stream's wash under
    it does not hold the tail up), then :func:`finish_cut`'s fades."""
    cut = np.array(cut, dtype=np.float32, copy=True)
    n = cut.shape[-1] - decay_end
    if n > 0:
        cut[..., decay_end:] *= (10.0 ** (np.linspace(0.0, TAIL_DB, n) / 20.0)).astype(np.float32)
    return cut


def finish_cut(cut: np.ndarray, sample_rate: int) -> np.ndarray:
    """The cut with a :data:`FADE` fade-out over its last samples (after the decay's end) and a 1 ms fade-in."""
    cut = np.array(cut, dtype=np.float32, copy=True)
    n_out = min(cut.shape[-1] // 2, int(FADE * sample_rate))
    if n_out > 0:
        cut[..., -n_out:] *= np.linspace(1.0, 0.0, n_out, dtype=np.float32)
    n_in = min(cut.shape[-1] // 4, int(0.001 * sample_rate))
    if n_in > 0:
        cut[..., :n_in] *= np.linspace(0.0, 1.0, n_in, dtype=np.float32)
    return cut


def measure(samples: np.ndarray, sample_rate: int, reference: OneShotReference) -> tuple[EventMap, CheckReport]:
    """Re-measure a cut as a file: its events and the one-shot checks."""
    events = detect_events(samples, sample_rate)
    return events, check_oneshot(events, reference)


def candidates_of(audio: RenderedAudio, reference: OneShotReference, stream_seed: int,
                  tone: RoomTone | None = None) -> list[Candidate]:
    """Every strong event of a rendered stream, cut (tail carried on below the floor), laid on the material's
    room tone (when the model has one) and re-measured."""
    sr = audio.sample_rate
    mono = audio.samples.mean(axis=0)
    events = detect_events(mono, sr)
    out = []
    max_tail = max(0.05, 0.6 * reference.max_length)
    for start, decay_end, end, event in cut_events(mono, sr, events, max_tail):
        cut = continue_decay(audio.samples[:, start:end], decay_end - start)
        if tone is not None:
            cut = lay_under(cut, tone, event.peak_db, sr, [stream_seed, start, ROOM_TONE_STREAM])
        cut = finish_cut(cut, sr)
        m, report = measure(cut, sr, reference)
        out.append(Candidate(samples=cut, report=report, events=m, stream_seed=stream_seed,
                             start=start / sr, end=end / sr, tail=(end - decay_end) / sr))
    return out


def room_tone_note(tone: RoomTone | None) -> str:
    """What the quiet parts of a generated one-shot or phrase are, for its sidecar."""
    if tone is None:
        return "digital (the model was trained before room tone was measured)"
    return f"the material's room tone, {tone.level_db:.0f} dB under each stroke's peak"


def pick(candidates: Sequence[Candidate], target_length: float) -> Candidate | None:
    """The passing candidate nearest ``target_length``; ``None`` when none passes."""
    passing = [c for c in candidates if c.report.passed]
    return min(passing, key=lambda c: abs(c.length - target_length)) if passing else None


def best(candidates: Sequence[Candidate], target_length: float) -> Candidate:
    """The candidate with the fewest failed checks, then nearest ``target_length``."""
    return min(candidates, key=lambda c: (c.failures, abs(c.length - target_length)))


def draw_length(lengths: Sequence[float], reference: OneShotReference, seed: int) -> float:
    """A length drawn (seeded) from the real one-shots' lengths, or uniformly from the reference's range."""
    rng = np.random.default_rng([seed, 1])
    real = [x for x in lengths if x > 0]
    if real:
        return float(rng.choice(real))
    return float(rng.uniform(reference.min_length, reference.max_length))


def report_notes(report: CheckReport) -> dict[str, Any]:
    """The checks as JSON: ``{name: {"passed", "value", "limit"}}``."""
    def num(x: float) -> float | None:
        return round(float(x), 4) if np.isfinite(x) else None
    return {c.name: {"passed": c.passed, "value": num(c.value), "limit": num(c.limit)} for c in report.checks}


def render_oneshot(renderer: Renderer, seed: int, reference: OneShotReference, lengths: Sequence[float] = (),
                   on_event: ProgressCallback = ignore_events, cancel: CancelToken | None = None,
                   has_reference: bool = True, tone: RoomTone | None = None) -> RenderedAudio:
    """One one-shot for ``seed`` (see the module): the audio, with ``notes["form"]`` saying which checks
    passed, which stream and event it came from, and whether the best had to be kept.

    ``renderer`` renders the streams (its request's duration is the stream length; use :func:`stream_seconds`);
    ``tone``: the material's room tone, laid under each cut (``None``: digital silence after the fade).
    """
    target = draw_length(lengths, reference, seed)
    pool: list[Candidate] = []
    chosen: Candidate | None = None
    last: RenderedAudio | None = None
    streams = 0
    for k in range(MAX_STREAMS):
        if cancel is not None:
            cancel.raise_if_cancelled("generation")
        stream_seed = seed + k * SEED_STEP
        last = renderer.render(renderer.sample(stream_seed, on_event, cancel), on_event, cancel)
        streams += 1
        found = candidates_of(last, reference, stream_seed, tone)
        pool += found
        chosen = pick(found, target)
        if chosen is not None:
            break
    assert last is not None
    passed = chosen is not None
    if chosen is None and pool:
        chosen = best(pool, target)
    if chosen is None:  # the streams were silent: nothing to cut
        samples = last.samples[:, : int(target * last.sample_rate)]
        m, report = measure(finish_cut(samples, last.sample_rate), last.sample_rate, reference)
        chosen = Candidate(samples=finish_cut(samples, last.sample_rate), report=report, events=m,
                           stream_seed=seed, start=0.0, end=samples.shape[-1] / last.sample_rate)
    note: dict[str, Any] = {
        "form": "oneshot",
        "passed": passed and chosen.report.passed,
        "checks": report_notes(chosen.report),
        "failed": list(chosen.report.failed),
        "target_length": round(target, 4),
        "length": round(chosen.length, 4),
        "stream_seed": chosen.stream_seed,
        "stream_event": [round(chosen.start, 4), round(chosen.end, 4)],
        "tail_carried_on": round(chosen.tail, 4),
        "streams_rendered": streams,
        "candidates": len(pool),
        "reference": "the model's real one-shots" if has_reference else "defaults (the model has no one-shots)",
        "silence": room_tone_note(tone),
    }
    if not note["passed"]:
        note["message"] = (f"no event of {streams} stream(s) passed every one-shot check; kept the closest "
                           f"(failed: {', '.join(chosen.report.failed) or 'none'})")
    notes = {**last.notes, "form": note}
    return replace(last, samples=chosen.samples, seed=seed, notes=notes, seams=[])
