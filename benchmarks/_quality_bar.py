"""The sound-quality bar of issue 10, as numbers: which measurements a generation run must meet.

A run (one set x model kind x vocoder) passes when its generations are closer (Fréchet distance on the
window embedding of :mod:`sda_audio.quality`) to the training part than shuffled 50 ms grains of the
training files and than both model controls (the vocoder fed random training frames; the model's own
frames shuffled in time); its onset rate is within a factor 1.6 of the held-out real files'; its quiet
floor within 6 dB of theirs; its novelty between 0.5 and 2.5; and no generated file fails hygiene.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Bar:
    """The thresholds. ``onset_floor`` (strokes/s) is added to both rates before their ratio is taken, so
    two sets without strokes (drones) compare as equal instead of dividing zero by zero."""

    max_onset_factor: float = 1.6
    onset_floor: float = 0.1
    max_quiet_floor_gap_db: float = 6.0
    novelty_range: tuple[float, float] = (0.5, 2.5)
    max_hygiene_failures: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


BAR = Bar()

CRITERIA = (
    ("closer_than_grains", "FD below shuffled grains"),
    ("closer_than_vocoder_alone", "FD below vocoder alone (random training frames)"),
    ("closer_than_model_shuffled", "FD below model frames shuffled in time"),
    ("onset_rate", "onset rate within x1.6 of held-out real"),
    ("quiet_floor", "quiet floor within 6 dB of held-out real"),
    ("novelty", "novelty in 0.5 .. 2.5"),
    ("hygiene", "no hygiene failures"),
)


@dataclass(frozen=True)
class Criterion:
    """One line of the verdict: did it pass, and the numbers behind it."""

    name: str
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def onset_ratio(generated_rate: float, real_rate: float, bar: Bar = BAR) -> float:
    """``(generated + floor) / (real + floor)`` in strokes per second."""
    return (generated_rate + bar.onset_floor) / (real_rate + bar.onset_floor)


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def judge(metrics: dict[str, Any], references: dict[str, Any], bar: Bar = BAR) -> list[Criterion]:
    """The verdict per criterion for one run.

    ``metrics`` holds ``fd_generated``, ``fd_vocoder_random_frames``, ``fd_model_frames_shuffled``,
    ``onset_rate``, ``quiet_floor_db``, ``novelty``, ``hygiene_failures``; ``references`` holds
    ``fd_shuffled_grains``, ``onset_rate_real``, ``quiet_floor_real_db``. A missing or non-finite number
    fails its criterion.
    """
    out: list[Criterion] = []
    fd = metrics.get("fd_generated")

    def closer(name: str, other: float | None, label: str) -> None:
        ok = _finite(fd) and _finite(other) and fd < other
        out.append(Criterion(name, bool(ok), f"{_num(fd)} vs {label} {_num(other)}"))

    closer("closer_than_grains", references.get("fd_shuffled_grains"), "grains")
    closer("closer_than_vocoder_alone", metrics.get("fd_vocoder_random_frames"), "vocoder alone")
    closer("closer_than_model_shuffled", metrics.get("fd_model_frames_shuffled"), "shuffled frames")

    rate, real = metrics.get("onset_rate"), references.get("onset_rate_real")
    if _finite(rate) and _finite(real):
        ratio = onset_ratio(rate, real, bar)
        ok = 1.0 / bar.max_onset_factor <= ratio <= bar.max_onset_factor
        out.append(Criterion("onset_rate", ok, f"{rate:.2f}/s vs real {real:.2f}/s (x{ratio:.2f})"))
    else:
        out.append(Criterion("onset_rate", False, f"{_num(rate)} vs real {_num(real)}"))

    floor, real_floor = metrics.get("quiet_floor_db"), references.get("quiet_floor_real_db")
    if _finite(floor) and _finite(real_floor):
        gap = floor - real_floor
        out.append(Criterion("quiet_floor", abs(gap) <= bar.max_quiet_floor_gap_db,
                             f"{floor:.1f} dB vs real {real_floor:.1f} dB ({gap:+.1f} dB)"))
    else:
        out.append(Criterion("quiet_floor", False, f"{_num(floor)} vs real {_num(real_floor)}"))

    nov = metrics.get("novelty")
    lo, hi = bar.novelty_range
    out.append(Criterion("novelty", bool(_finite(nov) and lo <= nov <= hi), _num(nov)))

    failures = metrics.get("hygiene_failures")
    n_files = metrics.get("n_generated", 0)
    ok = failures is not None and n_files > 0 and failures <= bar.max_hygiene_failures
    out.append(Criterion("hygiene", bool(ok), f"{failures if failures is not None else '?'} of {n_files} files fail"))
    return out


def _num(x: float | None) -> str:
    return f"{x:.2f}" if _finite(x) else "n/a"
