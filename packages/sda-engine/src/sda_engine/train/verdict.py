"""An honest sentence at the end of training, and the loss curve a resumed run continues.

:func:`training_verdict` reads the validation curve of a run (a :class:`~sda_engine.train.result.TrainResult`,
or a plain list of evaluations) and says in one plain sentence whether more time would likely help, with a
rough number of minutes, and how far the validation loss came down. The estimate is deliberately simple: the
relative improvement over the recent part of the curve is assumed to halve with every further stretch of the
same length, and training is worth continuing while a stretch still buys more than :data:`WORTH_IT` (1 %).

:func:`stored_training_curve` reads the loss curve kept in a model's newest checkpoint (train and validation
points per stage), so a front end can draw the whole curve again when a cancelled run is resumed. It reads
only the checkpoint's JSON (no torch).

Both are re-exported by :mod:`sda_engine` (``from sda_engine import training_verdict``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

WORTH_IT = 0.01
"""A stretch of training is worth it while it lowers the validation loss by at least this share."""
MAIN_STAGES = ("autoencoder", "prior")
_CKPT = re.compile(r"^(?P<stage>[a-z]+)-(?P<step>\d{8})\.json$")
_STAGE_ORDER = ("autoencoder", "prior", "vocoder", "done")


def _stage_curves(source: Any) -> list[tuple[str, list[tuple[float, float]], float | None]]:
    """``[(stage, [(step, val_loss)], minutes or None)]`` of ``source`` (a TrainResult-like object or a list of
    evaluations ``{"step", "val_loss", ["stage"], ["minutes"]}``, or of plain numbers)."""
    evals: Sequence[Any]
    minutes: dict[str, float] = {}
    if hasattr(source, "evals"):
        evals = list(source.evals)
        for stage, info in (getattr(source, "stages", None) or {}).items():
            if isinstance(info, Mapping) and info.get("minutes") is not None:
                minutes[stage] = float(info["minutes"])
    else:
        evals = list(source or [])
    curves: dict[str, list[tuple[float, float]]] = {}
    for i, entry in enumerate(evals):
        if isinstance(entry, Mapping):
            value = entry.get("val_loss")
            stage = str(entry.get("stage", "training"))
            step = float(entry.get("step", i))
            if entry.get("minutes") is not None:
                minutes[stage] = max(minutes.get(stage, 0.0), float(entry["minutes"]))
        else:
            value, stage, step = entry, "training", float(i)
        if value is None:
            continue
        value = float(value)
        if math.isfinite(value):
            curves.setdefault(stage, []).append((step, value))
    ordered = [s for s in MAIN_STAGES if s in curves] or list(curves)
    return [(s, curves[s], minutes.get(s)) for s in ordered]


def _minutes_text(minutes: float) -> str:
    if minutes < 1.5:
        return "minute or so"
    if minutes < 10:
        return f"{round(minutes)} minutes"
    if minutes < 60:
        return f"{int(5 * round(minutes / 5))} minutes"
    return f"{round(minutes / 60, 1):g} hours"


def _assess(curve: list[tuple[float, float]], minutes: float | None) -> tuple[bool, float | None, float]:
    """``(still improving, minutes more or None, recent relative improvement)`` of one validation curve."""
    values = [v for _, v in curve]
    best = min(values)
    if values[-1] > best * 1.02 and len(values) >= 3:  # it has turned up: overfitting or noise, not progress
        return False, None, 0.0
    window = max(2, math.ceil(len(values) / 3))
    recent = values[-window:]
    start = max(recent[0], 1e-12)
    gain = (recent[0] - min(recent)) / abs(start)
    if gain < WORTH_IT:
        return False, None, gain
    more: float | None = None
    if minutes is not None and minutes > 0:
        steps = curve[-1][0] - curve[0][0]
        stretch_steps = curve[-1][0] - curve[-window][0]
        share = stretch_steps / steps if steps > 0 else 1.0 / max(1, len(values) - 1)
        stretch = minutes * max(share, 1e-3)
        stretches = max(1.0, math.log2(gain / WORTH_IT))  # each stretch halves the gain, until it is < 1 %
        more = min(stretch * stretches, 10.0 * minutes)
    return True, more, gain


def training_verdict(result_or_history: Any) -> str:
    """One plain sentence on how a training run ended, from its validation curve.

    Args:
        result_or_history: a :class:`~sda_engine.train.result.TrainResult` (its ``evals`` and per-stage
            ``minutes``), or a list of evaluations ``{"step", "val_loss"}`` (optionally ``"stage"`` and
            ``"minutes"``: the minutes spent up to that evaluation), or a list of validation losses.

    Returns:
        ``"Still improving: another N minutes would likely help. ..."`` or ``"Converged: more time is unlikely
        to help. ..."`` followed by how far the validation loss came down (its first and last value), or a
        sentence saying that there was too little validation data to tell.
    """
    curves = [c for c in _stage_curves(result_or_history) if len(c[1]) >= 2]
    if not curves:
        return ("Too few validation checks to tell whether more time would help; train a little longer (or "
                "evaluate more often) to find out.")
    verdicts = [(stage, curve, *_assess(curve, minutes)) for stage, curve, minutes in curves]
    improving = [v for v in verdicts if v[2]]
    # the stage that matters most: one still improving (the slowest), else the last one trained
    stage, curve, still, more, gain = max(improving, key=lambda v: v[3] or 0.0) if improving else verdicts[-1]
    first, last = curve[0][1], curve[-1][1]
    drop = (first - last) / abs(first) if first else 0.0
    where = f" ({stage})" if len(curves) > 1 else ""
    if drop > 0:
        how = (f"The validation loss{where} came down from {first:.3g} to {last:.3g}, {drop:.0%} lower than at "
               "the start.")
    else:
        how = (f"The validation loss{where} did not come down ({first:.3g} at the start, {last:.3g} at the end): "
               "the data may be too varied or too little for this model.")
    if still:
        when = (f"another {_minutes_text(more)} would likely help" if more is not None
                else "more time would likely help")
        return f"Still improving: {when} (it fell {gain:.0%} over the last stretch). {how}"
    turned = min(v for _, v in curve) < last * 0.98
    reason = " (it has started to get worse, so the best weights were kept)" if turned else ""
    return f"Converged: more time is unlikely to help{reason}. {how}"


def _points(stage: str, loop: Mapping[str, Any]) -> list[dict[str, Any]]:
    points = [{"stage": stage, "step": int(h["step"]), "series": "train", "loss": float(h["loss"])}
              for h in loop.get("history", []) if isinstance(h, Mapping) and "loss" in h and "step" in h]
    points += [{"stage": stage, "step": int(e["step"]), "series": "validation", "loss": float(e["val_loss"])}
               for e in loop.get("evals", []) if isinstance(e, Mapping) and "val_loss" in e and "step" in e]
    return [p for p in points if math.isfinite(p["loss"])]


def stored_training_curve(name: str, home: Any = None) -> list[dict[str, Any]]:
    """The loss curve kept in the newest checkpoint of model ``name`` (in sda home ``home``): points
    ``{"stage", "step", "series" ("train"/"validation"), "loss"}``, every stage trained so far, oldest first;
    ``[]`` when there is no checkpoint (or it cannot be read)."""
    from sda_engine.store.home import SdaHome

    home = home if isinstance(home, SdaHome) else SdaHome(home)
    folder = Path(home.checkpoint_dir(name))
    if not folder.is_dir():
        return []
    entries = []
    for path in folder.iterdir():
        m = _CKPT.match(path.name)
        if m and m.group("stage") in _STAGE_ORDER:
            entries.append((_STAGE_ORDER.index(m.group("stage")), int(m.group("step")), path))
    if not entries:
        return []
    path = max(entries)[2]
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    points: list[dict[str, Any]] = []
    for stage, done in (meta.get("done_stages") or {}).items():
        if isinstance(done, Mapping) and stage != meta.get("stage"):
            points += _points(stage, done)
    loop = meta.get("loop") or {"history": meta.get("history", [])}
    points += _points(str(meta.get("stage", "")), loop)
    return points
