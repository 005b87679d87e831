"""The ``.sda`` model file (MOD-01, PERS-01..03): one safetensors file holding a whole trained model.

Tensors are namespaced: ``autoencoder.*`` (its state dict, RVQ codebooks included), ``stats.mean``/``stats.std``
(mel normalisation), ``prior.*`` (optional code prior), ``vocoder.*`` and ``control.*`` (optional raw tensor
sections owned by the vocoder and control packages). The safetensors header metadata holds one key, ``sda``,
whose JSON value carries ``format_version``, the model ``kind``, every config, the optional parts present,
dataset summary, training parameters, metrics, dates and package versions (see ``docs/models.md``).

Loading never executes code: the header is validated byte by byte against the file size first
(:mod:`sda_models.model_format`), then safetensors reads the tensors, older formats are migrated in memory
(:mod:`sda_models.migrations`), modules are built on CPU from their configs, loaded with ``strict=True`` after
an explicit key/shape/dtype comparison, moved to the device and put in ``eval()`` mode.
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
from torch import Tensor, nn

from sda_audio.atomic import atomic_path
from sda_audio.errors import SdaError
from sda_models.autoencoder import MelAutoencoder, build_autoencoder
from sda_models.configs import AutoencoderConfig, PriorConfig
from sda_models.device import resolve_device
from sda_models.mel import MelConfig
from sda_models.migrations import MIGRATIONS, migrate, v1_to_v2
from sda_models.model_format import (
    FORMAT_VERSION,
    METADATA_KEY,
    ModelFileError,
    NewerFormatError,
    read_header,
    sda_metadata,
)
from sda_models.normalization import MelStats
from sda_models.prior import CodePrior

logger = logging.getLogger(__name__)

__all__ = ["FORMAT_VERSION", "MIGRATIONS", "ModelBundle", "ModelFileError", "NewerFormatError", "load_model",
           "read_metadata", "save_model", "upgrade_model_file", "v1_to_v2"]

SECTIONS = ("autoencoder", "stats", "prior", "vocoder", "control")
OPTIONAL_PARTS = ("prior", "vocoder", "control")
_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
# plausibility limits on config values, checked before any module is built (a hostile config must not
# make the loader allocate gigabytes)
_MAX_WIDTH = 8192
_LIMITS = {"channels": _MAX_WIDTH, "latent_dim": _MAX_WIDTH, "codebook_size": 65536, "codebook_dim": _MAX_WIDTH,
           "res_blocks": 16, "kernel_size": 63, "dilations": 4096, "n_mels": 1024, "downsample": 256,
           "d_model": _MAX_WIDTH, "n_layers": 64, "n_heads": 256, "ff_mult": 16, "context_frames": 65536,
           "usage_window": 4096, "levels": 64, "rvq_levels": 64}


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
    payload = json.dumps(meta, sort_keys=True, allow_nan=False)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={METADATA_KEY: payload})
    logger.info("saved model %s (%d tensors, parts %s)", path, len(tensors), meta["parts"])
    return meta


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata of a model file (migrated to the current format), reading only its header.

    Cheap enough for a library catalogue: no tensor data is read. ``parts`` says which optional sections
    (prior, vocoder, control) the file holds; ``migrated_from`` is set when the file is in an older format.
    """
    header = read_header(path)
    meta = sda_metadata(header)
    if meta["format_version"] != FORMAT_VERSION:
        meta, _ = migrate(meta, {}, path)
    return meta


def _read_tensors(path: Path) -> tuple[dict[str, Any], dict[str, Tensor]]:
    header = read_header(path)
    meta = sda_metadata(header)
    try:
        tensors = load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors' own errors are plain exceptions; the header was checked already
        raise ModelFileError(f"safetensors could not read the tensors ({exc})", path=path) from exc
    return meta, tensors


def _section(tensors: dict[str, Tensor], name: str) -> dict[str, Tensor]:
    prefix = name + "."
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def _check_limits(path: Path, what: str, config: dict[str, Any]) -> None:
    for key, limit in _LIMITS.items():
        values = config.get(key)
        values = values if isinstance(values, list) else [values]
        for value in values:
            if isinstance(value, int | float) and not isinstance(value, bool) and value > limit:
                raise ModelFileError(f"the {what} config has an implausible {key}={value}", path=path)


def _check_widths(path: Path, what: str, widths: dict[str, int], tensors: dict[str, Tensor]) -> None:
    """Each width in the config must be some tensor's dimension: a cheap guard, before building a module,
    against a config edited to allocate far more than the file holds."""
    dims = {d for t in tensors.values() for d in t.shape}
    for name, value in widths.items():
        if value not in dims:
            raise ModelFileError(f"the {what} config says {name}={value}, which matches none of its "
                                 "tensors", path=path)


def _config(path: Path, cls: type, what: str, data: Any) -> Any:
    if not isinstance(data, dict):
        raise ModelFileError(f"the {what} config is missing or not an object", path=path)
    _check_limits(path, what, data)
    try:
        return cls.from_dict(data)
    except (SdaError, ValueError, TypeError, KeyError, OverflowError) as exc:
        raise ModelFileError(f"the {what} config is invalid ({exc})", path=path) from exc


