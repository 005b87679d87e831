"""Memorisation detection for prior training (GEN-06).

On a small dataset a prior soon starts to memorise the training code sequences: training perplexity keeps
falling while validation perplexity turns and rises. :class:`MemorisationMonitor` watches one
``(train, validation)`` perplexity pair per evaluation and says stop, naming the evaluation step with the best
validation perplexity (the checkpoint to keep), once validation has not improved for ``patience`` evaluations,
sits clearly above its best, and training perplexity has kept falling meanwhile.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class MemorisationVerdict:
    """What the monitor says after an evaluation."""

    stop: bool
    best_step: int
    best_val_perplexity: float
    evaluations_since_best: int
    reason: str = ""


@dataclass
class MemorisationMonitor:
    """Tracks train/validation perplexity per evaluation.

    Attributes:
        patience: evaluations without a new best validation perplexity before stopping.
        tolerance: relative rise over the best validation perplexity that counts as "rising" (0.01 = 1 %).
    """

    patience: int = 3
    tolerance: float = 0.01
    history: list[dict[str, float]] = field(default_factory=list)
    best_step: int = -1
    best_val: float = math.inf
    train_at_best: float = math.inf

    def update(self, step: int, train_perplexity: float, val_perplexity: float) -> MemorisationVerdict:
        """Record one evaluation at optimisation ``step`` and return the verdict."""
        self.history.append({"step": float(step), "train_perplexity": float(train_perplexity),
                             "val_perplexity": float(val_perplexity)})
        if math.isfinite(val_perplexity) and val_perplexity < self.best_val:
            self.best_val = float(val_perplexity)
            self.best_step = int(step)
            self.train_at_best = float(train_perplexity)
        since = self._evaluations_since_best()
        rising = val_perplexity > self.best_val * (1.0 + self.tolerance) or not math.isfinite(val_perplexity)
        train_falling = since > 0 and train_perplexity < self.train_at_best
        stop = since >= self.patience and rising and train_falling
        reason = ""
        if stop:
            reason = (f"validation perplexity rose from {self.best_val:.3f} (step {self.best_step}) to "
                      f"{val_perplexity:.3f} over {since} evaluations while training perplexity fell from "
                      f"{self.train_at_best:.3f} to {train_perplexity:.3f}: the prior is memorising the "
                      f"training codes; keep the step-{self.best_step} weights")
        return MemorisationVerdict(stop=stop, best_step=self.best_step, best_val_perplexity=self.best_val,
                                   evaluations_since_best=since, reason=reason)

    def _evaluations_since_best(self) -> int:
        for back, entry in enumerate(reversed(self.history)):
            if int(entry["step"]) == self.best_step:
                return back
        return len(self.history)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state (for checkpoints and resume); infinities become ``None``."""
        out = asdict(self)
        for key in ("best_val", "train_at_best"):
            if not math.isfinite(out[key]):
                out[key] = None
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MemorisationMonitor:
        return cls(patience=int(data.get("patience", 3)), tolerance=float(data.get("tolerance", 0.01)),
                   history=[dict(h) for h in data.get("history", [])], best_step=int(data.get("best_step", -1)),
                   best_val=math.inf if data.get("best_val") is None else float(data["best_val"]),
                   train_at_best=math.inf if data.get("train_at_best") is None else float(data["train_at_best"]))
