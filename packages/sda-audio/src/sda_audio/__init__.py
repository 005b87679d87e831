"""sda-audio: audio I/O, dataset import and validation, augmentation, descriptors, export, spatial."""

from sda_audio.atomic import atomic_path, atomic_write_bytes, atomic_write_json, atomic_write_text
from sda_audio.errors import AudioReadError, Cancelled, SdaError
from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events

__version__ = "0.1.0"

__all__ = [
    "AudioReadError",
    "CancelToken",
    "Cancelled",
    "ProgressCallback",
    "ProgressEvent",
    "SdaError",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "ignore_events",
]
