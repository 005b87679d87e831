"""The one validation of a ``.sda`` file: its configs must describe exactly the tensors it holds.

:func:`check_model_file` is what ``load_model``, ``read_metadata`` (catalogue, ``show``) and a library import
call. It reads the header only (no tensor data, no module built with real storage):

1. the safetensors header is checked byte by byte against the file size (:mod:`sda_models.model_format`);
2. the ``sda`` metadata must carry a known ``format_version`` (newer: :class:`NewerFormatError`; older ones are
   migrated in memory, tensor names included);
3. kind, parts and sections must agree with the tensors present; every config must parse and stay within
   plausibility limits (this bounds the time step 4 takes);
4. the tensors each config implies are derived on PyTorch's ``meta`` device (:mod:`sda_models.model_layout`):
   no section may imply more bytes than the file's tensors hold in all (a config asking for a 200 GB
   transformer in a 1 MB file is refused in milliseconds), then names, shapes and dtypes must match the
   header exactly: nothing
   missing, nothing extra, in every section (``autoencoder``, ``stats``, ``prior``, the HiFi-GAN ``vocoder``,
   the slider ``control`` section);
5. with ``values=True`` (the default) every floating-point tensor is read, one at a time, and must be finite.

Every problem is a :class:`ModelFileError` naming the file and saying what is wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from sda_audio.errors import SdaError
from sda_models.configs import AutoencoderConfig, PriorConfig
from sda_models.mel import MelConfig
from sda_models.migrations import migrate
from sda_models.model_format import FORMAT_VERSION, ModelFileError, RawHeader, read_header, sda_metadata
from sda_models.model_layout import (
    FLOAT_DTYPES,
    Layout,
    autoencoder_layout,
    control_layout,
    layout_bytes,
    layout_parameters,
    prior_layout,
    stats_layout,
    vocoder_layout,
)

logger = logging.getLogger(__name__)

SECTIONS = ("autoencoder", "stats", "prior", "vocoder", "control")
OPTIONAL_PARTS = ("prior", "vocoder", "control")
VOCODER_KINDS = ("hifigan",)

# plausibility limits on config values, checked before any layout is derived: they bound its time
_MAX_WIDTH = 8192
_MAX_LIST = 16
_LIMITS = {"channels": _MAX_WIDTH, "latent_dim": _MAX_WIDTH, "codebook_size": 65536, "codebook_dim": _MAX_WIDTH,
           "res_blocks": 8, "kernel_size": 63, "dilations": 4096, "n_mels": 1024, "downsample": 256,
           "d_model": _MAX_WIDTH, "n_layers": 64, "n_heads": 256, "ff_mult": 16, "context_frames": 65536,
           "usage_window": 4096, "levels": 64, "rvq_levels": 64}
_VOCODER_LIMITS = {"num_mels": 1024, "upsample_rates": 64, "upsample_kernel_sizes": 128,
                   "upsample_initial_channel": _MAX_WIDTH, "resblock_kernel_sizes": 63,
                   "resblock_dilation_sizes": 64, "sampling_rate": 384000}


@dataclass(frozen=True)
class CheckedModel:
    """A model file that passed the structural checks (and the value checks when asked).

    Attributes:
        path: the file.
        metadata: its ``sda`` metadata, migrated to the current format.
        autoencoder / mel / prior / vocoder: its parsed configs (``prior``/``vocoder`` ``None`` when absent;
            ``vocoder`` is a ``HifiGanConfig``).
        layout: current-format tensor name -> ``(shape, dtype)``, exactly the file's tensors.
        file_names: current-format tensor name -> its name in the file (they differ for older formats).
        migrated_from: the file's own format version when it is older than :data:`FORMAT_VERSION`.
    """

    path: Path
    metadata: dict[str, Any]
    autoencoder: AutoencoderConfig
    mel: MelConfig
    prior: PriorConfig | None
    vocoder: Any | None
    layout: Layout
    file_names: dict[str, str]
    migrated_from: int | None = None


def check_model_file(path: str | Path, *, values: bool = True) -> dict[str, Any]:
    """Validate a ``.sda`` file completely and return its metadata (migrated to the current format).

    Reads the header, derives every tensor the configs imply without allocating them and compares them with
    the file (see the module docstring); with ``values`` (default) also reads each floating-point tensor once
    and refuses NaN/inf. Never builds a model, never runs code from the file.

    Raises:
        ModelFileError: the file is missing, truncated, corrupted, inconsistent or hostile (message names it).
        NewerFormatError: it was written by a newer sda (a ``ModelFileError``).
    """
    return inspect_model_file(path, values=values).metadata


def inspect_model_file(path: str | Path, *, values: bool = True) -> CheckedModel:
    """:func:`check_model_file` returning the parsed configs and layout as well (what ``load_model`` uses)."""
    path = Path(path)
    try:
        return _inspect(path, values)
    except SdaError:
        raise
    except Exception as exc:  # last-resort guard: hostile input must never escape as another error type
        logger.debug("unexpected error checking %s", path, exc_info=True)
        raise ModelFileError(f"could not check the model file ({type(exc).__name__}: {str(exc)[:200]})",
                             path=path, unexpected=True) from exc


def _inspect(path: Path, values: bool) -> CheckedModel:
    header = read_header(path)
    file_meta = sda_metadata(header)
    entries = {name: (entry.shape, entry.dtype) for name, entry in header.tensors.items()}
    file_names = {name: name for name in entries}
    meta = file_meta
    if file_meta["format_version"] != FORMAT_VERSION:  # migrations rename tensors without looking at them
        tagged: dict[str, Any] = {name: (name, spec) for name, spec in entries.items()}
        meta, renamed = migrate(file_meta, tagged, path)
        moved: dict[str, Any] = dict(renamed)
        file_names = {new: old for new, (old, _) in moved.items()}
        entries = {new: spec for new, (_, spec) in moved.items()}
    checked = check_layout(path, meta, entries, data_bytes=header.file_size - 8 - header.header_bytes,
                           file_names=file_names)
    if file_meta["format_version"] != FORMAT_VERSION:
        checked = replace(checked, migrated_from=file_meta["format_version"])
    if values:
        _check_file_values(header, checked)
    return checked


def check_layout(path: Path, meta: dict[str, Any], entries: dict[str, tuple[tuple[int, ...], str]], *,
                 data_bytes: int, file_names: dict[str, str] | None = None) -> CheckedModel:
    """Steps 3-4 of the module docstring on current-format ``meta`` and tensor ``entries`` (name ->
    ``(shape, dtype)``) holding ``data_bytes`` bytes of tensor data. ``save_model`` runs it on what it is about
    to write, so sda never writes a file it would refuse to read."""
    configs, parts = meta.get("configs"), meta.get("parts")
    if not isinstance(configs, dict) or not isinstance(parts, dict):
        raise ModelFileError("the metadata lacks its 'configs' or 'parts' section", path=path)
    if meta.get("kind") not in ("vae", "rvq"):
        raise ModelFileError(f"unknown model kind {str(meta.get('kind'))[:20]!r}", path=path)
    stray = sorted({k.split(".", 1)[0] for k in entries} - set(SECTIONS))
    if stray:
        raise ModelFileError(f"unexpected tensors outside the known sections: {stray[0][:80]}...", path=path)
    for part in OPTIONAL_PARTS:
        present = any(k.startswith(part + ".") for k in entries)
        if parts.get(part) is not present:
            raise ModelFileError(f"the metadata says prior/vocoder/control part '{part}' is "
                                 f"{'present' if parts.get(part) else 'absent'} but its tensors are "
                                 f"{'present' if present else 'missing'}", path=path)
    autoencoder = _config(path, AutoencoderConfig, "autoencoder", configs.get("autoencoder"))
    if autoencoder.kind != meta["kind"]:
        raise ModelFileError(f"the metadata says kind {meta['kind']} but the autoencoder config says "
                             f"{autoencoder.kind}", path=path)
    mel = _config(path, MelConfig, "mel", configs.get("mel"))
    budget = _Budget(path, data_bytes)
    budget.add("autoencoder", autoencoder_layout(autoencoder), _describe(configs["autoencoder"]))
    budget.add("stats", stats_layout(autoencoder.n_mels), f"n_mels={autoencoder.n_mels}")
    prior = vocoder = None
    if parts.get("prior"):
        prior = _config(path, PriorConfig, "prior", configs.get("prior"))
        budget.add("prior", prior_layout(prior), _describe(configs["prior"]))
    if parts.get("vocoder"):
        vocoder, raw = _vocoder_config(path, meta)
        budget.add("vocoder", vocoder_layout(vocoder), _describe(raw))
    if parts.get("control"):
        if not isinstance(configs.get("control"), dict):
            raise ModelFileError("the file has a control section but no control config", path=path)
        present = {k[len("control."):]: shape for k, (shape, _) in entries.items() if k.startswith("control.")}
        budget.add("control", control_layout(autoencoder.latent_dim, present), "slider mapping")
    _compare(path, budget.layout, entries)
    return CheckedModel(path=path, metadata=meta, autoencoder=autoencoder, mel=mel, prior=prior, vocoder=vocoder,
                        layout=budget.layout, file_names=file_names or {k: k for k in entries})


class _Budget:
    """Collects section layouts; each section may not imply more bytes than the whole file's tensors hold
    (the exact comparison afterwards settles the rest, with its more specific messages)."""

    def __init__(self, path: Path, data_bytes: int) -> None:
        self.path, self.data_bytes, self.layout = path, data_bytes, {}

    def add(self, section: str, layout: Layout, description: str) -> None:
        implied = layout_bytes(layout)
        if implied > self.data_bytes:
            raise ModelFileError(
                f"the {section} config ({description}) implies {layout_parameters(layout):,} parameters "
                f"({_size(implied)}), more than the file's tensors hold in all ({_size(self.data_bytes)}): "
                "the config does not describe these weights (edited or hostile file); nothing was loaded",
                path=self.path)
        self.layout.update({f"{section}.{name}": spec for name, spec in layout.items()})


def _compare(path: Path, layout: Layout, entries: dict[str, tuple[tuple[int, ...], str]]) -> None:
    for section in SECTIONS:
        prefix = section + "."
        want = {k for k in layout if k.startswith(prefix)}
        have = {k for k in entries if k.startswith(prefix)}
        missing, unexpected = sorted(want - have), sorted(have - want)
        if missing or unexpected:
            detail = []
            if missing:
                detail.append(f"missing {len(missing)} tensor(s) e.g. {missing[0][:80]}")
            if unexpected:
                detail.append(f"unexpected {len(unexpected)} tensor(s) e.g. {unexpected[0][:80]}")
            raise ModelFileError(f"the {section} weights do not match its config: {'; '.join(detail)}", path=path)
    for name, (shape, dtype) in layout.items():
        got_shape, got_dtype = entries[name]
        if tuple(got_shape) != shape:
            raise ModelFileError(f"tensor {name[:80]} has shape {tuple(got_shape)}, the config needs {shape}",
                                 path=path)
        if got_dtype != dtype:
            raise ModelFileError(f"tensor {name[:80]} has dtype {got_dtype}, expected {dtype}", path=path)


def check_values(path: Path, tensors: Iterable[tuple[str, torch.Tensor]]) -> None:
    """Every floating-point tensor must be finite (NaN/inf weights mean a corrupted or hostile file)."""
    for name, tensor in tensors:
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ModelFileError(f"tensor {name[:80]} contains NaN or infinite values (corrupted)", path=path)


def _check_file_values(header: RawHeader, checked: CheckedModel) -> None:
    from safetensors import safe_open

    floats = [name for name, (_, dtype) in checked.layout.items() if dtype in FLOAT_DTYPES]
    try:
        with safe_open(str(header.path), framework="pt", device="cpu") as handle:
            check_values(header.path, ((name, handle.get_tensor(checked.file_names[name])) for name in floats))
    except SdaError:
        raise
    except Exception as exc:  # safetensors' own errors are plain exceptions; the header was checked already
        raise ModelFileError(f"safetensors could not read the tensors ({exc})", path=header.path) from exc


def _vocoder_config(path: Path, meta: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The HiFi-GAN config of the ``vocoder.*`` section (``metadata.vocoder.config``, else ``configs.vocoder``)."""
    from sda_models.vocoders.hifigan import HifiGanConfig

    found = meta.get("vocoder")
    info: dict[str, Any] = found if isinstance(found, dict) else {}
    kind = info.get("kind", "hifigan")
    if kind not in VOCODER_KINDS:
        raise ModelFileError(f"the vocoder section is of an unknown kind {str(kind)[:20]!r} (sda knows "
                             f"{', '.join(VOCODER_KINDS)})", path=path)
    raw = info.get("config")
    if not isinstance(raw, dict):
        raw = meta["configs"].get("vocoder")
    return _config(path, HifiGanConfig, "vocoder", raw, _VOCODER_LIMITS), raw if isinstance(raw, dict) else {}


