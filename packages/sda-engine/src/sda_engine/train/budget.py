"""The wall-clock budget of a whole training job: how the plan splits it, and the clock that holds to it.

A budget (``max_minutes``) covers everything a run does: reading the audio and indexing it for the corpus
vocoder (``setup``), the autoencoder, the prior, fitting the musical controls (``control``), the vocoder and
writing the model file (``write``). :func:`split_budget` plans the split: the work that cannot be shortened
(setup, control, write) gets an estimate from the number of files and the model size, the vocoder its own
minutes, and the rest is training time, 60 % autoencoder / 40 % prior. While the job runs, :class:`JobClock`
gives each training stage a deadline when it starts: the time left until the job's end, less the fixed parts
still to come, is shared among the training stages still to come in the plan's proportions, so the job ends
on time whether the work before ran long or short. How long the setup really took calibrates the estimates of
the fixed parts still to come (a busy or slow machine reserves more time for the controls fit and the
writing). The time spent is counted across resumes: every checkpoint stores
``job_seconds_before_stage`` beside the stage's ``elapsed_seconds``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sda_engine.train.checkpoints import Checkpoint
    from sda_engine.train.request import TrainRequest

PARTS = ("setup", "autoencoder", "prior", "control", "vocoder", "write")
"""The parts of a job, in the order they run."""
FIXED_PARTS = ("setup", "control", "write")
"""Parts a budget cannot shorten: the plan reserves an estimate of their time."""
MODEL_SHARES = {"autoencoder": 0.6, "prior": 0.4}
"""How the training time is split between the model stages (an autoencoder alone gets all of it)."""
VOCODER_SHARE = 0.25
"""The vocoder's share of the training time when it is given steps but no minutes of its own."""
ESTIMATE_SECONDS = {"setup": (2.0, 0.3), "control": (3.0, 1.0), "write": (1.0, 0.05)}
"""``(base, per file)`` seconds of the fixed parts for a tiny model on an idle laptop-class CPU (measured on
the 12 demo files: setup 5.5 s, controls 15 s, writing under 1 s); :meth:`JobClock.setup_done` scales them by
how the machine really does."""
SWEEP_SECONDS = 75.0
"""The generated sweep that chooses the controls' realisations (part of ``control`` when the run has one): 7 controls
x 2 realisations x 5 positions x 2 seeds of 3 s, 74 s for a tiny model on one idle thread of this project's CPU."""
SIZE_FACTOR = {"tiny": 1.0, "small": 2.0, "full": 4.0}
"""How much longer the fixed parts take for a larger model (they encode and decode with it)."""
CLOCK_KEY = "job_seconds_before_stage"
"""Checkpoint meta key: the job's time spent before the checkpoint's stage began."""
CALIBRATION_RANGE = (0.5, 4.0)
"""How far the measured setup may scale the estimates of the fixed parts after it."""


def split_budget(request: TrainRequest) -> tuple[tuple[str, float], ...]:
    """The planned split of ``request.max_minutes``: ``((part, seconds), ...)`` in the order of
    :data:`PARTS`, for the parts the request runs (``()`` without a budget)."""
    if request.max_minutes is None:
        return ()
    total = request.max_minutes * 60.0
    n_files = len(request.files)
    factor = SIZE_FACTOR.get(request.size, 1.0)

    def estimate(part: str) -> float:
        base, per_file = ESTIMATE_SECONDS[part]
        return (base + per_file * n_files) * factor

    parts: dict[str, float] = {"setup": estimate("setup"), "write": estimate("write")}
    if request.fit_controls:
        parts["control"] = estimate("control") + (SWEEP_SECONDS * factor if request.chooses_controls_by_sweep else 0.0)
    training = max(0.0, total - sum(parts.values()))
    if request.vocoder_minutes:
        parts["vocoder"] = min(request.vocoder_minutes * 60.0, training)
        training -= parts["vocoder"]
    elif request.vocoder_steps is not None:
        parts["vocoder"] = training * VOCODER_SHARE
        training -= parts["vocoder"]
    if request.prior is None:
        parts["autoencoder"] = training
    else:
        parts.update({stage: training * share for stage, share in MODEL_SHARES.items()})
    return tuple((part, round(parts[part], 3)) for part in PARTS if part in parts)


def describe_split(budget: dict[str, float], max_minutes: float) -> str:
    """The split in words, e.g. ``"1 min for the whole job: setup ~14 s, autoencoder 17 s, ..."``."""
    names = {"setup": "reading and indexing", "control": "musical controls", "write": "writing the model"}
    words = [f"{names.get(part, part)} {'~' if part in FIXED_PARTS else ''}{_seconds(s)}"
             for part, s in budget.items()]
    short = sum(s for part, s in budget.items() if part not in FIXED_PARTS) <= 0
    return (f"time budget {max_minutes:g} min for the whole job: " + ", ".join(words)
            + (" (~ estimated)" if any(p in FIXED_PARTS for p in budget) else "")
            + ("; the budget is shorter than the work it cannot shorten, so each model stage takes one step"
               if short else ""))


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"


class JobClock:
    """The job's wall clock, counted across resumes, and the deadline of each part under its budget.

    Args:
        request: the run (its ``max_minutes`` and ``budget``; without a budget there are no deadlines).
        spent: seconds the job had already run before this call (from its newest checkpoint, see
            :meth:`spent_before`).
    """

    def __init__(self, request: TrainRequest, spent: float = 0.0) -> None:
        self.total = request.max_minutes * 60.0 if request.max_minutes else None
        self.split = request.budget_split
        self.start = time.monotonic() - spent
        self.fixed_factor = 1.0

    def spent(self) -> float:
        """Seconds the job has run, across resumes."""
        return time.monotonic() - self.start

    def deadline(self, part: str) -> float | None:
        """When ``part``, starting now, must end (``time.monotonic()``; ``None``: no budget).

        The time left until the job's end, less the (calibrated) estimates of the fixed parts after ``part``,
        is shared between ``part`` and the training parts after it in the plan's proportions.
        """
        if self.total is None:
            return None
        names = list(self.split)
        later = names[names.index(part) + 1:] if part in names else []
        fixed = sum(self.split[p] * self.fixed_factor for p in later if p in FIXED_PARTS)
        training = sum(self.split[p] for p in later if p not in FIXED_PARTS)
        own = self.split.get(part, 0.0)
        share = own / (own + training) if own + training > 0 else 1.0
        now = time.monotonic()
        return now + max(0.0, self.start + self.total - now - fixed) * share

    def setup_done(self) -> None:
        """Calibrate the fixed parts still to come by how long the setup took against its estimate (a fresh
        job only: a resumed one skips part of its setup)."""
        estimate = self.split.get("setup")
        if estimate:
            low, high = CALIBRATION_RANGE
            self.fixed_factor = min(high, max(low, self.spent() / estimate))

    def meta(self, minus: float = 0.0) -> dict[str, Any]:
        """What the checkpoints of a stage starting now store about the job's time: the time spent before
        it began (``minus``: the stage's own time already spent, when it resumes)."""
        return {CLOCK_KEY: max(0.0, self.spent() - minus)}

    @staticmethod
    def spent_before(*checkpoints: Checkpoint | None) -> float:
        """The job time a set of checkpoints records (the largest, when a vocoder checkpoint is newer)."""
        spent = [float(c.meta.get(CLOCK_KEY, 0.0)) + float(c.meta.get("elapsed_seconds", 0.0))
                 for c in checkpoints if c is not None]
        return max(spent, default=0.0)
