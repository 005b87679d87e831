"""The end of training: corpus index, optional HiFi-GAN vocoder, and the ``.sda`` file in the library.

Also the start of *growing* (INCR-01): loading the existing model whose training continues.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sda_audio.dataset import file_sha256
from sda_audio.errors import Cancelled, SdaError
from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent
from sda_engine.store.home import SdaHome
from sda_engine.train.data import HOP, TrainingData
from sda_engine.train.request import TrainRequest

log = logging.getLogger(__name__)

CORPUS_JOB = "train.corpus_index"


@dataclass
class GrowingBase:
    """An existing model to continue training (INCR-01).

    Attributes:
        kind, autoencoder, stats, prior: from the model file.
        files: the files it was trained on (replayed with the new ones against forgetting, INCR-02).
        metadata: its metadata; sha256: its file digest (the new model records it as parent).
    """

    kind: str
    autoencoder: Any
    stats: Any
    prior: Any
    files: list[str]
    metadata: dict[str, Any]
    sha256: str


def load_existing(home: SdaHome, name: str, device: torch.device) -> GrowingBase:
    """The library model ``name`` (to grow). Its training files must still exist."""
    from sda_models.model_file import load_model

    path = home.model_path(name)
    if not path.is_file():
        raise SdaError(f"there is no model named '{name}' to add files to", path=path,
                       hint="train it first, or check the name against the models in the library")
    bundle = load_model(path, "cpu")
    files = list(bundle.metadata.get("dataset", {}).get("files", []))
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise SdaError("a file the model was trained on is gone, so it cannot be replayed while growing",
                       path=missing[0], hint="restore the original dataset folder, then add the files again",
                       action="grow")
    return GrowingBase(kind=bundle.kind, autoencoder=bundle.autoencoder, stats=bundle.stats, prior=bundle.prior,
                       files=files, metadata=bundle.metadata, sha256=file_sha256(path))


def configs_like(cfg: Any, base: GrowingBase) -> Any:
    """The size's configs with the existing model's autoencoder/prior configs (shapes must match)."""
    prior = base.prior.config if base.prior is not None else cfg.prior
    return dataclasses.replace(cfg, kind=base.kind, autoencoder=base.autoencoder.config, prior=prior)


def build_corpus_index(home: SdaHome, name: str, files: list[Path], on_event: ProgressCallback,
                       cancel: CancelToken | None) -> Path | None:
    """Index the training files for the corpus vocoder at ``corpus/<name>.corpus.safetensors``.

    Events: job ``train.corpus_index``, ``step``/``total`` counting files.
    """
    from sda_models.vocoders.corpus_index import CorpusIndex

    path = home.corpus_index_path(name)
    try:
        index = CorpusIndex.build(files, on_event=on_event, cancel=cancel, job=CORPUS_JOB)
    except SdaError as exc:
        if isinstance(exc, Cancelled):
            raise
        on_event(ProgressEvent(CORPUS_JOB, "warning", message=f"no corpus index: {exc}"))
        return None
    index.save(path)
    return path


def corpus_vocoder(index_path: Path | None) -> Any:
    """A corpus vocoder over the index (cheap previews), or ``None``."""
    if index_path is None or not index_path.is_file():
        return None
    from sda_models.vocoders.corpus import CorpusVocoder
    from sda_models.vocoders.corpus_index import CorpusIndex

    return CorpusVocoder(CorpusIndex.load(index_path))


def train_vocoder_for(data: TrainingData, device: torch.device, minutes: float | None, on_event: ProgressCallback,
                      cancel: CancelToken | None, seed: int = 0, max_steps: int | None = None, *,
                      checkpoint_dir: str | Path | None = None, resume: bool = False, config: Any = None,
                      batch_size: int = 4, log_every: int = 10, checkpoint_every: int = 100,
                      meta: dict[str, Any] | None = None,
                      ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Train a per-model HiFi-GAN for ``minutes`` of training time (or ``max_steps`` in total) on the audio.

    Segments come from ``data``'s seeded sampler, unaugmented (the vocoder must learn the real recordings).
    The stage runs in the one training loop (:func:`sda_engine.train.stages.run_stage`, job ``train.vocoder``):
    checkpoints (every ``checkpoint_every`` steps, at the end, and on cancel/Ctrl-C, which then raises
    ``Cancelled``) go to ``checkpoint_dir`` (a temporary folder when ``None``: nothing to resume then), with
    ``meta`` added to each. ``resume`` continues exactly from the newest checkpoint there (the minutes budget
    counts the time already spent); without it, old vocoder checkpoints there are removed first. ``config``
    overrides the ``HifiGanTrainingConfig`` (its seed is replaced by ``seed``; a resumed run keeps its
    original seed).

    Returns ``(generator tensors, vocoder metadata)`` for the model file; the metadata has ``kind``,
    ``config`` (generator), ``training`` (full training config), ``steps``, ``minutes`` (training time),
    ``budget_minutes``, ``stop_reason`` and ``loss_curve``.
    """
    import tempfile

    from sda_engine.train.checkpoints import CheckpointManager
    from sda_engine.train.stages import run_stage
    from sda_engine.train.vocoder_stage import VocoderPlan, VocoderStage, loss_curve, with_seed
    from sda_models.vocoders.hifigan_training import HifiGanTrainer, HifiGanTrainingConfig

    if minutes is None and max_steps is None:
        raise SdaError("the vocoder training has no limit", hint="give a number of minutes or of steps")
    if minutes is not None and not minutes > 0:
        raise SdaError(f"cannot train a vocoder for {minutes} minutes", hint="give a positive number of minutes")
    if max_steps is not None and max_steps < 1:
        raise SdaError(f"cannot train a vocoder for {max_steps} steps", hint="give a positive number of steps")
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
        plan = VocoderPlan(minutes=minutes, max_steps=max_steps, batch_size=batch_size,
                           segment_samples=min(data.segment_samples, 16384), log_every=max(1, log_every),
                           checkpoint_every=max(1, checkpoint_every))
        outcome = run_stage(plan.stage_plan(), VocoderStage(trainer, data, plan).hooks(), manager, on_event,
                            cancel or CancelToken(), resume_from=ckpt, meta=meta)
    voc_meta = {"kind": "hifigan", "config": cfg.generator.to_dict(), "training": cfg.to_dict(),
                "steps": outcome.steps, "minutes": outcome.minutes, "budget_minutes": minutes,
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
    from sda_models.vocoders.floor import floor_comparison

    clips, source = data.validation_waves(max_clips), "validation"
    if clips.shape[0] == 0:
        clips, source = data.train_windows(max_clips), "training (no audio was held out for validation)"
    on_event(ProgressEvent("train.vocoder", "info", message=(
        f"checking the vocoder against the Griffin-Lim floor on {clips.shape[0]} {source.split(' ')[0]} clips")))
    with torch.no_grad():
        result = floor_comparison(vocoder, [c for c in clips], source)
    verdict = "beats" if result["beats_floor"] else "does not yet beat"
    on_event(ProgressEvent("train.vocoder", "info", message=(
        f"the vocoder {verdict} the Griffin-Lim floor on {source} audio: mel L1 {result['mel_l1']:.3f} vs "
        f"{result['floor_mel_l1']:.3f}, MR-STFT {result['mrstft']:.3f} vs {result['floor_mrstft']:.3f}"),
        metrics={k: float(v) for k, v in result.items() if isinstance(v, float)}))
    return result


@torch.no_grad()
def _vae_latent_dynamics(ae: Any, data: TrainingData) -> dict[str, Any] | None:
    """Fit :mod:`sda_models.latent_var` to the training files' posterior-mean latents."""
    from sda_models.latent_var import fit_latent_dynamics

    model = ae.model.eval()
    device = next(model.parameters()).device
    latents = []
    for wave in data.training_audio():
        if wave.shape[-1] < 4 * HOP:
            continue
        mel = ae.stats.normalize(ae.mel_cpu(wave.unsqueeze(0)))
        latents.append(model.encode(mel.to(device))[0].float().cpu())
    return fit_latent_dynamics(latents)


CONTROL_JOB = "train.control"


def fit_controls_for(ae: Any, prior: Any, request: TrainRequest, on_event: ProgressCallback,
                     cancel: CancelToken | None) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """Fit the musical controls of a just-trained model on its training files (sub-job ``train.control``).

    Returns ``(control tensors, control config)``, or ``None`` with a warning when the fit is impossible
    (e.g. no file long enough): the model is saved either way, and ``sda controls fit`` can try again.
    """
    from sda_control.fit import fit_controls
    from sda_models.model_file import ModelBundle

    bundle = ModelBundle(metadata={}, autoencoder=ae.model.eval(), stats=ae.stats, prior=prior)
    try:
        tensors, config, report = fit_controls(bundle, list(request.files), on_event=on_event, cancel=cancel)
    except Cancelled:
        raise
    except SdaError as exc:
        on_event(ProgressEvent(CONTROL_JOB, "warning", message=f"the musical controls could not be fitted: {exc}"))
        return None
    on_event(ProgressEvent(CONTROL_JOB, "info", message="musical controls:\n" + report.to_text(),
                           data={"report": report.to_dict()}))
    return tensors, config


def save_to_library(home: SdaHome, name: str, ae: Any, prior: Any, data: TrainingData, request: TrainRequest,
                    result: Any, vocoder: tuple[dict[str, torch.Tensor], dict[str, Any]] | None,
                    growing: GrowingBase | None = None,
                    control: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None) -> Path:
    """Write ``models/<name>.sda`` (atomic) and catalogue it (add, or update when it exists)."""
    from sda_engine.store.library import ModelLibrary
    from sda_models.model_file import ModelBundle, save_model

    files = list(request.files)
    digest = hashlib.sha256("\n".join(sorted(files)).encode()).hexdigest()
    lineage = request.lineage or uuid.uuid4().hex
    stage_metrics = {f"{stage}_{k}": v for stage, info in result.stages.items()
                     for k, v in info.items() if isinstance(v, (int, float)) and v is not None}
    meta = {
        "name": name,
        "dataset": {"name": Path(files[0]).parent.name if files else None, "hash": digest, "n_files": len(files),
                    "duration": data.total_seconds, "files": files,
                    "split": data.split.method, "val_files": list(data.split.val_files)},
        "training": {k: v for k, v in request.to_dict().items()
                     if k in ("size", "size_reason", "seed", "training", "prior_training", "patience", "max_minutes")},
        "metrics": {**stage_metrics, "recon_before": result.recon_before, "recon_after": result.recon_after},
        "lineage": {"id": lineage, "parent_sha256": request.grown_from},
        "corpus_index": str(result.corpus_index) if result.corpus_index else None,
        "warnings": list(result.warnings)[-20:],
        "dynamics": {"frame_loudness_quantiles": data.loudness_quantiles(ae.mel_cpu)},
    }
    if request.kind == "vae":
        meta["latent_dynamics"] = _vae_latent_dynamics(ae, data)
    if vocoder is not None:
        meta["vocoder"] = vocoder[1]
    if control is not None:
        meta["configs"] = {**(meta.get("configs") or {}), "control": control[1]}
    bundle = ModelBundle(metadata=meta, autoencoder=ae.model.eval(), stats=ae.stats, prior=prior,
                         vocoder_tensors=vocoder[0] if vocoder is not None else None,
                         control_tensors=control[0] if control is not None else None)
    staging = home.checkpoint_dir(name) / f"{name}.sda"
    save_model(staging, bundle)
    library = ModelLibrary(home)
    if library.exists(name):
        record = library.update_model(name, staging, move=True)
    else:
        record = library.add_model(staging, name, move=True, overwrite=True)
    return Path(record.path)
