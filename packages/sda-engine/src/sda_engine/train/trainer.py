"""Training orchestration: dataset → corpus index → autoencoder → prior (RVQ) → vocoder (optional) → .sda.

:func:`plan_training` resolves the caller's choices into a :class:`~sda_engine.train.request.TrainRequest`
(files, model size, configs, budgets); :func:`train_model` runs one (``sda train``), :func:`train_vocoder`
trains a library model's own vocoder (``sda train-vocoder``). Every model stage runs in the one training loop,
:func:`sda_engine.train.stages.run_stage` (events, checkpoints, cancel/Ctrl-C, exact resume, time budgets carried
across resumes); stage-specific pieces live in :mod:`sda_engine.train.autoencoder_stage`,
:mod:`sda_engine.train.prior_stage` and :mod:`sda_engine.train.vocoder_stage`.

Events form a tree a GUI can draw: the run-level job ``train`` (``start`` with ``total`` = stages planned,
one ``progress`` per finished stage, ``done``; it also carries information about the data and the plan) and
one sub-job per stage, ``train.corpus_index`` (``step``/``total`` = files), ``train.autoencoder``,
``train.prior`` and ``train.vocoder`` (``step``/``total`` = optimisation steps).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
import warnings as _warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from sda_audio.errors import SdaError
from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events
from sda_engine.store.home import SdaHome, validate_name
from sda_engine.train.checkpoints import CheckpointManager
from sda_engine.train.data import HOP, SAMPLE_RATE, TrainingData, list_dataset_files
from sda_engine.train.request import KINDS, TrainRequest
from sda_engine.train.sizes import choose_size
from sda_engine.train.stages import StageOutcome, StagePlan, run_stage

log = logging.getLogger(__name__)

SIZES = ("tiny", "small", "full", "auto")
RUN_JOB = "train"
ATTRIBUTE_WEIGHT = 1.0
"""Weight of the attribute-regularisation loss when ``regularise_controls`` is on (see sda_models.attributes)."""
ATTRIBUTE_DELTA = 1.0


@dataclass
class TrainResult:
    """What :func:`train_model` did.

    Attributes:
        name: the model's library name; ``model_path``: its ``.sda`` file.
        kind, size, device: what was trained, at which model size (``size_reason`` says why), where.
        stages: per stage ``{"steps", "stop_reason", "best_val", "resumed_from", "minutes"}``.
        history: per optimisation step ``{"stage", "step", "loss", "lr", ...}`` (the loss curve).
        evals: per evaluation ``{"stage", "step", "train_loss", "val_loss", ...}``.
        warnings: every warning raised during training (looped files, overfitting, collapse, ...).
        previews: audio preview files written during training.
        recon_before / recon_after: growing only - reconstruction error (L1, normalised mel) on the old
            files before and after training on the new ones.
        seconds: wall-clock time of this call.
        request: the resolved request that was run (stored in its checkpoints).
    """

    name: str
    model_path: Path | None
    kind: str
    size: str
    device: str
    size_reason: str = ""
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
    request: TrainRequest | None = None

    def losses(self, stage: str = "autoencoder") -> list[float]:
        """The per-step training loss of one stage."""
        return [h["loss"] for h in self.history if h["stage"] == stage]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("model_path", "corpus_index"):
            out[key] = str(out[key]) if out[key] is not None else None
        out["request"] = self.request.to_dict() if self.request is not None else None
        return out


class RunJob:
    """The run-level job ``train``: ``start`` (``total`` = stages planned), a ``progress`` per finished stage
    (``step`` = stages done), ``info``, ``done``."""

    def __init__(self, on_event: ProgressCallback, stages: Sequence[str]) -> None:
        self.on_event = on_event
        self.stages = list(stages)
        self.finished: list[str] = []

    def start(self, message: str) -> None:
        self.on_event(ProgressEvent(RUN_JOB, "start", step=0, total=len(self.stages), message=message,
                                    data={"stages": self.stages}))

    def stage_done(self, stage: str, outcome: StageOutcome | None = None) -> None:
        if stage in self.finished:
            return
        self.finished.append(stage)
        loss = {}
        if outcome is not None and outcome.history:
            loss["loss"] = float(outcome.history[-1]["loss"])
        if outcome is not None and outcome.best_val is not None:
            loss["val_loss"] = float(outcome.best_val)
        self.on_event(ProgressEvent(RUN_JOB, "progress", step=len(self.finished), total=len(self.stages),
                                    message=f"{stage} done", metrics=loss,
                                    data={"stage": stage, "stages": self.stages}))

    def info(self, message: str, **data: Any) -> None:
        self.on_event(ProgressEvent(RUN_JOB, "info", message=message, data=data))

    def done(self, message: str, **data: Any) -> None:
        n = len(self.stages)
        self.on_event(ProgressEvent(RUN_JOB, "done", step=n, total=n, message=message, data=data))


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
    # absolute paths: the model file and its checkpoints name them, and they are read again from elsewhere
    # (growing, rebuilding a corpus index, the code-grid editor's entry context, codebook health)
    return folder, [p.expanduser().resolve() for p in files]


def plan_training(
    dataset_folder: str | Path | Sequence[str | Path],
    kind: str = "rvq",
    size: str = "auto",
    *,
    device: str | torch.device = "auto",
    seed: int = 0,
    growing: Any = None,
    add_files: Sequence[str | Path] | None = None,
    max_minutes: float | None = None,
    vocoder_minutes: float = 0.0,
    vocoder_steps: int | None = None,
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
    controls: bool = True,
    regularise_controls: bool = False,
    on_event: ProgressCallback = ignore_events,
) -> TrainRequest:
    """Resolve a training run: its files (validated), model size (``auto`` picks one and says why) and
    configs, without training. ``growing`` (a :class:`~sda_engine.train.finishing.GrowingBase`) with ``add_files``
    plans growing that model. See :func:`train_model` for the arguments."""
    from sda_engine.train import finishing
    from sda_models.configs import preset_config
    from sda_models.device import resolve_device

    if kind not in KINDS:
        raise SdaError(f"unknown model kind '{kind}'", hint="use rvq or vae")
    if size not in SIZES:
        raise SdaError(f"unknown model size '{size}'", hint="use tiny, small, full or auto")
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    old_files: list[Path] = []
    if growing is not None:
        old_files = [Path(p) for p in growing.files]
        _, new_files = _resolve_files(list(add_files or []))
        files = old_files + [p for p in new_files if p not in old_files]
        if validate:
            _validate_dataset(new_files[0].parent, new_files)
    else:
        folder, files = _resolve_files(dataset_folder)
        if validate:
            _validate_dataset(folder, files)
    size_reason = f"size '{size}' was requested"
    if size == "auto":
        from sda_audio.io import audio_info

        seconds = sum(audio_info(p).duration for p in files)
        size, size_reason = choose_size(len(files), seconds, dev.type)
        on_event(ProgressEvent(RUN_JOB, "info", message=f"model size {size}: {size_reason}"))
    cfg = preset_config(size, kind if growing is None else growing.kind, n_files=len(files), **(rvq or {}))
    if growing is not None:
        cfg = finishing.configs_like(cfg, growing)
    if regularise_controls:
        from sda_models.configs import REGULARISABLE_ATTRIBUTES

        cfg = dataclasses.replace(cfg, autoencoder=cfg.autoencoder.replace(
            attributes=REGULARISABLE_ATTRIBUTES, attribute_weight=ATTRIBUTE_WEIGHT, attribute_delta=ATTRIBUTE_DELTA))
    over = {k: v for k, v in dict(max_steps=steps, checkpoint_every=checkpoint_every, eval_every=eval_every,
                                  preview_every=preview_every, batch_size=batch_size).items() if v is not None}
    tr = cfg.training.replace(augment=augment, seed=seed, **over)
    ptr = cfg.prior_training
    if ptr is not None:
        pover = {k: v for k, v in over.items() if k != "max_steps"}
        if prior_steps is not None:
            pover["max_steps"] = prior_steps
        ptr = ptr.replace(seed=seed, **pover)
    return TrainRequest(
        files=tuple(str(p) for p in files), old_files=tuple(str(p) for p in old_files), kind=cfg.kind, size=size,
        size_reason=size_reason, seed=seed, autoencoder=cfg.autoencoder, training=tr, prior=cfg.prior,
        prior_training=ptr, patience=patience, max_minutes=max_minutes, vocoder_minutes=vocoder_minutes,
        vocoder_steps=vocoder_steps, grown_from=growing.sha256 if growing is not None else None,
        lineage=(growing.metadata.get("lineage") or {}).get("id") if growing is not None else None,
        fit_controls=controls)


def train_model(
    dataset_folder: str | Path | Sequence[str | Path],
    name: str,
    kind: str = "rvq",
    size: str = "auto",
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
    vocoder_steps: int | None = None,
    request: TrainRequest | None = None,
    preset: str | None = None,
    controls: bool = True,
    regularise_controls: bool = False,
) -> TrainResult:
    """Train a model on a dataset folder and save it to the library as ``<name>.sda``.

    Args:
        dataset_folder: a folder of recordings (recursive) or an explicit list of files.
        name: the model's library name (letters, digits, ``._-``).
        kind: ``"rvq"`` (RVQ-VAE + code prior) or ``"vae"`` (Gaussian VAE).
        size: the model size, ``"tiny"``, ``"small"``, ``"full"`` or ``"auto"`` (from dataset size and device).
        max_minutes: training-time budget for the model stages (split 60/40 between autoencoder and prior),
            counted across resumes; ``None`` = run the size's step counts.
        resume: continue from the newest checkpoint of ``name`` (exactly: same request, data order, RNG,
            optimizer); the other settings come from the checkpoint (a vocoder budget given here replaces
            the stored one).
        vocoder_minutes / vocoder_steps: train a per-model HiFi-GAN for that much training time / that many
            steps after the model stages (``0`` / ``None``: no vocoder).
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
        seed: seeds the split, the segment sampler, augmentation and initialisation.
        add_files: grow an existing model ``name`` with these files (INCR-01/02): the old dataset is
            replayed together with the new files, and ``recon_before/after`` report the error on the old
            files.
        on_event / cancel: progress events (see the module docstring) and a cancel token; cancelling (or
            Ctrl-C) saves a checkpoint and raises ``Cancelled``.
        home: the sda home (default ``$SDA_HOME``).
        steps / prior_steps: override the size's step counts (autoencoder / prior).
        checkpoint_every / eval_every / preview_every / batch_size: override the size's intervals/batch.
        augment: on-the-fly waveform augmentation (on by default).
        patience: evaluations without a better validation loss before early stopping.
        validate: check the dataset first (refuses a dataset with errors).
        overwrite: replace an existing library model of the same name (otherwise that is an error).
        rvq: RVQ overrides for a new model: ``codebook_size``, ``rvq_levels`` (2-4), ``codebook_dim``,
            ``commitment_weight`` (VQVAE-02/05/06).
        controls: fit the eight musical controls after the model stages (sub-job ``train.control``); a fit
            that fails is a warning, never a lost model.
        regularise_controls: attribute-regularised training (AR-VAE): latent dimensions 0, 1, 2 are tied to
            brightness, warmth and rhythmic by a pairwise sign loss (reported as ``attr``), and the control
            fit tries those axes as directions. Stored in the autoencoder config, so it resumes and grows.
        request: run this resolved request (from :func:`plan_training`) instead of planning one from the
            arguments above.
        preset: deprecated name of ``size``.

    Returns:
        :class:`TrainResult`.

    Raises:
        SdaError: bad dataset, bad name/size/kind, nothing to resume, unwritable home; its ``action`` says
            which remedy applies (``overwrite``, ``restart``, ``resume``, ``grow``).
        Cancelled: the job was cancelled; a checkpoint was saved (``action="resume"``).
    """
    from sda_engine.train import autoencoder_stage as stage_autoencoder
    from sda_engine.train import finishing
    from sda_engine.train import prior_stage as stage_prior
    from sda_models.device import resolve_device

    if preset is not None:
        _warnings.warn("train_model(preset=...) is deprecated; the model size is called size=",
                       DeprecationWarning, stacklevel=2)
        size = preset
    t_start = time.monotonic()
    cancel = cancel or CancelToken()
    home = home if isinstance(home, SdaHome) else SdaHome(home)
    validate_name(name)
    if kind not in KINDS:
        raise SdaError(f"unknown model kind '{kind}'", hint="use rvq or vae")
    if size not in SIZES:
        raise SdaError(f"unknown model size '{size}'", hint="use tiny, small, full or auto")
    if not (resume or add_files or overwrite or (request is not None and request.grown_from)) \
            and home.model_path(name).exists():
        raise SdaError(f"a model named '{name}' already exists", path=home.model_path(name),
                       hint="choose another name, replace the existing model, or add files to grow it",
                       action="overwrite")
    dev = resolve_device(device)
    manager = CheckpointManager(home.checkpoint_dir(name))
    warnings: list[str] = []

    def emit(event: ProgressEvent) -> None:
        if event.kind == "warning":
            warnings.append(event.message)
        on_event(event)

    growing = None
    ckpt = None
    if resume:
        ckpt = manager.load_latest()
        if ckpt is None:
            raise SdaError(f"no checkpoint to resume for model '{name}'", path=manager.folder,
                           hint="train from scratch instead", action="restart")
        req = TrainRequest.from_checkpoint_meta(ckpt.meta)
        if vocoder_minutes or vocoder_steps:
            req = req.replace(vocoder_minutes=vocoder_minutes, vocoder_steps=vocoder_steps)
        missing = [p for p in req.files if not Path(p).exists()]
        if missing:
            raise SdaError("a training file of the interrupted run is gone", path=missing[0],
                           hint="restore it, or train from scratch", action="restart")
        if req.grown_from and home.model_path(name).is_file():
            growing = finishing.load_existing(home, name, dev)
    else:
        if request is not None:
            req = request
            if req.grown_from:
                growing = finishing.load_existing(home, name, dev)
        else:
            if add_files:
                growing = finishing.load_existing(home, name, dev)
            req = plan_training(dataset_folder, kind, size, device=dev, seed=seed, growing=growing,
                                add_files=add_files, max_minutes=max_minutes, vocoder_minutes=vocoder_minutes,
                                vocoder_steps=vocoder_steps, steps=steps, prior_steps=prior_steps,
                                checkpoint_every=checkpoint_every, eval_every=eval_every,
                                preview_every=preview_every, batch_size=batch_size, augment=augment,
                                patience=patience, validate=validate, rvq=rvq, controls=controls,
                                regularise_controls=regularise_controls, on_event=emit)
        if manager.list():
            emit(ProgressEvent(RUN_JOB, "info", message=f"starting over: earlier checkpoints of '{name}' were removed"))
            manager.clear()
        CheckpointManager(vocoder_checkpoint_dir(home, name)).clear()  # a fresh run's vocoder starts afresh

    files = [Path(p) for p in req.files]
    old_files = [Path(p) for p in req.old_files]
    tr, ptr = req.training, req.prior_training
    budget = req.max_minutes * 60.0 if req.max_minutes else None
    result = TrainResult(name=name, model_path=None, kind=req.kind, size=req.size, device=str(dev),
                         size_reason=req.size_reason, request=req)
    run = RunJob(emit, req.stages)
    run.start(f"training a {req.kind.upper()} model '{name}' ({req.size} size) on {len(files)} files on {dev}")

    torch.manual_seed(req.seed)
    data = TrainingData(files, tr.segment_frames * HOP, seed=req.seed,
                        augment=_augmentation() if tr.augment else None, val_fraction=max(tr.val_fraction, 0.1),
                        on_event=emit, job=RUN_JOB)
    seg_seconds = tr.segment_frames * HOP / SAMPLE_RATE
    train_seconds = sum(len(it.samples) for it in data.train_items) / SAMPLE_RATE
    epochs = tr.max_steps * tr.batch_size * seg_seconds / max(train_seconds, 1e-9)
    run.info((f"plan: {tr.max_steps} autoencoder steps x {tr.batch_size} segments of {seg_seconds:.2f} s = about "
              f"{epochs:.1f} passes over {train_seconds:.0f} s of training audio ({len(data.val_items)} validation "
              f"part(s), split by {data.split.method})"
              + (f"; time budget {req.max_minutes:g} min" if budget else "")
              + ("; attribute-regularised latent dims: " + ", ".join(
                  f"{k} {a}" for k, a in req.autoencoder.regularised.items()) if req.regularise_controls else "")),
             steps=tr.max_steps, batch_size=tr.batch_size, segment_seconds=seg_seconds, epochs=epochs,
             split=data.split.method, stages=list(req.stages))
    base_meta: dict[str, Any] = {"request": req.to_dict()}
    index_path = home.corpus_index_path(name)
    if ckpt is None or not index_path.is_file():
        result.corpus_index = finishing.build_corpus_index(home, name, files, emit, cancel)
    else:
        result.corpus_index = index_path
    run.stage_done("corpus_index")
    preview_vocoder = finishing.corpus_vocoder(result.corpus_index)
    ae = stage_autoencoder.AutoencoderStage(req.autoencoder, tr, data, dev, home, name, growing=growing, ckpt=ckpt,
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
                            tr.checkpoint_every, tr.preview_every, req.patience,
                            budget * (0.6 if req.prior is not None else 1.0) if budget else None)
        ae_out = run_stage(ae_plan, ae.hooks(), manager, emit, cancel, resume_from=ckpt, meta=base_meta)
    _collect(result, "autoencoder", ae_out)
    run.stage_done("autoencoder", ae_out)
    base_meta["done_stages"] = {"autoencoder": asdict(ae_out)}
    if old_files:
        result.recon_after = ae.reconstruction_error(old_files)
        emit(ProgressEvent("train.autoencoder", "info", message=(
            f"reconstruction error on the old files after growing: {result.recon_after:.4f} "
            f"(before: {result.recon_before if result.recon_before is not None else float('nan'):.4f})")))
    prior = None
    if req.prior is not None and ptr is not None:
        pst = stage_prior.PriorStage(req.prior, ptr, ae, data, dev, home, name, ckpt=ckpt,
                                     init_prior=growing.prior if growing is not None else None)
        p_plan = StagePlan("prior", "train.prior", ptr.max_steps, ptr.log_every, ptr.eval_every,
                           ptr.checkpoint_every, ptr.preview_every, req.patience, budget * 0.4 if budget else None)
        p_out = run_stage(p_plan, pst.hooks(), manager, emit, cancel,
                          resume_from=ckpt if ckpt is not None and ckpt.stage == "prior" else None,
                          meta=base_meta)
        _collect(result, "prior", p_out)
        run.stage_done("prior", p_out)
        prior = pst.prior
    cancel.raise_if_cancelled("training")
    control = None
    if req.fit_controls:
        control = finishing.fit_controls_for(ae, prior, req, emit, cancel)
        if control is not None:
            result.stages["control"] = {"realisation": control[1].get("realisation")}
        run.stage_done("control")
    vocoder = None
    if req.trains_vocoder:
        voc_dir = vocoder_checkpoint_dir(home, name)
        voc_resume = ckpt is not None and CheckpointManager(voc_dir).latest_path() is not None
        vocoder = finishing.train_vocoder_for(data, dev, req.vocoder_minutes or None, emit, cancel, seed=req.seed,
                                              max_steps=req.vocoder_steps, checkpoint_dir=voc_dir,
                                              resume=voc_resume, meta={"request": req.to_dict()})
        result.vocoder = "hifigan"
        result.stages["vocoder"] = {"steps": vocoder[1]["steps"], "stop_reason": vocoder[1]["stop_reason"],
                                    "best_val": None, "resumed_from": None, "minutes": vocoder[1]["minutes"]}
        run.stage_done("vocoder")
    result.warnings = warnings
    result.model_path = finishing.save_to_library(home, name, ae, prior, data, req, result, vocoder,
                                                  growing=growing, control=control)
    result.seconds = time.monotonic() - t_start
    run.done(f"model '{name}' saved to {result.model_path}", path=str(result.model_path))
    return result


def _augmentation() -> Any:
    from sda_audio.augment import default_augmentation

    return default_augmentation()


def _collect(result: TrainResult, stage: str, outcome: StageOutcome) -> None:
    result.stages[stage] = {"steps": outcome.steps, "stop_reason": outcome.stop_reason,
                            "best_val": outcome.best_val, "resumed_from": outcome.resumed_from,
                            "minutes": outcome.minutes}
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
    (counted across resumes; ``None``: no time limit) or ``max_steps`` steps in total, stores the generator
    in the model file's ``vocoder.*`` section and updates the library entry. Also rebuilds the corpus index
    if it is missing. Checkpoints go to ``<checkpoints>/<model>/vocoder`` every ``checkpoint_every`` steps
    and on cancel or Ctrl-C (then ``Cancelled`` is raised); ``resume=True`` continues exactly from the
    newest one (a finished run given a larger budget trains on). ``config`` overrides the
    ``HifiGanTrainingConfig`` (e.g. a tiny one for tests). Events: the run-level job ``train`` with the
    sub-jobs ``train.corpus_index`` (only when the index is rebuilt) and ``train.vocoder``. Returns the
    model file path.
    """
    from sda_engine.store.library import ModelLibrary
    from sda_engine.train import finishing
    from sda_engine.train.vocoder_stage import vocoder_training_data
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
                           hint="start the vocoder training from scratch instead", action="restart")
        seed = _checkpoint_seed(latest, seed)
    bundle = load_model(path, "cpu")
    files = [Path(f) for f in bundle.metadata.get("dataset", {}).get("files", [])]
    missing = [f for f in files if not f.is_file()]
    if not files or missing:
        raise SdaError("the model's training files are not all available, so its vocoder cannot be trained",
                       path=missing[0] if missing else path, hint="restore the original dataset folder")
    needs_index = not home.corpus_index_path(model).is_file()
    run = RunJob(on_event, ["corpus_index", "vocoder"] if needs_index else ["vocoder"])
    run.start(f"training the own vocoder of model '{model}' on {len(files)} files on {dev}")
    if needs_index:
        finishing.build_corpus_index(home, model, files, on_event, cancel)
        run.stage_done("corpus_index")
    data = vocoder_training_data(files, seed, on_event)
    tensors, voc_meta = finishing.train_vocoder_for(data, dev, minutes, on_event, cancel, seed=seed,
                                                    max_steps=max_steps, checkpoint_dir=folder, resume=resume,
                                                    config=config, batch_size=batch_size, log_every=log_every,
                                                    checkpoint_every=checkpoint_every)
    run.stage_done("vocoder")
    meta = {**bundle.metadata, "vocoder": voc_meta}
    out = ModelBundle(metadata=meta, autoencoder=bundle.autoencoder, stats=bundle.stats, prior=bundle.prior,
                      vocoder_tensors=tensors, control_tensors=bundle.control_tensors)
    staging = home.checkpoint_dir(model) / f"{model}.sda"
    save_model(staging, out)
    record = library.update_model(model, staging, move=True)
    run.done(f"model '{model}' now has its own vocoder", path=str(record.path))
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
