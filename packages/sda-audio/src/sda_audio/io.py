"""Reading audio files with soundfile: any rate, any channel count, as float32 ``(channels, frames)``.

Every decoder failure becomes an :class:`~sda_audio.errors.AudioReadError` that names the file,
quotes the decoder's message (translated where libsndfile's wording misleads) and says what to do.

Samples that are NaN or infinite (a float file written by a broken tool, or a damaged one) are never
zeroed silently: :func:`read_audio` raises :class:`NonFiniteAudioError` unless the caller passes
``non_finite="zero"``, which is the user's explicit acceptance of :func:`repair_non_finite`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf

from sda_audio.errors import AudioReadError

log = logging.getLogger(__name__)

SUPPORTED_EXTENSIONS: tuple[str, ...] = (".wav", ".aif", ".aiff", ".flac", ".mp3", ".ogg")

_REEXPORT_HINT = "re-export it as WAV or FLAC from your audio editor, or remove it from the dataset"
_BAD_FILE = "File does not exist or is not a regular file"

NonFinitePolicy = Literal["error", "zero"]
"""What :func:`read_audio` does with NaN/infinite samples: ``"error"`` (default) raises
:class:`NonFiniteAudioError`; ``"zero"`` sets them to 0 (the user accepted the repair)."""


class NonFiniteAudioError(AudioReadError):
    """A file holds NaN or infinite samples: sda does not use it unless the user accepts the repair."""

    def __init__(self, path: str | Path, count: int, total: int) -> None:
        self.count, self.total = int(count), int(total)
        share = f"{100.0 * count / total:.3g}%" if total else "all"
        what = "every sample is" if count == total else f"{count} of {total} samples ({share}) are"
        super().__init__(
            f"{what} NaN or infinite (the file is damaged or was written by a faulty tool), so sda will "
            "not use it as it is",
            path=path,
            hint="re-export it from your audio editor, remove it, or accept the repair that sets those samples "
                 "to 0",
        )


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


def decoder_message(exc: BaseException, path: str | Path | None = None) -> str:
    """The decoder's explanation of ``exc`` without the path it repeats, translated where it misleads.

    libsndfile answers "File does not exist or is not a regular file (possibly a pipe?)" (``SFE_BAD_FILE``)
    for an existing file whose MPEG stream mpg123 cannot open (a truncated, damaged or mislabelled MP3), and
    a libsndfile older than 1.1 cannot read MP3 at all: both are said plainly here.
    """
    text = getattr(exc, "error_string", None) or str(exc).strip() or type(exc).__name__
    # libsndfile repeats the path in its message; keep only its explanation.
    if text.startswith("Error opening") and "': " in text:
        text = text.split("': ", 1)[1]
    text = text.strip().rstrip(".")
    if path is not None and Path(path).suffix.lower() == ".mp3":
        if not mp3_supported():
            return (f"this installation's libsndfile {sf.__libsndfile_version__} cannot read MP3 (libsndfile "
                    "1.1 or newer can; update the soundfile package) - libsndfile said: " + text)
        if text.startswith(_BAD_FILE) and Path(path).is_file():
            return ("the MP3 decoder found no decodable MPEG audio stream in it: the file is truncated, damaged "
                    "or not really MP3 (libsndfile reports this as 'file does not exist or is not a regular file')")
    elif text.startswith(_BAD_FILE) and path is not None and Path(path).is_file():
        return "the decoder could not open the audio stream in it: the file is truncated, damaged or mislabelled"
    return text




def mp3_supported() -> bool:
    """Whether the installed libsndfile reads MP3 (version 1.1 and newer, built with mpg123)."""
    try:
        return "MP3" in sf.available_formats()
    except Exception:  # pragma: no cover - a broken libsndfile is reported by the read itself
        return False


def count_non_finite(samples: np.ndarray) -> int:
    """How many samples are NaN or infinite."""
    return int(samples.size - np.count_nonzero(np.isfinite(samples)))


def repair_non_finite(samples: np.ndarray) -> tuple[np.ndarray, int]:
    """The explicit repair of NaN/infinite samples: a copy with each set to 0, and how many there were."""
    count = count_non_finite(samples)
    if count == 0:
        return samples, 0
    return np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0), count


def audio_info(path: str | Path) -> AudioInfo:
    """Header information (frames, rate, channels, duration, format, subtype) for an audio file."""
    path = check_readable_path(path)
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
        raise AudioReadError(f"cannot be decoded ({decoder_message(exc, path)})", path=path,
                             hint=_REEXPORT_HINT) from exc
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


def read_audio(path: str | Path, sample_rate: int | None = None, mono: bool = False,
               non_finite: NonFinitePolicy = "error") -> AudioClip:
    """Decode an audio file to float32 ``(channels, frames)``.

    Args:
        path: a WAV, AIFF, FLAC, MP3 or OGG file.
        sample_rate: resample to this rate (high-quality sinc) when given and different.
        mono: average all channels into one.
        non_finite: ``"error"`` (default) refuses a file with NaN/infinite samples; ``"zero"`` sets them to 0
            (:func:`repair_non_finite`; pass it only when the user accepted that repair).

    Raises:
        NonFiniteAudioError: the file holds NaN/infinite samples and ``non_finite`` is ``"error"``.
        AudioReadError: the file is missing, of an unsupported type, or cannot be decoded.
    """
    if non_finite not in ("error", "zero"):
        raise ValueError(f"non_finite must be 'error' or 'zero', got {non_finite!r}")
    path = check_readable_path(path)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
        raise AudioReadError(f"cannot be decoded ({decoder_message(exc, path)})", path=path,
                             hint=_REEXPORT_HINT) from exc
    samples = np.ascontiguousarray(data.T, dtype=np.float32)
    bad = count_non_finite(samples)
    if bad:
        if non_finite == "error":
            raise NonFiniteAudioError(path, bad, samples.size)
        samples, _ = repair_non_finite(samples)
        log.info("%s: %d NaN/infinite samples set to 0 (repair accepted)", path, bad)
    if mono and samples.shape[0] > 1:
        samples = samples.mean(axis=0, keepdims=True, dtype=np.float32)
    if sample_rate is not None and int(sample_rate) != int(rate) and samples.shape[1] > 0:
        from sda_audio.resample import resample  # torch is imported only when resampling

        samples = resample(samples, int(rate), int(sample_rate))
        rate = int(sample_rate)
    return AudioClip(samples=samples, sample_rate=int(sample_rate or rate), path=path)
