"""Synthesis primitives (numpy only): band-limited noise, FM and additive tones, Karplus-Strong plucks, bowed and
blown swells, granular textures and synthetic rooms.

Each function is deterministic given its arguments and the ``numpy.random.Generator`` it is handed; nothing here
reads or writes files. The recipes that turn these into the base corpus's sounds live in
:mod:`sda_audio.synth_corpus`; the demo dataset (:mod:`sda_audio.demo`) keeps its own, older sketches.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 44100
TAU = 2.0 * np.pi
NYQUIST_MARGIN = 1000.0
"""Partials closer than this to Nyquist are left out (no aliasing)."""


def times(seconds: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Sample times ``0, 1/sr, ...`` for ``seconds``."""
    return np.arange(max(1, int(round(seconds * sample_rate)))) / sample_rate


def fade(x: np.ndarray, fade_in: float = 0.005, fade_out: float = 0.02, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Raised-cosine fades at both ends (no clicks)."""
    x = np.array(x, dtype=np.float64, copy=True)
    for seconds, at_end in ((fade_in, False), (fade_out, True)):
        n = min(int(seconds * sample_rate), x.size // 2)
        if n <= 0:
            continue
        ramp = np.sin(np.linspace(0.0, np.pi / 2, n)) ** 2
        if at_end:
            x[x.size - n:] *= ramp[::-1]
        else:
            x[:n] *= ramp
    return x


def normalise_peak(x: np.ndarray, peak_dbfs: float = -3.0) -> np.ndarray:
    """Scale so the absolute peak is ``peak_dbfs`` (silence stays silence)."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return x * (10 ** (peak_dbfs / 20) / peak) if peak > 0 else x


def swell(n: int, attack: float, release: float, sample_rate: int = SAMPLE_RATE, curve: float = 2.0) -> np.ndarray:
    """An envelope rising over ``attack`` seconds, holding, and falling over ``release`` seconds."""
    env = np.ones(n)
    a = min(n, max(1, int(attack * sample_rate)))
    r = min(n - a, max(1, int(release * sample_rate))) if n > a else 0
    env[:a] = np.linspace(0.0, 1.0, a) ** curve
    if r > 0:
        env[n - r:] *= np.linspace(1.0, 0.0, r) ** curve
    return env


def noise_band(rng: np.random.Generator, n: int, low: float, high: float, edge: float = 0.1,
               sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """White noise filtered (in the frequency domain) to ``[low, high]`` Hz, with raised-cosine edges ``edge``
    octaves wide *inside* the band, so no energy falls outside it."""
    if not 0 < low < high <= sample_rate / 2:
        raise ValueError(f"need 0 < low < high <= {sample_rate / 2}, got {low}, {high}")
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    octaves = np.log2(np.maximum(freqs, 1e-9))
    lo, hi = np.log2(low), np.log2(high)
    width = min(edge, (hi - lo) / 2)
    gain = np.clip(np.minimum(octaves - lo, hi - octaves) / width, 0.0, 1.0)
    gain = np.sin(gain * np.pi / 2) ** 2
    return np.fft.irfft(spectrum * gain, n)


def additive(t: np.ndarray, f0: float, amplitudes: np.ndarray, decays: np.ndarray | None = None,
             inharmonicity: float = 0.0, rng: np.random.Generator | None = None,
             sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A sum of partials ``k * f0 * sqrt(1 + B k^2)`` (``B`` = ``inharmonicity``) with amplitudes and optional
    exponential decay times (seconds) per partial; random start phases when ``rng`` is given."""
    out = np.zeros_like(t)
    for k, amp in enumerate(amplitudes, start=1):
        f = k * f0 * np.sqrt(1.0 + inharmonicity * k * k)
        if f >= sample_rate / 2 - NYQUIST_MARGIN or amp == 0:
            continue
        phase = rng.uniform(0, TAU) if rng is not None else 0.0
        partial = amp * np.sin(TAU * f * t + phase)
        if decays is not None:
            partial *= np.exp(-t / decays[k - 1])
        out += partial
    return out


def fm_tone(t: np.ndarray, carrier: float, ratio: float, index: float, index_decay: float | None = None,
            feedback_ratio: float | None = None) -> np.ndarray:
    """Two-operator FM: ``sin(2 pi fc t + I(t) sin(2 pi fc ratio t))``; the index decays over ``index_decay`` s
    when given (a struck FM timbre brightens then mellows). ``feedback_ratio`` adds a second, slower modulator."""
    index_t = index * (np.exp(-t / index_decay) if index_decay else 1.0)
    modulator = np.sin(TAU * carrier * ratio * t)
    if feedback_ratio is not None:
        modulator = modulator + 0.5 * np.sin(TAU * carrier * feedback_ratio * t)
    return np.sin(TAU * carrier * t + index_t * modulator)


def karplus_strong(rng: np.random.Generator, f0: float, seconds: float, decay: float = 0.996,
                   brightness: float = 0.7, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A plucked string (Karplus-Strong): a noise burst circulating in a delay line with an averaging low-pass.

    The loop delay is ``N + 0.5 + w`` samples (integer delay, the averager's half sample, and a linear
    fractional part ``w``) so the pitch is ``f0``. ``decay`` (< 1) is the loop gain per period; ``brightness``
    in (0, 1] low-passes the excitation (1 = white noise). Computed a period at a time (each block depends
    only on earlier ones), so it is fast in numpy.
    """
    period = sample_rate / f0
    n_int = int(np.floor(period - 0.5))
    if n_int < 2:
        raise ValueError(f"f0 {f0} Hz is too high for Karplus-Strong at {sample_rate} Hz")
    w = period - 0.5 - n_int
    total = int(round(seconds * sample_rate))
    y = np.zeros(total + n_int + 2)
    burst = rng.uniform(-1.0, 1.0, n_int)
    if brightness < 1.0:  # one-pole low-pass of the excitation: darker plucks
        a = 1.0 - brightness
        for i in range(1, burst.size):
            burst[i] = (1 - a) * burst[i] + a * burst[i - 1]
    burst -= burst.mean()
    offset = 2  # two leading zeros so y[n - N - 2] exists
    y[offset:offset + n_int] = burst
    start = offset + n_int
    while start < y.size:
        stop = min(start + n_int, y.size)
        idx = np.arange(start, stop)
        y0, y1, y2 = y[idx - n_int], y[idx - n_int - 1], y[idx - n_int - 2]
        y[idx] = decay * ((1 - w) * 0.5 * (y0 + y1) + w * 0.5 * (y1 + y2))
        start = stop
    return y[offset:offset + total]


def bowed(rng: np.random.Generator, f0: float, seconds: float, attack: float, release: float,
          vibrato_rate: float = 5.5, vibrato_depth: float = 0.006, brightness: float = 1.2,
          sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A bowed-string swell: a band-limited sawtooth (all harmonics, ``1/k^brightness``) with delayed vibrato,
    a little bow noise, and a slow attack and release."""
    t = times(seconds, sample_rate)
    depth = vibrato_depth * np.clip(t / max(attack, 1e-3), 0.0, 1.0)
    inst = f0 * (1.0 + depth * np.sin(TAU * vibrato_rate * t + rng.uniform(0, TAU)))
    phase = TAU * np.cumsum(inst) / sample_rate
    out = np.zeros_like(t)
    for k in range(1, 60):
        if k * f0 * (1 + vibrato_depth) >= sample_rate / 2 - NYQUIST_MARGIN:
            break
        out += np.sin(k * phase) / k**brightness
    hiss = noise_band(rng, t.size, min(2000.0, f0 * 4), min(9000.0, sample_rate / 2 - 1), sample_rate=sample_rate)
    out = out / (np.max(np.abs(out)) + 1e-12) + 0.03 * hiss / (np.std(hiss) + 1e-12)
    return out * swell(t.size, attack, release, sample_rate)


def blown(rng: np.random.Generator, f0: float, seconds: float, attack: float, release: float,
          breath: float = 0.15, odd_only: bool = False, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A blown swell (flute, reed, bottle): few harmonics (odd only for a clarinet-like tone) falling off fast,
    breath noise in a band around the pitch, slow wander of loudness."""
    t = times(seconds, sample_rate)
    ks = np.arange(1, 12)
    amps = np.where((ks % 2 == 1) | (not odd_only), 1.0 / ks**2.0, 0.0)
    tone = additive(t, f0, amps, rng=rng, sample_rate=sample_rate)
    tone /= np.max(np.abs(tone)) + 1e-12
    high = min(f0 * 8, sample_rate / 2 - 1)
    air = noise_band(rng, t.size, min(f0 * 0.8, high / 2), high, sample_rate=sample_rate)
    air /= np.std(air) + 1e-12
    wander = 1.0 + 0.1 * np.sin(TAU * rng.uniform(0.2, 0.8) * t + rng.uniform(0, TAU))
    return (tone + breath * air) * wander * swell(t.size, attack, release, sample_rate, curve=1.5)


def granular(rng: np.random.Generator, source: np.ndarray, seconds: float, grain: float = 0.06,
             density: float = 80.0, pitch_spread: float = 0.0, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A granular texture: ``density`` Hann-windowed grains per second, each ``grain`` s long (+-50 %), read from
    random places in ``source`` and resampled by up to ``pitch_spread`` semitones, scattered over ``seconds``."""
    total = int(seconds * sample_rate)
    out = np.zeros(total)
    count = max(1, int(density * seconds))
    for _ in range(count):
        length = max(16, int(grain * rng.uniform(0.5, 1.5) * sample_rate))
        ratio = 2 ** (rng.uniform(-pitch_spread, pitch_spread) / 12) if pitch_spread else 1.0
        span = int(length * ratio) + 2
        if span >= source.size:
            continue
        begin = int(rng.integers(0, source.size - span))
        piece = np.interp(begin + np.arange(length) * ratio, np.arange(source.size), source)
        at = int(rng.integers(0, max(1, total - length)))
        end = min(total, at + length)
        out[at:end] += (piece * np.hanning(length))[: end - at] * rng.uniform(0.3, 1.0)
    return out


def room_impulse(rng: np.random.Generator, rt60: float, predelay: float = 0.01, damping: float = 0.5,
                 sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A synthetic room: exponentially decaying noise (60 dB down after ``rt60`` s) after ``predelay`` s, whose
    highs die faster as ``damping`` (0-1) grows (a crossfade from white to low-passed noise along the tail)."""
    t = times(rt60, sample_rate)
    noise = rng.standard_normal(t.size)
    dark = np.convolve(noise, np.ones(8) / 8, mode="same")
    mix = np.clip(damping * t / rt60 * 2, 0.0, 1.0)
    ir = ((1 - mix) * noise + mix * dark * 2.0) * np.exp(-6.91 * t / rt60)
    return np.concatenate([np.zeros(int(predelay * sample_rate)), ir])


def convolve(x: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """Full linear convolution by FFT (length ``len(x) + len(ir) - 1``)."""
    n = x.size + ir.size - 1
    size = 1 << (n - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(ir, size), size)[:n]


def in_room(rng: np.random.Generator, dry: np.ndarray, rt60: float, wet: float, damping: float = 0.5,
            sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """``dry`` played in a synthetic room (its tail kept): ``(1 - wet) * dry + wet * reverb``, the reverb scaled to
    the dry signal's peak."""
    ir = room_impulse(rng, rt60, damping=damping, sample_rate=sample_rate)
    reverb = convolve(dry, ir)
    reverb *= (np.max(np.abs(dry)) + 1e-12) / (np.max(np.abs(reverb)) + 1e-12)
    out = wet * reverb
    out[: dry.size] += (1 - wet) * dry
    return out


def trim_tail(x: np.ndarray, floor_db: float = -60.0, hold: float = 0.01, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Cut after the last sample louder than ``floor_db`` below the peak (``hold`` s kept, then a short fade)."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak == 0:
        return x[:0]
    loud = np.flatnonzero(np.abs(x) > peak * 10 ** (floor_db / 20))
    end = min(x.size, int(loud[-1]) + 1 + int(hold * sample_rate))
    return fade(x[:end], fade_in=0.0, fade_out=min(hold, end / sample_rate / 2), sample_rate=sample_rate)
