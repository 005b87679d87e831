"""What a training stage is: the :class:`Stage` protocol the loop runs, and :class:`TorchStage`, a base class
whose registered state makes checkpoints, best-weight tracking and exact resume follow from one list.

A stage names its stateful parts once (audiocraft's ``register_stateful`` / ``register_best_state``)::

    self.register_stateful("autoencoder", self.model, extras=True)   # weights (+ generators, reservoirs)
    self.register_stateful("optim.autoencoder", self.optimizer)      # optimizer / scheduler state
    self.register_rng(self.data.generator)                           # torch CPU/CUDA RNG + the sampler
    self.register_best_state("autoencoder")                          # kept when validation improves

and :meth:`TorchStage.save`, :meth:`~TorchStage.load`, :meth:`~TorchStage.snapshot_best` and
:meth:`~TorchStage.restore_best` follow. Each part keeps the checkpoint keys it has always had (weights under
``model.<key>.*``, nested states in ``meta["states"][<key>]``, RNG in ``rng.*``; see
:mod:`sda_engine.train.checkpoints`), so checkpoints of earlier versions resume.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch

from sda_engine.train import distributed
from sda_engine.train.checkpoints import (
    Checkpoint,
    capture_module_extras,
    capture_rng,
    restore_module_extras,
    restore_rng,
)


class Stage(Protocol):
    """What :func:`sda_engine.train.loop.run_stage` runs; :class:`TorchStage` implements all but
    :meth:`train_step`."""

    def train_step(self, step: int) -> dict[str, float]:
        """Run optimisation step ``step`` (1-based); the dict has ``loss`` and any other floats."""
        ...

    def evaluate(self) -> dict[str, float] | None:
        """Validation metrics with ``val_loss`` (``None``: no validation data)."""
        ...

    def after_eval(self, step: int, entry: dict[str, float]) -> list[str]:
        """Stage-specific warnings after an evaluation; one starting with ``"stop:"`` stops the stage."""
        ...

    def health(self) -> list[dict[str, Any]] | None:
        """Codebook health per level (RVQ), included in ``metrics`` events."""
        ...

    def preview(self, step: int) -> str | None:
        """Render an audio preview and return its path (``None``: none)."""
        ...

    def current_lr(self) -> float | None:
        """The learning rate, added to each step's metrics as ``lr`` (``None``: the step reports its own)."""
        ...

    def save(self, ckpt: Checkpoint) -> None:
        """Put everything exact resume needs into ``ckpt``."""
        ...

    def load(self, ckpt: Checkpoint) -> None:
        """Restore it (and refuse a checkpoint made with other settings)."""
        ...

    def snapshot_best(self) -> dict[str, torch.Tensor] | None:
        """A CPU copy of the weights to keep (called when validation improves)."""
        ...

    def restore_best(self, snapshot: dict[str, torch.Tensor]) -> None:
        """Put a snapshot's weights back."""
        ...


class StatePart(Protocol):
    """One registered piece of a stage's state: how it goes into a checkpoint and comes back."""

    def save(self, ckpt: Checkpoint) -> None: ...

    def load(self, ckpt: Checkpoint) -> None: ...


class ModulePart:
    """A module's ``state_dict`` under ``model.<key>.*``; with ``extras``, also the state a ``state_dict``
    misses (per-module generators, non-persistent buffers, write cursors) under ``modextra.<key>.*``."""

    def __init__(self, key: str, module: torch.nn.Module, extras: bool = False) -> None:
        self.key, self.module, self.extras = key, module, extras

    def save(self, ckpt: Checkpoint) -> None:
        ckpt.put_module(self.key, self.module)
        if self.extras:
            capture_module_extras(ckpt, self.key, self.module)

    def load(self, ckpt: Checkpoint) -> None:
        self.module.load_state_dict(ckpt.module_state(self.key))
        if self.extras:
            restore_module_extras(ckpt, self.key, self.module)

    def save_local(self, ckpt: Checkpoint) -> None:
        """The state that differs between the ranks of a DDP run (the module's generators and cursors)."""
        if self.extras:
            capture_module_extras(ckpt, self.key, self.module)

    def load_local(self, ckpt: Checkpoint) -> None:
        if self.extras:
            restore_module_extras(ckpt, self.key, self.module)


