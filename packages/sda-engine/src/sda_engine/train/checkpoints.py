"""Training checkpoints: every tensor in safetensors, the rest in a JSON file beside it.

A checkpoint is two files written atomically, tensors first and JSON last (the JSON is the
commit marker: a checkpoint without its JSON is ignored):

- ``<stage>-<step>.safetensors``: model weights (``model.<part>.*``), optimizer state tensors
  (``optim.<part>.*``, flattened, with the nested structure kept as a JSON index), RNG states as
  uint8 tensors (``rng.torch_cpu``, ``rng.torch_cuda``, ``rng.sampler``), and any extra tensors
  (``extra.*``, e.g. normalisation statistics).
- ``<stage>-<step>.json``: step, stage, config, best metric, optimizer/scheduler structure,
  numpy RNG state, loss history and whatever else the trainer needs to continue exactly.

The manager keeps the last ``keep`` checkpoints and the best one (lowest metric).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from sda_audio.atomic import atomic_path, atomic_write_json
from sda_audio.errors import SdaError

log = logging.getLogger(__name__)

STAGE_ORDER = ("autoencoder", "prior", "vocoder", "done")
_NAME = re.compile(r"^(?P<stage>[a-z]+)-(?P<step>\d{8})\.json$")
_TENSOR_TAG = "__tensor__"


def flatten_state(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Replace every tensor in a nested dict/list structure by ``{"__tensor__": key}``.

    The tensors go into ``tensors`` under ``prefix.<path>``; the returned structure is JSON-safe
    (dict keys become strings; integer keys are remembered as ``{"__int_keys__": true}``).
    """
    if isinstance(obj, torch.Tensor):
        key = prefix
        tensors[key] = obj.detach().to("cpu").contiguous().clone()
        return {_TENSOR_TAG: key}
    if isinstance(obj, Mapping):
        int_keys = bool(obj) and all(isinstance(k, int) for k in obj)
        out = {str(k): flatten_state(v, f"{prefix}.{k}", tensors) for k, v in obj.items()}
        return {"__int_keys__": True, "items": out} if int_keys else {"__dict__": out}
    if isinstance(obj, (list, tuple)):
        return {"__list__": [flatten_state(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)],
                "tuple": isinstance(obj, tuple)}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store a {type(obj).__name__} in a checkpoint")


