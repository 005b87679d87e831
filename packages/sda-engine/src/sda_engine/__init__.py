"""sda-engine: training and generation orchestration, model library, presets and history."""

from sda_engine.generate.compose import GenerationResult, generate
from sda_engine.generate.request import GenerationRequest
from sda_engine.generate.session import ModelSession
from sda_engine.generate.sketch import RenderedAudio, Sketch
from sda_engine.store.history import ABComparison, FeedResult, History, HistoryEntry
from sda_engine.store.home import SdaHome, validate_name
from sda_engine.store.library import ModelLibrary, ModelRecord, ReconcileReport
from sda_engine.store.presets import ALLOWED_KEYS as PRESET_KEYS
from sda_engine.store.presets import Preset, PresetStore
from sda_engine.train.request import TrainRequest
from sda_engine.train.trainer import TrainResult, plan_training, train_model, train_vocoder

__version__ = "0.1.0"

__all__: list[str] = [
    "ABComparison",
    "FeedResult",
    "GenerationRequest",
    "History",
    "HistoryEntry",
    "ModelLibrary",
    "ModelRecord",
    "ModelSession",
    "PRESET_KEYS",
    "Preset",
    "PresetStore",
    "ReconcileReport",
    "RenderedAudio",
    "Sketch",
    "TrainRequest",
    "SdaHome",
    "TrainResult",
    "GenerationResult",
    "generate",
    "plan_training",
    "train_model",
    "train_vocoder",
    "validate_name",
]

