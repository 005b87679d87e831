"""Events in a recording: onsets, attacks, decays, gaps, pulse and the quiet floor.

The measurement foundation for a set's *form* (one-shots, phrases, textures; :mod:`sda_audio.forms`) and for
checking generated audio against it (:mod:`sda_audio.oneshot_checks`). Pure functions of a mono signal, no
model, deterministic.

Two frame-level curves are taken on one hop (~5.8 ms, fine enough to time an attack):

- **onset strength**: spectral flux of a log-magnitude mel spectrogram, as in librosa's ``onset_strength``
  (power in dB relative to the file's maximum, floored ``top_db`` below it, so it does not depend on the gain;
  a 3-band maximum filter over the reference frame so vibrato and glides do not count as onsets, as in
  SuperFlux, Böck & Widmer 2013), the mean over bands of the positive dB rise over ``lag``. Unit: dB. The time
  before the file counts as silence, so a sound that starts at sample 0 has an onset there.
- **envelope**: frame RMS (window two hops) in dBFS, floored at -120 dB.

Onsets are picked like librosa's ``peak_pick`` (a local maximum over +-30 ms that stands ``delta`` above
the local mean over +-100 ms, at least ``wait`` after the previous one), with ``delta`` in dB of flux rather
than a share of the file's maximum, so a texture's small flux wiggles are not promoted to onsets. Each onset
becomes an :class:`Event`: the envelope's peak before the next onset, the onset moved back to where the
rise left the valley before it, the end of the decay where the smoothed envelope reaches the quiet threshold (or the next
onset), and the lowest level in between (the gap).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torchaudio.functional as AF
from scipy.ndimage import maximum_filter1d, uniform_filter1d

from sda_audio.errors import SdaError

FLOOR_DB = -120.0
"""Levels are clamped here (digital silence)."""


@dataclass(frozen=True)
class EventOptions:
    """How events are found. Times in seconds, levels in dB; the defaults are calibrated on the shared sets.

    Attributes:
        window: STFT window for the onset strength (rounded to a power of two in samples).
        hop: frame hop of both curves.
        n_mels: mel bands of the onset strength.
        top_db: the log spectrogram is floored this far below its maximum.
        lag: the flux compares a frame with the one this long before.
        freq_max_bands: width (bands) of the maximum filter over the reference frame.
        rise_range_db: an event's ``rise`` ends when the envelope comes this close to its peak.
        max_reach: an onset is the largest onset strength within +- this.
        avg_reach: ... and stands ``delta_db`` above its mean over +- this.
        delta_db: that margin, in dB of flux.
        min_strength_db: onsets weaker than this (dB of flux) are ignored.
        wait: the shortest time between two onsets.
        decay_range_db: an event's decay ends this far below its peak, and sound starts and ends this far below
            the file's peak ...
        floor_margin_db: ... or this far above the quiet floor, whichever is higher (but at least 20 dB down).
        smooth: the envelope is smoothed over this long to find the end of a decay.
        floor_percentile: the quiet floor is this percentile of the frame levels.
        tail: the tail level is the RMS of the last this-long of the file.
        min_bpm, max_bpm: the tempo search range.
    """

    window: float = 0.046
    hop: float = 0.0058
    n_mels: int = 64
    top_db: float = 80.0
    lag: float = 0.0116
    freq_max_bands: int = 3
    rise_range_db: float = 6.0
    max_reach: float = 0.03
    avg_reach: float = 0.1
    delta_db: float = 2.0
    min_strength_db: float = 3.0
    wait: float = 0.03
    decay_range_db: float = 40.0
    floor_margin_db: float = 6.0
    smooth: float = 0.025
    floor_percentile: float = 10.0
    tail: float = 0.05
    min_bpm: float = 40.0
    max_bpm: float = 240.0


DEFAULT_OPTIONS = EventOptions()


@dataclass(frozen=True)
class Event:
    """One sounding event. Times in seconds from the file start; levels in dB.

    Attributes:
        onset: where the rise began.
        peak: where the envelope is highest before the next onset.
        end: where the decay reached the quiet threshold, or the next onset if it did not.
        rise: onset to the first frame within ``rise_range_db`` of the peak: the heard attack, which a
            cymbal's slow bloom to its true peak does not lengthen.
        peak_db: envelope level at the peak (dBFS).
        rise_db: ``peak_db`` minus the level at the onset (at the file start: minus the quiet floor, if lower):
            how far it rose (a hit from silence: 40 dB or more; a stroke over a ringing tail: 6-20 dB; a
            wiggle in noise: a few dB).
        strength: onset strength at the detected onset (dB of spectral flux).
        gap_db: lowest envelope level between the peak and ``end`` relative to ``peak_db`` (<= 0): how far the
            event decays before the next one starts (the depth of the gap after it).
        decayed: the decay reached the quiet threshold before the next onset / the file end.
        accent: ``peak_db`` relative to the loudest event of the file (<= 0).
    """

    onset: float
    peak: float
    end: float
    rise: float
    peak_db: float
    rise_db: float
    strength: float
    gap_db: float
    decayed: bool
    accent: float

    @property
    def attack(self) -> float:
        """Onset to peak, seconds."""
        return self.peak - self.onset

    @property
    def length(self) -> float:
        """Onset to end, seconds."""
        return self.end - self.onset


@dataclass(frozen=True)
class EventMap:
    """Everything :func:`detect_events` measured on one signal.

    Attributes:
        events: in time order.
        duration: seconds.
        sample_rate: of the analysed signal.
        frame_rate: frames per second of ``envelope_db`` and ``strength``.
        peak_db: highest frame level (dBFS).
        floor_db: the quiet floor: ``floor_percentile`` of the frame levels (dBFS).
        sound_start, sound_end: first and last frame above the quiet level (``decay_range_db`` below the peak, or
            ``floor_margin_db`` above a noisy floor), seconds: the leading / trailing silence is outside.
        tail_db: RMS of the last ``tail`` seconds relative to the peak frame level (dB, <= 0 for a decay).
        tempo_bpm: the pulse from the onset strength's autocorrelation (``None`` when too short to tell).
        tempo_confidence: normalised autocorrelation at that period, 0 (none) to 1 (a metronome).
        envelope_db: frame levels (dBFS), one per frame.
        strength: onset strength (dB of flux), one per frame.
    """

    events: tuple[Event, ...]
    duration: float
    sample_rate: int
    frame_rate: float
    peak_db: float
    floor_db: float
    sound_start: float
    sound_end: float
    tail_db: float
    tempo_bpm: float | None
    tempo_confidence: float
    envelope_db: np.ndarray = field(repr=False, compare=False)
    strength: np.ndarray = field(repr=False, compare=False)

    @property
    def onsets(self) -> np.ndarray:
        """Onset times, seconds."""
        return np.array([e.onset for e in self.events])

    @property
    def iois(self) -> np.ndarray:
        """Inter-onset intervals, seconds."""
        return inter_onset_intervals(self.onsets)

    @property
    def ioi_cv(self) -> float:
        """Coefficient of variation of the inter-onset intervals (0 = even; nan with fewer than two)."""
        return ioi_cv(self.iois)

    @property
    def accents(self) -> np.ndarray:
        """Each event's peak relative to the loudest (dB, <= 0)."""
        return np.array([e.accent for e in self.events])

    @property
    def sound_duration(self) -> float:
        """Seconds between ``sound_start`` and ``sound_end``."""
        return max(0.0, self.sound_end - self.sound_start)

    @property
    def onset_rate(self) -> float:
        """Events per second of sound (leading and trailing silence left out)."""
        return len(self.events) / max(self.sound_duration, 1.0 / self.frame_rate)


