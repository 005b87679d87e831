"""sda-engine: training and generation orchestration, model library, presets and history.

This package is the apps' only door to models, controls and codes: ``sda_cli`` and ``sda_gradio`` import
``from sda_engine import ...`` (and ``sda_audio``), never an engine submodule nor ``sda_models`` /
``sda_control`` (``tests/test_layering.py`` holds that).

The names load on first use (PEP 562): ``import sda_engine`` stays cheap (no torch), so the CLI starts fast
and ``sda models list`` never imports torch. ``_LAZY`` maps each public name to ``"module"`` or
``"module:attribute"`` (a re-export under another name); the ``TYPE_CHECKING`` block repeats it for type
checkers. ``tests/test_layering.py`` checks the two agree with ``__all__``.

Generation's composition is ``generate_files`` (and ``write_sketch``), not ``generate``: that name is the
subpackage :mod:`sda_engine.generate`, and a function of that name would hide it (an attribute walk such as
``monkeypatch.setattr("sda_engine.generate.session.X", ...)`` would fail).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sda_audio.lazy as _lazy

__version__ = "0.1.0"

if TYPE_CHECKING:
    from sda_audio.names import validate_name
    from sda_control.control_map import ControlMap
    from sda_control.evaluate import TARGETS as CONTROL_TARGETS
    from sda_control.evaluate import evaluate_controls
    from sda_control.names import CONTROL_NAMES, descriptor_of
    from sda_engine.base.corpus import CorpusResult, build_corpus
    from sda_engine.base.corpus import read_manifest as read_corpus_manifest
    from sda_engine.base.plan import DEFAULT_MINUTES as DEFAULT_CORPUS_MINUTES
    from sda_engine.base.plan import SOURCES as CORPUS_SOURCES
    from sda_engine.base.plan import plan_corpus
    from sda_engine.base.train import BaseTrainOptions, BaseTrainResult, train_base
    from sda_engine.generate.control_sweeps import session_render_fn
    from sda_engine.generate.encoding import (
        check_grid,
        codes,
        encode_audio,
        encode_file,
        grid_ref,
        sketch_from_codes,
    )
    from sda_engine.generate.morph import DETAIL_MODES, Morph, morph_amounts, morph_files, render_morph
    from sda_engine.generate.pipeline import generate_files, write_sketch
    from sda_engine.generate.reconstruct import reconstruct_files
    from sda_engine.generate.renderer import Renderer
    from sda_engine.generate.request import (
        CHANNELS,
        CONTROL_MODES,
        DETAILS,
        MAX_SECONDS,
        STEREO_METHODS,
        VOCODERS,
        GenerationRequest,
    )
    from sda_engine.generate.session import ModelSession, resolve_model
    from sda_engine.generate.sketch import RenderedAudio, Sketch
    from sda_engine.store.generation_writer import GenerationResult
    from sda_engine.store.history import ABComparison, FeedResult, History, HistoryEntry
    from sda_engine.store.home import SdaHome
    from sda_engine.store.library import ModelLibrary, ModelRecord, ReconcileReport
    from sda_engine.store.presets import ALLOWED_KEYS as PRESET_KEYS
    from sda_engine.store.presets import Preset, PresetStore
    from sda_engine.train.base_start import describe_start
    from sda_engine.train.controls import choose_model_controls, fit_model_controls
    from sda_engine.train.distributed import check_resume_processes
    from sda_engine.train.options import KINDS as MODEL_KINDS
    from sda_engine.train.options import SIZE_CHOICES as MODEL_SIZES
    from sda_engine.train.options import TrainOptions
    from sda_engine.train.planner import plan as plan_training
    from sda_engine.train.request import TrainRequest
    from sda_engine.train.result import TrainResult
    from sda_engine.train.trainer import run as run_training
    from sda_engine.train.verdict import stored_training_curve, training_verdict
    from sda_engine.train.vocoder import train_vocoder
    from sda_engine.train.vocoder_stage import VocoderPlan
    from sda_models.model_file import check_model_file, read_metadata, upgrade_model_file
    from sda_models.vocoders.bigvgan_weights import load_bigvgan_generator, resolve_bigvgan_weights

_LAZY: dict[str, str] = {
    # store: the home folder, the model library, presets, history
    "SdaHome": "sda_engine.store.home",
    "validate_name": "sda_audio.names",
    "ModelLibrary": "sda_engine.store.library",
    "ModelRecord": "sda_engine.store.library",
    "ReconcileReport": "sda_engine.store.library",
    "ABComparison": "sda_engine.store.history",
    "FeedResult": "sda_engine.store.history",
    "History": "sda_engine.store.history",
    "HistoryEntry": "sda_engine.store.history",
    "PRESET_KEYS": "sda_engine.store.presets:ALLOWED_KEYS",
    "Preset": "sda_engine.store.presets",
    "PresetStore": "sda_engine.store.presets",
    # generation
    "GenerationRequest": "sda_engine.generate.request",
    "CHANNELS": "sda_engine.generate.request",
    "CONTROL_MODES": "sda_engine.generate.request",
    "DETAILS": "sda_engine.generate.request",
    "MAX_SECONDS": "sda_engine.generate.request",
    "STEREO_METHODS": "sda_engine.generate.request",
    "VOCODERS": "sda_engine.generate.request",
    "ModelSession": "sda_engine.generate.session",
    "resolve_model": "sda_engine.generate.session",
    "Renderer": "sda_engine.generate.renderer",
    "generate_files": "sda_engine.generate.pipeline",
    "write_sketch": "sda_engine.generate.pipeline",
    "reconstruct_files": "sda_engine.generate.reconstruct",
    # morphs between two of the user's sounds (`sda generate --between A B --amount X`)
    "Morph": "sda_engine.generate.morph",
    "DETAIL_MODES": "sda_engine.generate.morph",
    "morph_amounts": "sda_engine.generate.morph",
    "morph_files": "sda_engine.generate.morph",
    "render_morph": "sda_engine.generate.morph",
    "GenerationResult": "sda_engine.store.generation_writer",
    "RenderedAudio": "sda_engine.generate.sketch",
    "Sketch": "sda_engine.generate.sketch",
    "encode_audio": "sda_engine.generate.encoding",
    "sketch_from_codes": "sda_engine.generate.encoding",
    # the code-grid editor: sda_control.codes itself, and its calls given a session's model
    "codes": "sda_engine.generate.encoding",
    "grid_ref": "sda_engine.generate.encoding",
    "check_grid": "sda_engine.generate.encoding",
    "encode_file": "sda_engine.generate.encoding",
    "session_render_fn": "sda_engine.generate.control_sweeps",
    # training: both faces build TrainOptions; plan_training(options) -> TrainRequest; run_training(request)
    "TrainOptions": "sda_engine.train.options",
    "MODEL_KINDS": "sda_engine.train.options:KINDS",
    "MODEL_SIZES": "sda_engine.train.options:SIZE_CHOICES",
    "plan_training": "sda_engine.train.planner:plan",
    "TrainRequest": "sda_engine.train.request",
    "run_training": "sda_engine.train.trainer:run",
    "TrainResult": "sda_engine.train.result",
    "VocoderPlan": "sda_engine.train.vocoder_stage",
    "train_vocoder": "sda_engine.train.vocoder",
    "fit_model_controls": "sda_engine.train.controls",
    "choose_model_controls": "sda_engine.train.controls",
    "training_verdict": "sda_engine.train.verdict",
    "stored_training_curve": "sda_engine.train.verdict",
    # model files (sda_models)
    "check_model_file": "sda_models.model_file",
    "read_metadata": "sda_models.model_file",
    "upgrade_model_file": "sda_models.model_file",
    # the pretrained BigVGAN-v2 weights (`sda vocoder download|status`)
    "resolve_bigvgan_weights": "sda_models.vocoders.bigvgan_weights",
    "load_bigvgan_generator": "sda_models.vocoders.bigvgan_weights",
    # the musical controls (sda_control)
    "CONTROL_NAMES": "sda_control.names",
    "descriptor_of": "sda_control.names",
    "ControlMap": "sda_control.control_map",
    "CONTROL_TARGETS": "sda_control.evaluate:TARGETS",
    "evaluate_controls": "sda_control.evaluate",
    # training across processes (`sda train --processes N`)
    "check_resume_processes": "sda_engine.train.distributed",
    # the base model's corpus (`sda base corpus OUT/`)
    "build_corpus": "sda_engine.base.corpus",
    "CorpusResult": "sda_engine.base.corpus",
    "read_corpus_manifest": "sda_engine.base.corpus:read_manifest",
    "plan_corpus": "sda_engine.base.plan",
    "CORPUS_SOURCES": "sda_engine.base.plan:SOURCES",
    "DEFAULT_CORPUS_MINUTES": "sda_engine.base.plan:DEFAULT_MINUTES",
    # training the base model on it (`sda base train CORPUS OUT/`)
    "BaseTrainOptions": "sda_engine.base.train",
    "BaseTrainResult": "sda_engine.base.train",
    "train_base": "sda_engine.base.train",
    "describe_start": "sda_engine.train.base_start",
}


__getattr__, __dir__ = _lazy.lazy_attributes(__name__, _LAZY, globals())


__all__ = [
    "ABComparison",
    "BaseTrainOptions",
    "BaseTrainResult",
    "CHANNELS",
    "CONTROL_MODES",
    "DETAILS",
    "CONTROL_NAMES",
    "CONTROL_TARGETS",
    "CORPUS_SOURCES",
    "ControlMap",
    "CorpusResult",
    "DEFAULT_CORPUS_MINUTES",
    "FeedResult",
    "GenerationRequest",
    "GenerationResult",
    "History",
    "HistoryEntry",
    "MAX_SECONDS",
    "MODEL_KINDS",
    "MODEL_SIZES",
    "ModelLibrary",
    "ModelRecord",
    "ModelSession",
    "Morph",
    "DETAIL_MODES",
    "PRESET_KEYS",
    "Preset",
    "PresetStore",
    "ReconcileReport",
    "RenderedAudio",
    "Renderer",
    "STEREO_METHODS",
    "SdaHome",
    "Sketch",
    "TrainOptions",
    "TrainRequest",
    "TrainResult",
    "VOCODERS",
    "VocoderPlan",
    "build_corpus",
    "train_base",
    "check_grid",
    "check_resume_processes",
    "check_model_file",
    "codes",
    "describe_start",
    "descriptor_of",
    "encode_audio",
    "encode_file",
    "evaluate_controls",
    "fit_model_controls",
    "choose_model_controls",
    "generate_files",
    "grid_ref",
    "load_bigvgan_generator",
    "morph_amounts",
    "morph_files",
    "plan_corpus",
    "plan_training",
    "read_corpus_manifest",
    "read_metadata",
    "resolve_bigvgan_weights",
    "resolve_model",
    "run_training",
    "reconstruct_files",
    "render_morph",
    "session_render_fn",
    "sketch_from_codes",
    "stored_training_curve",
    "train_vocoder",
    "training_verdict",
    "upgrade_model_file",
    "validate_name",
    "write_sketch",
]