def unflatten_state(obj: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """Inverse of :func:`flatten_state`."""
    if isinstance(obj, dict):
        if _TENSOR_TAG in obj:
            return tensors[obj[_TENSOR_TAG]]
        if "__int_keys__" in obj:
            return {int(k): unflatten_state(v, tensors) for k, v in obj["items"].items()}
        if "__dict__" in obj:
            return {k: unflatten_state(v, tensors) for k, v in obj["__dict__"].items()}
        if "__list__" in obj:
            items = [unflatten_state(v, tensors) for v in obj["__list__"]]
            return tuple(items) if obj.get("tuple") else items
    return obj


def rng_to_tensor(state: torch.Tensor) -> torch.Tensor:
    """A generator state (ByteTensor) as a contiguous uint8 CPU tensor."""
    return state.detach().to("cpu", torch.uint8).contiguous().clone()


@dataclass
class Checkpoint:
    """One saved training state.

    Attributes:
        step: steps completed in ``stage``.
        stage: ``autoencoder``, ``prior``, ``vocoder`` or ``done``.
        tensors: every tensor, by key (CPU).
        meta: JSON metadata (config, best metric, structures, history, ...).
        path: the JSON file it was read from (``None`` before saving).
    """

    step: int
    stage: str
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def module_state(self, part: str) -> dict[str, torch.Tensor]:
        """The ``state_dict`` stored under ``model.<part>.``."""
        head = f"model.{part}."
        return {k[len(head):]: v for k, v in self.tensors.items() if k.startswith(head)}

    def put_module(self, part: str, module: torch.nn.Module) -> None:
        for k, v in module.state_dict().items():
            self.tensors[f"model.{part}.{k}"] = v.detach().to("cpu").contiguous().clone()

    def put_state(self, name: str, state: Any) -> None:
        """Store a nested state (optimizer/scheduler ``state_dict``) as tensors + JSON index."""
        self.meta.setdefault("states", {})[name] = flatten_state(state, f"state.{name}", self.tensors)

    def get_state(self, name: str) -> Any:
        states = self.meta.get("states", {})
        if name not in states:
            raise KeyError(name)
        return unflatten_state(states[name], self.tensors)

    def has_state(self, name: str) -> bool:
        return name in self.meta.get("states", {})


def capture_rng(ckpt: Checkpoint, sampler: torch.Generator | None, np_rng: Any = None) -> None:
    """Store torch CPU (and CUDA) RNG, the sampler generator and a numpy Generator's state."""
    ckpt.tensors["rng.torch_cpu"] = rng_to_tensor(torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        ckpt.tensors["rng.torch_cuda"] = rng_to_tensor(torch.cuda.get_rng_state())
    if sampler is not None:
        ckpt.tensors["rng.sampler"] = rng_to_tensor(sampler.get_state())
    if np_rng is not None:
        ckpt.meta["numpy_rng"] = np_rng.bit_generator.state


def restore_rng(ckpt: Checkpoint, sampler: torch.Generator | None, np_rng: Any = None) -> None:
    """Inverse of :func:`capture_rng`."""
    if "rng.torch_cpu" in ckpt.tensors:
        torch.set_rng_state(ckpt.tensors["rng.torch_cpu"])
    if "rng.torch_cuda" in ckpt.tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(ckpt.tensors["rng.torch_cuda"])
    if sampler is not None and "rng.sampler" in ckpt.tensors:
        sampler.set_state(ckpt.tensors["rng.sampler"])
    if np_rng is not None and "numpy_rng" in ckpt.meta:
        np_rng.bit_generator.state = ckpt.meta["numpy_rng"]


class CheckpointManager:
    """Saves, lists, prunes and loads checkpoints in one folder.

    Args:
        folder: where the checkpoints live (created on first save).
        keep: how many of the newest checkpoints to keep (the best one is kept as well).
    """

    def __init__(self, folder: str | Path, keep: int = 3) -> None:
        self.folder = Path(folder)
        self.keep = max(1, int(keep))

    # -- listing -----------------------------------------------------------------------------
    def _entries(self) -> list[tuple[int, int, Path]]:
        if not self.folder.is_dir():
            return []
        out = []
        for p in self.folder.iterdir():
            m = _NAME.match(p.name)
            if m and m.group("stage") in STAGE_ORDER and p.with_suffix(".safetensors").exists():
                out.append((STAGE_ORDER.index(m.group("stage")), int(m.group("step")), p))
        return sorted(out)

    def list(self) -> list[Path]:
        """JSON files of complete checkpoints, oldest first (by stage, then step)."""
        return [p for _, _, p in self._entries()]

    def latest_path(self) -> Path | None:
        entries = self._entries()
        return entries[-1][2] if entries else None

    # -- saving ------------------------------------------------------------------------------
    def save(self, ckpt: Checkpoint, metric: float | None = None) -> Path:
        """Write ``ckpt`` (tensors, then JSON), record ``metric`` and prune old checkpoints."""
        stem = f"{ckpt.stage}-{ckpt.step:08d}"
        json_path = self.folder / f"{stem}.json"
        tensor_path = self.folder / f"{stem}.safetensors"
        meta = dict(ckpt.meta)
        meta.update(step=ckpt.step, stage=ckpt.stage, metric=metric)
        with atomic_path(tensor_path) as tmp:
            save_file({k: v.contiguous() for k, v in ckpt.tensors.items()}, str(tmp))
        atomic_write_json(json_path, meta)
        ckpt.path = json_path
        if metric is not None:
            best = self._best()
            if best is None or metric <= best[1]:
                atomic_write_json(self.folder / "best.json", {"checkpoint": json_path.name, "metric": metric})
        self._prune()
        log.debug("checkpoint saved: %s", json_path)
        return json_path

    def _best(self) -> tuple[str, float] | None:
        p = self.folder / "best.json"
        if not p.exists():
            return None
        data = json.loads(p.read_text())
        return data["checkpoint"], float(data["metric"])

    def _prune(self) -> None:
        entries = self._entries()
        best = self._best()
        protected = {best[0]} if best else set()
        for _, _, p in entries[: max(0, len(entries) - self.keep)]:
            if p.name in protected:
                continue
            p.with_suffix(".safetensors").unlink(missing_ok=True)
            p.unlink(missing_ok=True)

    # -- loading -----------------------------------------------------------------------------
    def load(self, json_path: str | Path) -> Checkpoint:
        json_path = Path(json_path)
        try:
            meta = json.loads(json_path.read_text())
            tensors = load_file(str(json_path.with_suffix(".safetensors")))
        except (OSError, ValueError) as exc:
            raise SdaError(f"cannot read this checkpoint ({exc})", path=json_path,
                           hint="delete it to fall back to an older one, or train from scratch",
                           action="restart") from exc
        return Checkpoint(step=int(meta["step"]), stage=str(meta["stage"]), tensors=tensors, meta=meta,
                          path=json_path)

    def load_latest(self) -> Checkpoint | None:
        """The newest complete checkpoint, or ``None`` when there is none."""
        path = self.latest_path()
        return self.load(path) if path is not None else None

    def load_best(self) -> Checkpoint | None:
        best = self._best()
        if best is None or not (self.folder / best[0]).exists():
            return None
        return self.load(self.folder / best[0])

    def clear(self) -> None:
        """Remove every checkpoint in the folder (after a finished training run)."""
        if not self.folder.is_dir():
            return
        for p in self.folder.iterdir():
            if p.suffix in (".json", ".safetensors") or p.name.endswith(".tmp"):
                p.unlink(missing_ok=True)


def capture_module_extras(ckpt: Checkpoint, part: str, module: torch.nn.Module) -> None:
    """State a ``state_dict`` misses but exact resume needs: per-module CPU generators (e.g. an RVQ
    level's k-means / dead-code generator), non-persistent buffers (its sample reservoir) and the
    integer write cursor ``_write_pos`` some modules keep."""
    persistent = set(module.state_dict().keys())
    for name, buf in module.named_buffers():
        if name not in persistent:
            ckpt.tensors[f"modextra.{part}.buffer.{name}"] = buf.detach().to("cpu").contiguous().clone()
    ints: dict[str, int] = {}
    for name, sub in module.named_modules():
        gen = getattr(sub, "generator", None)
        if isinstance(gen, torch.Generator) and gen.device.type == "cpu":
            ckpt.tensors[f"modextra.{part}.generator.{name}"] = rng_to_tensor(gen.get_state())
        pos = getattr(sub, "_write_pos", None)
        if isinstance(pos, int):
            ints[name] = pos
    ckpt.meta.setdefault("module_ints", {})[part] = ints


def restore_module_extras(ckpt: Checkpoint, part: str, module: torch.nn.Module) -> None:
    """Inverse of :func:`capture_module_extras` (missing entries are left as they are)."""
    buffers = dict(module.named_buffers())
    head = f"modextra.{part}.buffer."
    for key, value in ckpt.tensors.items():
        if key.startswith(head) and key[len(head):] in buffers:
            buffers[key[len(head):]].copy_(value.to(buffers[key[len(head):]].device))
    ints = ckpt.meta.get("module_ints", {}).get(part, {})
    for name, sub in module.named_modules():
        key = f"modextra.{part}.generator.{name}"
        gen = getattr(sub, "generator", None)
        if key in ckpt.tensors and isinstance(gen, torch.Generator):
            gen.set_state(ckpt.tensors[key])
        if name in ints and isinstance(getattr(sub, "_write_pos", None), int):
            sub._write_pos = int(ints[name])  # pyright: ignore[reportArgumentType]  (a plain int attribute)
