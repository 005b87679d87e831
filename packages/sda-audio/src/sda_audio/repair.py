"""Explicit repairs of recordings, applied only when the user accepts them.

Today one: NaN/infinite samples set to 0 (:func:`sda_audio.io.repair_non_finite` on samples,
:func:`repair_audio_file` on a file). Such samples only exist in floating-point files (WAV/AIFF ``FLOAT`` or
``DOUBLE``); the repaired copy keeps the original's format, subtype, rate and channels.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import soundfile as sf

from sda_audio.atomic import atomic_path
from sda_audio.errors import AudioReadError
from sda_audio.io import check_readable_path, decoder_message, repair_non_finite

log = logging.getLogger(__name__)


def repair_audio_file(source: str | Path, target: str | Path) -> int:
    """Write ``source`` to ``target`` (atomically) with its NaN/infinite samples set to 0.

    Returns how many samples were set to 0 (the copy is written even when that is 0). ``source`` is never
    modified; ``target`` may not be ``source``.

    Raises:
        AudioReadError: ``source`` cannot be decoded.
        SdaError: ``target`` cannot be written (e.g. the disk is full).
    """
    source, target = check_readable_path(source), Path(target)
    if target.exists() and target.resolve() == source.resolve():
        raise ValueError("repair_audio_file writes a copy: give a target other than the source")
    try:
        info = sf.info(str(source))
        dtype = "float64" if info.subtype == "DOUBLE" else "float32"
        data, rate = sf.read(str(source), dtype=dtype, always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
        raise AudioReadError(f"cannot be decoded ({decoder_message(exc, source)})", path=source,
                             hint="re-export it from your audio editor") from exc
    repaired, count = repair_non_finite(np.asarray(data))
    with atomic_path(target) as tmp:
        sf.write(str(tmp), repaired, rate, format=info.format, subtype=info.subtype)
    log.info("%s -> %s: %d NaN/infinite samples set to 0", source, target, count)
    return count


__all__ = ["repair_audio_file"]
