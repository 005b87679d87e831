"""Fitting the eight musical controls: of a just-trained model (sub-job ``train.control`` of ``sda train``)
and of a model that already exists (``sda controls fit``, the GUI's button), written back atomically."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from sda_audio.dataset import list_audio_files
from sda_audio.errors import Cancelled, SdaError
from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events
from sda_control.fit import attach_controls, fit_controls
from sda_engine.generate.session import resolve_model
from sda_engine.store.home import SdaHome
from sda_engine.store.library import ModelLibrary
from sda_engine.store.locks import model_lock
from sda_models.model_file import ModelBundle, load_model, save_model

CONTROL_JOB = "train.control"

ControlSection = tuple[dict[str, torch.Tensor], dict[str, Any]]
"""``(control tensors, control config)``: the ``control.*`` section of a model file."""


def fit_controls_for(bundle: ModelBundle, files: Sequence[str | Path], on_event: ProgressCallback,
                     cancel: CancelToken | None) -> ControlSection | None:
    """Fit the musical controls of a just-trained model (``bundle``) on its training files (sub-job
    ``train.control``).

    Returns the control section, or ``None`` with a warning when the fit is impossible (e.g. no file long
    enough): the model is saved either way, and ``sda controls fit`` can try again.
    """
    try:
        tensors, config, report = fit_controls(bundle, list(files), on_event=on_event, cancel=cancel)
    except Cancelled:
        raise
    except SdaError as exc:
        on_event(ProgressEvent(CONTROL_JOB, "warning", message=f"the musical controls could not be fitted: {exc}"))
        return None
    on_event(ProgressEvent(CONTROL_JOB, "info", message="musical controls:\n" + report.to_text(),
                           data={"report": report.to_dict()}))
    return tensors, config


def choose_in_library(home: SdaHome, name: str, path: Path, on_event: ProgressCallback,
                      cancel: CancelToken | None, options: Any = None) -> dict[str, str] | None:
    """Choose the controls' realisations of the just-trained library model ``name`` (file ``path``) by a generated
    sweep; the caller holds the model's lock. Returns the realisation, or ``None`` with a warning when the sweep
    failed (the fit's proposal stays: a training run is not failed over it)."""
    try:
        return _choose_and_store(home, name, path, on_event, cancel, options)[1]
    except Cancelled:
        raise
    except SdaError as exc:
        on_event(ProgressEvent(CONTROL_JOB, "warning", message=(
            f"the musical controls could not be chosen by a generated sweep ({exc}); the fit's proposal stays")))
        return None


def choose_model_controls(model: str | Path, home: SdaHome | str | Path | None = None,
                          on_event: ProgressCallback = ignore_events, cancel: CancelToken | None = None,
                          options: Any = None) -> tuple[Path, dict[str, str]]:
    """Choose the realisation of each control of library model ``model`` by a generated sweep and store it
    (``sda controls choose``): under the model's lock, through the library. Returns ``(model file, realisation)``.

    Raises:
        SdaError: not a library model, no fitted controls, the sweep failed."""
    home = home if isinstance(home, SdaHome) else SdaHome(home)
    path, name = resolve_model(model, home)
    library = ModelLibrary(home, reconcile=False)
    if not library.exists(name) or Path(library.resolve(name)).resolve() != path.resolve():
        raise SdaError("only a model in your library can have its controls chosen", path=path,
                       hint="import it first (sda models import FILE)")
    with model_lock(home, name, job="given its musical controls"):
        return _choose_and_store(home, name, path, on_event, cancel, options)


def _choose_and_store(home: SdaHome, name: str, path: Path, on_event: ProgressCallback,
                      cancel: CancelToken | None, options: Any) -> tuple[Path, dict[str, str]]:
    """Sweep library model ``name`` (:mod:`sda_engine.train.control_choice`) and store the choice in its file."""
    from sda_engine.generate.session import ModelSession
    from sda_engine.train.control_choice import SweepChoiceOptions, choose_for_session

    session = ModelSession.open(path, "cpu", home)
    choice = choose_for_session(session, options or SweepChoiceOptions(), on_event, cancel)
    stored = _store(path, name, ModelLibrary(home, reconcile=False), session.bundle)
    return stored, choice.realisation


def training_files(metadata: dict[str, Any], data: str | Path | Sequence[str | Path] | None = None) -> list[Path]:
    """The recordings to fit on: ``data`` (a folder or files) when given, else the training files the model
    recorded (all must still be on disk)."""
    if data is not None:
        files = [Path(p) for p in list_audio_files(data)]
        if not files:
            raise SdaError("no audio files to fit the controls on", path=data if isinstance(data, (str, Path)) else None,
                           hint="give the folder of the recordings the model was trained on")
        return files
    files = [Path(f) for f in (metadata.get("dataset") or {}).get("files", [])]
    missing = [f for f in files if not f.is_file()]
    if not files or missing:
        raise SdaError(f"the model's training files are not all here ({len(missing)} of {len(files)} missing, "
                       f"e.g. {missing[0] if missing else 'none recorded'})",
                       hint="give the folder of the recordings the model was trained on")
    return files


def fit_model_controls(model: str | Path, home: SdaHome | str | Path | None = None,
                       data: str | Path | Sequence[str | Path] | None = None,
                       on_event: ProgressCallback = ignore_events, cancel: CancelToken | None = None,
                       config: Any = None) -> tuple[Path, Any]:
    """Fit the eight musical controls of ``model`` (library name or ``.sda`` path) and store them in its file.

    Returns ``(model file, report)`` (:class:`sda_control.fit.ControlFitReport`). A library model's file is
    replaced atomically through the library (re-catalogued) while its lock is held (a model being trained
    by another job is refused); a loose ``.sda`` file is rewritten atomically. Events: job ``train.control``.
    """
    home = home if isinstance(home, SdaHome) else SdaHome(home)
    path, name = resolve_model(model, home)
    library = ModelLibrary(home, reconcile=False)
    in_library = library.exists(name) and Path(library.resolve(name)).resolve() == path.resolve()
    if not in_library:
        return _fit_and_write(path, None, library, data, on_event, cancel, config)
    with model_lock(home, name, job="fitted with its musical controls"):
        return _fit_and_write(path, name, library, data, on_event, cancel, config)


def _fit_and_write(path: Path, name: str | None, library: ModelLibrary, data: Any, on_event: ProgressCallback,
                   cancel: CancelToken | None, config: Any) -> tuple[Path, Any]:
    bundle = load_model(path, device="cpu")
    files = training_files(bundle.metadata, data)
    tensors, control_config, report = fit_controls(bundle, files, on_event=on_event, cancel=cancel, config=config)
    attach_controls(bundle, tensors, control_config)
    return _store(path, name, library, bundle), report


def _store(path: Path, name: str | None, library: ModelLibrary, bundle: ModelBundle) -> Path:
    """Write ``bundle`` back: a loose file (``name`` ``None``) atomically in place, a library model through the
    library (staged beside it, then re-catalogued). Returns the model file."""
    if name is None:
        save_model(path, bundle)
        return path
    staging = path.with_name(f".{path.stem}.controls.tmp")
    try:
        save_model(staging, bundle)
        return Path(library.update_model(name, staging, move=True).path)
    finally:
        staging.unlink(missing_ok=True)
