"""Planning a training run: :func:`plan` resolves :class:`~sda_engine.train.options.TrainOptions` into a
:class:`~sda_engine.train.request.TrainRequest` without training.

It finds and validates the files (for growing: the old model's files first, then the new ones), picks the
model size (``auto`` says why), builds the configs with the options' overrides, splits a time budget over
the job's parts, and for a resume reads the request the interrupted run was started with.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

from sda_audio.errors import SdaError
from sda_audio.io import audio_info
from sda_audio.progress import ProgressCallback, ProgressEvent, ignore_events
from sda_audio.validation import validate_dataset
from sda_engine.store.home import SdaHome
from sda_engine.train.base_start import choose_base
from sda_engine.train.checkpoints import CheckpointManager
from sda_engine.train.data import list_dataset_files
from sda_engine.train.growth import GrowingBase, configs_like, load_growth_base
from sda_engine.train.options import AUTO, TrainOptions
from sda_engine.train.request import TrainRequest
from sda_engine.train.run_job import RUN_JOB
from sda_engine.train.sizes import choose_size
from sda_models.configs import REGULARISABLE_ATTRIBUTES, preset_config
from sda_models.device import resolve_device

DEFAULT_MINUTES = 10.0
"""The whole job's wall-clock budget when neither minutes nor steps are given (``sda train DIR -m NAME``)."""
TIMED_PATIENCE = 10
"""Evaluations without a validation loss better by :data:`TIMED_MIN_DELTA` before a budget-driven stage stops
as converged: a stage evaluates :data:`EVALS_PER_STAGE` times over its time, so this is a quarter of it."""
TIMED_MIN_DELTA = 0.005
EVALS_PER_STAGE = 40

ATTRIBUTE_WEIGHT = 1.0
"""Weight of the attribute-regularisation loss when ``regularise_controls`` is on (see sda_models.attributes)."""
ATTRIBUTE_DELTA = 1.0


def plan(options: TrainOptions, home: SdaHome | str | Path | None = None,
         on_event: ProgressCallback = ignore_events) -> TrainRequest:
    """Resolve a training run without training.

    Args:
        options: what was asked for (``None`` fields: the defaults and the plan's choices).
        home: the sda home (default ``$SDA_HOME``); read for a resume (the checkpoint), for growing (the model
            to grow) and to refuse a name that is taken.
        on_event: receives an ``info`` event of the run-level job ``train`` when ``auto`` picks the size.

    Returns:
        The request :func:`sda_engine.train.trainer.run` runs. A resume returns the interrupted run's request
        (a vocoder budget in ``options`` replaces the stored one).

    Raises:
        SdaError: no dataset, a dataset with errors, a taken name, nothing to resume, a model to grow that is
            gone; its ``action`` says which remedy applies (``overwrite``, ``restart``, ``grow``).
    """
    device = str(resolve_device(options.get("device")))
    if options.get("resume"):
        return _plan_resume(options, _home(home), device)
    name = options.name or ""
    if name and not (options.add or options.get("overwrite")) and _home(home).model_path(name).exists():
        raise SdaError(f"a model named '{name}' already exists", path=_home(home).model_path(name),
                       hint="choose another name, replace the existing model, or add files to grow it",
                       action="overwrite")
    if options.max_minutes is not None and options.get("vocoder_minutes") >= options.max_minutes:
        raise SdaError(f"the vocoder's {options.get('vocoder_minutes'):g} min do not fit in the job's "
                       f"{options.max_minutes:g} min time budget, which covers every stage",
                       hint="give a larger time budget, or fewer minutes to the vocoder")
    growing = None
    if options.add:
        if not name:
            raise SdaError("adding files needs the name of the model to grow", hint="name the model")
        growing = load_growth_base(_home(home), name)
        new_files = _resolve_files(list(options.add))[1]
        files = [Path(p) for p in growing.files]
        files += [p for p in new_files if p not in files]
        if options.get("validate"):
            _validate(new_files[0].parent, new_files)
    else:
        if options.dataset is None:
            raise SdaError("there is no dataset to train on", hint="give a dataset folder, or files to add to "
                           "an existing model", action="grow")
        folder, files = _resolve_files(options.dataset)
        if options.get("validate"):
            _validate(folder, files)
    size, size_reason = options.get("size"), f"size '{options.get('size')}' was requested"
    if size == AUTO:
        seconds = sum(audio_info(p).duration for p in files)
        size, size_reason = choose_size(len(files), seconds, resolve_device(device).type)
        on_event(ProgressEvent(RUN_JOB, "info", message=f"model size {size}: {size_reason}"))
    return _request(options, growing, files, size, size_reason, device)


