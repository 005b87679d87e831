"""Choosing the compute device: CUDA, Apple MPS or CPU, automatically, with ``SDA_DEVICE`` as override."""

from __future__ import annotations

import os

import torch

from sda_audio.errors import SdaError

VALID_DEVICES = ("auto", "cpu", "cuda", "mps")


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(requested: str | None = None) -> torch.device:
    """Return the device to run on.

    ``requested`` (or, when it is ``None``/``"auto"``, the ``SDA_DEVICE`` environment variable)
    may be ``auto``, ``cpu``, ``cuda`` or ``mps``. ``auto`` prefers CUDA, then MPS, then CPU.
    Asking for a device that is absent is an error, not a silent fallback.
    """
    choice = (requested or "auto").lower()
    if choice == "auto":
        choice = os.environ.get("SDA_DEVICE", "auto").lower() or "auto"
    if choice not in VALID_DEVICES:
        raise SdaError(f"unknown device '{choice}'", hint="use one of auto, cpu, cuda, mps")
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise SdaError("CUDA was requested but no CUDA GPU is available",
                       hint="set SDA_DEVICE=cpu or auto")
    if choice == "mps" and not mps_available():
        raise SdaError("Apple MPS was requested but is not available on this machine",
                       hint="set SDA_DEVICE=cpu or auto")
    return torch.device(choice)


def cpu_generator(seed: int) -> torch.Generator:
    """A seeded CPU generator: draw noise here and move it to the device, so a seed sounds the same everywhere."""
    gen = torch.Generator(device="cpu")
    gen.manual_seed(int(seed))
    return gen
