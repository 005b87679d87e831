"""Fitting the musical controls of a model that already exists (``sda controls fit``, the GUI's button).

A newly trained model gets its controls in ``sda train`` (:func:`sda_engine.train.finishing.fit_controls_for`);
this is the same fit for a model in the library (or a ``.sda`` file), written back atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sda_audio.errors import SdaError
from sda_audio.progress import CancelToken, ProgressCallback, ignore_events
from sda_engine.store.home import SdaHome


def training_files(metadata: dict[str, Any], data: str | Path | Sequence[str | Path] | None = None) -> list[Path]:
    """The recordings to fit on: ``data`` (a folder or files) when given, else the training files the model
    recorded (all must still be on disk)."""
    from sda_audio.dataset import list_audio_files

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
    replaced atomically through the library (re-catalogued); a loose ``.sda`` file is rewritten atomically.
    Events: job ``train.control``.
    """
    from sda_control.fit import attach_controls, fit_controls
    from sda_engine.generate.session import resolve_model
    from sda_engine.store.library import ModelLibrary
    from sda_models.model_file import load_model, save_model

    home = home if isinstance(home, SdaHome) else SdaHome(home)
    path, name = resolve_model(model, home)
    bundle = load_model(path, device="cpu")
    files = training_files(bundle.metadata, data)
    tensors, control_config, report = fit_controls(bundle, files, on_event=on_event, cancel=cancel, config=config)
    attach_controls(bundle, tensors, control_config)
    library = ModelLibrary(home, reconcile=False)
    if library.exists(name) and Path(library.resolve(name)).resolve() == path.resolve():
        staging = path.with_name(f".{path.stem}.controls.tmp")
        try:
            save_model(staging, bundle)
            path = Path(library.update_model(name, staging, move=True).path)
        finally:
            staging.unlink(missing_ok=True)
    else:
        save_model(path, bundle)
    return path, report
