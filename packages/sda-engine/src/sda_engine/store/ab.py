"""Loudness-matched A/B copies of two generations and the differences between their settings.

Loudness is ITU-R BS.1770 integrated loudness (pyloudnorm). Both copies are brought to the quieter
one's loudness; if that would push either sample peak above ``ceiling_dbfs`` (-1 dBFS), both are
lowered together, so neither copy ever clips and both stay at the same loudness.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from sda_audio.atomic import atomic_path
from sda_audio.errors import AudioReadError, SdaError

CEILING_DBFS = -1.0
_BLOCK_S = 0.4


@dataclass(frozen=True)
class MatchedAudio:
    """One loudness-matched copy."""

    source: Path
    path: Path
    sample_rate: int
    lufs: float  # integrated loudness of the source (-inf for silence)
    gain_db: float
    matched_lufs: float
    peak_dbfs: float  # sample peak of the matched copy

    def to_dict(self) -> dict[str, Any]:
        return {"source": str(self.source), "path": str(self.path), "sample_rate": self.sample_rate,
                "lufs": _num(self.lufs), "gain_db": self.gain_db, "matched_lufs": _num(self.matched_lufs),
                "peak_dbfs": _num(self.peak_dbfs)}


def _num(value: float) -> float | None:
    """JSON-safe float (``None`` for -inf/nan)."""
    return float(value) if math.isfinite(value) else None


def read_for_loudness(path: Path) -> tuple[np.ndarray, int]:
    """Audio as float64 ``(frames, channels)`` and its sample rate."""
    try:
        data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    except (RuntimeError, sf.LibsndfileError, OSError) as exc:
        raise AudioReadError(f"cannot read audio ({exc})", path=path,
                             hint="the generation's file may have been moved or deleted") from exc
    if data.shape[0] == 0:
        raise SdaError("the audio file is empty", path=path, hint="pick another generation")
    return data, int(rate)


def integrated_loudness(data: np.ndarray, rate: int) -> float:
    """Integrated loudness in LUFS of ``data`` ``(frames, channels)``; -inf for silence.

    Clips shorter than the standard 400 ms block are measured with one block spanning the clip.
    """
    import pyloudnorm  # imported here: it imports scipy (measured ~3 s), only needed when comparing

    block = min(_BLOCK_S, data.shape[0] / rate * (1.0 - 1e-9))
    meter = pyloudnorm.Meter(rate, block_size=block)
    with np.errstate(divide="ignore"):
        value = float(meter.integrated_loudness(data))
    return value if not math.isnan(value) else -math.inf


def peak_dbfs(data: np.ndarray) -> float:
    peak = float(np.max(np.abs(data))) if data.size else 0.0
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def match_gains(lufs: Sequence[float], peaks: Sequence[float], ceiling_dbfs: float = CEILING_DBFS
                ) -> list[float]:
    """Gains (dB) bringing every input to the quietest loudness with no peak above the ceiling.

    Silent inputs (-inf LUFS) get 0 dB. If the matched peaks would exceed ``ceiling_dbfs``, every
    gain is lowered by the excess, keeping the inputs matched to each other.
    """
    finite = [v for v in lufs if math.isfinite(v)]
    if not finite:
        return [0.0] * len(lufs)
    target = min(finite)
    gains = [target - v if math.isfinite(v) else 0.0 for v in lufs]
    after = [p + g for p, g in zip(peaks, gains) if math.isfinite(p)]
    excess = max(after, default=-math.inf) - ceiling_dbfs
    if excess > 0:
        gains = [g - excess for g in gains]
    return gains


def loudness_match(sources: Sequence[Path], targets: Sequence[Path], ceiling_dbfs: float = CEILING_DBFS
                   ) -> list[MatchedAudio]:
    """Write gain-matched 24-bit WAV copies of ``sources`` to ``targets`` (atomically)."""
    loaded = [read_for_loudness(Path(p)) for p in sources]
    lufs = [integrated_loudness(data, rate) for data, rate in loaded]
    gains = match_gains(lufs, [peak_dbfs(data) for data, _ in loaded], ceiling_dbfs)
    out = []
    for (data, rate), source, target, level, gain in zip(loaded, sources, targets, lufs, gains):
        scaled = data * (10.0 ** (gain / 20.0))
        with atomic_path(target) as tmp:
            sf.write(str(tmp), scaled, rate, subtype="PCM_24", format="WAV")
        out.append(MatchedAudio(source=Path(source), path=Path(target), sample_rate=rate, lufs=level,
                                gain_db=gain, matched_lufs=integrated_loudness(scaled, rate),
                                peak_dbfs=peak_dbfs(scaled)))
    return out


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"sliders": {"a": 1}}`` -> ``{"sliders.a": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Keys (flattened) whose values differ, as ``{key: (a_value, b_value)}``; missing = ``None``."""
    fa, fb = flatten(a), flatten(b)
    return {key: (fa.get(key), fb.get(key)) for key in sorted(set(fa) | set(fb)) if fa.get(key) != fb.get(key)}
