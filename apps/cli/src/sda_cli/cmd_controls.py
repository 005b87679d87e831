"""``sda controls fit|evaluate|show``: fit a model's musical sliders, prove what they do, show how."""

from __future__ import annotations

from pathlib import Path

import typer

from sda_cli.errors import handle_errors
from sda_cli.output import console, print_json, print_table

controls_app = typer.Typer(help="Musical controls: fit them for a model, evaluate them, show how each is realised.",
                           no_args_is_help=True)

MODES = ("auto", "searched", "latent", "assist")
"""The realisations ``sda controls evaluate --mode`` sweeps (``sda_engine.CONTROL_MODES``; kept literal here so
the command's help does not import the engine)."""


def _resolve(model: str) -> Path:
    from sda_engine import SdaHome, resolve_model

    return Path(resolve_model(model, SdaHome())[0])


@controls_app.command("fit")
@handle_errors
def fit(
    model: str = typer.Argument(..., help="Model name in your library (or a .sda file)."),
    data: Path | None = typer.Option(None, "--data", help="The recordings it was trained on (default: the "
                                                          "files recorded in the model)."),
    json_out: bool = typer.Option(False, "--json", help="Print the fit report as JSON."),
    json_events: bool = typer.Option(False, "--json-events", help="Print one JSON object per progress event."),
) -> None:
    """Fit the eight musical controls of a model and store them in its file (control section)."""
    from sda_cli.progress_view import event_view
    from sda_engine import fit_model_controls

    with event_view(json_events) as view:
        path, report = fit_model_controls(model, data=data, on_event=view)
    if json_out:
        print_json(report.to_dict())
        return
    console.print(report.to_text(), highlight=False)
    console.print(f"stored in {path}")


@controls_app.command("choose")
@handle_errors
def choose(
    model: str = typer.Argument(..., help="Model name in your library."),
    json_events: bool = typer.Option(False, "--json-events", help="Print one JSON object per progress event."),
) -> None:
    """Choose how each control is realised by sweeping it through the generator (about a minute): the model's
    own movement (searched or latent) where it meets the targets, the labelled assist where not. sda train does
    this itself with a time budget of 5 minutes or more."""
    from sda_cli.progress_view import event_view
    from sda_engine import choose_model_controls

    with event_view(json_events) as view:
        path, realisation = choose_model_controls(model, on_event=view)
    console.print("realised as: " + ", ".join(f"{name} {how}" for name, how in realisation.items()))
    console.print(f"stored in {path}")


@controls_app.command("show")
@handle_errors
def show(model: str = typer.Argument(..., help="Model name or .sda file."),
         json_out: bool = typer.Option(False, "--json")) -> None:
    """How each control of a model is realised, and what the fit measured."""
    from sda_audio.errors import SdaError
    from sda_engine import CONTROL_NAMES, descriptor_of, read_metadata

    path = _resolve(model)
    config = (read_metadata(path).get("configs") or {}).get("control")
    if not config:
        raise SdaError("this model has no fitted controls", path=path, hint="fit the controls for this model first",
                       action="fit_controls")
    if json_out:
        print_json(config)
        return
    check = config.get("check") or {}
    rows = [(n, config["realisation"].get(n, "?"), f"{config['cv_r2'].get(descriptor_of(n), 0.0):+.2f}",
             f"{float(check.get(n, {}).get('effect', 0.0)):+.2f}",
             f"{float(check.get(n, {}).get('crosstalk', 0.0)):.2f}") for n in CONTROL_NAMES]
    print_table(f"controls of {path.name} ({config.get('n_files')} files, {config.get('n_windows')} windows)",
                ("control", "realised", "cv R2", "decoded effect (sigma)", "cross-talk"), rows)
    for note in config.get("notes", []):
        console.print(f"note: {note}", highlight=False)
    if config.get("chosen_by") == "generated sweep":
        console.print("the realisations were chosen by a generated sweep (rho >= 0.9, effect >= 1 sigma, cross-talk "
                      "<= 0.5 through the generator); the fit proposed: "
                      + ", ".join(f"{n} {h}" for n, h in (config.get("proposed_realisation") or {}).items()),
                      highlight=False)


@controls_app.command("evaluate")
@handle_errors
def evaluate(
    model: str = typer.Argument(..., help="Model name or .sda file."),
    seeds: int = typer.Option(3, "--seeds", min=1, help="Seeds per sweep (the median is reported)."),
    positions: int = typer.Option(7, "--positions", min=3, help="Slider positions from -1 to +1."),
    duration: float = typer.Option(4.0, "--duration", min=1.0, help="Seconds per render."),
    mode: str = typer.Option("auto", "--mode", help="auto (as fitted), searched (the search in the model's own "
                                                "space), latent (latent only) or assist."),
    only: str | None = typer.Option(None, "--controls", help="Comma-separated controls (default: all)."),
    vocoder: str = typer.Option("auto", "--vocoder", help="auto, hifigan, bigvgan or corpus."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or mps."),
    json_out: bool = typer.Option(False, "--json"),
    json_events: bool = typer.Option(False, "--json-events", help="Print one JSON object per progress event."),
) -> None:
    """Sweep each control, render, re-measure: Spearman rho, effect (data-sigma) and cross-talk."""
    from sda_audio.errors import SdaError
    from sda_cli.environment import bigvgan_weights
    from sda_cli.progress_view import event_view
    from sda_engine import (
        CONTROL_NAMES,
        CONTROL_TARGETS,
        ControlMap,
        ModelSession,
        evaluate_controls,
        session_render_fn,
    )

    if mode not in MODES:
        raise SdaError(f"unknown mode {mode!r}", hint=f"use one of {', '.join(MODES)}")
    names = tuple(n.strip() for n in only.split(",")) if only else CONTROL_NAMES
    session = ModelSession.open(model, device=device, bigvgan_weights=bigvgan_weights())
    cmap = ControlMap.from_bundle(session.bundle)
    if cmap is None:
        raise SdaError("this model has no fitted controls", path=session.path,
                       hint="fit the controls for this model first", action="fit_controls")
    render = session_render_fn(session, duration, mode, vocoder)
    with event_view(json_events) as view:
        report = evaluate_controls(render, names, positions, tuple(range(seeds)), cmap.descriptor_std(), view)
    realised = (ControlMap.from_bundle(session.bundle) or cmap).realisation(dict.fromkeys(names, 1.0))
    if json_out:
        print_json({"model": session.name, "mode": mode, "realisation": realised, **report.to_dict()})
        return
    rows = [(n, realised.get(n, ""), f"{s.rho:+.2f}", f"{s.effect:+.2f}", f"{s.crosstalk:.2f} ({s.crosstalk_with})",
             "yes" if s.passes else "no") for n, s in report.scores.items()]
    print_table(f"{session.name}: {positions} positions x {seeds} seeds, {duration:g} s renders ({mode})",
                ("control", "realised", "rho", "effect (sigma)", "cross-talk", "meets targets"), rows)
    console.print(f"targets: rho >= {CONTROL_TARGETS['rho']}, effect >= {CONTROL_TARGETS['effect']} sigma, "
                  f"cross-talk <= {CONTROL_TARGETS['crosstalk']}", highlight=False)
