"""The ``auto`` model size: pick tiny, small or full from the dataset size and the device.

(A model *size* fixes the network and training configs; it is not a *preset*, which is a saved set of
generation settings - see :mod:`sda_engine.store.presets`.)
"""

from __future__ import annotations

SMALL_SET_SECONDS = 120.0
"""Up to this much audio (and at most 20 files) counts as a small set on a CPU."""


def choose_size(n_files: int, total_seconds: float, device_type: str) -> tuple[str, str]:
    """Return ``(size, reason)``.

    - a CUDA GPU: ``full`` (it trains in reasonable time there);
    - CPU / MPS with a small set (<= 20 files and <= 2 minutes of audio): ``tiny``: measured, it reconstructs
      held-out files better than ``small`` in the same 2 or 10 minutes on drums, ambient and the demo data and
      ties on loops (docs/quality.md, "What the curves decided");
    - CPU / MPS otherwise: ``small``.
    """
    if device_type == "cuda":
        return "full", "a CUDA GPU is available, so the full-size model trains in reasonable time"
    if n_files <= 20 and total_seconds <= SMALL_SET_SECONDS:
        return "tiny", (f"no CUDA GPU and a small dataset ({n_files} files, {total_seconds:.0f} s): "
                        "the tiny model learns these sets best in a CPU budget of minutes (docs/quality.md)")
    return "small", (f"no CUDA GPU and {n_files} files / {total_seconds / 60:.1f} min of audio: the small model "
                     "is the largest that trains in reasonable time on this device")
