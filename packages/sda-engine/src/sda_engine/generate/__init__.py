"""Generation: a model and a request become audio files.

Three parts, each usable alone, and their composition:

- :mod:`~sda_engine.generate.session`: :class:`ModelSession` resolves a model (library name or ``.sda`` file),
  loads it once and keeps its vocoders, blend partners and corpus index warm; :func:`resolve_model`.
- :mod:`~sda_engine.generate.renderer`: :class:`Renderer`, request + sketch -> :class:`RenderedAudio` (no files,
  no training); its steps are the plain functions of :mod:`~sda_engine.generate.rendering` and
  :mod:`~sda_engine.generate.stitching`.
- :mod:`sda_engine.store.generation_writer`: the file, its sidecar and its history entry
  (:class:`GenerationResult`).
- :mod:`~sda_engine.generate.pipeline`: :func:`generate_files` (per variation: sample -> render -> write, what
  ``sda generate`` and the GUI call) and :func:`write_sketch` (an edited code grid).

Also :class:`GenerationRequest` (:mod:`~sda_engine.generate.request`, the one place of the defaults),
:class:`Sketch` / :class:`RenderedAudio` (:mod:`~sda_engine.generate.sketch`), the sketches that are not sampled
and the code-grid editor given a session (:mod:`~sda_engine.generate.encoding`), and the controls' sweep renderer
(:mod:`~sda_engine.generate.control_sweeps`).

The names load on first use (PEP 562), so importing :class:`GenerationRequest` does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sda_audio.lazy as _lazy

if TYPE_CHECKING:
    from sda_engine.generate.control_sweeps import session_render_fn, with_mode
    from sda_engine.generate.encoding import (
        check_grid,
        encode_audio,
        encode_file,
        grid_ref,
        sketch_from_codes,
    )
    from sda_engine.generate.pipeline import generate_files, write_sketch
    from sda_engine.generate.reconstruct import reconstruct_files
    from sda_engine.generate.renderer import DUAL_SEED_OFFSET, Renderer
    from sda_engine.generate.request import CHANNELS, MAX_SECONDS, STEREO_METHODS, VOCODERS, GenerationRequest
    from sda_engine.generate.session import ModelSession, resolve_model
    from sda_engine.generate.sketch import RenderedAudio, Sketch
    from sda_engine.store.generation_writer import GenerationResult, write_generation

_EXPORTS: dict[str, str] = {
    "ModelSession": "sda_engine.generate.session",
    "resolve_model": "sda_engine.generate.session",
    "Renderer": "sda_engine.generate.renderer",
    "DUAL_SEED_OFFSET": "sda_engine.generate.renderer",
    "generate_files": "sda_engine.generate.pipeline",
    "write_sketch": "sda_engine.generate.pipeline",
    "reconstruct_files": "sda_engine.generate.reconstruct",
    "GenerationResult": "sda_engine.store.generation_writer",
    "write_generation": "sda_engine.store.generation_writer",
    "GenerationRequest": "sda_engine.generate.request",
    "CHANNELS": "sda_engine.generate.request",
    "MAX_SECONDS": "sda_engine.generate.request",
    "STEREO_METHODS": "sda_engine.generate.request",
    "VOCODERS": "sda_engine.generate.request",
    "Sketch": "sda_engine.generate.sketch",
    "RenderedAudio": "sda_engine.generate.sketch",
    "encode_audio": "sda_engine.generate.encoding",
    "sketch_from_codes": "sda_engine.generate.encoding",
    "grid_ref": "sda_engine.generate.encoding",
    "check_grid": "sda_engine.generate.encoding",
    "encode_file": "sda_engine.generate.encoding",
    "session_render_fn": "sda_engine.generate.control_sweeps",
    "with_mode": "sda_engine.generate.control_sweeps",
}

__all__ = [
    "CHANNELS",
    "DUAL_SEED_OFFSET",
    "GenerationRequest",
    "GenerationResult",
    "MAX_SECONDS",
    "ModelSession",
    "RenderedAudio",
    "Renderer",
    "STEREO_METHODS",
    "Sketch",
    "VOCODERS",
    "check_grid",
    "encode_audio",
    "encode_file",
    "generate_files",
    "grid_ref",
    "reconstruct_files",
    "resolve_model",
    "session_render_fn",
    "sketch_from_codes",
    "with_mode",
    "write_generation",
    "write_sketch",
]


__getattr__, __dir__ = _lazy.lazy_attributes(__name__, _EXPORTS, globals())
