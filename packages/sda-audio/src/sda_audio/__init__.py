"""sda-audio: audio I/O, dataset import and validation, augmentation, descriptors, export, spatial."""

from sda_audio.atomic import atomic_path, atomic_write_bytes, atomic_write_json, atomic_write_text
from sda_audio.errors import AudioReadError, Cancelled, SdaError
from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events

__version__ = "0.1.0"

# Public names from heavier modules, imported on first use (PEP 562) so that importing
# sda_audio.errors (every CLI start) does not pull in torch, scipy or Pillow.
_LAZY = {
    "SUPPORTED_EXTENSIONS": "sda_audio.io",
    "AudioClip": "sda_audio.io",
    "AudioInfo": "sda_audio.io",
    "audio_info": "sda_audio.io",
    "read_audio": "sda_audio.io",
    "resample": "sda_audio.resample",
    "ImportResult": "sda_audio.dataset",
    "Manifest": "sda_audio.dataset",
    "ManifestEntry": "sda_audio.dataset",
    "import_dataset": "sda_audio.dataset",
    "list_audio_files": "sda_audio.dataset",
    "load_manifest": "sda_audio.dataset",
    "DatasetReport": "sda_audio.validation",
    "FileReport": "sda_audio.validation",
    "Issue": "sda_audio.validation",
    "validate_dataset": "sda_audio.validation",
    "validate_file": "sda_audio.validation",
    "DatasetSummary": "sda_audio.summary",
    "FileSummary": "sda_audio.summary",
    "summarize_dataset": "sda_audio.summary",
    "dataset_thumbnails": "sda_audio.thumbnails",
    "render_waveform": "sda_audio.thumbnails",
    "waveform_thumbnail": "sda_audio.thumbnails",
    "ExportSettings": "sda_audio.export",
    "export_audio": "sda_audio.export",
    "integrated_loudness": "sda_audio.export",
    "make_demo_dataset": "sda_audio.demo",
    "AddNoise": "sda_audio.augment",
    "Compose": "sda_audio.augment",
    "Gain": "sda_audio.augment",
    "PitchShift": "sda_audio.augment",
    "TimeStretch": "sda_audio.augment",
    "add_noise": "sda_audio.augment",
    "apply_gain": "sda_audio.augment",
    "default_augmentation": "sda_audio.augment",
    "pitch_shift": "sda_audio.augment",
    "time_stretch": "sda_audio.augment",
    "DESCRIPTOR_NAMES": "sda_audio.descriptors",
    "describe": "sda_audio.descriptors",
    "describe_batch": "sda_audio.descriptors",
    "describe_frames": "sda_audio.descriptors",
    "Hrtf": "sda_audio.spatial",
    "binaural_render": "sda_audio.spatial",
    "load_sofa_hrtf": "sda_audio.spatial",
    "mono_to_stereo": "sda_audio.spatial",
    "set_stereo_width": "sda_audio.spatial",
    "woodworth_itd": "sda_audio.spatial",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sda_audio' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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
    *_LAZY,
]
