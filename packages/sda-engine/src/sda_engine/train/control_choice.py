"""Choosing how each musical control is realised by a generated sweep, not by a proxy (issue 28).

The controls fit (:mod:`sda_control.fit`) proposes a realisation per control from a check on encoded training
windows rendered with Griffin-Lim; what a musician hears is different: sequences sampled from the prior, decoded
and rendered by the model's default vocoder, with room tone and forms. This module sweeps each control through
that product path (:func:`sda_engine.generate.control_sweeps.session_render_fn`, the same renders as
``sda controls evaluate``) realised by the latent direction and by the search, measures the real descriptors
(:func:`sda_control.evaluate.evaluate_controls`) and keeps, per control, a model realisation that meets the targets
(Spearman rho >= 0.9, effect >= 1 data-sigma, cross-talk <= 0.5; the larger effect where both do). A control that
neither meets is realised by its labelled assist. Density stays ``steered`` (the engine realises it on the
sequence itself). The control config records the choice (``chosen_by``: ``generated sweep``) and each mode's
scores (``sweep``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events

JOB = "train.control"
MODES = ("latent", "searched")
STEERED = "density"


@dataclass(frozen=True)
class SweepChoiceOptions:
    """The sweep's size: ``positions`` slider positions from -1 to +1, ``seeds`` sequences each, clips of
    ``duration`` seconds through ``vocoder``. Its cost is ``2 x 7 x positions x seeds`` renders (fewer: the plain
    render of a seed is shared)."""

    positions: int = 5
    seeds: tuple[int, ...] = (0, 1)
    duration: float = 3.0
    vocoder: str = "auto"


@dataclass(frozen=True)
class SweepChoice:
    """Per control the chosen realisation, and each mode's scores (``rho``, ``effect``, ``crosstalk``, ``passes``)."""

    realisation: dict[str, str]
    scores: dict[str, dict[str, dict[str, Any]]]
    options: SweepChoiceOptions

    def to_config(self) -> dict[str, Any]:
        return {"modes": {mode: {name: {k: s[k] for k in ("rho", "effect", "crosstalk", "passes")}
                                 for name, s in by_name.items()} for mode, by_name in self.scores.items()},
                "positions": self.options.positions, "seeds": list(self.options.seeds),
                "duration": self.options.duration}


def choose_by_sweep(session: Any, options: SweepChoiceOptions = SweepChoiceOptions(),
                    on_event: ProgressCallback = ignore_events, cancel: CancelToken | None = None) -> SweepChoice:
    """Sweep ``session``'s model (a :class:`~sda_engine.generate.session.ModelSession` with fitted controls) in each
    mode and choose per control. The session's bundle is restored afterwards."""
    from sda_audio.errors import SdaError
    from sda_control.control_map import CONTROL_NAMES, ControlMap
    from sda_control.evaluate import evaluate_controls
    from sda_engine.generate.control_sweeps import session_render_fn

    bundle = session.bundle
    cmap = ControlMap.from_bundle(bundle)
    if cmap is None:
        raise SdaError("the model has no fitted controls to choose a realisation for",
                       hint="fit them first (sda controls fit MODEL)")
    names = [n for n in CONTROL_NAMES if n != STEERED]
    scores: dict[str, dict[str, dict[str, Any]]] = {}
    shared: dict[Any, Any] = {}
    try:
        for i, mode in enumerate(MODES):
            on_event(ProgressEvent(JOB, "progress", i, len(MODES),
                                   f"sweeping the controls through the generator ({mode})"))
            render = session_render_fn(session, options.duration, mode, options.vocoder, shared)
            report = evaluate_controls(render, names, options.positions, options.seeds, cmap.descriptor_std(),
                                       cancel=cancel)
            scores[mode] = {name: {**asdict(s), "passes": s.passes} for name, s in report.scores.items()}
    finally:
        session.use_bundle(bundle)
    realisation: dict[str, str] = {}
    for name in names:
        meeting = [(float(scores[m][name]["effect"]), m) for m in MODES if scores[m][name]["passes"]]
        realisation[name] = max(meeting)[1] if meeting else "assisted"
    realisation[STEERED] = "steered"
    return SweepChoice(realisation=realisation, scores=scores, options=options)


def apply_choice(bundle: Any, choice: SweepChoice) -> list[str]:
    """Write ``choice`` into ``bundle``'s control config (``realisation``, ``chosen_by``, ``sweep``); returns one
    line per control whose realisation changed from the fit's proposal."""
    meta = dict(bundle.metadata)
    configs = dict(meta.get("configs") or {})
    control = dict(configs.get("control") or {})
    before = dict(control.get("realisation") or {})
    control["proposed_realisation"] = before
    control["realisation"] = dict(choice.realisation)
    control["chosen_by"] = "generated sweep"
    control["sweep"] = choice.to_config()
    configs["control"] = control
    meta["configs"] = configs
    bundle.metadata = meta
    return [f"{name}: {before.get(name, '?')} -> {how}" for name, how in choice.realisation.items()
            if before.get(name) != how]


def choose_for_session(session: Any, options: SweepChoiceOptions = SweepChoiceOptions(),
                       on_event: ProgressCallback = ignore_events, cancel: CancelToken | None = None) -> SweepChoice:
    """Sweep ``session``'s model, write the choice into its bundle (:func:`apply_choice`; storing the file is the
    caller's) and tell it in an ``info`` event."""
    choice = choose_by_sweep(session, options, on_event, cancel)
    changed = apply_choice(session.bundle, choice)
    on_event(ProgressEvent(JOB, "info", message=(
        "musical controls chosen by a generated sweep: "
        + ", ".join(f"{n} {h}" for n, h in choice.realisation.items())
        + (f" (changed from the fit's proposal: {'; '.join(changed)})" if changed else "")),
        data={"realisation": choice.realisation}))
    return choice
