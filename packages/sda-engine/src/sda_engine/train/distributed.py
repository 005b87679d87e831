"""Training in several processes (PyTorch DDP, launched by ``torchrun``): the process group and the few
collectives the training loop needs.

``sda train`` runs under ``torchrun --nproc-per-node N -m sda_cli train ...`` (or ``sda train --processes N``,
which launches exactly that). :func:`setup` reads torchrun's environment (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``) and joins the process group: ``gloo`` on the CPU, ``nccl`` on CUDA (each process on
``cuda:LOCAL_RANK``). With one process (no torchrun, or ``WORLD_SIZE=1``) there is no process group and every
helper here is a no-op that returns its input, so a single process trains exactly as it always has.

How a run is shared (see :mod:`sda_engine.train.loop` and :mod:`sda_engine.train.trainer`): every rank trains
the same model on its own batches (its sampler generator seeded from the seed and the rank; rank 0 draws what
a single process draws) and DistributedDataParallel averages the gradients; rank 0 validates and takes every
decision (evaluate now, checkpoint now, stop: early stop, time budget, cancel), broadcast so that all ranks
stop at the same step; rank 0 alone writes checkpoints, previews, the corpus index, the model file and emits
progress events.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import os
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.distributed as dist

TIMEOUT = datetime.timedelta(hours=2)
"""How long a collective waits for the other ranks (rank 0 indexes the corpus and writes files alone)."""

_local_depth = 0


def launched() -> bool:
    """Whether this process was started by torchrun (or another launcher setting ``RANK``/``WORLD_SIZE``) with
    more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def active() -> bool:
    """Whether collectives run now: a process group of more than one rank, outside :func:`local_only`."""
    return _local_depth == 0 and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0")) if launched() else 0


def is_main() -> bool:
    """Rank 0 (or the only process): the one that validates, decides, writes and reports."""
    return rank() == 0


def setup(device: str | torch.device = "cpu") -> torch.device:
    """Join torchrun's process group (a no-op for a single process) and return the device this rank trains on:
    ``cuda:LOCAL_RANK`` when ``device`` is CUDA, else ``device`` as it is."""
    device = torch.device(device)
    if not launched():
        return device
    if device.type == "cuda":
        if local_rank() >= torch.cuda.device_count():
            from sda_audio.errors import SdaError

            raise SdaError(f"training process {local_rank()} has no GPU of its own ({torch.cuda.device_count()} "
                           "visible)", hint="start at most one process per GPU, or train on the CPU (--device cpu)")
        device = torch.device("cuda", local_rank())
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=TIMEOUT)
        atexit.register(_leave)
    return device


def _leave() -> None:
    """At exit: leave the process group without waiting (a rank that failed ends the run through torchrun)."""
    if dist.is_available() and dist.is_initialized():
        with contextlib.suppress(Exception):
            dist.destroy_process_group()


def teardown() -> None:
    """Wait for every rank, then leave the process group (a no-op for a single process)."""
    if dist.is_available() and dist.is_initialized():
        with contextlib.suppress(Exception):  # a rank that failed has already taken the group down
            dist.barrier()
        dist.destroy_process_group()


@contextlib.contextmanager
def local_only() -> Iterator[None]:
    """Within it, this process runs alone: no collectives (work rank 0 does by itself, e.g. the vocoder)."""
    global _local_depth
    _local_depth += 1
    try:
        yield
    finally:
        _local_depth -= 1


def barrier() -> None:
    if active():
        dist.barrier()


def _wire_device() -> torch.device:
    """Where the collectives' tensors live: the rank's GPU with nccl, the CPU with gloo."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def broadcast_values(values: Sequence[float]) -> list[float]:
    """Rank 0's ``values`` (flags and numbers, float64) on every rank; a single process gets ``values`` back
    unchanged."""
    if not active():
        return list(values)
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=_wire_device())
    dist.broadcast(t, src=0)
    return [float(v) for v in t.cpu().tolist()]


def broadcast_object(obj: Any) -> Any:
    """Rank 0's (picklable) ``obj`` on every rank."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(obj: Any) -> list[Any] | None:
    """Every rank's ``obj``, by rank, on rank 0 (``None`` elsewhere); ``[obj]`` for a single process."""
    if not active():
        return [obj]
    out: list[Any] | None = [None] * dist.get_world_size() if is_main() else None
    dist.gather_object(obj, out, dst=0)
    return out


def broadcast_module(module: torch.nn.Module) -> None:
    """Rank 0's parameters and buffers (non-persistent ones too) into every rank's ``module``."""
    if not active():
        return
    with torch.no_grad():
        for t in [*module.parameters(), *module.buffers()]:
            dist.broadcast(t.data, src=0)


def sampler_seed(seed: int, rank_: int | None = None) -> int:
    """The sampler generator's seed of a rank: ``seed`` on rank 0 (what a single process draws), a seed derived
    from ``seed`` and the rank elsewhere."""
    r = rank() if rank_ is None else rank_
    return int(seed) if r == 0 else (int(seed) * 1_000_003 + 7919 * r) % (2**63 - 1)


def wrap(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``module`` in DistributedDataParallel while collectives run (gradients averaged over the ranks; rank 0's
    buffers, e.g. RVQ codebooks, broadcast before each forward), else ``module`` itself."""
    if not active():
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids, broadcast_buffers=True)


def check_resume_processes(model: str, processes: int, home: Any = None) -> None:
    """Refuse to resume ``model`` with ``processes`` training processes when its newest checkpoint was made by
    another number (each rank's own data order and random states are in it). No checkpoint: nothing to check.

    Raises:
        SdaError: naming the checkpoint and the number of processes to resume with (action ``restart``).
    """
    import json

    from sda_audio.errors import SdaError
    from sda_engine.store.home import SdaHome
    from sda_engine.train.checkpoints import CheckpointManager

    folder = (home if isinstance(home, SdaHome) else SdaHome(home)).checkpoint_dir(model)
    latest = CheckpointManager(folder).latest_path()
    if latest is None:
        return
    try:
        made = int(json.loads(latest.read_text()).get("world_size", 1))
    except (OSError, ValueError):
        return
    if made != processes:
        raise SdaError(f"the checkpoint {latest} was made by {made} training process(es), not {processes}",
                       path=latest, hint=f"resume with --processes {made}, or train from scratch", action="restart")