class NestedStatePart:
    """Anything with ``state_dict()`` / ``load_state_dict()`` (optimizer, scheduler): its nested state in
    ``meta["states"][<key>]``, tensors alongside (:meth:`Checkpoint.put_state`)."""

    def __init__(self, key: str, obj: Any) -> None:
        self.key, self.obj = key, obj

    def save(self, ckpt: Checkpoint) -> None:
        ckpt.put_state(self.key, self.obj.state_dict())

    def load(self, ckpt: Checkpoint) -> None:
        self.obj.load_state_dict(ckpt.get_state(self.key))


class RngPart:
    """The torch CPU (and CUDA) RNG and a sampler's generator (``rng.*``)."""

    def __init__(self, sampler: torch.Generator | None) -> None:
        self.sampler = sampler

    def save(self, ckpt: Checkpoint) -> None:
        capture_rng(ckpt, self.sampler)

    def load(self, ckpt: Checkpoint) -> None:
        restore_rng(ckpt, self.sampler)

    save_local = save
    load_local = load


class MetaPart:
    """A JSON value in ``meta[<key>]``, read by ``get`` and put back by ``put`` (left alone when a checkpoint
    lacks it)."""

    def __init__(self, key: str, get: Callable[[], Any], put: Callable[[Any], None]) -> None:
        self.key, self.get, self.put = key, get, put

    def save(self, ckpt: Checkpoint) -> None:
        ckpt.meta[self.key] = self.get()

    def load(self, ckpt: Checkpoint) -> None:
        if self.key in ckpt.meta:
            self.put(ckpt.meta[self.key])


class SavedTensorsPart:
    """Tensors written into every checkpoint and read back by the stage's constructor, not by ``load``
    (normalisation statistics, which must exist before the model is built)."""

    def __init__(self, get: Callable[[], dict[str, torch.Tensor]]) -> None:
        self.get = get

    def save(self, ckpt: Checkpoint) -> None:
        ckpt.tensors.update(self.get())

    def load(self, ckpt: Checkpoint) -> None:
        pass


class SaveOnlyPart:
    """A part that is written but not restored by ``load`` (a frozen module restored before the stage was
    built, e.g. the autoencoder the prior stage encodes with)."""

    def __init__(self, part: StatePart) -> None:
        self.part = part

    def save(self, ckpt: Checkpoint) -> None:
        self.part.save(ckpt)

    def load(self, ckpt: Checkpoint) -> None:
        pass


