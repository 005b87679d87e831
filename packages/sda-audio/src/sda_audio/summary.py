"""A dataset at a glance: file count, total duration, sample rates and channel layouts (headers only)."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sda_audio.files import list_audio_files
from sda_audio.io import AudioReadError, audio_info

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileSummary:
    """One file's header facts. ``relative`` is the path inside the dataset folder."""

    path: Path
    relative: str
    duration: float
    sample_rate: int
    channels: int
    format: str
    subtype: str
    size_bytes: int

    @property
    def name(self) -> str:
        return self.path.name

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "relative": self.relative, "name": self.name, "duration": self.duration,
                "sample_rate": self.sample_rate, "channels": self.channels, "format": self.format,
                "subtype": self.subtype, "size_bytes": self.size_bytes}


@dataclass
class DatasetSummary:
    """Counts over the readable audio files of a dataset.

    ``sample_rates`` and ``channels`` map each value to how many files have it; ``unreadable``
    lists files whose header could not be read (run validation for the reason).
    """

    folder: Path
    file_count: int
    total_duration: float
    sample_rates: dict[int, int]
    channels: dict[int, int]
    files: list[FileSummary] = field(default_factory=list)
    unreadable: list[Path] = field(default_factory=list)

    @property
    def consistent_sample_rate(self) -> bool:
        return len(self.sample_rates) <= 1

    @property
    def shortest(self) -> float:
        return min((f.duration for f in self.files), default=0.0)

    @property
    def longest(self) -> float:
        return max((f.duration for f in self.files), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder), "file_count": self.file_count, "total_duration": self.total_duration,
            "sample_rates": {str(k): v for k, v in sorted(self.sample_rates.items())},
            "channels": {str(k): v for k, v in sorted(self.channels.items())},
            "consistent_sample_rate": self.consistent_sample_rate,
            "shortest": self.shortest, "longest": self.longest,
            "files": [f.to_dict() for f in self.files],
            "unreadable": [str(p) for p in self.unreadable],
        }


def summarize_dataset(folder: str | Path) -> DatasetSummary:
    """Summarise the audio files in ``folder`` (recursively) from their headers, without decoding."""
    folder = Path(folder)
    files: list[FileSummary] = []
    unreadable: list[Path] = []
    for path in list_audio_files(folder):
        try:
            info = audio_info(path)
        except AudioReadError as exc:
            log.info("%s", exc)
            unreadable.append(path)
            continue
        relative = path.relative_to(folder).as_posix() if folder.is_dir() else path.name
        files.append(FileSummary(path=path, relative=relative, duration=info.duration, sample_rate=info.sample_rate,
                                 channels=info.channels, format=info.format, subtype=info.subtype,
                                 size_bytes=path.stat().st_size))
    return DatasetSummary(
        folder=folder,
        file_count=len(files),
        total_duration=float(sum(f.duration for f in files)),
        sample_rates=dict(Counter(f.sample_rate for f in files)),
        channels=dict(Counter(f.channels for f in files)),
        files=files,
        unreadable=unreadable,
    )