def _request(options: TrainOptions, growing: GrowingBase | None, files: list[Path], size: str, size_reason: str,
             device: str) -> TrainRequest:
    """The request for new (or grown) model configs: the size's, with the options' overrides."""
    kind = options.get("kind") if growing is None else growing.kind
    cfg = preset_config(size, kind, n_files=len(files), **options.rvq)
    if growing is not None:
        cfg = configs_like(cfg, growing)
    if options.get("regularise_controls"):
        cfg = dataclasses.replace(cfg, autoencoder=cfg.autoencoder.replace(
            attributes=REGULARISABLE_ATTRIBUTES, attribute_weight=ATTRIBUTE_WEIGHT, attribute_delta=ATTRIBUTE_DELTA))
    over = {k: getattr(options, k) for k in ("checkpoint_every", "eval_every", "preview_every", "batch_size")
            if getattr(options, k) is not None}
    if options.steps is not None:
        over = {"max_steps": options.steps, **over}
    seed = options.get("seed")
    max_minutes = options.max_minutes
    if max_minutes is None and options.steps is None and options.prior_steps is None:
        # the time a person gives (or the default) decides, not a step count; a vocoder's minutes come on top
        max_minutes = DEFAULT_MINUTES + options.get("vocoder_minutes")
    timed = max_minutes is not None
    training = cfg.training.replace(augment=options.get("augment"), seed=seed,
                                    schedule="time" if timed and options.steps is None else "steps", **over)
    prior_training = cfg.prior_training
    if prior_training is not None:
        pover = {k: v for k, v in over.items() if k != "max_steps"}
        if options.prior_steps is not None:
            pover["max_steps"] = options.prior_steps
        prior_training = prior_training.replace(
            seed=seed, schedule="time" if timed and options.prior_steps is None else "steps", **pover)
    patience = options.patience if options.patience is not None else (
        TIMED_PATIENCE if timed and options.steps is None else options.get("patience"))
    old_files = [Path(p) for p in growing.files] if growing is not None else []
    return TrainRequest(
        files=tuple(str(p) for p in files), old_files=tuple(str(p) for p in old_files), kind=cfg.kind, size=size,
        size_reason=size_reason, seed=seed, autoencoder=cfg.autoencoder, training=training, prior=cfg.prior,
        prior_training=prior_training, patience=patience, max_minutes=max_minutes,
        vocoder_minutes=options.get("vocoder_minutes"), vocoder_steps=options.vocoder_steps,
        grown_from=growing.sha256 if growing is not None else None,
        lineage=growing.lineage if growing is not None else None, fit_controls=options.get("controls"),
        name=options.name or "", device=device, resume=False, overwrite=options.get("overwrite"),
        form=options.form if options.form not in (None, AUTO) else None,
        base=None if growing is not None else choose_base(options.base, size, cfg.kind).to_dict())


def _plan_resume(options: TrainOptions, home: SdaHome, device: str) -> TrainRequest:
    """The interrupted run's request, named and placed for this run (its files must still exist)."""
    if not options.name:
        raise SdaError("resuming needs the name of the model whose training to continue", hint="name the model")
    manager = CheckpointManager(home.checkpoint_dir(options.name))
    latest = manager.latest_path()
    if latest is None:
        raise SdaError(f"no checkpoint to resume for model '{options.name}'", path=manager.folder,
                       hint="train from scratch instead", action="restart")
    try:
        meta = json.loads(latest.read_text())
    except (OSError, ValueError) as exc:
        raise SdaError(f"cannot read this checkpoint ({exc})", path=latest,
                       hint="delete it to fall back to an older one, or train from scratch", action="restart") from exc
    request = TrainRequest.from_checkpoint_meta(meta)
    changes: dict[str, object] = {"name": options.name, "device": device, "resume": True,
                                  "overwrite": options.get("overwrite")}
    if options.vocoder_minutes or options.vocoder_steps:
        changes.update(vocoder_minutes=options.get("vocoder_minutes"), vocoder_steps=options.vocoder_steps)
    missing = [p for p in request.files if not Path(p).exists()]
    if missing:
        raise SdaError("a training file of the interrupted run is gone", path=missing[0],
                       hint="restore it, or train from scratch", action="restart")
    return request.replace(**changes)


def _home(home: SdaHome | str | Path | None) -> SdaHome:
    return home if isinstance(home, SdaHome) else SdaHome(home)


def _validate(folder: Path, files: list[Path]) -> None:
    report = validate_dataset(folder if folder.is_dir() else files)
    if not report.ok:
        raise SdaError(f"the dataset has errors and cannot be trained on:\n{report.to_text()}", path=folder,
                       hint="fix or remove the files listed above, then train again")


def _resolve_files(dataset: str | Path | Sequence[str | Path]) -> tuple[Path, list[Path]]:
    if isinstance(dataset, (str, Path)):
        folder = Path(dataset).expanduser()
        if not folder.exists():
            raise SdaError("dataset folder not found", path=folder, hint="check the path, or import it first")
        files = list_dataset_files(folder)
    else:
        files = [Path(p) for p in dataset]
        folder = files[0].parent if files else Path(".")
    if not files:
        raise SdaError("no audio files in the dataset", path=folder,
                       hint="add WAV/FLAC/AIFF/OGG/MP3 recordings to the folder")
    # absolute paths: the model file and its checkpoints name them, and they are read again from elsewhere
    # (growing, rebuilding a corpus index, the code-grid editor's entry context, codebook health)
    return folder, [p.expanduser().resolve() for p in files]
