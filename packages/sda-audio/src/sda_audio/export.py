"""Writing finished audio: resampling, channel layout, loudness, a peak ceiling, dither, tags, sidecar.

``export_audio`` runs one fixed chain, in this order:

1. resample to the export rate (high-quality sinc, :mod:`sda_audio.resample`);
2. convert channels (mono -> stereo duplicates, stereo -> mono averages);
3. optional loudness normalisation to ``loudness_lufs`` (ITU-R BS.1770-4 via pyloudnorm);
4. a peak ceiling: if the sample peak exceeds ``peak_dbfs`` the whole file is scaled down, so the
   output never clips (loudness may then land below the target; the sidecar says so);
5. TPDF dither (seeded) when quantising to 16-bit;
6. an atomic write with soundfile, in-file tags where the format has them, and ``<file>.json``
   beside it with every parameter that made the file.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyloudnorm
import soundfile as sf

from sda_audio.atomic import atomic_path, atomic_write_json
from sda_audio.errors import SdaError

log = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("wav", "flac", "mp3", "ogg")
SAMPLE_RATES: tuple[int, ...] = (44100, 48000, 96000)
BIT_DEPTHS: tuple[int, ...] = (16, 24, 32)
CHANNEL_LAYOUTS: tuple[str, ...] = ("mono", "stereo")
MP3_MAX_RATE = 48000
LOSSY_FORMATS = ("mp3", "ogg")
LOUDNESS_BLOCK_S = 0.4  # BS.1770 gating block: shorter clips are measured looped

_EXTENSIONS = {"wav": (".wav",), "flac": (".flac",), "mp3": (".mp3",), "ogg": (".ogg", ".oga")}
_AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".oga", ".aif", ".aiff"}
_TAG_FIELDS = ("title", "artist", "album", "comment", "software", "date", "copyright", "license", "genre",
               "tracknumber")


@dataclass(frozen=True)
class ExportSettings:
    """How to write a file.

    Attributes:
        format: ``wav`` | ``flac`` | ``mp3`` | ``ogg`` (Vorbis).
        sample_rate: 44100, 48000 or 96000 Hz (MP3: at most 48000).
        bit_depth: 16 or 24 (PCM) or 32 (float, WAV only); FLAC takes 16/24; ignored for MP3/OGG.
        channels: ``mono`` or ``stereo`` (binaural audio arrives here already as a stereo array).
        loudness_lufs: integrated-loudness target in LUFS, or ``None`` to keep the level.
        peak_dbfs: sample-peak ceiling in dBFS; never exceeded (lossy codecs may overshoot it a little
            when decoded, but never to clipping at the default -1 dBFS).
        mp3_bitrate: constant MP3 bitrate in kbit/s (32..320).
        ogg_quality: Vorbis quality 0..1 (1 = best).
        dither_seed: seed for the TPDF dither noise, so an export is reproducible bit for bit.
    """

    format: str = "wav"
    sample_rate: int = 48000
    bit_depth: int = 24
    channels: str = "stereo"
    loudness_lufs: float | None = None
    peak_dbfs: float = -1.0
    mp3_bitrate: int = 320
    ogg_quality: float = 0.8
    dither_seed: int = 0

    def __post_init__(self) -> None:
        fmt = str(self.format).lower().lstrip(".")
        object.__setattr__(self, "format", fmt)
        object.__setattr__(self, "channels", str(self.channels).lower())
        if fmt not in FORMATS:
            raise SdaError(f"unknown export format '{self.format}'", hint=f"use one of {', '.join(FORMATS)}")
        if int(self.sample_rate) not in SAMPLE_RATES:
            raise SdaError(f"unsupported export sample rate {self.sample_rate} Hz",
                           hint="use 44100, 48000 or 96000")
        if fmt == "mp3" and int(self.sample_rate) > MP3_MAX_RATE:
            raise SdaError(f"MP3 cannot store {self.sample_rate} Hz audio",
                           hint="use 44100 or 48000 for MP3, or WAV/FLAC for 96000")
        if int(self.bit_depth) not in BIT_DEPTHS:
            raise SdaError(f"unsupported bit depth {self.bit_depth}", hint="use 16, 24 or 32 (32-bit float, WAV only)")
        if fmt == "flac" and int(self.bit_depth) == 32:
            raise SdaError("FLAC cannot store 32-bit float audio", hint="use 16 or 24 bits for FLAC, or WAV for 32-bit float")
        if self.channels not in CHANNEL_LAYOUTS:
            raise SdaError(f"unknown channel layout '{self.channels}'",
                           hint="use mono or stereo (binaural output is rendered to stereo first)")
        if self.loudness_lufs is not None and not (-70.0 <= float(self.loudness_lufs) <= 0.0):
            raise SdaError(f"loudness target {self.loudness_lufs} LUFS is out of range", hint="use a value from -70 to 0, e.g. -14")
        if not (-60.0 <= float(self.peak_dbfs) <= 0.0):
            raise SdaError(f"peak ceiling {self.peak_dbfs} dBFS is out of range", hint="use a value from -60 to 0, e.g. -1")
        if not (32 <= int(self.mp3_bitrate) <= 320):
            raise SdaError(f"MP3 bitrate {self.mp3_bitrate} kbit/s is out of range", hint="use 32 to 320, e.g. 320")
        if not (0.0 <= float(self.ogg_quality) <= 1.0):
            raise SdaError(f"OGG quality {self.ogg_quality} is out of range", hint="use 0 (smallest) to 1 (best)")

    @property
    def subtype(self) -> str:
        """The soundfile subtype this writes (PCM_16, PCM_24, FLOAT, MPEG_LAYER_III, VORBIS)."""
        if self.format == "mp3":
            return "MPEG_LAYER_III"
        if self.format == "ogg":
            return "VORBIS"
        return {16: "PCM_16", 24: "PCM_24", 32: "FLOAT"}[int(self.bit_depth)]

    @property
    def extension(self) -> str:
        return _EXTENSIONS[self.format][0]

    @property
    def n_channels(self) -> int:
        return 1 if self.channels == "mono" else 2

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExportSettings:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def integrated_loudness(samples: np.ndarray, sample_rate: int) -> float | None:
    """BS.1770-4 integrated loudness of ``(C, T)`` audio in LUFS; ``None`` for silence.

    Clips shorter than the 400 ms gating block are measured looped to one block, which gives the
    loudness the clip would have if it were repeated.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 1:
        x = x[None]
    if x.shape[1] == 0 or not np.any(x):
        return None
    block = int(math.ceil(LOUDNESS_BLOCK_S * sample_rate)) + 1
    if x.shape[1] < block:
        x = np.tile(x, (1, int(math.ceil(block / x.shape[1]))))
    value = pyloudnorm.Meter(sample_rate).integrated_loudness(x.T)
    return float(value) if math.isfinite(value) else None


