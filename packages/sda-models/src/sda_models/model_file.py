"""The ``.sda`` model file (MOD-01, PERS-01..03): one safetensors file holding a whole trained model.

Tensors are namespaced: ``autoencoder.*`` (its state dict, RVQ codebooks included), ``stats.mean``/``stats.std``
(mel normalisation), ``prior.*`` (optional code prior), ``vocoder.*`` and ``control.*`` (optional raw tensor
sections owned by the vocoder and control packages). The safetensors header metadata holds one key, ``sda``,
whose JSON value carries ``format_version``, the model ``kind``, every config, the optional parts present,
dataset summary, training parameters, metrics, dates and package versions (see ``docs/models.md``).

Loading never executes code: the header is validated byte by byte against the file size first
(:mod:`sda_models.model_format`), then the configs are compared with the header's tensor names, shapes and
dtypes and with the file's size without building anything (:mod:`sda_models.model_check`, the one validation
``read_metadata``, ``load_model`` and a library import use), then safetensors reads the tensors, older formats
are migrated in memory (:mod:`sda_models.migrations`), every float tensor is checked finite, and the modules are
built on CPU, loaded with ``strict=True``, moved to the device and put in ``eval()`` mode. ``save_model`` runs
the same structural check on what it is about to write.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import platform
import shutil
from dataclasses import dataclass
from importlib import metadata as _importlib_metadata
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from sda_audio.atomic import atomic_path
from sda_audio.errors import SdaError
from sda_models.autoencoder import MelAutoencoder, build_autoencoder
from sda_models.device import resolve_device
from sda_models.mel import MelConfig
from sda_models.migrations import MIGRATIONS, migrate, v1_to_v2
from sda_models.model_check import (
    SECTIONS,
    CheckedModel,
    check_layout,
    check_model_file,
    check_values,
    inspect_model_file,
)
from sda_models.model_format import (
    FORMAT_VERSION,
    METADATA_KEY,
    ModelFileError,
    NewerFormatError,
    read_header,
    sda_metadata,
)
from sda_models.model_layout import DTYPE_NAMES
from sda_models.normalization import MelStats
from sda_models.prior import CodePrior

logger = logging.getLogger(__name__)

__all__ = ["FORMAT_VERSION", "MIGRATIONS", "SECTIONS", "ModelBundle", "ModelFileError", "NewerFormatError",
           "check_model_file", "load_model", "read_metadata", "save_model", "upgrade_model_file", "v1_to_v2"]

@dataclass
class ModelBundle:
    """Everything in a ``.sda`` file, ready to use.

    Attributes:
        metadata: the JSON metadata (see ``docs/models.md``); :func:`save_model` fills in format, kind,
            configs of the modules, parts and versions.
        autoencoder: the mel autoencoder (VAE or RVQ).
        stats: mel normalisation statistics.
        prior: the code prior (RVQ models), or ``None``.
        vocoder_tensors: raw ``vocoder.*`` tensors (prefix stripped), or ``None``.
        control_tensors: raw ``control.*`` tensors (prefix stripped), or ``None``.
    """

    metadata: dict[str, Any]
    autoencoder: MelAutoencoder
    stats: MelStats
    prior: CodePrior | None = None
    vocoder_tensors: dict[str, Tensor] | None = None
    control_tensors: dict[str, Tensor] | None = None

    @property
    def kind(self) -> str:
        return self.autoencoder.config.kind

    @property
    def mel_config(self) -> MelConfig:
        return MelConfig.from_dict(self.metadata.get("configs", {}).get("mel") or {})

    @property
    def vocoder_config(self) -> dict[str, Any] | None:
        """``metadata['configs']['vocoder']``: the per-model vocoder's config (owned by the vocoder code)."""
        return (self.metadata.get("configs") or {}).get("vocoder")

    @property
    def control_config(self) -> dict[str, Any] | None:
        """``metadata['configs']['control']``: the slider mapping's config (owned by sda-control)."""
        return (self.metadata.get("configs") or {}).get("control")

    @property
    def parts(self) -> dict[str, bool]:
        return {"prior": self.prior is not None, "vocoder": bool(self.vocoder_tensors),
                "control": bool(self.control_tensors)}


