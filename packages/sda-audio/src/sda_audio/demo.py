"""A small synthetic demo dataset, so sda can be tried without any recordings.

Twelve 3-6 s sketches at 44.1 kHz chosen to span the musical descriptors: low harmonic drones,
inharmonic bells, band-pass winds, pulse trains at different tempi, a consonant chord against a
dissonant cluster, and dry plucks against the same plucks in a synthetic room. The same seed always
gives the same files (numpy ``default_rng``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import cast

import numpy as np
import soundfile as sf
from scipy.signal import fftconvolve, istft, stft

from sda_audio.atomic import atomic_path

log = logging.getLogger(__name__)

SAMPLE_RATE = 44100
TAU = 2.0 * np.pi


def _t(seconds: float) -> np.ndarray:
    return np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE


def _fade(x: np.ndarray, seconds: float = 0.05) -> np.ndarray:
    n = min(int(seconds * SAMPLE_RATE), x.shape[-1] // 2)
    ramp = np.sin(np.linspace(0, np.pi / 2, n)) ** 2
    x = x.copy()
    x[..., :n] *= ramp
    x[..., x.shape[-1] - n:] *= ramp[::-1]
    return x


def _level(x: np.ndarray, peak_dbfs: float) -> np.ndarray:
    peak = np.max(np.abs(x))
    return x * (10 ** (peak_dbfs / 20) / peak) if peak > 0 else x


def _harmonic(f0: float, t: np.ndarray, n: int, tilt: float, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros_like(t)
    for k in range(1, n + 1):
        if k * f0 < SAMPLE_RATE / 2 - 1000:
            out += np.sin(TAU * k * f0 * t + rng.uniform(0, TAU)) / k**tilt
    return out


def drone_low(rng: np.random.Generator) -> np.ndarray:
    t = _t(6.0)
    x = _harmonic(55.0, t, 14, 1.3, rng) + 0.6 * _harmonic(55.0 * 1.003, t, 10, 1.5, rng)
    return _fade(x * (0.8 + 0.2 * np.sin(TAU * 0.15 * t)), 0.8)[None]


def drone_fifth(rng: np.random.Generator) -> np.ndarray:
    t = _t(5.5)
    left = _harmonic(73.42, t, 10, 1.4, rng) + 0.7 * _harmonic(110.0, t, 8, 1.4, rng)
    right = _harmonic(73.6, t, 10, 1.4, rng) + 0.7 * _harmonic(110.2, t, 8, 1.4, rng)
    return _fade(np.stack([left, right]), 1.0)


def _bell(f0: float, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    ratios = np.array([0.56, 0.92, 1.19, 1.71, 2.0, 2.74, 3.0, 3.76, 4.07])
    amps = np.array([1.0, 0.67, 1.0, 1.8, 2.67, 1.67, 1.46, 1.33, 1.33])
    decays = np.array([1.0, 0.9, 0.65, 0.55, 0.33, 0.3, 0.25, 0.2, 0.15]) * 3.0
    out = np.zeros_like(t)
    for r, a, d in zip(ratios, amps, decays, strict=True):
        f = f0 * r * (1 + rng.uniform(-0.002, 0.002))
        if f < SAMPLE_RATE / 2 - 1000:
            out += a * np.exp(-t / d) * np.sin(TAU * f * t + rng.uniform(0, TAU))
    return out


def _strikes(voice: Callable[[np.ndarray], np.ndarray], seconds: float, times: list[float]) -> np.ndarray:
    out = np.zeros(int(seconds * SAMPLE_RATE))
    for when in times:
        start = int(when * SAMPLE_RATE)
        tone = voice(_t(seconds - when))
        out[start:start + tone.size] += tone
    return out


def bell_high(rng: np.random.Generator) -> np.ndarray:
    return _fade(_strikes(lambda t: _bell(880.0, t, rng), 4.0, [0.0, 1.7]), 0.01)[None]


def bell_low(rng: np.random.Generator) -> np.ndarray:
    mono = _strikes(lambda t: _bell(196.0, t, rng), 5.0, [0.0, 2.2])
    return _fade(np.stack([mono, np.roll(mono, 300) * 0.8]), 0.01)


def _wind(rng: np.random.Generator, seconds: float, centre: tuple[float, float], width: float) -> np.ndarray:
    noise = rng.standard_normal(int(seconds * SAMPLE_RATE))
    freqs, times, spec = stft(noise, SAMPLE_RATE, nperseg=2048)
    drift = np.cumsum(rng.standard_normal(times.size)) * 0.04
    phase = np.linspace(0, np.pi, times.size) + drift
    centres = np.exp(np.log(centre[0]) + (np.log(centre[1]) - np.log(centre[0])) * (0.5 - 0.5 * np.cos(phase)))
    gain = np.exp(-0.5 * ((np.log(freqs[:, None] + 1.0) - np.log(centres[None])) / width) ** 2)
    gust = 0.6 + 0.4 * np.sin(TAU * 0.3 * times + rng.uniform(0, TAU))
    _, out = istft(spec * gain * gust[None], SAMPLE_RATE, nperseg=2048)
    return out[: noise.size]


def wind_bright(rng: np.random.Generator) -> np.ndarray:
    return _fade(np.stack([_wind(rng, 5.0, (1500.0, 5000.0), 0.35), _wind(rng, 5.0, (1800.0, 4500.0), 0.35)]), 0.5)


def wind_dark(rng: np.random.Generator) -> np.ndarray:
    return _fade(_wind(rng, 6.0, (150.0, 500.0), 0.25), 0.5)[None]


def _kick(t: np.ndarray) -> np.ndarray:
    freq = 45.0 + 110.0 * np.exp(-t / 0.03)
    return np.sin(TAU * np.cumsum(freq) / SAMPLE_RATE) * np.exp(-t / 0.18)


def pulse_slow(rng: np.random.Generator) -> np.ndarray:
    beat = 60.0 / 70.0
    return _strikes(_kick, 4.5, [i * beat for i in range(6)])[None]


def pulse_fast(rng: np.random.Generator) -> np.ndarray:
    step = 60.0 / 150.0 / 4.0
    seconds = 3.5
    out = _strikes(_kick, seconds, [i * 4 * step for i in range(int(seconds / (4 * step)))]) * 0.8
    for i in range(int(seconds / step)):
        start = int(i * step * SAMPLE_RATE)
        n = int(0.03 * SAMPLE_RATE)
        click = np.diff(rng.standard_normal(n + 1)) * np.exp(-np.arange(n) / (0.006 * SAMPLE_RATE))
        out[start:start + n] += click[: out.size - start] * (0.5 if i % 2 else 0.3)
    return out[None]


def chord_consonant(rng: np.random.Generator) -> np.ndarray:
    t = _t(5.0)
    x = sum(_harmonic(f, t, 8, 1.6, rng) for f in (261.63, 261.63 * 5 / 4, 261.63 * 3 / 2, 130.81))
    return _fade(np.stack([x, x]) * (1 - 0.3 * t / t[-1]), 0.3)


def cluster_dissonant(rng: np.random.Generator) -> np.ndarray:
    t = _t(5.0)
    notes = 261.63 * 2 ** (np.array([0, 1, 2, 3, 6, 11]) / 12)
    x = cast(np.ndarray, sum(_harmonic(f, t, 8, 0.9, rng) for f in notes))
    return _fade(x, 0.3)[None]


def _pluck(f0: float, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros_like(t)
    for k in range(1, 25):
        rate = 8.0 + 2.5 * k  # a damped string: the fundamental is 60 dB down after ~0.65 s
        n = min(t.size, int(9.2 / rate * SAMPLE_RATE))  # stop each partial once it is 80 dB down
        if k * f0 < SAMPLE_RATE / 2 - 1000:
            tk = t[:n]
            out[:n] += np.sin(TAU * k * f0 * tk + rng.uniform(0, TAU)) * np.exp(-tk * rate) / k
    attack = np.minimum(t / 0.002, 1.0)
    return out * attack


_PLUCK_NOTES = [220.0, 261.63, 329.63, 392.0, 440.0, 392.0, 293.66, 261.63]


def _melody(rng: np.random.Generator, seconds: float) -> np.ndarray:
    times = [i * 0.45 for i in range(len(_PLUCK_NOTES))]
    out = np.zeros(int(seconds * SAMPLE_RATE))
    for when, f in zip(times, _PLUCK_NOTES, strict=True):
        start = int(when * SAMPLE_RATE)
        tone = _pluck(f, _t(min(1.2, seconds - when)), rng)
        out[start:start + tone.size] += tone
    return out


def pluck_dry(rng: np.random.Generator) -> np.ndarray:
    return _melody(rng, 4.0)[None]


def pluck_reverb(rng: np.random.Generator) -> np.ndarray:
    dry = _melody(rng, 5.5)
    rt60 = 2.2
    tail_t = _t(rt60)
    decay = np.exp(-6.91 * tail_t / rt60)
    wet = []
    for _ in range(2):  # decorrelated left/right tails
        ir = rng.standard_normal(tail_t.size) * decay
        ir[0] = 0.0
        wet.append(fftconvolve(dry, ir)[: dry.size])
    wet_arr = np.stack(wet)
    wet_arr *= np.max(np.abs(dry)) / np.max(np.abs(wet_arr))
    return 0.35 * dry[None] + 0.9 * wet_arr


SKETCHES: dict[str, Callable[[np.random.Generator], np.ndarray]] = {
    "drone_low": drone_low,
    "drone_fifth": drone_fifth,
    "bell_high": bell_high,
    "bell_low": bell_low,
    "wind_bright": wind_bright,
    "wind_dark": wind_dark,
    "pulse_slow": pulse_slow,
    "pulse_fast": pulse_fast,
    "chord_consonant": chord_consonant,
    "cluster_dissonant": cluster_dissonant,
    "pluck_dry": pluck_dry,
    "pluck_reverb": pluck_reverb,
}


def make_demo_dataset(folder: str | Path, seed: int = 0, names: Iterable[str] | None = None) -> list[Path]:
    """Write the twelve demo sketches into ``folder`` as 24-bit 44.1 kHz WAV files.

    Args:
        folder: where to write (created if missing).
        seed: the same seed gives identical files.
        names: write only these sketches (see :data:`SKETCHES`); each is the same as in the full set.

    Returns:
        The written paths, in a fixed order.
    """
    folder = Path(folder)
    wanted = set(SKETCHES) if names is None else set(names)
    unknown = wanted - set(SKETCHES)
    if unknown:
        raise ValueError(f"unknown demo sketches {sorted(unknown)}; choose from {list(SKETCHES)}")
    children = np.random.SeedSequence(seed).spawn(len(SKETCHES))
    paths = []
    for (name, make), child in zip(SKETCHES.items(), children, strict=True):
        if name not in wanted:
            continue
        rng = np.random.default_rng(child)
        audio = _level(np.atleast_2d(make(rng)), peak_dbfs=-3.0 - 6.0 * rng.random())
        path = folder / f"{name}.wav"
        with atomic_path(path) as tmp:
            sf.write(str(tmp), audio.T.astype(np.float32), SAMPLE_RATE, subtype="PCM_24", format="WAV")
        paths.append(path)
    log.info("wrote %d demo files to %s", len(paths), folder)
    return paths
