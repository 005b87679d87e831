"""sda-engine: training and generation orchestration, model library, presets and history."""

from sda_engine.generate import GenerationResult, generate
from sda_engine.history import ABComparison, FeedResult, History, HistoryEntry
from sda_engine.home import SdaHome, validate_name
from sda_engine.library import ModelLibrary, ModelRecord, ReconcileReport
from sda_engine.presets import ALLOWED_KEYS as PRESET_KEYS
from sda_engine.presets import Preset, PresetStore
from sda_engine.trainer import TrainResult, train_model, train_vocoder

__version__ = "0.1.0"

__all__: list[str] = [
    "ABComparison",
    "FeedResult",
    "History",
    "HistoryEntry",
    "ModelLibrary",
    "ModelRecord",
    "PRESET_KEYS",
    "Preset",
    "PresetStore",
    "ReconcileReport",
    "SdaHome",
    "TrainResult",
    "GenerationResult",
    "generate",
    "train_model",
    "train_vocoder",
    "validate_name",
]

