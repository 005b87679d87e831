"""Generation (``sda generate``): model -> audio files with sidecars and history entries.

:func:`generate` is the composition of :class:`sda_engine.generate.session.ModelSession`'s steps (open, then
sample -> render -> write per variation) for a :class:`sda_engine.generate.request.GenerationRequest`. The sidecar
JSON holds the model, its sha256, the request, the seed, the vocoder and why, and the sda version; the same
seed, request and device give identical audio.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sda_audio.progress import CancelToken, ProgressCallback, ignore_events
from sda_engine.generate.request import CHANNELS, MAX_SECONDS, STEREO_METHODS, GenerationRequest
from sda_engine.generate.session import DUAL_SEED_OFFSET, GenerationResult, ModelSession, resolve_model
from sda_engine.store.home import SdaHome

__all__ = ["CHANNELS", "DUAL_SEED_OFFSET", "MAX_SECONDS", "STEREO_METHODS", "GenerationResult", "generate",
           "resolve_model"]


def generate(
    model: str | Path | ModelSession,
    duration: float | None = None,
    *,
    request: GenerationRequest | None = None,
    output: str | Path | None = None,
    device: str = "auto",
    on_event: ProgressCallback = ignore_events,
    cancel: CancelToken | None = None,
    home: SdaHome | str | Path | None = None,
    **settings: Any,
) -> list[GenerationResult]:
    """Generate ``request.variations`` audio files from a model.

    Args:
        model: a library name, a path to a ``.sda`` file, or an open :class:`ModelSession` (kept warm).
        duration / settings: flat :class:`GenerationRequest` fields applied on top of ``request`` (default:
            sda's defaults), e.g. ``generate("rain", 8, seed=3, channels="mono", blend=[("bells", 0.3)])``.
        output: a file path or a folder (default: the history folder). With variations, ``-v01``, ``-v02``
            ... are added to the file name.
        device: ``auto``, ``cpu``, ``cuda``, ``mps`` (ignored for an open session).
        on_event / cancel: job ``generate`` (step = files written) with sub-jobs ``generate.sample`` and
            ``generate.vocode``; cancelling stops between steps.

    Returns:
        One :class:`GenerationResult` per variation.

    Raises:
        SdaError: missing model, impossible settings, unwritable output folder, full disk.
    """
    req = (request or GenerationRequest()).replace(duration=duration, **settings)
    session = model if isinstance(model, ModelSession) else ModelSession.open(model, device, home)
    return session.generate(req, output=output, on_event=on_event, cancel=cancel)
