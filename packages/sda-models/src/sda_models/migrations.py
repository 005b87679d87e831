"""Migrations between ``.sda`` format versions: a chain of pure functions ``vN_to_vN+1(meta, tensors)``.

Each function takes the parsed metadata of version N and the flat tensor dict and returns new ones of
version N+1 without touching its inputs. :func:`migrate` runs the chain up to
:data:`~sda_models.model_format.FORMAT_VERSION`. Tensors are renamed, never changed, so a migrated model
produces exactly what the old one did.

Format 1 (sda 0.x, continuous VAE only)::

    metadata {"format_version": 1, "config": {latent_dim, hidden_channels, downsample, n_mels, res_blocks,
              kernel_size, kl_weight, sample_rate, n_fft, hop_length, ...}, "dataset": {...},
              "training": {...}, "metrics": {...}, "created": "..."}
    tensors  model.<autoencoder state_dict key>, mel_mean (n_mels,), mel_std (n_mels,)

Format 2 (current): see ``docs/models.md`` ("The .sda model file").
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from torch import Tensor

from sda_models.model_format import FORMAT_VERSION, ModelFileError

Migration = Callable[[dict[str, Any], dict[str, Tensor]], tuple[dict[str, Any], dict[str, Tensor]]]

# format-1 config keys that moved into the mel definition, and renamed autoencoder keys
_V1_MEL_KEYS = {"sample_rate": "sampling_rate", "n_fft": "n_fft", "hop_length": "hop_length",
                "win_length": "win_length", "fmin": "fmin", "fmax": "fmax"}
_V1_RENAMES = {"hidden_channels": "channels"}


def v1_to_v2(meta: dict[str, Any], tensors: dict[str, Tensor]) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """Format 1 -> 2: namespaced tensors, ``configs`` section, explicit kind and parts.

    Raises ``KeyError``/``TypeError``/``ValueError`` on malformed input (:func:`migrate` reports them).
    """
    old = copy.deepcopy(meta)
    config = old.pop("config")
    if not isinstance(config, dict):
        raise TypeError("format-1 'config' must be an object")
    config = cast("dict[str, Any]", config)
    mel: dict[str, Any] = {}
    autoencoder: dict[str, Any] = {"kind": "vae"}
    for key, value in config.items():
        if key in _V1_MEL_KEYS:
            mel[_V1_MEL_KEYS[key]] = value
        else:
            autoencoder[_V1_RENAMES.get(key, key)] = value
    if "n_mels" in autoencoder:
        mel["num_mels"] = autoencoder["n_mels"]
    if "n_fft" in mel and "win_length" not in mel:
        mel["win_length"] = mel["n_fft"]
    new_tensors: dict[str, Tensor] = {}
    for name, tensor in tensors.items():
        if name.startswith("model."):
            new_tensors["autoencoder." + name[len("model."):]] = tensor
        elif name == "mel_mean":
            new_tensors["stats.mean"] = tensor
        elif name == "mel_std":
            new_tensors["stats.std"] = tensor
        else:
            new_tensors[name] = tensor  # left for the loader to reject as unexpected
    new_meta: dict[str, Any] = {
        "format_version": 2,
        "kind": "vae",
        "name": old.pop("name", None),
        "created": old.pop("created", None),
        "dataset": old.pop("dataset", {}),
        "training": old.pop("training", {}),
        "metrics": old.pop("metrics", {}),
        "configs": {"autoencoder": autoencoder, "mel": mel},
        "parts": {"prior": False, "vocoder": False, "control": False},
        "versions": {"written_by": old.pop("sda_version", None)},
        "migrated_from": 1,
    }
    old.pop("format_version", None)
    if old:
        new_meta["legacy"] = old  # anything else format 1 carried, kept rather than dropped
    return new_meta, new_tensors


MIGRATIONS: dict[int, Migration] = {1: v1_to_v2}


def migrate(meta: dict[str, Any], tensors: dict[str, Tensor], path: str | Path | None = None
            ) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """Run the migration chain from ``meta['format_version']`` up to the current format."""
    version = meta.get("format_version")
    while version != FORMAT_VERSION:
        step = MIGRATIONS.get(version) if type(version) is int else None
        if step is None:
            raise ModelFileError(f"no migration from format {version!r}", path=path)
        version = cast(int, version)
        try:
            meta, tensors = step(meta, tensors)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelFileError(f"cannot migrate from format {version}: malformed metadata ({exc!r})",
                                 path=path) from exc
        if meta.get("format_version") != version + 1:
            raise ModelFileError(f"migration from format {version} did not produce format {version + 1}",
                                 path=path, hint="this is a bug in sda; please report it")
        version = meta["format_version"]
    return meta, tensors