def _to_db(value: float) -> float | None:
    return 20.0 * math.log10(value) if value > 0 else None


def _convert_channels(x: np.ndarray, layout: str) -> np.ndarray:
    if layout == "mono":
        return x.mean(axis=0, keepdims=True, dtype=np.float32) if x.shape[0] > 1 else x
    if x.shape[0] == 1:
        return np.repeat(x, 2, axis=0)
    if x.shape[0] == 2:
        return x
    # More than two channels: fold down to mono, then spread to both sides.
    return np.repeat(x.mean(axis=0, keepdims=True, dtype=np.float32), 2, axis=0)


def _check_path(path: Path, settings: ExportSettings) -> Path:
    suffix = path.suffix.lower()
    if suffix in _EXTENSIONS[settings.format]:
        return path
    if suffix in _AUDIO_SUFFIXES:
        raise SdaError(f"the extension '{path.suffix}' does not match the export format {settings.format}",
                       path=path, hint=f"name the file *{settings.extension} or choose format {suffix.lstrip('.')}")
    return path.with_name(path.name + settings.extension)


def _quantize_16(x: np.ndarray, seed: int) -> np.ndarray:
    """TPDF-dithered 16-bit integers ``(T, C)`` from float ``(C, T)`` (+-1 LSB triangular noise)."""
    rng = np.random.default_rng(seed)
    noise = rng.random(x.shape) - rng.random(x.shape)
    q = np.round(x.astype(np.float64) * 32767.0 + noise)
    return np.clip(q, -32768, 32767).astype(np.int16).T.copy()


def _tags(metadata: dict[str, Any] | None, sidecar_name: str) -> dict[str, str]:
    from sda_audio import __version__

    tags = {
        "software": f"sda {__version__}",
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "comment": f"made with sda; every parameter is in {sidecar_name}",
    }
    for key in _TAG_FIELDS:
        if metadata and metadata.get(key) not in (None, ""):
            tags[key] = str(metadata[key])
    return tags


def _write(tmp: Path, data: np.ndarray, settings: ExportSettings, tags: dict[str, str], target: Path) -> None:
    kwargs: dict[str, Any] = {}
    fmt = settings.format.upper()
    if settings.format == "mp3":
        # libsndfile maps compression 0..1 linearly onto 320..32 kbit/s for constant-bitrate MPEG-1.
        kwargs = {"compression_level": (320.0 - settings.mp3_bitrate) / 288.0, "bitrate_mode": "CONSTANT"}
    elif settings.format == "ogg":
        kwargs = {"compression_level": 1.0 - float(settings.ogg_quality)}
    try:
        with sf.SoundFile(str(tmp), "w", samplerate=settings.sample_rate, channels=data.shape[1],
                          subtype=settings.subtype, format=fmt, **kwargs) as handle:
            for key, value in tags.items():
                try:
                    setattr(handle, key, value)
                except (RuntimeError, sf.LibsndfileError) as exc:  # not every container has every tag
                    log.debug("%s: tag %s not stored (%s)", target, key, exc)
            handle.write(data)
    except (sf.LibsndfileError, RuntimeError) as exc:
        text = str(exc)
        if "No space" in text:
            raise SdaError("the disk is full; nothing was written", path=target,
                           hint="free some space and try again") from exc
        raise SdaError(f"could not write audio ({text})", path=target,
                       hint="check the folder is writable and has free space") from exc


