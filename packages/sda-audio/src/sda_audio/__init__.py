"""sda-audio: audio I/O, dataset import and validation, augmentation, descriptors, events and forms, export,
spatial."""

from typing import TYPE_CHECKING

import sda_audio.lazy as _lazy
from sda_audio.atomic import atomic_path, atomic_write_bytes, atomic_write_json, atomic_write_text
from sda_audio.errors import AudioReadError, Cancelled, SdaError
from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events

__version__ = "0.1.0"

# Public names from heavier modules, imported on first use (PEP 562: _LAZY and __getattr__ below) so that
# importing sda_audio.errors (every CLI start) does not pull in torch, scipy or Pillow. This block repeats
# them for type checkers only; tests/test_layering.py checks it, _LAZY and __all__ agree.
if TYPE_CHECKING:
    from sda_audio.augment import (
        AddNoise,
        Compose,
        Gain,
        PitchShift,
        TimeStretch,
        add_noise,
        apply_gain,
        default_augmentation,
        pitch_shift,
        time_stretch,
    )
    from sda_audio.dataset import ImportResult, Manifest, ManifestEntry, import_dataset, load_manifest
    from sda_audio.demo import make_demo_dataset
    from sda_audio.descriptors import DESCRIPTOR_NAMES, describe, describe_batch, describe_frames
    from sda_audio.events import Event, EventMap, EventOptions, detect_events, estimate_tempo
    from sda_audio.export import ExportSettings, export_audio, integrated_loudness
    from sda_audio.files import file_sha256, iter_candidate_files, list_audio_files
    from sda_audio.forms import FileForm, FormOptions, SetForm, detect_file_form, detect_form, detect_set_form
    from sda_audio.io import SUPPORTED_EXTENSIONS, AudioClip, AudioInfo, audio_info, read_audio
    from sda_audio.oneshot_checks import (
        check_oneshot,
        check_phrase,
        novelty,
        oneshot_reference,
        phrase_reference,
    )
    from sda_audio.resample import resample
    from sda_audio.spatial import (
        Hrtf,
        binaural_render,
        load_sofa_hrtf,
        mono_to_stereo,
        set_stereo_width,
        woodworth_itd,
    )
    from sda_audio.summary import DatasetSummary, FileSummary, summarize_dataset
    from sda_audio.thumbnails import dataset_thumbnails, render_waveform, waveform_thumbnail
    from sda_audio.validation import DatasetReport, FileReport, Issue, validate_dataset, validate_file

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
    "load_manifest": "sda_audio.dataset",
    "file_sha256": "sda_audio.files",
    "iter_candidate_files": "sda_audio.files",
    "list_audio_files": "sda_audio.files",
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
    "Event": "sda_audio.events",
    "EventMap": "sda_audio.events",
    "EventOptions": "sda_audio.events",
    "detect_events": "sda_audio.events",
    "estimate_tempo": "sda_audio.events",
    "FileForm": "sda_audio.forms",
    "FormOptions": "sda_audio.forms",
    "SetForm": "sda_audio.forms",
    "detect_file_form": "sda_audio.forms",
    "detect_form": "sda_audio.forms",
    "detect_set_form": "sda_audio.forms",
    "check_oneshot": "sda_audio.oneshot_checks",
    "check_phrase": "sda_audio.oneshot_checks",
    "novelty": "sda_audio.oneshot_checks",
    "oneshot_reference": "sda_audio.oneshot_checks",
    "phrase_reference": "sda_audio.oneshot_checks",
}


__getattr__, __dir__ = _lazy.lazy_attributes(__name__, _LAZY, globals())


__all__ = [
    "AddNoise",
    "AudioClip",
    "AudioInfo",
    "AudioReadError",
    "CancelToken",
    "Cancelled",
    "Compose",
    "DESCRIPTOR_NAMES",
    "DatasetReport",
    "DatasetSummary",
    "Event",
    "EventMap",
    "EventOptions",
    "ExportSettings",
    "FileForm",
    "FileReport",
    "FileSummary",
    "FormOptions",
    "Gain",
    "Hrtf",
    "ImportResult",
    "Issue",
    "Manifest",
    "ManifestEntry",
    "PitchShift",
    "ProgressCallback",
    "ProgressEvent",
    "SUPPORTED_EXTENSIONS",
    "SdaError",
    "SetForm",
    "TimeStretch",
    "add_noise",
    "apply_gain",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "audio_info",
    "binaural_render",
    "check_oneshot",
    "check_phrase",
    "dataset_thumbnails",
    "default_augmentation",
    "describe",
    "describe_batch",
    "describe_frames",
    "detect_events",
    "detect_file_form",
    "detect_form",
    "detect_set_form",
    "estimate_tempo",
    "export_audio",
    "file_sha256",
    "ignore_events",
    "import_dataset",
    "integrated_loudness",
    "iter_candidate_files",
    "list_audio_files",
    "load_manifest",
    "load_sofa_hrtf",
    "make_demo_dataset",
    "mono_to_stereo",
    "novelty",
    "oneshot_reference",
    "phrase_reference",
    "pitch_shift",
    "read_audio",
    "render_waveform",
    "resample",
    "set_stereo_width",
    "summarize_dataset",
    "time_stretch",
    "validate_dataset",
    "validate_file",
    "waveform_thumbnail",
    "woodworth_itd",
]
