"""Training orchestration: dataset → autoencoder → prior (RVQ) → vocoder (optional) → corpus index → .sda.

:func:`train_model` is the one entry point (``sda train`` calls it). Each stage runs in
:func:`sda_engine.stages.run_stage`, which emits events, checkpoints, handles cancel/Ctrl-C and resumes
exactly. Stage-specific pieces (model, optimizer, step, evaluation, previews) live in
:mod:`sda_engine.stage_autoencoder` and :mod:`sda_engine.stage_prior`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from sda_audio.errors import SdaError
from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events
from sda_engine.checkpoints import CheckpointManager
from sda_engine.data import TrainingData, list_dataset_files
from sda_engine.home import SdaHome, validate_name
from sda_engine.presets_auto import choose_preset
from sda_engine.stages import StageOutcome, StagePlan, run_stage

log = logging.getLogger(__name__)

KINDS = ("rvq", "vae")
PRESETS = ("tiny", "small", "full", "auto")


@dataclass
class TrainResult:
    """What :func:`train_model` did.

    Attributes:
        name: the model's library name; ``model_path``: its ``.sda`` file.
        kind, preset, device: what was trained, with which preset (``preset_reason`` for ``auto``), where.
        stages: per stage ``{"steps", "stop_reason", "best_val", "resumed_from"}``.
        history: per optimisation step ``{"stage", "step", "loss", "lr", ...}`` (the loss curve).
        evals: per evaluation ``{"stage", "step", "train_loss", "val_loss", ...}``.
        warnings: every warning raised during training (looped files, overfitting, collapse, ...).
        previews: audio preview files written during training.
        recon_before / recon_after: growing only - reconstruction error (L1, normalised mel) on the old
            files before and after training on the new ones.
        seconds: wall-clock time of this call.
    """

    name: str
    model_path: Path | None
    kind: str
    preset: str
    device: str
    preset_reason: str = ""
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    evals: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    previews: list[str] = field(default_factory=list)
    corpus_index: Path | None = None
    vocoder: str | None = None
    recon_before: float | None = None
    recon_after: float | None = None
    seconds: float = 0.0

    def losses(self, stage: str = "autoencoder") -> list[float]:
        """The per-step training loss of one stage."""
        return [h["loss"] for h in self.history if h["stage"] == stage]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("model_path", "corpus_index"):
            out[key] = str(out[key]) if out[key] is not None else None
        return out


def _validate_dataset(folder: Path, files: list[Path]) -> None:
    from sda_audio.validation import validate_dataset

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
    return folder, files


def train_model(
    dataset_folder: str | Path | Sequence[str | Path],
    name: str,
    kind: str = "rvq",
    preset: str = "auto",
    max_minutes: float | None = None,
    resume: bool = False,
    vocoder_minutes: float = 0.0,
    device: str = "auto",
    seed: int = 0,
    add_files: Sequence[str | Path] | None = None,
    on_event: ProgressCallback = ignore_events,
    cancel: CancelToken | None = None,
    home: SdaHome | str | Path | None = None,
    steps: int | None = None,
    prior_steps: int | None = None,
    checkpoint_every: int | None = None,
    eval_every: int | None = None,
    preview_every: int | None = None,
    batch_size: int | None = None,
    augment: bool = True,
    patience: int = 6,
    validate: bool = True,
    rvq: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> TrainResult:
    """Train a model on a dataset folder and save it to the library as ``<name>.sda``.

    Args:
        dataset_folder: a folder of recordings (recursive) or an explicit list of files.
        name: the model's library name (letters, digits, ``._-``).
        kind: ``"rvq"`` (RVQ-VAE + code prior) or ``"vae"`` (Gaussian VAE).
        preset: ``"tiny"``, ``"small"``, ``"full"`` or ``"auto"`` (picked from dataset size and device).
        max_minutes: wall-clock budget for the model stages (split 60/40 between autoencoder and prior);
            ``None`` = run the preset's step counts.
        resume: continue from the newest checkpoint of ``name`` (exactly: same data order, RNG, optimizer).
        vocoder_minutes: > 0 trains a per-model HiFi-GAN vocoder for that long after the model stages.
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
        seed: seeds the split, the segment sampler, augmentation and initialisation.
        add_files: grow an existing model ``name`` with these files (INCR-01/02): the old dataset is
            replayed together with the new files, and ``recon_before/after`` report the error on the old
            files.
        on_event / cancel: progress events (jobs ``train.autoencoder``, ``train.prior``, ``train.vocoder``)
            and a cancel token; cancelling (or Ctrl-C) saves a checkpoint and raises ``Cancelled``.
        home: the sda home (default ``$SDA_HOME``).
        steps / prior_steps: override the preset's step counts (autoencoder / prior).
        checkpoint_every / eval_every / preview_every / batch_size: override the preset's intervals/batch.
        augment: on-the-fly waveform augmentation (on by default).
        patience: evaluations without a better validation loss before early stopping.
        validate: check the dataset first (refuses a dataset with errors).
        overwrite: replace an existing library model of the same name (otherwise that is an error).
        rvq: RVQ overrides for a new model: ``codebook_size``, ``rvq_levels`` (2-4), ``codebook_dim``,
            ``commitment_weight`` (VQVAE-02/05/06).

    Returns:
        :class:`TrainResult`.

    Raises:
        SdaError: bad dataset, bad name/preset/kind, nothing to resume, unwritable home.
        Cancelled: the job was cancelled; a checkpoint was saved (resume with ``resume=True``).
    """
    from sda_engine import finishing, stage_autoencoder, stage_prior
    from sda_models.configs import preset_config
    from sda_models.device import resolve_device

    t_start = time.monotonic()
    cancel = cancel or CancelToken()
    home = home if isinstance(home, SdaHome) else SdaHome(home)
    validate_name(name)
    if kind not in KINDS:
        raise SdaError(f"unknown model kind '{kind}'", hint="use rvq or vae")
    if preset not in PRESETS:
        raise SdaError(f"unknown preset '{preset}'", hint="use tiny, small, full or auto")
    if not (resume or add_files or overwrite) and home.model_path(name).exists():
        raise SdaError(f"a model named '{name}' already exists", path=home.model_path(name),
                       hint="choose another name, pass --overwrite, or --add FILES to grow it")
    dev = resolve_device(device)
    manager = CheckpointManager(home.checkpoint_dir(name))
    ckpt = manager.load_latest() if resume else None
    if resume and ckpt is None:
        raise SdaError(f"no checkpoint to resume for model '{name}'", path=manager.folder,
                       hint="train without --resume to start from scratch")
    warnings: list[str] = []

    def emit(event: ProgressEvent) -> None:
        if event.kind == "warning":
            warnings.append(event.message)
        on_event(event)

    growing = None
    if ckpt is not None:
        setup = ckpt.meta["setup"]
        files = [Path(p) for p in setup["files"]]
        old_files = [Path(p) for p in setup.get("old_files", [])]
        missing = [p for p in files if not p.exists()]
        if missing:
            raise SdaError("a training file of the interrupted run is gone", path=missing[0],
                           hint="restore it, or train from scratch without --resume")
    else:
        old_files = []
        if add_files:
            growing = finishing.load_existing(home, name, dev)
            old_files = [Path(p) for p in growing.files]
            _, new_files = _resolve_files(list(add_files))
            files = old_files + [p for p in new_files if p not in old_files]
            folder = new_files[0].parent
            if validate:
                _validate_dataset(folder, new_files)
        else:
            folder, files = _resolve_files(dataset_folder)
            if validate:
                _validate_dataset(folder, files)
        if manager.list():
            emit(ProgressEvent("train.autoencoder", "info",
                               message=f"starting over: earlier checkpoints of '{name}' were removed"))
            manager.clear()
        CheckpointManager(vocoder_checkpoint_dir(home, name)).clear()  # a fresh run's vocoder starts afresh
        n_files = len(files)
        preset_reason = f"preset '{preset}' was requested"
        if preset == "auto":
            from sda_audio.io import audio_info

            seconds = sum(audio_info(p).duration for p in files)
            preset, preset_reason = choose_preset(n_files, seconds, dev.type)
            emit(ProgressEvent("train.autoencoder", "info", message=f"preset {preset}: {preset_reason}"))
        cfg = preset_config(preset, kind if growing is None else growing.kind, n_files=n_files, **(rvq or {}))
        if growing is not None:
            cfg = finishing.preset_like(cfg, growing)
        tr = cfg.training
        over = {k: v for k, v in dict(max_steps=steps, checkpoint_every=checkpoint_every, eval_every=eval_every,
                                      preview_every=preview_every, batch_size=batch_size).items() if v is not None}
        tr = tr.replace(augment=augment, seed=seed, **over)
        ptr = cfg.prior_training
        if ptr is not None:
            pover = {k: v for k, v in over.items() if k != "max_steps"}
            if prior_steps is not None:
                pover["max_steps"] = prior_steps
            ptr = ptr.replace(seed=seed, **pover)
        setup = {"files": [str(p) for p in files], "old_files": [str(p) for p in old_files],
                 "preset": preset, "preset_reason": preset_reason, "kind": cfg.kind, "seed": seed,
                 "autoencoder": cfg.autoencoder.to_dict(), "training": tr.to_dict(),
                 "prior": cfg.prior.to_dict() if cfg.prior else None,
                 "prior_training": ptr.to_dict() if ptr else None, "patience": patience,
                 "max_minutes": max_minutes, "grown_from": growing.sha256 if growing is not None else None,
                 "lineage": (growing.metadata.get("lineage") or {}).get("id") if growing is not None else None}

    from sda_models.configs import AutoencoderConfig, PriorConfig, TrainingConfig

    ae_cfg = AutoencoderConfig.from_dict(setup["autoencoder"])
    tr = TrainingConfig.from_dict(setup["training"])
    prior_cfg = PriorConfig.from_dict(setup["prior"]) if setup["prior"] else None
    ptr = TrainingConfig.from_dict(setup["prior_training"]) if setup["prior_training"] else None
    budget = setup["max_minutes"] * 60.0 if setup.get("max_minutes") else None
    result = TrainResult(name=name, model_path=None, kind=ae_cfg.kind, preset=setup["preset"], device=str(dev),
                         preset_reason=setup["preset_reason"])
    emit(ProgressEvent("train.autoencoder", "info", message=(
        f"training a {ae_cfg.kind.upper()} model '{name}' ({setup['preset']} preset) on {len(files)} files "
        f"on {dev}")))

    torch.manual_seed(int(setup["seed"]))
    hop = 512
    data = TrainingData(files, tr.segment_frames * hop, seed=int(setup["seed"]),
                        augment=_augmentation() if tr.augment else None, val_fraction=max(tr.val_fraction, 0.1),
                        on_event=emit)
    seg_seconds = tr.segment_frames * hop / 44100
    train_seconds = sum(len(it.samples) for it in data.train_items) / 44100
    epochs = tr.max_steps * tr.batch_size * seg_seconds / max(train_seconds, 1e-9)
    emit(ProgressEvent("train.autoencoder", "info", total=tr.max_steps, message=(
        f"plan: {tr.max_steps} steps x {tr.batch_size} segments of {seg_seconds:.2f} s = about {epochs:.1f} passes "
        f"over {train_seconds:.0f} s of training audio ({len(data.val_items)} validation part(s), "
        f"split by {data.split.method})" + (f"; time budget {setup['max_minutes']:g} min" if budget else "")),
        data={"steps": tr.max_steps, "batch_size": tr.batch_size, "segment_seconds": seg_seconds,
              "epochs": epochs, "split": data.split.method}))
    base_meta: dict[str, Any] = {"setup": setup}
    index_path = home.corpus_index_path(name)
    if ckpt is None or not index_path.is_file():
        result.corpus_index = finishing.build_corpus_index(home, name, files, emit, cancel)
    else:
        result.corpus_index = index_path
    preview_vocoder = finishing.corpus_vocoder(result.corpus_index)
    ae = stage_autoencoder.AutoencoderStage(ae_cfg, tr, data, dev, home, name, growing=growing, ckpt=ckpt,
                                            vocoder=preview_vocoder)
    if growing is not None:
        result.recon_before = ae.reconstruction_error(old_files)
        emit(ProgressEvent("train.autoencoder", "info", message=(
            f"growing '{name}': reconstruction error on the {len(old_files)} old files before: "
            f"{result.recon_before:.4f}")))
    if ckpt is not None and ckpt.stage == "prior":
        ae.load_weights(ckpt)
        done = ckpt.meta.get("done_stages", {}).get("autoencoder")
        ae_out = StageOutcome(**done) if done else StageOutcome(steps=0, stop_reason="resumed")
    else:
        ae_plan = StagePlan("autoencoder", "train.autoencoder", tr.max_steps, tr.log_every, tr.eval_every,
                            tr.checkpoint_every, tr.preview_every, patience,
                            budget * (0.6 if prior_cfg is not None else 1.0) if budget else None)
        ae_out = run_stage(ae_plan, ae.hooks(), manager, emit, cancel, resume_from=ckpt, meta=base_meta)
    _collect(result, "autoencoder", ae_out)
    base_meta["done_stages"] = {"autoencoder": asdict(ae_out)}
    if old_files:
        result.recon_after = ae.reconstruction_error(old_files)
        emit(ProgressEvent("train.autoencoder", "info", message=(
            f"reconstruction error on the old files after growing: {result.recon_after:.4f} "
            f"(before: {result.recon_before if result.recon_before is not None else float('nan'):.4f})")))
    prior = None
    if prior_cfg is not None and ptr is not None:
        pst = stage_prior.PriorStage(prior_cfg, ptr, ae, data, dev, home, name, ckpt=ckpt,
                                     init_prior=growing.prior if growing is not None else None)
        p_plan = StagePlan("prior", "train.prior", ptr.max_steps, ptr.log_every, ptr.eval_every,
                           ptr.checkpoint_every, ptr.preview_every, patience, budget * 0.4 if budget else None)
        p_out = run_stage(p_plan, pst.hooks(), manager, emit, cancel,
                          resume_from=ckpt if ckpt is not None and ckpt.stage == "prior" else None,
                          meta=base_meta)
        _collect(result, "prior", p_out)
        prior = pst.prior
    cancel.raise_if_cancelled("training")
    vocoder = None
    if vocoder_minutes and vocoder_minutes > 0:
        voc_dir = vocoder_checkpoint_dir(home, name)
        voc_resume = ckpt is not None and CheckpointManager(voc_dir).latest_path() is not None
        vocoder = finishing.train_vocoder_for(data, dev, vocoder_minutes, emit, cancel, seed=int(setup["seed"]),
                                              checkpoint_dir=voc_dir, resume=voc_resume)
        result.vocoder = "hifigan"
    result.warnings = warnings
    result.model_path = finishing.save_to_library(home, name, ae, prior, data, setup, result, vocoder,
                                                  growing=growing)
    result.seconds = time.monotonic() - t_start
    emit(ProgressEvent("train.autoencoder", "done", message=f"model '{name}' saved to {result.model_path}",
                       data={"path": str(result.model_path)}))
    return result


def _augmentation() -> Any:
    from sda_audio.augment import default_augmentation

    return default_augmentation()


def _collect(result: TrainResult, stage: str, outcome: Any) -> None:
    result.stages[stage] = {"steps": outcome.steps, "stop_reason": outcome.stop_reason,
                            "best_val": outcome.best_val, "resumed_from": outcome.resumed_from}
    result.history.extend({"stage": stage, **h} for h in outcome.history)
    result.evals.extend({"stage": stage, **e} for e in outcome.evals)
    result.previews.extend(outcome.previews)
    for w in outcome.warnings:
        if w not in result.warnings:
            result.warnings.append(w)


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def train_vocoder(
    model: str,
    minutes: float | None = 10.0,
    device: str = "auto",
    seed: int = 0,
    max_steps: int | None = None,
    on_event: ProgressCallback = ignore_events,
    cancel: CancelToken | None = None,
    home: SdaHome | str | Path | None = None,
    resume: bool = False,
    config: Any = None,
    batch_size: int = 4,
    log_every: int = 10,
    checkpoint_every: int = 100,
) -> Path:
    """Train (or retrain) the per-model HiFi-GAN vocoder of library model ``model`` (``sda train-vocoder``).

    Uses the model's own training files (recorded in its metadata), trains for ``minutes`` of training time
    (counted across resumes; ``None``: no time limit) or ``max_steps`` steps in total, stores the generator in the model file's
    ``vocoder.*`` section and updates the library entry. Also rebuilds the corpus index if it is missing.
    Checkpoints go to ``<checkpoints>/<model>/vocoder`` every ``checkpoint_every`` steps and on cancel or
    Ctrl-C (then ``Cancelled`` is raised); ``resume=True`` continues exactly from the newest one.
    ``config`` overrides the ``HifiGanTrainingConfig`` (e.g. a tiny one for tests). Events: job
    ``train.vocoder`` (start, info, progress, checkpoint, warning, done). Returns the model file path.
    """
    from sda_engine import finishing
    from sda_engine.library import ModelLibrary
    from sda_engine.stage_vocoder import vocoder_training_data
    from sda_models.device import resolve_device
    from sda_models.model_file import ModelBundle, load_model, save_model

    if minutes is None and max_steps is None:
        raise SdaError("the vocoder training has no limit", hint="give a number of minutes or of steps")
    if minutes is not None and not minutes > 0:
        raise SdaError(f"cannot train a vocoder for {minutes} minutes", hint="give a positive number of minutes")
    home = home if isinstance(home, SdaHome) else SdaHome(home)
    validate_name(model)
    dev = resolve_device(device)
    library = ModelLibrary(home)
    path = library.resolve(model)
    folder = vocoder_checkpoint_dir(home, model)
    if resume:
        latest = CheckpointManager(folder).latest_path()
        if latest is None:
            raise SdaError(f"no vocoder checkpoint to resume for model '{model}'", path=folder,
                           hint="train the vocoder without --resume to start from scratch")
        seed = _checkpoint_seed(latest, seed)
    bundle = load_model(path, "cpu")
    files = [Path(f) for f in bundle.metadata.get("dataset", {}).get("files", [])]
    missing = [f for f in files if not f.is_file()]
    if not files or missing:
        raise SdaError("the model's training files are not all available, so its vocoder cannot be trained",
                       path=missing[0] if missing else path, hint="restore the original dataset folder")
    if not home.corpus_index_path(model).is_file():
        finishing.build_corpus_index(home, model, files, on_event, cancel)
    data = vocoder_training_data(files, seed, on_event)
    tensors, voc_meta = finishing.train_vocoder_for(data, dev, minutes, on_event, cancel, seed=seed,
                                                    max_steps=max_steps, checkpoint_dir=folder, resume=resume,
                                                    config=config, batch_size=batch_size, log_every=log_every,
                                                    checkpoint_every=checkpoint_every)
    meta = {**bundle.metadata, "vocoder": voc_meta}
    out = ModelBundle(metadata=meta, autoencoder=bundle.autoencoder, stats=bundle.stats, prior=bundle.prior,
                      vocoder_tensors=tensors, control_tensors=bundle.control_tensors)
    staging = home.checkpoint_dir(model) / f"{model}.sda"
    save_model(staging, out)
    record = library.update_model(model, staging, move=True)
    return Path(record.path)


def vocoder_checkpoint_dir(home: SdaHome, model: str) -> Path:
    """Where the vocoder checkpoints of ``model`` live: ``<checkpoints>/<model>/vocoder``."""
    return home.checkpoint_dir(model) / "vocoder"


def _checkpoint_seed(path: Path, default: int) -> int:
    """The seed a vocoder checkpoint's run was started with (a resumed run keeps its data split and order)."""
    import json

    try:
        return int(json.loads(path.read_text())["trainer"]["config"]["seed"])
    except (OSError, ValueError, KeyError, TypeError):
        return default
