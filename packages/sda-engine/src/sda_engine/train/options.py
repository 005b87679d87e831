"""What a person asks a training run for: one frozen, partial, JSON-serialisable :class:`TrainOptions`.

Both faces build it (``sda train`` from its flags, the GUI's Train tab from its form) and
:func:`sda_engine.train.planner.plan` resolves it into a :class:`~sda_engine.train.request.TrainRequest`.
Every field may be ``None``, which means "the default, or the plan's choice": the model size's step counts and
intervals, its RVQ settings, no time budget. :data:`DEFAULTS` holds the values ``None`` stands for where
there is one fixed default; :meth:`TrainOptions.get` reads a field with it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from sda_audio.errors import SdaError
from sda_audio.names import validate_name
from sda_models.configs import KINDS as MODEL_KINDS
from sda_models.configs import SIZES

AUTO = "auto"
FORM_CHOICES = (AUTO, "oneshot", "phrase", "texture")
"""The forms a person may ask for (``auto``: the material's detected form)."""
SIZE_CHOICES = (AUTO, *SIZES)
"""The model sizes a person may ask for (``auto`` picks one from the dataset and the device)."""
KINDS = tuple(sorted(MODEL_KINDS, key=lambda k: k != "rvq"))
"""``rvq`` (RVQ-VAE + code prior) and ``vae`` (continuous VAE)."""

DEFAULTS: dict[str, Any] = {
    "kind": "rvq", "size": AUTO, "device": AUTO, "seed": 0, "vocoder_minutes": 0.0, "augment": True,
    "patience": 6, "validate": True, "controls": True, "regularise_controls": False, "resume": False,
    "overwrite": False,
}
"""What ``None`` means for the fields with one fixed default (the others are the plan's choice)."""

_WHOLE_AT_LEAST_1 = ("steps", "prior_steps", "checkpoint_every", "eval_every", "preview_every", "batch_size",
                     "vocoder_steps", "patience", "codebook_size", "codebook_dim")
_FLAGS = ("augment", "validate", "controls", "regularise_controls", "resume", "overwrite")


@dataclass(frozen=True)
class TrainOptions:
    """Every user-facing training choice, once (``None``: the default or the plan's choice).

    Attributes:
        name: the model's library name (required to run).
        dataset: a folder of recordings (searched recursively) or a list of files.
        add: grow the existing model ``name`` with these files (its old files are replayed with them).
        kind: ``rvq`` or ``vae`` (default ``rvq``).
        size: ``tiny``, ``small``, ``full`` or ``auto`` (default: from the dataset and the device).
        max_minutes: wall-clock budget of the whole job (corpus index, model stages, controls, vocoder,
            writing), counted across resumes; the plan says how it is split. ``None``: the step counts alone.
        steps / prior_steps: autoencoder / prior optimisation steps (default: the size's).
        checkpoint_every / eval_every / preview_every / batch_size: the size's intervals and batch, overridden.
        rvq_levels / codebook_size / codebook_dim / commitment_weight: RVQ settings of a new model.
        vocoder_minutes / vocoder_steps: then train the model's own HiFi-GAN for that long (default: no).
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
        seed: seeds the split, the segment sampler, augmentation and initialisation (default 0).
        augment: on-the-fly waveform augmentation (default on).
        patience: evaluations without a better validation loss before early stopping (default 6).
        validate: check the dataset first and refuse one with errors (default on).
        controls: fit the eight musical controls after the model stages (default on).
        regularise_controls: tie latent dimensions to brightness, warmth and rhythmic (AR-VAE; default off).
        resume: continue exactly from the newest checkpoint of ``name`` (its settings come from the
            checkpoint; a vocoder budget given here replaces the stored one).
        overwrite: replace an existing library model of the same name.
        form: ``oneshot``, ``phrase`` or ``texture``: generate in that form whatever the material's detected
            form (``None`` / ``auto``: the detected one, :mod:`sda_engine.train.forms`).
    """

    name: str | None = None
    dataset: str | tuple[str, ...] | None = None
    add: tuple[str, ...] = ()
    kind: str | None = None
    size: str | None = None
    max_minutes: float | None = None
    steps: int | None = None
    prior_steps: int | None = None
    checkpoint_every: int | None = None
    eval_every: int | None = None
    preview_every: int | None = None
    batch_size: int | None = None
    rvq_levels: int | None = None
    codebook_size: int | None = None
    codebook_dim: int | None = None
    commitment_weight: float | None = None
    vocoder_minutes: float | None = None
    vocoder_steps: int | None = None
    device: str | None = None
    seed: int | None = None
    augment: bool | None = None
    patience: int | None = None
    validate: bool | None = None
    controls: bool | None = None
    regularise_controls: bool | None = None
    resume: bool | None = None
    overwrite: bool | None = None
    form: str | None = None
    base: str | None = None

    def __post_init__(self) -> None:
        if self.name is not None:
            _set(self, "name", validate_name(self.name))
        if self.dataset is not None and not isinstance(self.dataset, str):
            object.__setattr__(self, "dataset", _paths(self.dataset, "dataset"))
        object.__setattr__(self, "add", _paths(self.add or (), "add"))
        if self.kind is not None and self.kind not in KINDS:
            raise SdaError(f"unknown model kind '{self.kind}'", hint="use rvq or vae")
        if self.form is not None and self.form not in FORM_CHOICES:
            raise SdaError(f"unknown form '{self.form}'", hint="use auto, oneshot, phrase or texture")
        if self.base is not None and (not isinstance(self.base, str) or not self.base.strip()):
            raise SdaError(f"base must be auto, none or the path of a base model file, not {self.base!r}")
        if self.size is not None and self.size not in SIZE_CHOICES:
            raise SdaError(f"unknown model size '{self.size}'", hint="use tiny, small, full or auto")
        for key in _WHOLE_AT_LEAST_1:
            _set(self, key, _whole(getattr(self, key), key, low=1))
        _set(self, "rvq_levels", _whole(self.rvq_levels, "rvq_levels", low=1))
        _set(self, "seed", _whole(self.seed, "seed", low=None))
        _set(self, "max_minutes", _minutes(self.max_minutes, "the time budget", allow_zero=False))
        _set(self, "vocoder_minutes", _minutes(self.vocoder_minutes, "the vocoder's minutes", allow_zero=True))
        _set(self, "commitment_weight", _minutes(self.commitment_weight, "the commitment weight",
                                                 allow_zero=True, unit=""))
        for key in _FLAGS:
            value = getattr(self, key)
            if value is not None and not isinstance(value, bool):
                raise SdaError(f"{key} must be true or false, not {value!r}")
        if self.device is not None and not isinstance(self.device, str):
            raise SdaError(f"device must be a name such as auto, cpu, cuda or mps, not {self.device!r}")

    def get(self, key: str) -> Any:
        """The value of field ``key``, with ``None`` read as its default (:data:`DEFAULTS`)."""
        value = getattr(self, key)
        return DEFAULTS.get(key) if value is None else value

    @property
    def rvq(self) -> dict[str, Any]:
        """The RVQ overrides that are set, as :func:`sda_models.configs.preset_config` keywords."""
        keys = ("rvq_levels", "codebook_size", "codebook_dim", "commitment_weight")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}

    def replace(self, **changes: Any) -> TrainOptions:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The fields that are set (not ``None``), JSON-ready (tuples become lists)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None or (f.name == "add" and not value):
                continue
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainOptions:
        """Read :meth:`to_dict`'s output (unknown keys are an error, not silently dropped)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SdaError(f"unknown training option(s): {', '.join(unknown)}",
                           hint=f"the options are {', '.join(sorted(known))}")
        return cls(**data)


def _set(options: TrainOptions, key: str, value: Any) -> None:
    object.__setattr__(options, key, value)


def _paths(value: Any, name: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    try:
        return tuple(str(p) for p in value)
    except TypeError:
        raise SdaError(f"{name} must be a folder or a list of files, not {value!r}") from None


def _whole(value: Any, name: str, low: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SdaError(f"{name} must be a whole number, not {value!r}")
    if low is not None and value < low:
        raise SdaError(f"{name} must be at least {low}, not {value}", hint="leave it out to use the default")
    return value


def _minutes(value: Any, name: str, allow_zero: bool, unit: str = " minutes") -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise SdaError(f"{name} must be a number, not {value!r}")
    value = float(value)
    if value < 0 or (value == 0 and not allow_zero):
        raise SdaError(f"cannot use {value:g}{unit} for {name}",
                       hint="give a positive number" + ("" if allow_zero else ", or none for no limit"))
    return value
