"""The proof of a slider: sweep it, render, re-measure every descriptor, and score the sweep.

``evaluate_controls(render_fn, names)`` renders each control at ``positions`` values in -1..1 (the
others at 0) for several seeds and reports, per control:

- ``rho``: Spearman rank correlation between position and the control's own descriptor, per seed,
  then the median over seeds (1 = the descriptor rises with every step of the slider);
- ``effect``: the change of the own descriptor over the whole sweep (least-squares slope x 2) in units
  of the training data's descriptor spread (``reference_std``), median over seeds;
- ``crosstalk``: the largest such change of any *other* descriptor divided by the own change.

Targets (issue 15): rho >= 0.9, effect >= 1, crosstalk <= 0.5.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from sda_audio.descriptors import DESCRIPTOR_NAMES, describe
from sda_audio.errors import SdaError
from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events
from sda_control.names import CONTROL_NAMES, descriptor_of
from sda_models.mel import MelConfig

RenderFn = Callable[[dict[str, float], int], np.ndarray]
TARGETS = {"rho": 0.9, "effect": 1.0, "crosstalk": 0.5}
SAMPLE_RATE = MelConfig().sampling_rate


def spearman(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties); 0 when either side is constant. Rounded to 12 places:
    a perfect 9-of-10 rank order must compare equal to the 0.9 target, not 0.8999999999999998."""
    a, b = _ranks(np.asarray(x, float)), _ranks(np.asarray(y, float))
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return round(float(np.corrcoef(a, b)[0, 1]), 12)


def _ranks(v: np.ndarray) -> np.ndarray:
    order = np.argsort(v, kind="mergesort")
    ranks = np.empty(len(v), float)
    ranks[order] = np.arange(len(v), dtype=float)
    for value in np.unique(v):  # ties share their average rank
        tie = v == value
        if tie.sum() > 1:
            ranks[tie] = ranks[tie].mean()
    return ranks


@dataclass
class ControlScore:
    """The sweep of one control (see the module docstring)."""

    name: str
    descriptor: str
    rho: float
    effect: float
    crosstalk: float
    crosstalk_with: str
    rho_per_seed: list[float]
    means: dict[str, list[float]] = field(default_factory=dict)  # descriptor -> mean over seeds per position

    @property
    def passes(self) -> bool:
        return (self.rho >= TARGETS["rho"] and self.effect >= TARGETS["effect"]
                and self.crosstalk <= TARGETS["crosstalk"])


@dataclass
class EvaluationReport:
    positions: list[float]
    seeds: list[int]
    reference_std: dict[str, float]
    scores: dict[str, ControlScore]

    def to_dict(self) -> dict[str, Any]:
        return {"positions": self.positions, "seeds": self.seeds, "reference_std": self.reference_std,
                "targets": TARGETS,
                "controls": {k: {**asdict(v), "passes": v.passes} for k, v in self.scores.items()}}


def sweep_positions(n: int) -> list[float]:
    if n < 3:
        raise SdaError(f"a sweep needs at least 3 positions, got {n}")
    return [round(float(v), 4) for v in np.linspace(-1.0, 1.0, n)]


def evaluate_controls(render_fn: RenderFn, names: Sequence[str] = CONTROL_NAMES, positions: int = 7,
                      seeds: Sequence[int] = (0, 1, 2), reference_std: dict[str, float] | None = None,
                      on_event: ProgressCallback = ignore_events, cancel: CancelToken | None = None
                      ) -> EvaluationReport:
    """Sweep each control of ``names`` and score it (see the module docstring).

    Args:
        render_fn: ``(values, seed) -> mono float32 audio (T,) at 44.1 kHz``.
        reference_std: the training data's spread per descriptor (``DESCRIPTOR_NAMES`` keys); without it
            the spread over all renders is used (and the effect says less).
    """
    if len(seeds) < 1:
        raise SdaError("the evaluation needs at least one seed")
    unknown = [n for n in names if n not in CONTROL_NAMES]
    if unknown:
        raise SdaError(f"unknown control(s) {', '.join(unknown)}", hint=f"known: {', '.join(CONTROL_NAMES)}")
    pos = sweep_positions(positions)
    total = len(names) * len(pos) * len(seeds)
    on_event(ProgressEvent("controls.evaluate", "start", 0, total, "sweeping the controls"))
    measured: dict[str, np.ndarray] = {}  # control -> (seeds, positions, descriptors)
    step = 0
    for name in names:
        grid = np.zeros((len(seeds), len(pos), len(DESCRIPTOR_NAMES)))
        for si, seed in enumerate(seeds):
            for pi, p in enumerate(pos):
                if cancel is not None:
                    cancel.raise_if_cancelled("controls evaluation")
                audio = render_fn({name: p}, int(seed))
                d = describe(np.asarray(audio, np.float32), SAMPLE_RATE)
                grid[si, pi] = [d[k] for k in DESCRIPTOR_NAMES]
                step += 1
                on_event(ProgressEvent("controls.evaluate", "progress", step, total, f"{name} {p:+.2f} seed {seed}"))
        measured[name] = grid
    if reference_std is None:
        stacked = np.concatenate([g.reshape(-1, len(DESCRIPTOR_NAMES)) for g in measured.values()])
        reference_std = dict(zip(DESCRIPTOR_NAMES, stacked.std(axis=0).tolist(), strict=True))
    std = np.array([max(float(reference_std.get(k, 0.0)), 1e-9) for k in DESCRIPTOR_NAMES])
    scores = {name: _score(name, grid, np.asarray(pos), std) for name, grid in measured.items()}
    on_event(ProgressEvent("controls.evaluate", "done", total, total, "evaluated"))
    return EvaluationReport(positions=pos, seeds=[int(s) for s in seeds],
                            reference_std={k: float(v) for k, v in zip(DESCRIPTOR_NAMES, std, strict=True)},
                            scores=scores)


def _score(name: str, grid: np.ndarray, pos: np.ndarray, std: np.ndarray) -> ControlScore:
    own = DESCRIPTOR_NAMES.index(descriptor_of(name))
    centred = pos - pos.mean()
    slopes = (grid * centred[None, :, None]).sum(axis=1) / np.square(centred).sum()  # (seeds, descriptors)
    effects = np.median(2.0 * slopes / std[None], axis=0)  # change over the sweep, data-sigma units
    rhos = [spearman(pos, grid[s, :, own]) for s in range(grid.shape[0])]
    own_effect = float(effects[own])
    others = [(abs(float(effects[j])), DESCRIPTOR_NAMES[j]) for j in range(len(DESCRIPTOR_NAMES)) if j != own]
    worst, worst_name = max(others)
    crosstalk = min(worst / abs(own_effect), 99.0) if abs(own_effect) > 1e-9 else 99.0  # 99: no own effect
    means = {k: grid[:, :, j].mean(axis=0).tolist() for j, k in enumerate(DESCRIPTOR_NAMES)}
    return ControlScore(name=name, descriptor=descriptor_of(name), rho=float(np.median(rhos)), effect=own_effect,
                        crosstalk=float(crosstalk), crosstalk_with=worst_name, rho_per_seed=rhos, means=means)