def _config(path: Path, cls: type, what: str, data: Any, limits: dict[str, int] | None = None) -> Any:
    if not isinstance(data, dict):
        raise ModelFileError(f"the {what} config is missing or not an object", path=path)
    _check_limits(path, what, data, _LIMITS if limits is None else limits)
    try:
        return cls.from_dict(data)
    except (SdaError, ValueError, TypeError, KeyError, OverflowError) as exc:
        raise ModelFileError(f"the {what} config is invalid ({exc})", path=path) from exc


def _check_limits(path: Path, what: str, config: dict[str, Any], limits: dict[str, int]) -> None:
    for key, limit in limits.items():
        for value in _numbers(config.get(key), path, what, key):
            if isinstance(value, int | float) and not isinstance(value, bool) and value > limit:
                raise ModelFileError(f"the {what} config has an implausible {key}={value}", path=path)


def _numbers(value: Any, path: Path, what: str, key: str, depth: int = 0) -> list[Any]:
    if not isinstance(value, list):
        return [value]
    if len(value) > _MAX_LIST or depth > 1:
        raise ModelFileError(f"the {what} config has an implausible {key} (a list of {len(value)})", path=path)
    return [n for item in value for n in _numbers(item, path, what, key, depth + 1)]


def _describe(config: Any) -> str:
    keys = ("channels", "latent_dim", "res_blocks", "d_model", "n_layers", "ff_mult", "levels", "codebook_size",
            "upsample_initial_channel")
    shown = [f"{k}={config[k]}" for k in keys if isinstance(config, dict) and k in config]
    return ", ".join(shown) or "as stored"


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


__all__ = ["CheckedModel", "check_layout", "check_model_file", "check_values", "inspect_model_file"]
