"""A model's own HiFi-GAN vocoder: trained after the model stages (``sda train --vocoder-minutes``) or later
for a library model (``sda train-vocoder``), checked against the Griffin-Lim floor, stored in the model file.

The training itself is the vocoder stage (:mod:`sda_engine.train.vocoder_stage`) in the one training loop;
its checkpoints live in ``<checkpoints>/<model>/vocoder``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import torch

from sda_audio.errors import SdaError
from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events
from sda_engine.store.home import SdaHome, validate_name
from sda_engine.store.library import ModelLibrary
from sda_engine.store.locks import model_lock
from sda_engine.train.checkpoints import CheckpointManager
from sda_engine.train.corpus import build_corpus_index
from sda_engine.train.data import TrainingData
from sda_engine.train.loop import run_stage
from sda_engine.train.model_writer import VocoderSection
from sda_engine.train.run_job import RunJob
from sda_engine.train.vocoder_stage import (
    VocoderPlan,
    VocoderStage,
    loss_curve,
    vocoder_training_data,
    with_seed,
)
from sda_models.device import resolve_device
from sda_models.model_file import ModelBundle, load_model, save_model
from sda_models.vocoders.floor import floor_comparison
from sda_models.vocoders.hifigan_training import HifiGanTrainer, HifiGanTrainingConfig

log = logging.getLogger(__name__)

VOCODER_JOB = "train.vocoder"


def vocoder_checkpoint_dir(home: SdaHome, model: str) -> Path:
    """Where the vocoder checkpoints of ``model`` live: ``<checkpoints>/<model>/vocoder``."""
    return home.checkpoint_dir(model) / "vocoder"


def train_vocoder_for(data: TrainingData, device: torch.device, plan: VocoderPlan, on_event: ProgressCallback,
                      cancel: CancelToken | None, *, seed: int = 0, checkpoint_dir: str | Path | None = None,
                      resume: bool = False, config: HifiGanTrainingConfig | None = None,
                      meta: dict[str, Any] | None = None) -> VocoderSection:
    """Train a per-model HiFi-GAN on the audio for ``plan.minutes`` of training time or ``plan.max_steps``.

    Segments come from ``data``'s seeded sampler, unaugmented (the vocoder must learn the real recordings),
    at most ``plan.segment_samples`` long. The stage runs in the one training loop (job ``train.vocoder``):
    checkpoints (every ``plan.checkpoint_every`` steps, at the end, and on cancel/Ctrl-C, which then raises
    ``Cancelled``) go to ``checkpoint_dir`` (a temporary folder when ``None``: nothing to resume then), with
    ``meta`` added to each. ``resume`` continues exactly from the newest checkpoint there (the minutes budget
    counts the time already spent); without it, old vocoder checkpoints there are removed first. ``config``
    overrides the ``HifiGanTrainingConfig`` (its seed is replaced by ``seed``; a resumed run keeps its
    original seed).

    Returns the model file's vocoder section: generator tensors, and metadata with ``kind``, ``config``
    (generator), ``training`` (full training config), ``steps``, ``minutes`` (training time),
    ``budget_minutes``, ``stop_reason``, ``loss_curve`` and ``validation``.
    """
    with contextlib.ExitStack() as stack:
        if checkpoint_dir is None:
            if resume:
                raise SdaError("there is no checkpoint folder to resume the vocoder training from",
                               hint="start the vocoder training afresh", action="restart")
            checkpoint_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="sda-vocoder-"))
        manager = CheckpointManager(checkpoint_dir, keep=2)
        ckpt = None
        if resume:
            ckpt = manager.load_latest()
            if ckpt is None:
                raise SdaError("no vocoder checkpoint to resume", path=manager.folder,
                               hint="start the vocoder training from scratch instead", action="restart")
        else:
            manager.clear()
        cfg = with_seed(config if config is not None else HifiGanTrainingConfig(), seed)
        if ckpt is not None and "config" in ckpt.meta.get("trainer", {}):
            # resume with the seed (and, unless overridden, the settings) the run was started with
            saved = HifiGanTrainingConfig.from_dict(ckpt.meta["trainer"]["config"])
            cfg = saved if config is None else with_seed(config, saved.seed)
        trainer = HifiGanTrainer(cfg, device=device)
        plan = plan.replace(segment_samples=min(data.segment_samples, plan.segment_samples))
        outcome = run_stage(plan.stage_plan(), VocoderStage(trainer, data, plan), manager, on_event,
                            cancel or CancelToken(), resume_from=ckpt, meta=meta)
    voc_meta = {"kind": "hifigan", "config": cfg.generator.to_dict(), "training": cfg.to_dict(),
                "steps": outcome.steps, "minutes": outcome.minutes, "budget_minutes": plan.minutes,
                "stop_reason": outcome.stop_reason, "loss_curve": loss_curve(outcome.history),
                "validation": vocoder_validation(trainer.to_vocoder(device), data, on_event)}
    return trainer.generator_tensors(), voc_meta


def vocoder_validation(vocoder: Any, data: TrainingData, on_event: ProgressCallback,
                       max_clips: int = 8) -> dict[str, Any]:
    """Score a trained vocoder against the Griffin-Lim floor on the model's validation audio.

    The floor is the issue's quality bar applied to each model: generation's ``auto`` vocoder choice skips a
    per-model HiFi-GAN that does not beat it (``beats_floor``). Validation windows are audio the vocoder never
    trained on; when a dataset is too short to hold any out, training windows are used and ``source``
    says so.
    """
    clips, source = data.validation_waves(max_clips), "validation"
    if clips.shape[0] == 0:
        clips, source = data.train_windows(max_clips), "training (no audio was held out for validation)"
    on_event(ProgressEvent(VOCODER_JOB, "info", message=(
        f"checking the vocoder against the Griffin-Lim floor on {clips.shape[0]} {source.split(' ')[0]} clips")))
    with torch.no_grad():
        result = floor_comparison(vocoder, [c for c in clips], source)
    verdict = "beats" if result["beats_floor"] else "does not yet beat"
    on_event(ProgressEvent(VOCODER_JOB, "info", message=(
        f"the vocoder {verdict} the Griffin-Lim floor on {source} audio: mel L1 {result['mel_l1']:.3f} vs "
        f"{result['floor_mel_l1']:.3f}, MR-STFT {result['mrstft']:.3f} vs {result['floor_mrstft']:.3f}"),
        metrics={k: float(v) for k, v in result.items() if isinstance(v, float)}))
    return result


def train_vocoder(model: str, plan: VocoderPlan | None = None, *, device: str = "auto", seed: int = 0,
                  resume: bool = False, config: HifiGanTrainingConfig | None = None,
                  home: SdaHome | str | Path | None = None, on_event: ProgressCallback = ignore_events,
                  cancel: CancelToken | None = None) -> Path:
    """Train (or retrain) the per-model HiFi-GAN vocoder of library model ``model`` (``sda train-vocoder``).

    Uses the model's own training files (recorded in its metadata), trains for ``plan.minutes`` of training
    time (counted across resumes; ``None``: no time limit) or ``plan.max_steps`` steps in total (default
    plan: 10 minutes), stores the generator in the model file's ``vocoder.*`` section and updates the library
    entry, holding the model's lock throughout (a model being trained by another job is refused). Also
    rebuilds the corpus index if it is missing. Checkpoints go to ``<checkpoints>/<model>/vocoder`` every
    ``plan.checkpoint_every`` steps and on cancel or Ctrl-C (then ``Cancelled`` is raised); ``resume=True``
    continues exactly from the newest one (a finished run given a larger budget trains on). ``config``
    overrides the ``HifiGanTrainingConfig`` (e.g. a tiny one for tests). Events: the run-level job ``train``
    with the sub-jobs ``train.corpus_index`` (only when the index is rebuilt) and ``train.vocoder``. Returns
    the model file path.
    """
    plan = plan if plan is not None else VocoderPlan()
    home = home if isinstance(home, SdaHome) else SdaHome(home)
    validate_name(model)
    dev = resolve_device(device)
    library = ModelLibrary(home)
    path = library.resolve(model)
    folder = vocoder_checkpoint_dir(home, model)
    with model_lock(home, model, job="given its own vocoder"):
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
            build_corpus_index(home, model, files, on_event, cancel)
            run.stage_done("corpus_index")
        data = vocoder_training_data(files, seed, on_event)
        tensors, voc_meta = train_vocoder_for(data, dev, plan, on_event, cancel, seed=seed, checkpoint_dir=folder,
                                              resume=resume, config=config)
        run.stage_done("vocoder")
        meta = {**bundle.metadata, "vocoder": voc_meta}
        out = ModelBundle(metadata=meta, autoencoder=bundle.autoencoder, stats=bundle.stats, prior=bundle.prior,
                          vocoder_tensors=tensors, control_tensors=bundle.control_tensors)
        staging = home.checkpoint_dir(model) / f"{model}.sda"
        save_model(staging, out)
        record = library.update_model(model, staging, move=True)
    run.done(f"model '{model}' now has its own vocoder", path=str(record.path))
    return Path(record.path)


def _checkpoint_seed(path: Path, default: int) -> int:
    """The seed a vocoder checkpoint's run was started with (a resumed run keeps its data split and order)."""
    try:
        return int(json.loads(path.read_text())["trainer"]["config"]["seed"])
    except (OSError, ValueError, KeyError, TypeError):
        return default
