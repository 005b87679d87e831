"""The end of training: the ``.sda`` file assembled from the trained parts, written and catalogued.

The metadata records the dataset (files, split, hash), the training settings and metrics, the lineage, the
corpus index, warnings and the dynamics (frame loudness) of the training audio; a VAE also gets its latent
dynamics. The file is written atomically next to the checkpoints, then moved into the library (added, or
updated when a model of that name exists) - under the model's lock, which the training run holds.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import torch

from sda_engine.store.home import SdaHome
from sda_engine.store.library import ModelLibrary
from sda_engine.train.autoencoder_stage import AutoencoderStage
from sda_engine.train.base_start import base_record
from sda_engine.train.controls import ControlSection
from sda_engine.train.data import HOP, TrainingData
from sda_engine.train.request import TrainRequest
from sda_engine.train.result import TrainResult
from sda_models.latent_var import fit_latent_dynamics
from sda_models.model_file import ModelBundle, save_model

VocoderSection = tuple[dict[str, torch.Tensor], dict[str, Any]]
"""``(generator tensors, vocoder metadata)``: the ``vocoder.*`` section of a model file."""


@torch.no_grad()
def vae_latent_dynamics(ae: AutoencoderStage, data: TrainingData) -> dict[str, Any] | None:
    """Fit :mod:`sda_models.latent_var` to the training files' posterior-mean latents."""
    model = ae.model.eval()
    device = next(model.parameters()).device
    latents = []
    for wave in data.training_audio():
        if wave.shape[-1] < 4 * HOP:
            continue
        mel = ae.stats.normalize(ae.mel_cpu(wave.unsqueeze(0)))
        latents.append(model.encode(mel.to(device))[0].float().cpu())
    return fit_latent_dynamics(latents)


def model_metadata(request: TrainRequest, ae: AutoencoderStage, data: TrainingData, result: TrainResult,
                   vocoder: VocoderSection | None, control: ControlSection | None,
                   form: dict[str, Any] | None = None) -> dict[str, Any]:
    """The metadata of the model file of a finished run."""
    files = list(request.files)
    digest = hashlib.sha256("\n".join(sorted(files)).encode()).hexdigest()
    lineage = request.lineage or uuid.uuid4().hex
    stage_metrics = {f"{stage}_{k}": v for stage, info in result.stages.items()
                     for k, v in info.items() if isinstance(v, (int, float)) and v is not None}
    meta = {
        "name": request.name,
        "dataset": {"name": Path(files[0]).parent.name if files else None, "hash": digest, "n_files": len(files),
                    "duration": data.total_seconds, "files": files,
                    "split": data.split.method, "val_files": list(data.split.val_files)},
        "training": {k: v for k, v in request.to_dict().items()
                     if k in ("size", "size_reason", "seed", "training", "prior_training", "patience", "max_minutes")},
        "metrics": {**stage_metrics, "recon_before": result.recon_before, "recon_after": result.recon_after},
        "lineage": {"id": lineage, "parent_sha256": request.grown_from},
        "base": base_record(request.base),
        "corpus_index": str(result.corpus_index) if result.corpus_index else None,
        "warnings": list(result.warnings)[-20:],
        "dynamics": {"frame_loudness_quantiles": data.loudness_quantiles(ae.mel_cpu)},
    }
    if form is not None:
        meta["form"] = form
    if request.kind == "vae":
        meta["latent_dynamics"] = vae_latent_dynamics(ae, data)
    if vocoder is not None:
        meta["vocoder"] = vocoder[1]
    if control is not None:
        meta["configs"] = {**(meta.get("configs") or {}), "control": control[1]}
    return meta


def write_model(home: SdaHome, request: TrainRequest, ae: AutoencoderStage, prior: Any, data: TrainingData,
                result: TrainResult, vocoder: VocoderSection | None, control: ControlSection | None,
                form: dict[str, Any] | None = None) -> Path:
    """Write ``models/<name>.sda`` (atomic) and catalogue it (add, or update when it exists); ``form``: the
    material's form section (:func:`sda_engine.train.forms.detect_training_form`)."""
    name = request.name
    meta = model_metadata(request, ae, data, result, vocoder, control, form)
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
