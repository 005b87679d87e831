"""The end of training: corpus index, optional HiFi-GAN vocoder, and the ``.sda`` file in the library.

Also the start of *growing* (INCR-01): loading the existing model whose training continues.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sda_audio.errors import SdaError
from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent
from sda_engine.data import TrainingData
from sda_engine.home import SdaHome

log = logging.getLogger(__name__)


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


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_existing(home: SdaHome, name: str, device: torch.device) -> GrowingBase:
    """The library model ``name`` (to grow). Its training files must still exist."""
    from sda_models.model_file import load_model

    path = home.model_path(name)
    if not path.is_file():
        raise SdaError(f"there is no model named '{name}' to add files to", path=path,
                       hint="train it first, or check the name with `sda models list`")
    bundle = load_model(path, "cpu")
    files = list(bundle.metadata.get("dataset", {}).get("files", []))
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise SdaError("a file the model was trained on is gone, so it cannot be replayed while growing",
                       path=missing[0], hint="restore the original dataset folder, then add files again")
    return GrowingBase(kind=bundle.kind, autoencoder=bundle.autoencoder, stats=bundle.stats, prior=bundle.prior,
                       files=files, metadata=bundle.metadata, sha256=_sha256(path))


def preset_like(cfg: Any, base: GrowingBase) -> Any:
    """The preset config with the existing model's autoencoder/prior configs (shapes must match)."""
    prior = base.prior.config if base.prior is not None else cfg.prior
    return dataclasses.replace(cfg, kind=base.kind, autoencoder=base.autoencoder.config, prior=prior)


def build_corpus_index(home: SdaHome, name: str, files: list[Path], on_event: ProgressCallback,
                       cancel: CancelToken | None) -> Path | None:
    """Index the training files for the corpus vocoder at ``corpus/<name>.corpus.safetensors``."""
    from sda_models.vocoders.corpus_index import CorpusIndex

    path = home.corpus_index_path(name)
    try:
        index = CorpusIndex.build(files, on_event=on_event, cancel=cancel, job="train.vocoder")
    except SdaError as exc:
        on_event(ProgressEvent("train.vocoder", "warning", message=f"no corpus index: {exc}"))
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


def train_vocoder_for(data: TrainingData, device: torch.device, minutes: float, on_event: ProgressCallback,
                      cancel: CancelToken | None, seed: int = 0, max_steps: int | None = None,
                      ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Train a per-model HiFi-GAN for ``minutes`` (or ``max_steps``) on the training audio.

    Returns ``(generator tensors, vocoder metadata {"kind", "config", "steps", "minutes"})`` for the model file.
    Segments come from the same seeded sampler as the autoencoder (no augmentation: the vocoder must learn
    the real recordings).
    """
    from sda_models.mel import LogMel
    from sda_models.vocoders.hifigan_training import HifiGanTrainer, HifiGanTrainingConfig

    trainer = HifiGanTrainer(HifiGanTrainingConfig(seed=seed), device=device)
    mel = LogMel().to(device)
    deadline = time.monotonic() + minutes * 60.0
    on_event(ProgressEvent("train.vocoder", "start", total=max_steps,
                           message=f"training the model's own HiFi-GAN vocoder for {minutes:g} min"))
    step = 0
    t0 = time.monotonic()
    seg = min(data.segment_samples, 16384)
    while time.monotonic() < deadline and (max_steps is None or step < max_steps):
        if cancel is not None:
            cancel.raise_if_cancelled("vocoder training")
        waves = data.sample_waves(4, augment=False)[:, :seg].to(device)
        with torch.no_grad():
            log_mel = mel(waves)
        metrics = trainer.step(waves, log_mel)
        step += 1
        if step % 10 == 0 or step == 1:
            left = max(0.0, deadline - time.monotonic())
            on_event(ProgressEvent("train.vocoder", "progress", step=step, total=max_steps,
                                   message=f"vocoder step {step}",
                                   metrics={**{k: float(v) for k, v in metrics.items()}, "eta_seconds": left}))
    on_event(ProgressEvent("train.vocoder", "done", step=step,
                           message=f"vocoder trained for {step} steps in {time.monotonic() - t0:.0f} s"))
    meta = {"kind": "hifigan", "config": trainer.config.generator.to_dict(), "steps": step, "minutes": minutes}
    return trainer.generator_tensors(), meta


def save_to_library(home: SdaHome, name: str, ae: Any, prior: Any, data: TrainingData, setup: dict[str, Any],
                    result: Any, vocoder: tuple[dict[str, torch.Tensor], dict[str, Any]] | None,
                    growing: GrowingBase | None = None) -> Path:
    """Write ``models/<name>.sda`` (atomic) and catalogue it (add, or update when it exists)."""
    from sda_engine.library import ModelLibrary
    from sda_models.model_file import ModelBundle, save_model

    files = setup["files"]
    digest = hashlib.sha256("\n".join(sorted(files)).encode()).hexdigest()
    lineage = setup.get("lineage") or uuid.uuid4().hex
    stage_metrics = {f"{stage}_{k}": v for stage, info in result.stages.items()
                     for k, v in info.items() if isinstance(v, (int, float)) and v is not None}
    meta = {
        "name": name,
        "dataset": {"name": Path(files[0]).parent.name if files else None, "hash": digest, "n_files": len(files),
                    "duration": data.total_seconds, "files": files,
                    "split": data.split.method, "val_files": list(data.split.val_files)},
        "training": {k: setup[k] for k in ("preset", "preset_reason", "seed", "training", "prior_training",
                                           "patience", "max_minutes")},
        "metrics": {**stage_metrics, "recon_before": result.recon_before, "recon_after": result.recon_after},
        "lineage": {"id": lineage, "parent_sha256": setup.get("grown_from")},
        "corpus_index": str(result.corpus_index) if result.corpus_index else None,
        "warnings": list(result.warnings)[-20:],
    }
    if vocoder is not None:
        meta["vocoder"] = vocoder[1]
    bundle = ModelBundle(metadata=meta, autoencoder=ae.model.eval(), stats=ae.stats, prior=prior,
                         vocoder_tensors=vocoder[0] if vocoder is not None else None)
    staging = home.checkpoint_dir(name) / f"{name}.sda"
    save_model(staging, bundle)
    library = ModelLibrary(home)
    if library.exists(name):
        record = library.update_model(name, staging, move=True)
    else:
        record = library.add_model(staging, name, move=True, overwrite=True)
    return Path(record.path)