class TorchStage:
    """Base class of the torch stages: registered state gives checkpoints, best weights and exact resume.

    Subclasses call ``super().__init__()``, register their parts, and implement :meth:`train_step` (and, as
    they need, :meth:`evaluate`, :meth:`after_eval`, :meth:`health`, :meth:`preview`). ``step`` counts the
    optimisation steps done; :meth:`load` sets it from the checkpoint.
    """

    def __init__(self) -> None:
        self.step = 0
        self.time_fraction: float | None = None
        self._parts: dict[str, StatePart] = {}
        self._modules: dict[str, torch.nn.Module] = {}
        self._optimizers: list[torch.optim.Optimizer] = []
        self._best: list[str] = []

    # -- registration ---------------------------------------------------------------------------
    def register_stateful(self, key: str, obj: Any, *, extras: bool = False) -> None:
        """Keep ``obj`` in every checkpoint under ``key``: a module's weights (``extras``: with the state a
        ``state_dict`` misses), or an optimizer's / scheduler's nested state."""
        if isinstance(obj, torch.nn.Module):
            self._modules[key] = obj
            self.register_part(key, ModulePart(key, obj, extras))
            return
        if not (hasattr(obj, "state_dict") and hasattr(obj, "load_state_dict")):
            raise TypeError(f"cannot checkpoint a {type(obj).__name__}: register a part for it instead")
        if isinstance(obj, torch.optim.Optimizer):
            self._optimizers.append(obj)
        self.register_part(key, NestedStatePart(key, obj))

    def register_rng(self, sampler: torch.Generator | None) -> None:
        """Keep the torch RNG and the data sampler's generator, so a resumed run draws what it would have."""
        self.register_part("rng", RngPart(sampler))

    def register_meta(self, key: str, get: Callable[[], Any], put: Callable[[Any], None]) -> None:
        """Keep a JSON value (warnings already given, a monitor's state) in ``meta[key]``."""
        self.register_part(key, MetaPart(key, get, put))

    def register_part(self, key: str, part: StatePart) -> None:
        """Keep any other state: ``part.save(ckpt)`` / ``part.load(ckpt)``."""
        if key in self._parts:
            raise ValueError(f"stage state '{key}' is registered twice")
        self._parts[key] = part

    def register_best_state(self, key: str) -> None:
        """Snapshot the weights of registered module ``key`` whenever validation improves; the loop puts the
        best snapshot back at the end (and keeps it in checkpoints as ``model.best.*``)."""
        if key not in self._modules:
            raise ValueError(f"register the module '{key}' before its best state")
        self._best.append(key)

    # -- what the loop calls ---------------------------------------------------------------------
    def save(self, ckpt: Checkpoint) -> None:
        for part in self._parts.values():
            part.save(ckpt)
        if distributed.active():
            self._save_ranks(ckpt)

    def load(self, ckpt: Checkpoint) -> None:
        for part in self._parts.values():
            part.load(ckpt)
        if int(ckpt.meta.get("world_size", 1)) > 1:
            self._load_rank(ckpt)
        self.step = ckpt.step

    def _save_ranks(self, ckpt: Checkpoint) -> None:
        """DDP: every rank's own RNG and generator states, gathered into rank 0's checkpoint under
        ``rank.<r>.*`` (tensors) and ``meta["ranks"][<r>]``, so each rank continues exactly on resume (called on
        every rank: a collective)."""
        local = Checkpoint(step=ckpt.step, stage=ckpt.stage)
        for part in self._parts.values():
            save_local = getattr(part, "save_local", None)
            if save_local is not None:
                save_local(local)
        gathered = distributed.gather_objects((local.tensors, local.meta))
        if gathered is None:
            return
        ckpt.meta["world_size"] = len(gathered)
        ranks = ckpt.meta.setdefault("ranks", {})
        for r, (tensors, meta) in enumerate(gathered):
            ckpt.tensors.update({f"rank.{r}.{k}": v for k, v in tensors.items()})
            ranks[str(r)] = meta

    def _load_rank(self, ckpt: Checkpoint) -> None:
        """This rank's own states from a DDP checkpoint (see :meth:`_save_ranks`)."""
        r = distributed.rank()
        head = f"rank.{r}."
        local = Checkpoint(step=ckpt.step, stage=ckpt.stage, meta=dict(ckpt.meta.get("ranks", {}).get(str(r), {})),
                           tensors={k[len(head):]: v for k, v in ckpt.tensors.items() if k.startswith(head)})
        for part in self._parts.values():
            load_local = getattr(part, "load_local", None)
            if load_local is not None:
                load_local(local)

    def broadcast_modules(self) -> None:
        """DDP: rank 0's weights (and buffers) of every registered module on every rank (a no-op alone)."""
        for module in self._modules.values():
            distributed.broadcast_module(module)

    def load_modules(self, ckpt: Checkpoint) -> None:
        """Restore only the registered modules (weights without optimizer or RNG state)."""
        for key in self._modules:
            self._parts[key].load(ckpt)

    def snapshot_best(self) -> dict[str, torch.Tensor] | None:
        if not self._best:
            return None
        single = len(self._best) == 1  # one module: its own keys (the checkpoint's ``model.best.*``)
        return {(k if single else f"{key}.{k}"): v.detach().to("cpu").clone()
                for key in self._best for k, v in self._modules[key].state_dict().items()}

    def restore_best(self, snapshot: dict[str, torch.Tensor]) -> None:
        if len(self._best) == 1:
            self._modules[self._best[0]].load_state_dict(snapshot)
            return
        for key in self._best:
            head = f"{key}."
            self._modules[key].load_state_dict({k[len(head):]: v for k, v in snapshot.items() if k.startswith(head)})

    def current_lr(self) -> float | None:
        return float(self._optimizers[0].param_groups[0]["lr"]) if self._optimizers else None

    def set_progress(self, time_fraction: float | None) -> None:
        """The share of the stage's time spent (``None``: no time limit), set by the loop before each step: a
        ``time`` learning-rate schedule decays by it."""
        self.time_fraction = time_fraction

    # -- what a stage may add --------------------------------------------------------------------
    def train_step(self, step: int) -> dict[str, float]:
        raise NotImplementedError

    def evaluate(self) -> dict[str, float] | None:
        return None

    def after_eval(self, step: int, entry: dict[str, float]) -> list[str]:
        return []

    def health(self) -> list[dict[str, Any]] | None:
        return None

    def preview(self, step: int) -> str | None:
        return None
