"""Waveform thumbnails (PNG, Pillow): a min/max envelope per pixel column, channels mixed.

:func:`dataset_thumbnails` caches: each PNG is named after its file's content hash, and an index
remembers size + modification time, so unchanged files are neither re-hashed nor redrawn while a
changed file gets a fresh picture.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from sda_audio.atomic import atomic_path, atomic_write_json
from sda_audio.files import file_sha256, list_audio_files
from sda_audio.io import AudioReadError, read_audio

log = logging.getLogger(__name__)

INDEX_NAME = "thumbnails.json"
BACKGROUND = (24, 26, 32)
WAVE = (110, 190, 255)
AXIS = (70, 74, 84)


def envelope(samples: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-column minimum and maximum of the channel mix of ``samples`` ``(C, T)`` -> two ``(columns,)``."""
    x = np.asarray(samples, dtype=np.float32)
    mono = x.mean(axis=0) if x.ndim == 2 else x
    if mono.size == 0:
        return np.zeros(columns, np.float32), np.zeros(columns, np.float32)
    edges = np.linspace(0, mono.size, columns + 1).astype(np.int64)
    edges[1:] = np.maximum(edges[1:], edges[:-1] + 1)  # at least one sample per column
    edges = np.minimum(edges, mono.size)
    starts = np.minimum(edges[:-1], mono.size - 1)
    lo = np.minimum.reduceat(mono, starts)
    hi = np.maximum.reduceat(mono, starts)
    return lo.astype(np.float32), hi.astype(np.float32)


def render_waveform(samples: np.ndarray, width: int = 400, height: int = 80) -> Image.Image:
    """An RGB image of the waveform of ``samples`` ``(C, T)`` (full scale fills the height)."""
    if width < 2 or height < 2:
        raise ValueError(f"thumbnail size must be at least 2x2, got {width}x{height}")
    lo, hi = envelope(samples, width)
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    mid = (height - 1) / 2.0
    draw.line([(0, round(mid)), (width - 1, round(mid))], fill=AXIS)
    top = np.round(mid - np.clip(hi, -1, 1) * mid).astype(int)
    bottom = np.round(mid - np.clip(lo, -1, 1) * mid).astype(int)
    for col in range(width):
        draw.line([(col, int(top[col])), (col, int(bottom[col]))], fill=WAVE)
    return image


def save_png(image: Image.Image, out_png: str | Path) -> Path:
    """Write ``image`` as PNG atomically."""
    out_png = Path(out_png)
    with atomic_path(out_png) as tmp:
        image.save(tmp, format="PNG")
    return out_png


def waveform_thumbnail(path: str | Path, out_png: str | Path, width: int = 400, height: int = 80) -> Path:
    """Draw the waveform of the audio file ``path`` into ``out_png``.

    Raises:
        AudioReadError: the audio cannot be decoded.
    """
    clip = read_audio(path, non_finite="zero")  # a picture, not training data: NaN/inf drawn as 0
    return save_png(render_waveform(clip.samples, width, height), out_png)


class ThumbnailList(list[Path]):
    """The PNG paths, one per readable audio file, plus which were ``drawn`` and which ``reused``."""

    def __init__(self) -> None:
        super().__init__()
        self.drawn: list[Path] = []
        self.reused: list[Path] = []
        self.failed: list[Path] = []


def _load_index(out_dir: Path) -> dict[str, dict]:
    try:
        data = json.loads((out_dir / INDEX_NAME).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def dataset_thumbnails(folder: str | Path, out_dir: str | Path, width: int = 400, height: int = 80) -> ThumbnailList:
    """Waveform PNGs for every audio file of ``folder`` in ``out_dir``, drawing only what changed.

    Returns:
        A :class:`ThumbnailList` (a list of PNG paths in file order) with ``drawn``/``reused``/``failed``.
    """
    folder, out_dir = Path(folder), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    index = _load_index(out_dir)
    new_index: dict[str, dict] = {}
    result = ThumbnailList()
    for path in list_audio_files(folder):
        key = path.relative_to(folder).as_posix() if folder.is_dir() else str(path)
        stat = path.stat()
        old = index.get(key, {})
        if old.get("size") == stat.st_size and old.get("mtime_ns") == stat.st_mtime_ns and old.get("sha256"):
            digest = old["sha256"]
        else:
            digest = file_sha256(path)
        png = out_dir / f"{path.stem}-{digest[:16]}-{width}x{height}.png"
        if png.is_file():
            result.reused.append(png)
        else:
            try:
                waveform_thumbnail(path, png, width, height)
            except AudioReadError as exc:
                log.warning("no thumbnail: %s", exc)
                result.failed.append(path)
                continue
            result.drawn.append(png)
        stale = old.get("png")
        if stale and stale != png.name:
            (out_dir / stale).unlink(missing_ok=True)
        new_index[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest, "png": png.name}
        result.append(png)
    atomic_write_json(out_dir / INDEX_NAME, new_index)
    return result
