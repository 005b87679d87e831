"""Reading audio files with soundfile: any rate, any channel count, as float32 ``(channels, frames)``.

Every decoder failure becomes an :class:`~sda_audio.errors.AudioReadError` that names the file,
quotes the decoder's message and says what to do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from sda_audio.errors import AudioReadError

log = logging.getLogger(__name__)

SUPPORTED_EXTENSIONS: tuple[str, ...] = (".wav", ".aif", ".aiff", ".flac", ".mp3", ".ogg")

_REEXPORT_HINT = "re-export it as WAV or FLAC from your audio editor, or remove it from the dataset"


@dataclass(frozen=True)
class AudioClip:
    """Decoded audio.

    Attributes:
        samples: float32 array shaped ``(channels, frames)``, nominally in [-1, 1].
        sample_rate: frames per second.
        path: the file it came from (``None`` for synthetic audio).
    """

    samples: np.ndarray
    sample_rate: int
    path: Path | None = None

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def frames(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration(self) -> float:
        return self.frames / float(self.sample_rate)


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says, without decoding the audio."""

    frames: int
    sample_rate: int
    channels: int
    duration: float
    format: str
    subtype: str


def is_supported(path: str | Path) -> bool:
    """Whether the file's extension is one sda reads (case-insensitive)."""
    return Path(path).suffix.lower() in SUPPORTED_EXTENSIONS


def check_readable_path(path: str | Path) -> Path:
    """Raise :class:`AudioReadError` if ``path`` is missing, not a file, or not a supported format."""
    path = Path(path)
    if not path.exists():
        raise AudioReadError("file not found", path=path, hint="check the path")
    if not path.is_file():
        raise AudioReadError("not a file", path=path, hint="give an audio file, not a folder")
    if not is_supported(path):
        raise AudioReadError(
            f"'{path.suffix or '(no extension)'}' is not a supported audio format",
            path=path,
            hint=f"use one of {', '.join(SUPPORTED_EXTENSIONS)}; convert other formats to WAV or FLAC first",
        )
    return path


def _decoder_message(exc: Exception) -> str:
    text = getattr(exc, "error_string", None) or str(exc).strip() or type(exc).__name__
    # libsndfile repeats the path in its message; keep only its explanation.
    if text.startswith("Error opening") and "': " in text:
        text = text.split("': ", 1)[1]
    return text.strip().rstrip(".")


def audio_info(path: str | Path) -> AudioInfo:
    """Header information (frames, rate, channels, duration, format, subtype) for an audio file."""
    path = check_readable_path(path)
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
        raise AudioReadError(f"cannot be decoded ({_decoder_message(exc)})", path=path, hint=_REEXPORT_HINT) from exc
    frames = int(info.frames)
    rate = int(info.samplerate)
    return AudioInfo(
        frames=frames,
        sample_rate=rate,
        channels=int(info.channels),
        duration=frames / rate if rate > 0 else 0.0,
        format=str(info.format),
        subtype=str(info.subtype),
    )


def read_audio(path: str | Path, sample_rate: int | None = None, mono: bool = False) -> AudioClip:
    """Decode an audio file to float32 ``(channels, frames)``.

    Args:
        path: a WAV, AIFF, FLAC, MP3 or OGG file.
        sample_rate: resample to this rate (high-quality sinc) when given and different.
        mono: average all channels into one.

    Raises:
        AudioReadError: the file is missing, of an unsupported type, or cannot be decoded.
    """
    path = check_readable_path(path)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
        raise AudioReadError(f"cannot be decoded ({_decoder_message(exc)})", path=path, hint=_REEXPORT_HINT) from exc
    samples = np.ascontiguousarray(data.T, dtype=np.float32)
    if not np.all(np.isfinite(samples)):
        log.warning("%s: non-finite samples replaced by 0", path)
        samples = np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)
    if mono and samples.shape[0] > 1:
        samples = samples.mean(axis=0, keepdims=True, dtype=np.float32)
    if sample_rate is not None and int(sample_rate) != int(rate) and samples.shape[1] > 0:
        from sda_audio.resample import resample  # torch is imported only when resampling

        samples = resample(samples, int(rate), int(sample_rate))
        rate = int(sample_rate)
    return AudioClip(samples=samples, sample_rate=int(sample_rate or rate), path=path)