def _versions() -> dict[str, Any]:
    out: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__}
    for dist in ("sda-models", "sda-audio", "safetensors"):
        try:
            out[dist] = _importlib_metadata.version(dist)
        except _importlib_metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _json_safe(value: Any) -> Any:
    """Tuples -> lists, non-finite floats -> None, tensors/numpy scalars -> Python numbers, keys -> str."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if hasattr(value, "tolist") and callable(value.tolist):  # tensors, numpy arrays and scalars
        return _json_safe(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _state(prefix: str, tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    return {f"{prefix}.{k}": v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}


def save_model(path: str | Path, bundle: ModelBundle) -> dict[str, Any]:
    """Write ``bundle`` to ``path`` atomically as one safetensors file. Returns the metadata written."""
    path = Path(path)
    meta = dict(bundle.metadata)
    configs = dict(meta.get("configs") or {})
    configs["autoencoder"] = bundle.autoencoder.config.to_dict()
    configs["prior"] = bundle.prior.config.to_dict() if bundle.prior is not None else None
    configs.setdefault("mel", MelConfig().to_dict())
    meta.update(format_version=FORMAT_VERSION, kind=bundle.kind, configs=configs, parts=bundle.parts,
                classes={"autoencoder": type(bundle.autoencoder).__name__,
                         "prior": type(bundle.prior).__name__ if bundle.prior is not None else None},
                versions=_versions(), saved=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
    meta.setdefault("created", meta["saved"])
    meta = _json_safe(meta)
    if bundle.stats.n_mels != bundle.autoencoder.config.n_mels:
        raise ValueError(f"stats have {bundle.stats.n_mels} bands but the autoencoder expects "
                         f"{bundle.autoencoder.config.n_mels}")
    tensors = _state("autoencoder", bundle.autoencoder.state_dict())
    tensors.update(_state("stats", {k: v.float() for k, v in bundle.stats.to_tensors().items()}))
    if bundle.prior is not None:
        tensors.update(_state("prior", bundle.prior.state_dict()))
    if bundle.vocoder_tensors:
        tensors.update(_state("vocoder", bundle.vocoder_tensors))
    if bundle.control_tensors:
        tensors.update(_state("control", bundle.control_tensors))
    _check_before_writing(path, meta, tensors)
    payload = json.dumps(meta, sort_keys=True, allow_nan=False)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={METADATA_KEY: payload})
    logger.info("saved model %s (%d tensors, parts %s)", path, len(tensors), meta["parts"])
    return meta


def _check_before_writing(path: Path, meta: dict[str, Any], tensors: dict[str, Tensor]) -> None:
    """Run the loader's structural check on what ``save_model`` is about to write: never write an unloadable file."""
    entries = {k: (tuple(v.shape), DTYPE_NAMES.get(v.dtype, str(v.dtype))) for k, v in tensors.items()}
    try:
        check_layout(path, meta, entries, data_bytes=sum(v.numel() * v.element_size() for v in tensors.values()))
    except ModelFileError as exc:
        raise ModelFileError(f"refusing to write a model file that would not load: {exc.message}", path=path,
                             hint="this is a bug in sda; please report it") from exc


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata of a model file (migrated to the current format), reading only its header.

    Cheap enough for a library catalogue: no tensor data is read, but the file passes the same structural
    check as :func:`load_model` (:func:`sda_models.model_check.check_model_file` with ``values=False``), so a
    file whose configs do not describe its tensors is refused here too. ``parts`` says which optional
    sections (prior, vocoder, control) the file holds; ``migrated_from`` is set when the file is in an older
    format.
    """
    return check_model_file(path, values=False)


def _section(tensors: dict[str, Tensor], name: str) -> dict[str, Tensor]:
    prefix = name + "."
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def _read_tensors(checked: CheckedModel) -> dict[str, Tensor]:
    """The file's tensors (current-format names), after the structural check bounded them by the file size."""
    path = checked.path
    try:
        tensors = load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors' own errors are plain exceptions; the header was checked already
        raise ModelFileError(f"safetensors could not read the tensors ({exc})", path=path) from exc
    if checked.migrated_from is not None:
        _, tensors = migrate(sda_metadata(read_header(path)), tensors, path)
    check_values(path, tensors.items())
    return tensors


