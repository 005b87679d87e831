"""What a training run will do, resolved: the model, files, size, configs, budget and its split, lineage.

:func:`sda_engine.train.planner.plan` turns :class:`~sda_engine.train.options.TrainOptions` into a
:class:`TrainRequest`; :func:`sda_engine.train.trainer.run` runs it. The request is stored in every training
checkpoint (``meta["request"]``), so a resumed run continues with exactly the settings it was started with.
Checkpoints written before this type existed kept an untyped ``meta["setup"]`` dict whose size was
called ``preset``; :meth:`TrainRequest.from_checkpoint_meta` reads both (and version 1 requests, which had
no model name, device, run flags or budget split).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sda_audio.errors import SdaError
from sda_engine.train.budget import split_budget
from sda_engine.train.options import KINDS
from sda_models.configs import SIZES, AutoencoderConfig, PriorConfig, TrainingConfig

REQUEST_VERSION = 2
_SPLIT_INPUTS = {"files", "size", "prior", "max_minutes", "vocoder_minutes", "vocoder_steps", "fit_controls"}


SWEEP_MIN_MINUTES = 5.0
"""The smallest time budget whose run chooses the controls' realisations by a generated sweep."""


@dataclass(frozen=True)
class TrainRequest:
    """A resolved training run (JSON-serialisable with :meth:`to_dict` / :meth:`from_dict`).

    Attributes:
        files: every training file (for growing: the old files first, then the new ones).
        kind: ``rvq`` (RVQ-VAE + code prior) or ``vae``.
        size: ``tiny``, ``small`` or ``full``; ``size_reason`` says why (``auto`` explains its choice).
        seed: seeds the split, the sampler, augmentation and initialisation.
        autoencoder / training: the autoencoder's config and its training config.
        prior / prior_training: the code prior's (RVQ only; ``None`` for a VAE).
        old_files: growing only - the files the existing model was trained on (replayed).
        patience: evaluations without a better validation loss before early stopping.
        max_minutes: wall-clock budget of the whole job, counted across resumes; ``None``: the step counts
            alone. ``budget`` is its planned split, seconds per part (:func:`~sda_engine.train.budget.split_budget`).
        vocoder_minutes / vocoder_steps: train a per-model HiFi-GAN for that long (``0`` / ``None``: no).
        grown_from: growing only - the sha256 of the model file that was grown.
        lineage: the lineage id shared by a model and the models grown from it (``None``: a new one).
        fit_controls: fit the eight musical controls after the model stages (:mod:`sda_control.fit`).
        name: the model's library name (``""`` in a request read from a version-1 checkpoint until the
            resuming run names it).
        device: where it trains (``cpu``, ``cuda``, ``mps``, as resolved by the plan).
        resume: continue from the newest checkpoint of ``name``; overwrite: replace a library model of the
            same name.
        form: the form asked for (``oneshot``, ``phrase``, ``texture``); ``None``: the detected one.
        base: the base model the autoencoder starts from (:class:`~sda_engine.train.base_start.BaseChoice` as a
            dict: ``path``, ``sha256``, ``name``, ``reason``); ``None``: none was considered (growing, a request
            of an earlier sda). A dict whose ``path`` is ``None`` says why the run trains from scratch.
    """

    files: tuple[str, ...]
    kind: str
    size: str
    size_reason: str
    seed: int
    autoencoder: AutoencoderConfig
    training: TrainingConfig
    prior: PriorConfig | None = None
    prior_training: TrainingConfig | None = None
    old_files: tuple[str, ...] = ()
    patience: int = 6
    max_minutes: float | None = None
    vocoder_minutes: float = 0.0
    vocoder_steps: int | None = None
    grown_from: str | None = None
    lineage: str | None = None
    fit_controls: bool = True
    name: str = ""
    device: str = "cpu"
    resume: bool = False
    overwrite: bool = False
    budget: tuple[tuple[str, float], ...] = ()
    form: str | None = None
    base: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", tuple(str(f) for f in self.files))
        object.__setattr__(self, "old_files", tuple(str(f) for f in self.old_files))
        budget = self.budget.items() if isinstance(self.budget, dict) else self.budget
        object.__setattr__(self, "budget", tuple((str(k), float(v)) for k, v in budget))
        if not self.name and self.resume:
            raise SdaError("a resumed run needs the model's name", hint="name the model to resume")
        if not self.files:
            raise SdaError("a training request needs at least one audio file", hint="add recordings to train on")
        if self.kind not in KINDS:
            raise SdaError(f"unknown model kind '{self.kind}'", hint="use rvq or vae")
        if self.size not in SIZES:
            raise SdaError(f"unknown model size '{self.size}'", hint="use tiny, small, full or auto")
        if self.autoencoder.kind != self.kind:
            raise SdaError(f"the autoencoder config is a {self.autoencoder.kind} but the request is for a "
                           f"{self.kind} model", hint="build the request with plan()")
        if (self.prior is None) != (self.prior_training is None):
            raise SdaError("a code prior needs both its config and its training config",
                           hint="build the request with plan()")
        if self.patience < 1:
            raise SdaError(f"patience must be at least 1 evaluation, got {self.patience}", hint="use 1 or more")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise SdaError(f"cannot train for {self.max_minutes} minutes", hint="give a positive number of minutes")
        if self.vocoder_minutes < 0 or (self.vocoder_steps is not None and self.vocoder_steps < 1):
            raise SdaError("the vocoder budget must be positive", hint="give positive minutes or steps, or none")
        if self.max_minutes is None:
            object.__setattr__(self, "budget", ())
        elif not self.budget:  # the plan's split (a stored request keeps the split it was planned with)
            object.__setattr__(self, "budget", split_budget(self))

    @property
    def budget_split(self) -> dict[str, float]:
        """The planned split of the job's time budget, seconds per part in the order they run (``{}``: no
        budget)."""
        return dict(self.budget)

    @property
    def regularise_controls(self) -> bool:
        """Attribute-regularised training is on (kept in the autoencoder config: ``attributes`` and
        ``attribute_weight``, so a resumed or grown run keeps it)."""
        return bool(self.autoencoder.regularised)

    @property
    def chooses_controls_by_sweep(self) -> bool:
        """Whether the run chooses each control's realisation by a generated sweep after the fit
        (:mod:`sda_engine.train.control_choice`): with a time budget of at least :data:`SWEEP_MIN_MINUTES`
        (the sweep takes about a minute on a CPU); shorter or step-counted runs keep the fit's proposal."""
        return self.fit_controls and self.max_minutes is not None and self.max_minutes >= SWEEP_MIN_MINUTES

    @property
    def trains_vocoder(self) -> bool:
        return self.vocoder_minutes > 0 or self.vocoder_steps is not None

    @property
    def stages(self) -> tuple[str, ...]:
        """The sub-jobs this run plans, in order (``corpus_index`` first)."""
        out = ["corpus_index", "autoencoder"]
        if self.prior is not None:
            out.append("prior")
        if self.fit_controls:
            out.append("control")
        if self.trains_vocoder:
            out.append("vocoder")
        return tuple(out)

    def replace(self, **changes: Any) -> TrainRequest:
        """A copy with ``changes``; a change to what the budget covers re-plans its split."""
        if "budget" not in changes and set(changes) & _SPLIT_INPUTS:
            changes["budget"] = ()
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": REQUEST_VERSION,
            "files": list(self.files), "old_files": list(self.old_files),
            "kind": self.kind, "size": self.size, "size_reason": self.size_reason, "seed": self.seed,
            "autoencoder": self.autoencoder.to_dict(), "training": self.training.to_dict(),
            "prior": self.prior.to_dict() if self.prior is not None else None,
            "prior_training": self.prior_training.to_dict() if self.prior_training is not None else None,
            "patience": self.patience, "max_minutes": self.max_minutes,
            "vocoder_minutes": self.vocoder_minutes, "vocoder_steps": self.vocoder_steps,
            "grown_from": self.grown_from, "lineage": self.lineage, "fit_controls": self.fit_controls,
            "name": self.name, "device": self.device, "resume": self.resume, "overwrite": self.overwrite,
            "budget": self.budget_split,
            **({"form": self.form} if self.form is not None else {}),
            **({"base": dict(self.base)} if self.base is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainRequest:
        """Read :meth:`to_dict`'s output (this version or version 1), or an old checkpoint's ``setup`` dict
        (``preset`` = size). A request with a budget but no split gets the plan's split."""
        data = dict(data)
        version = int(data.pop("version", REQUEST_VERSION))
        if version > REQUEST_VERSION:
            raise SdaError(f"this training request is version {version}, newer than this sda understands "
                           f"({REQUEST_VERSION})", hint="update sda to continue this run", action="restart")
        if "size" not in data and "preset" in data:  # a setup dict of the untyped era
            data["size"] = data.pop("preset")
            data["size_reason"] = data.pop("preset_reason", "")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SdaError(f"unknown training request keys: {', '.join(unknown)}",
                           hint="this run was started by another sda version; train from scratch", action="restart")
        try:
            return cls(
                files=tuple(data["files"]), old_files=tuple(data.get("old_files") or ()),
                kind=str(data["kind"]), size=str(data["size"]), size_reason=str(data.get("size_reason", "")),
                seed=int(data["seed"]),
                autoencoder=AutoencoderConfig.from_dict(data["autoencoder"]),
                training=TrainingConfig.from_dict(data["training"]),
                prior=PriorConfig.from_dict(data["prior"]) if data.get("prior") else None,
                prior_training=(TrainingConfig.from_dict(data["prior_training"])
                                if data.get("prior_training") else None),
                patience=int(data.get("patience", 6)),
                max_minutes=float(data["max_minutes"]) if data.get("max_minutes") else None,
                vocoder_minutes=float(data.get("vocoder_minutes") or 0.0),
                vocoder_steps=int(data["vocoder_steps"]) if data.get("vocoder_steps") else None,
                grown_from=data.get("grown_from"), lineage=data.get("lineage"),
                fit_controls=bool(data.get("fit_controls", True)),
                name=str(data.get("name") or ""), device=str(data.get("device") or "cpu"),
                resume=bool(data.get("resume", False)), overwrite=bool(data.get("overwrite", False)),
                budget=tuple((data.get("budget") or {}).items()),
                form=data.get("form"),
                base=dict(data["base"]) if isinstance(data.get("base"), dict) else None,
            )
        except KeyError as exc:
            raise SdaError(f"the training request lacks {exc}", hint="train from scratch", action="restart") from exc

    @classmethod
    def from_checkpoint_meta(cls, meta: dict[str, Any]) -> TrainRequest:
        """The request a checkpoint was written for (``request``, or the older ``setup``)."""
        if "request" in meta:
            return cls.from_dict(meta["request"])
        if "setup" in meta:
            return cls.from_dict(meta["setup"])
        raise SdaError("this checkpoint does not say how its training run was set up",
                       hint="train from scratch", action="restart")