def _mono(samples: np.ndarray | torch.Tensor) -> np.ndarray:
    x = samples.detach().cpu().numpy() if isinstance(samples, torch.Tensor) else np.asarray(samples)
    x = x.astype(np.float64, copy=False)
    if x.ndim == 2:
        x = x.mean(axis=0)
    elif x.ndim != 1:
        raise SdaError(f"event detection needs samples shaped (C, T) or (T,), got {x.shape}")
    if not np.isfinite(x).all():
        raise SdaError("audio contains NaN or infinite samples", hint="check the file or the generator output")
    return x


def _hop(sample_rate: int, options: EventOptions) -> int:
    return max(1, round(options.hop * sample_rate))


def envelope_db(samples: np.ndarray | torch.Tensor, sample_rate: int,
                options: EventOptions = DEFAULT_OPTIONS) -> np.ndarray:
    """Frame RMS in dBFS (window two hops, centred on ``k * hop``; zero outside the signal), >= -120."""
    x = _mono(samples)
    hop = _hop(sample_rate, options)
    n_frames = 1 + len(x) // hop
    padded = np.concatenate([np.zeros(hop), x, np.zeros(2 * hop)])
    c = np.concatenate([[0.0], np.cumsum(padded**2)])
    starts = np.arange(n_frames) * hop
    ms = (c[starts + 2 * hop] - c[starts]) / (2 * hop)
    return np.maximum(10.0 * np.log10(np.maximum(ms, 1e-30)), FLOOR_DB)