def export_audio(
    samples: np.ndarray,
    sample_rate: int,
    path: str | Path,
    settings: ExportSettings | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write ``samples`` to ``path`` (atomically) plus a ``<path>.json`` sidecar.

    Args:
        samples: float audio ``(C, T)`` or ``(T,)`` in [-1, 1] at ``sample_rate``.
        sample_rate: the rate of ``samples``.
        path: the output file; an extension is added when it has none.
        settings: the export settings (default: 48 kHz 24-bit stereo WAV, -1 dBFS ceiling).
        metadata: anything JSON-serialisable that describes how the audio was made; keys that name
            tags (``title``, ``artist``, ``comment``, ...) are also written into the file.

    Returns:
        The path written.

    Raises:
        SdaError: bad settings, empty audio, an unwritable folder or a full disk.
    """
    settings = settings or ExportSettings()
    path = _check_path(Path(path), settings)
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise SdaError(f"nothing to export: audio has shape {tuple(x.shape)}", path=path,
                       hint="pass samples shaped (channels, frames) with at least one frame")
    if not np.all(np.isfinite(x)):
        log.warning("%s: non-finite samples replaced by silence before export", path)
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    source = {"sample_rate": int(sample_rate), "channels": int(x.shape[0]), "frames": int(x.shape[1])}

    if int(sample_rate) != settings.sample_rate:
        from sda_audio.resample import resample  # torch is imported only when resampling

        x = resample(x, int(sample_rate), settings.sample_rate)
    x = np.ascontiguousarray(_convert_channels(x, settings.channels), dtype=np.float32)
    sr = settings.sample_rate

    loudness_before = integrated_loudness(x, sr)
    gain_db = 0.0
    if settings.loudness_lufs is not None:
        if loudness_before is None:
            log.warning("%s: audio is silent; loudness normalisation skipped", path)
        else:
            gain_db = float(settings.loudness_lufs) - loudness_before
            x = x * np.float32(10.0 ** (gain_db / 20.0))

    ceiling = 10.0 ** (settings.peak_dbfs / 20.0)
    # Leave room for rounding (and the +-1 LSB dither at 16 bits) so the stored peak stays under it.
    lsb = 1.0 / 32767.0 if settings.subtype == "PCM_16" else 1.0 / 8388607.0
    limit = ceiling - (2.5 * lsb if settings.subtype in ("PCM_16", "PCM_24") else 0.0)
    peak = float(np.max(np.abs(x)))
    limit_db = 0.0
    if peak > limit:
        limit_db = 20.0 * math.log10(limit / peak)
        x = x * np.float32(limit / peak)
        x = np.clip(x, -limit, limit)  # float32 rounding of the scale factor
        log.info("%s: scaled down %.2f dB to keep the peak under %.1f dBFS", path, -limit_db, settings.peak_dbfs)
        if settings.loudness_lufs is not None:
            log.warning("%s: loudness target %.1f LUFS not reached: the peak ceiling of %.1f dBFS cost %.1f dB",
                        path, settings.loudness_lufs, settings.peak_dbfs, -limit_db)
    loudness_after = integrated_loudness(x, sr)
    peak_after = float(np.max(np.abs(x)))

    if settings.subtype == "PCM_16":
        data: np.ndarray = _quantize_16(x, settings.dither_seed)
    else:
        data = np.ascontiguousarray(x.T, dtype=np.float32)

    sidecar = path.with_name(path.name + ".json")
    tags = _tags(metadata, sidecar.name)
    with atomic_path(path) as tmp:
        _write(tmp, data, settings, tags, path)
        if settings.format in LOSSY_FORMATS:
            # A lossy codec's band-limiting can overshoot the peak (Gibbs ringing on sharp edges):
            # decode, and re-encode quieter until the decoded peak is under the ceiling too.
            for _ in range(4):
                decoded_peak = float(np.max(np.abs(sf.read(str(tmp), dtype="float32")[0])))
                if decoded_peak <= ceiling:
                    break
                scale = np.float32(ceiling / decoded_peak * 0.99)
                x = x * scale
                limit_db += 20.0 * math.log10(float(scale))
                data = np.ascontiguousarray(x.T, dtype=np.float32)
                _write(tmp, data, settings, tags, path)
            loudness_after = integrated_loudness(x, sr)
            peak_after = float(np.max(np.abs(x)))

    report = {
        "file": path.name,
        "format": settings.format,
        "subtype": settings.subtype,
        "sample_rate": sr,
        "channels": int(x.shape[0]),
        "frames": int(x.shape[1]),
        "duration": x.shape[1] / sr,
        "settings": settings.to_dict(),
        "source": source,
        "resampled": int(sample_rate) != sr,
        "loudness_lufs_before": loudness_before,
        "loudness_lufs_after": loudness_after,
        "loudness_gain_db": gain_db,
        "peak_limit_gain_db": limit_db,
        "peak_dbfs": _to_db(peak_after),
        "dither": "tpdf" if settings.subtype == "PCM_16" else None,
        "tags": tags,
        "metadata": metadata or {},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    atomic_write_json(sidecar, report)
    return path