def _load_module(path: Path, what: str, module: nn.Module, tensors: dict[str, Tensor]) -> None:
    """Compare keys, shapes and dtypes explicitly, then ``load_state_dict(strict=True)``."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        detail = []
        if missing:
            detail.append(f"missing {len(missing)} tensor(s) e.g. {what}.{missing[0]}")
        if unexpected:
            detail.append(f"unexpected {len(unexpected)} tensor(s) e.g. {what}.{unexpected[0][:80]}")
        raise ModelFileError(f"the {what} weights do not match its config: {'; '.join(detail)}", path=path)
    for key, want in expected.items():
        got = tensors[key]
        if got.shape != want.shape:
            raise ModelFileError(f"tensor {what}.{key} has shape {tuple(got.shape)}, the config needs "
                                 f"{tuple(want.shape)}", path=path)
        if got.dtype != want.dtype:
            raise ModelFileError(f"tensor {what}.{key} has dtype {got.dtype}, expected {want.dtype}", path=path)
        if got.dtype in _FLOAT_DTYPES and not bool(torch.isfinite(got).all()):
            raise ModelFileError(f"tensor {what}.{key} contains NaN or infinite values (corrupted)", path=path)
    module.load_state_dict(tensors, strict=True)


def _bundle(path: Path, meta: dict[str, Any], tensors: dict[str, Tensor]) -> ModelBundle:
    """Build a CPU :class:`ModelBundle` from current-format metadata and tensors; validates everything."""
    configs = meta.get("configs")
    parts = meta.get("parts")
    if not isinstance(configs, dict) or not isinstance(parts, dict):
        raise ModelFileError("the metadata lacks its 'configs' or 'parts' section", path=path)
    if meta.get("kind") not in ("vae", "rvq"):
        raise ModelFileError(f"unknown model kind {str(meta.get('kind'))[:20]!r}", path=path)
    stray = sorted({k.split(".", 1)[0] for k in tensors} - set(SECTIONS))
    if stray:
        raise ModelFileError(f"unexpected tensors outside the known sections: {stray[0][:80]}...", path=path)
    for part in OPTIONAL_PARTS:
        present = any(k.startswith(part + ".") for k in tensors)
        if parts.get(part) is not present:
            raise ModelFileError(f"the metadata says prior/vocoder/control part '{part}' is "
                                 f"{'present' if parts.get(part) else 'absent'} but its tensors are "
                                 f"{'present' if present else 'missing'}", path=path)
    ae_config = _config(path, AutoencoderConfig, "autoencoder", configs.get("autoencoder"))
    if ae_config.kind != meta["kind"]:
        raise ModelFileError(f"the metadata says kind {meta['kind']} but the autoencoder config says "
                             f"{ae_config.kind}", path=path)
    _config(path, MelConfig, "mel", configs.get("mel"))
    widths = {f"channels[{i}]": c for i, c in enumerate(ae_config.channels)}
    widths.update(latent_dim=ae_config.latent_dim, n_mels=ae_config.n_mels)
    if ae_config.kind == "rvq":
        widths.update(codebook_size=ae_config.codebook_size, codebook_dim=ae_config.effective_codebook_dim)
    _check_widths(path, "autoencoder", widths, _section(tensors, "autoencoder"))
    autoencoder = build_autoencoder(ae_config)
    _load_module(path, "autoencoder", autoencoder, _section(tensors, "autoencoder"))
    stats_tensors = _section(tensors, "stats")
    if set(stats_tensors) != {"mean", "std"} or any(
        t.shape != (ae_config.n_mels,) or t.dtype != torch.float32 for t in stats_tensors.values()
    ):
        raise ModelFileError(f"the normalisation stats must be stats.mean and stats.std, float32 of shape "
                             f"({ae_config.n_mels},)", path=path)
    try:
        stats = MelStats.from_tensors(stats_tensors)
        if not bool(torch.isfinite(stats.mean).all()) or not bool(torch.isfinite(stats.std).all()):
            raise ValueError("non-finite values")
    except ValueError as exc:
        raise ModelFileError(f"the normalisation stats are invalid ({exc})", path=path) from exc
    prior = None
    if parts.get("prior"):
        prior_config = _config(path, PriorConfig, "prior", configs.get("prior"))
        _check_widths(path, "prior", {"d_model": prior_config.d_model, "codebook_size": prior_config.codebook_size,
                                      "context_frames": prior_config.context_frames,
                                      "ff_mult * d_model": prior_config.ff_mult * prior_config.d_model},
                      _section(tensors, "prior"))
        prior = CodePrior(prior_config)
        _load_module(path, "prior", prior, _section(tensors, "prior"))
    return ModelBundle(metadata=meta, autoencoder=autoencoder, stats=stats, prior=prior,
                       vocoder_tensors=_section(tensors, "vocoder") or None,
                       control_tensors=_section(tensors, "control") or None)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> ModelBundle:
    """Load a ``.sda`` file (any supported format) onto ``device`` in eval mode.

    Raises:
        ModelFileError: the file is missing, truncated, corrupted, hostile or inconsistent.
        NewerFormatError: it was written by a newer sda.
    """
    path = Path(path)
    target = device if isinstance(device, torch.device) else resolve_device(device)
    try:
        meta, tensors = _read_tensors(path)
        if meta["format_version"] != FORMAT_VERSION:
            meta, tensors = migrate(meta, tensors, path)
        bundle = _bundle(path, meta, tensors)
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