def onset_strength(samples: np.ndarray | torch.Tensor, sample_rate: int,
                   options: EventOptions = DEFAULT_OPTIONS) -> np.ndarray:
    """Spectral flux (dB) of the log-mel spectrogram, one value per hop (frame ``k`` at ``k * hop``).

    ``flux[k] = mean_b max(0, S[b, k] - maxfilter_b(S)[b, k - lag])`` with ``S`` the mel power in dB
    relative to the file's maximum, floored at ``-top_db``; frames before the file are ``-top_db``.
    """
    x = torch.from_numpy(_mono(samples).astype(np.float32))
    hop = _hop(sample_rate, options)
    n_fft = 1 << max(8, round(math.log2(options.window * sample_rate)))
    n_frames = 1 + x.shape[-1] // hop
    padded = torch.nn.functional.pad(x, (n_fft // 2, n_fft // 2 + n_fft))
    chunk = padded[: (n_frames - 1) * hop + n_fft]
    spec = torch.stft(chunk, n_fft, hop, window=torch.hann_window(n_fft), center=False, return_complex=True)
    power = spec.abs().square()[:, :n_frames].double()
    fb = AF.melscale_fbanks(n_fft // 2 + 1, 30.0, min(16000.0, sample_rate / 2), options.n_mels, sample_rate,
                            norm="slaney").double()
    mel = (fb.T @ power).numpy()
    db = 10.0 * np.log10(np.maximum(mel, 1e-30))
    db = np.maximum(db - db.max(), -options.top_db) if db.size else db
    lag = max(1, round(options.lag * sample_rate / hop))
    ref = maximum_filter1d(db, options.freq_max_bands, axis=0, mode="nearest") if options.freq_max_bands > 1 else db
    ref = np.concatenate([np.full((db.shape[0], lag), -options.top_db), ref[:, :-lag]], axis=1)
    return np.maximum(db - ref, 0.0).mean(axis=0)


def pick_onsets(strength: np.ndarray, frame_rate: float, options: EventOptions = DEFAULT_OPTIONS) -> np.ndarray:
    """Frames of onsets in an onset-strength curve (librosa ``peak_pick`` rules, margin in dB; see module)."""
    n = len(strength)
    if n == 0:
        return np.zeros(0, dtype=int)
    reach = max(1, round(options.max_reach * frame_rate))
    avg = max(1, round(options.avg_reach * frame_rate))
    local_max = maximum_filter1d(strength, 2 * reach + 1, mode="constant", cval=0.0)
    local_mean = uniform_filter1d(strength, 2 * avg + 1, mode="constant", cval=0.0)
    candidates = np.nonzero((strength >= local_max) & (strength >= local_mean + options.delta_db)
                            & (strength >= options.min_strength_db))[0]
    wait = max(1, round(options.wait * frame_rate))
    picked: list[int] = []
    for k in candidates:
        if not picked or k - picked[-1] >= wait:
            picked.append(int(k))
    return np.array(picked, dtype=int)


def inter_onset_intervals(onsets: np.ndarray) -> np.ndarray:
    """Differences of consecutive onset times."""
    return np.diff(np.sort(np.asarray(onsets, dtype=float)))


def ioi_cv(iois: np.ndarray) -> float:
    """Standard deviation over mean of the inter-onset intervals; nan with fewer than two intervals."""
    iois = np.asarray(iois, dtype=float)
    if len(iois) < 2 or iois.mean() <= 0:
        return float("nan")
    return float(iois.std() / iois.mean())


def estimate_tempo(strength: np.ndarray, frame_rate: float, min_bpm: float = 40.0,
                   max_bpm: float = 240.0) -> tuple[float | None, float]:
    """The pulse of an onset-strength curve: ``(bpm, confidence)``.

    The normalised autocorrelation ``r(lag)`` (overlap-normalised, mean removed) over the lags of
    ``min_bpm``..``max_bpm`` is weighted by a log-normal prior centred on 120 BPM (one octave wide, as in
    librosa's ``tempo``) to choose between a period and its multiples; the period is refined parabolically.
    ``confidence`` is the unweighted ``r`` there, in [0, 1]. ``(None, 0.0)`` when the curve holds fewer than
    two periods of ``max_bpm`` or is flat.
    """
    o = np.asarray(strength, dtype=float)
    n = len(o)
    lo = max(1, int(math.floor(frame_rate * 60.0 / max_bpm)))
    hi = min(int(math.ceil(frame_rate * 60.0 / min_bpm)), n // 2)
    if hi <= lo + 1:
        return None, 0.0
    o = o - o.mean()
    if float(np.sum(o**2)) <= 1e-12:
        return None, 0.0
    nfft = 1 << int(math.ceil(math.log2(2 * n)))
    spec = np.fft.rfft(o, nfft)
    acf = np.fft.irfft(spec * np.conj(spec), nfft)[: hi + 2]
    c = np.cumsum(o**2)
    lags = np.arange(lo, hi + 2)
    lags = lags[lags < n]
    head = c[n - 1 - lags]
    tail = c[-1] - np.concatenate([[0.0], c])[lags]
    r = acf[lags] / np.sqrt(np.maximum(head * tail, 1e-30))
    bpm = 60.0 * frame_rate / lags
    prior = np.exp(-0.5 * (np.log2(bpm / 120.0)) ** 2)
    score = np.maximum(r, 0.0) * prior
    score[(bpm < min_bpm) | (bpm > max_bpm)] = 0.0
    i = int(np.argmax(score))
    if score[i] <= 0:
        return None, 0.0
    lag = float(lags[i])
    if 0 < i < len(r) - 1:
        a, b, cc = r[i - 1], r[i], r[i + 1]
        denom = a - 2 * b + cc
        if abs(denom) > 1e-12:
            lag += float(np.clip(0.5 * (a - cc) / denom, -0.5, 0.5))
    return 60.0 * frame_rate / lag, float(np.clip(r[i], 0.0, 1.0))


def quiet_floor_db(env_db: np.ndarray, percentile: float = 10.0) -> float:
    """The quiet floor: ``percentile`` of the frame levels (dBFS)."""
    return float(np.percentile(env_db, percentile)) if len(env_db) else FLOOR_DB


def tail_level_db(samples: np.ndarray | torch.Tensor, sample_rate: int,
                  options: EventOptions = DEFAULT_OPTIONS) -> float:
    """RMS of the last ``options.tail`` seconds relative to the highest frame level, dB (-120 floor)."""
    x = _mono(samples)
    n = max(1, round(options.tail * sample_rate))
    tail = 10.0 * math.log10(max(float(np.mean(x[-n:] ** 2)) if len(x) else 0.0, 1e-30))
    peak = float(envelope_db(x, sample_rate, options).max()) if len(x) else FLOOR_DB
    return max(tail, FLOOR_DB) - peak


def _smooth_db(env: np.ndarray, frames: int) -> np.ndarray:
    if frames < 2:
        return env
    power = uniform_filter1d(10.0 ** (env / 10.0), frames, mode="nearest")
    return np.maximum(10.0 * np.log10(np.maximum(power, 1e-30)), FLOOR_DB)


def _quiet_level(peak_db: float, floor_db: float, options: EventOptions) -> float:
    """Where a decay ends and sound begins: ``decay_range_db`` below the peak, raised to ``floor_margin_db``
    above a noisy floor, but never closer than 20 dB to the peak (a texture whose floor is near its peak
    has no decays, and all of it is sound)."""
    return max(peak_db - options.decay_range_db, min(floor_db + options.floor_margin_db, peak_db - 20.0))


def detect_events(samples: np.ndarray | torch.Tensor, sample_rate: int,
                  options: EventOptions = DEFAULT_OPTIONS) -> EventMap:
    """Onsets, events, pulse, floor and tail of ``samples`` ``(C, T)`` or ``(T,)`` (mixed to mono).

    Silence gives no events. See :class:`Event` and :class:`EventMap` for what each number means.
    """
    x = _mono(samples)
    hop = _hop(sample_rate, options)
    rate = sample_rate / hop
    env = envelope_db(x, sample_rate, options)
    n = len(env)
    peak_db = float(env.max())
    floor_db = quiet_floor_db(env, options.floor_percentile)
    duration = len(x) / sample_rate
    silent = peak_db <= FLOOR_DB + 1.0
    strength = np.zeros(n) if silent else onset_strength(x, sample_rate, options)[:n]
    threshold = _quiet_level(peak_db, floor_db, options)
    loud = np.nonzero(env >= threshold)[0]
    sound_start = float(loud[0] / rate) if len(loud) and not silent else 0.0
    sound_end = float(min(loud[-1] / rate, duration)) if len(loud) and not silent else 0.0
    tempo, confidence = (None, 0.0) if silent else estimate_tempo(strength, rate, options.min_bpm, options.max_bpm)
    tail = FLOOR_DB if silent else tail_level_db(x, sample_rate, options)
    picked = np.zeros(0, dtype=int) if silent else pick_onsets(strength, rate, options)
    smooth = _smooth_db(env, max(1, round(options.smooth * rate)))
    lead = max(1, round(options.window * rate / 2))  # the log flux can lead the rise by half a window
    reach = max(1, round(options.max_reach * rate))
    found: list[tuple[int, int, float]] = []  # onset, peak, onset strength
    for i, k in enumerate(picked):
        nxt = int(picked[i + 1]) if i + 1 < len(picked) else n
        lo = max(found[-1][1] if found else 0, int(k) - lead)
        if lo >= nxt:
            continue
        q = lo + int(np.argmax(env[lo:min(nxt, int(k) + lead + reach + 1)]))  # the top of this rise
        valley = env[lo:q + 1]
        on = lo + int(np.nonzero(valley <= valley.min() + 1.0)[0][-1])  # where the rise left the valley
        if found and on <= found[-1][1]:  # the same rise seen twice: keep the first
            continue
        p = on + int(np.argmax(env[on:nxt]))  # the event's peak (a swell peaks long after its onset)
        found.append((on, p, float(strength[k])))
    loudest = max((float(env[p]) for _, p, _ in found), default=peak_db)
    events = []
    for j, (on, p, st) in enumerate(found):
        nxt = found[j + 1][0] if j + 1 < len(found) else n  # the decay ends at the latest where the next rise begins
        quiet = _quiet_level(float(env[p]), floor_db, options)
        below = np.nonzero(smooth[p:nxt] <= quiet)[0]
        end = p + int(below[0]) if len(below) else nxt
        risen = on + int(np.argmax(env[on:p + 1] >= env[p] - options.rise_range_db))
        events.append(Event(
            onset=on / rate, peak=p / rate, end=min(end / rate, duration), rise=(risen - on) / rate,
            peak_db=float(env[p]), rise_db=float(env[p] - (env[on] if on > 0 else min(env[0], floor_db))),
            strength=st, gap_db=float(env[p:max(end, p + 1)].min() - env[p]), decayed=len(below) > 0,
            accent=float(env[p]) - loudest))
    return EventMap(events=tuple(events), duration=duration, sample_rate=sample_rate, frame_rate=rate, peak_db=peak_db,
                    floor_db=floor_db, sound_start=sound_start, sound_end=sound_end, tail_db=tail,
                    tempo_bpm=tempo, tempo_confidence=confidence, envelope_db=env, strength=strength)
