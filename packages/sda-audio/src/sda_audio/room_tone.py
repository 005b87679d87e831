"""Room tone: the level and colour of a set's quietest moments, measured once and re-synthesised under
generated strokes.

Real recordings never reach digital silence: between a loop's strokes and after a drum hit's decay there is the
room, the microphone's hiss, the end of the reverb. Generated phrases and one-shots place the model's strokes in
time and end them with fades, so without a floor their gaps are digital zeros - 40-70 dB below the material's
(docs/quality.md) - which sounds gated and reads as "silent" in every measure. This module

- :func:`measure_room_tone`: for each file, the frames at or below its 10th-percentile level (the quiet floor, as
  :func:`sda_audio.events.quiet_floor_db` defines it; digital silence left out) give a level relative to the
  file's loudest frame and an average spectrum in log-spaced bands; the set's room tone is the median of both;
- :func:`render_room_tone`: seeded white noise shaped to that spectrum, at a given RMS level.

Only the floor's level and a coarse spectral colour are kept (24 numbers), never audio: nothing of the
recordings' content can leak into a generation through it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

FRAME_SECONDS = 0.02
"""Analysis frame (s): long enough for a band spectrum, short enough to find the gaps between strokes."""
QUIET_PERCENTILE = 10.0
"""Frames at or below this percentile of a file's frame levels are its quiet floor."""
DIGITAL_SILENCE_DBFS = -100.0
"""Frames below this are padding, not room: left out."""
N_BANDS = 24
LOW_HZ = 50.0
HIGH_HZ = 20000.0


@dataclass(frozen=True)
class RoomTone:
    """A set's quiet floor: ``level_db`` (RMS, dB relative to each file's loudest frame; median over files) and
    its colour (``band_db`` at the log-spaced ``band_hz`` centres, mean 0 dB); ``files``: how many gave one."""

    level_db: float
    band_hz: tuple[float, ...]
    band_db: tuple[float, ...]
    files: int

    def to_dict(self) -> dict[str, Any]:
        return {"level_db": round(self.level_db, 3), "band_hz": [round(f, 2) for f in self.band_hz],
                "band_db": [round(d, 3) for d in self.band_db], "files": self.files}

    @classmethod
    def from_dict(cls, data: Any) -> RoomTone | None:
        """The stored room tone, or ``None`` when ``data`` is not one (a model trained before it existed)."""
        if not isinstance(data, dict):
            return None
        try:
            hz = tuple(float(x) for x in data["band_hz"])
            db = tuple(float(x) for x in data["band_db"])
            level = float(data["level_db"])
        except (KeyError, TypeError, ValueError):
            return None
        if len(hz) != len(db) or not hz or not math.isfinite(level) or not all(map(math.isfinite, hz + db)):
            return None
        return cls(level_db=level, band_hz=hz, band_db=db, files=int(data.get("files") or 0))


def band_edges() -> np.ndarray:
    """:data:`N_BANDS` + 1 log-spaced edges from :data:`LOW_HZ` to :data:`HIGH_HZ` (bands above a file's
    Nyquist frequency stay unmeasured for it)."""
    return np.geomspace(LOW_HZ, HIGH_HZ, N_BANDS + 1)


def _frames(mono: np.ndarray, sample_rate: int) -> np.ndarray:
    n = max(64, int(round(FRAME_SECONDS * sample_rate)))
    count = mono.size // n
    return mono[: count * n].reshape(count, n).astype(np.float64)


def file_floor(mono: np.ndarray, sample_rate: int) -> tuple[float, np.ndarray] | None:
    """One file's quiet floor: (level dB re its loudest frame, band powers in dB) or ``None`` when it has
    fewer than three frames of sound."""
    frames = _frames(np.asarray(mono, dtype=np.float64).reshape(-1), sample_rate)
    if frames.shape[0] < 3:
        return None
    level = 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-30)
    sound = level > DIGITAL_SILENCE_DBFS
    if sound.sum() < 3:
        return None
    floor = np.percentile(level[sound], QUIET_PERCENTILE)
    quiet = sound & (level <= floor)
    rel = 10.0 * np.log10(np.mean(10.0 ** (level[quiet] / 10.0))) - float(level.max())
    window = np.hanning(frames.shape[1])
    power = np.abs(np.fft.rfft(frames[quiet] * window, axis=1)) ** 2
    freqs = np.fft.rfftfreq(frames.shape[1], 1.0 / sample_rate)
    edges = band_edges()
    bands = np.full(N_BANDS, np.nan)
    for b in range(N_BANDS):
        inside = (freqs >= edges[b]) & (freqs < edges[b + 1])
        if inside.any():
            bands[b] = 10.0 * np.log10(power[:, inside].mean() + 1e-30)
    return float(rel), bands