def _bundle(checked: CheckedModel, tensors: dict[str, Tensor]) -> ModelBundle:
    """Build a CPU :class:`ModelBundle` from a checked file's configs and its (matching, finite) tensors."""
    path = checked.path
    autoencoder = build_autoencoder(checked.autoencoder)
    autoencoder.load_state_dict(_section(tensors, "autoencoder"), strict=True)
    try:
        stats = MelStats.from_tensors(_section(tensors, "stats"))
    except ValueError as exc:
        raise ModelFileError(f"the normalisation stats are invalid ({exc})", path=path) from exc
    prior = None
    if checked.prior is not None:
        prior = CodePrior(checked.prior)
        prior.load_state_dict(_section(tensors, "prior"), strict=True)
    return ModelBundle(metadata=checked.metadata, autoencoder=autoencoder, stats=stats, prior=prior,
                       vocoder_tensors=_section(tensors, "vocoder") or None,
                       control_tensors=_section(tensors, "control") or None)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> ModelBundle:
    """Load a ``.sda`` file (any supported format) onto ``device`` in eval mode.

    The file is validated first (:func:`sda_models.model_check.check_model_file`: configs against tensor
    names, shapes, dtypes and the file's size, before any module is built), then its tensors are read and
    checked finite, the modules built on CPU and loaded with ``strict=True``.

    Raises:
        ModelFileError: the file is missing, truncated, corrupted, hostile or inconsistent.
        NewerFormatError: it was written by a newer sda.
    """
    path = Path(path)
    target = device if isinstance(device, torch.device) else resolve_device(device)
    try:
        checked = inspect_model_file(path, values=False)
        bundle = _bundle(checked, _read_tensors(checked))
    except SdaError:
        raise
    except Exception as exc:  # last-resort guard: hostile input must never escape as another error type
        logger.debug("unexpected error loading %s", path, exc_info=True)
        raise ModelFileError(f"could not load the model ({type(exc).__name__}: {str(exc)[:200]})",
                             path=path, unexpected=True) from exc
    bundle.autoencoder.to(target).eval()
    bundle.stats = bundle.stats.to(target)
    if bundle.prior is not None:
        bundle.prior.to(target).eval()
    return bundle


def upgrade_model_file(path: str | Path, out: str | Path | None = None, keep_backup: bool = True) -> Path | None:
    """Rewrite an older-format model file in the current format (``sda models upgrade FILE``).

    Writes to ``out`` (default: over ``path``, after copying the original to ``<name>.v<N>.bak`` unless
    ``keep_backup`` is false). Returns the path written, or ``None`` when the file is already current.
    Tensors are carried over bit-exactly; the metadata records ``migrated_from``.
    """
    path = Path(path)
    version = sda_metadata(read_header(path))["format_version"]
    if version == FORMAT_VERSION:
        logger.info("%s is already in format %d", path, FORMAT_VERSION)
        return None
    bundle = load_model(path, device="cpu")
    target = Path(out) if out is not None else path
    if out is None and keep_backup:
        backup = path.with_name(f"{path.name}.v{version}.bak")
        with atomic_path(backup) as tmp:
            shutil.copyfile(path, tmp)
    save_model(target, bundle)
    logger.info("upgraded %s from format %d to %d -> %s", path, version, FORMAT_VERSION, target)
    return target