def measure_room_tone(clips: Iterable[tuple[np.ndarray, int]]) -> RoomTone | None:
    """The room tone of a set of mono clips ``(samples, sample_rate)`` (see the module); ``None`` when no clip
    has enough sound to tell."""
    return room_tone_from_floors(file_floor(samples, sample_rate) for samples, sample_rate in clips)


def room_tone_from_floors(floors: Iterable[tuple[float, np.ndarray] | None]) -> RoomTone | None:
    """The set's room tone from its files' :func:`file_floor` results (``None`` entries skipped), so a caller
    that reads the files one by one keeps 25 numbers per file, not the audio."""
    found = [f for f in floors if f is not None]
    if not found:
        return None
    levels = [level for level, _ in found]
    spectra = [bands for _, bands in found]
    edges = band_edges()
    centres = np.sqrt(edges[:-1] * edges[1:])
    stack = np.stack(spectra)
    known_any = np.isfinite(stack).any(axis=0)
    shape = np.full(N_BANDS, np.nan)
    shape[known_any] = np.nanmedian(stack[:, known_any], axis=0)
    known = np.isfinite(shape)
    if not known.any():
        return None
    shape = np.interp(np.log(centres), np.log(centres[known]), shape[known])  # bands no frame reached
    shape -= shape.mean()
    return RoomTone(level_db=float(np.median(levels)), band_hz=tuple(float(c) for c in centres),
                    band_db=tuple(float(d) for d in shape), files=len(levels))


def render_room_tone(tone: RoomTone, n_samples: int, sample_rate: int, channels: int, level_dbfs: float,
                     seed: Sequence[int] | int) -> np.ndarray:
    """``(channels, n_samples)`` float32 noise with ``tone``'s colour at an RMS of ``level_dbfs``; each channel
    its own noise (seeded from ``seed``: the same seed, the same floor everywhere)."""
    out = np.zeros((channels, max(0, n_samples)), dtype=np.float32)
    if n_samples <= 0:
        return out
    rng = np.random.default_rng(seed)
    freqs = np.fft.rfftfreq(n_samples, 1.0 / sample_rate)
    logf = np.log(np.maximum(freqs, 1.0))
    gain_db = np.interp(logf, np.log(np.asarray(tone.band_hz)), np.asarray(tone.band_db))
    gain = 10.0 ** (gain_db / 20.0)
    gain[(freqs < LOW_HZ / 2.0) | (freqs > HIGH_HZ)] = 0.0  # no DC or rumble, nothing above the measured bands
    target = 10.0 ** (level_dbfs / 20.0)
    for c in range(channels):
        spectrum = np.fft.rfft(rng.standard_normal(n_samples)) * gain
        noise = np.fft.irfft(spectrum, n_samples)
        rms = float(np.sqrt(np.mean(noise**2)))
        if rms > 0:
            out[c] = (noise * (target / rms)).astype(np.float32)
    return out


def lay_under(samples: np.ndarray, tone: RoomTone, peak_dbfs: float, sample_rate: int,
              seed: Sequence[int] | int) -> np.ndarray:
    """``samples`` ``(C, T)`` with ``tone`` added under them at ``tone.level_db`` below ``peak_dbfs`` (the
    loudest frame's level of the sound it sits under)."""
    x = np.asarray(samples, dtype=np.float32)
    bed = render_room_tone(tone, x.shape[-1], sample_rate, x.shape[0], peak_dbfs + tone.level_db, seed)
    return x + bed
