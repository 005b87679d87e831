"""Checking recordings before training: per-file problems and whether the dataset as a whole is usable.

:func:`validate_file` never raises for a bad file; it reports. Severities:

- ``error``: the file cannot be used (unreadable, empty, silent, unsupported, NaN/infinite samples); the
  dataset is not trainable until it is fixed or moved out, so no recording is ever dropped silently;
- ``warning``: usable, but worth a look (very short, heavily clipped);
- ``info``: handled automatically (an unusual sample rate is resampled, many channels are downmixed).

A dataset is ``ok`` when it has no errors: every file is usable and there are enough of them.

NaN or infinite samples (code ``non_finite``) are an error unless the caller passes ``repair_non_finite=True``,
the user's acceptance of setting them to 0 (:func:`sda_audio.io.repair_non_finite`); the finding is then a
warning, and the samples must be read with ``read_audio(..., non_finite="zero")``. A file whose every sample is
NaN/infinite stays an error: there is nothing to repair.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sda_audio.errors import SdaError
from sda_audio.files import file_sha256, iter_candidate_files
from sda_audio.io import (
    SUPPORTED_EXTENSIONS,
    AudioReadError,
    NonFiniteAudioError,
    audio_info,
    decoder_message,
    is_supported,
    read_audio,
)

log = logging.getLogger(__name__)

Severity = Literal["error", "warning", "info"]
Status = Literal["ok", "warning", "error"]

COMMON_RATES = (44100, 48000, 88200, 96000)
SILENCE_DBFS = -60.0
CLIP_LEVEL = 0.999
CLIP_FRACTION = 0.01


@dataclass(frozen=True)
class Issue:
    """One finding. ``path`` is set for file findings listed at dataset level."""

    severity: Severity
    code: str
    message: str
    path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "code": self.code, "message": self.message,
                "path": str(self.path) if self.path is not None else None}

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path is not None else self.message


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


@dataclass
class FileReport:
    """The checks on one file."""

    path: Path
    status: Status = "ok"
    issues: list[Issue] = field(default_factory=list)
    duration: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    rms_dbfs: float | None = None
    peak: float | None = None
    clipped_fraction: float | None = None
    non_finite: int = 0
    """How many samples are NaN or infinite (0 for a clean or unreadable file)."""

    @property
    def usable(self) -> bool:
        return self.status != "error"

    def add(self, severity: Severity, code: str, message: str) -> None:
        self.issues.append(Issue(severity, code, message, self.path))
        if severity == "error":
            self.status = "error"
        elif severity == "warning" and self.status == "ok":
            self.status = "warning"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path), "status": self.status, "usable": self.usable,
            "issues": [i.to_dict() for i in self.issues],
            "duration": _finite(self.duration), "sample_rate": self.sample_rate, "channels": self.channels,
            "rms_dbfs": _finite(self.rms_dbfs), "peak": _finite(self.peak),
            "clipped_fraction": _finite(self.clipped_fraction), "non_finite": self.non_finite,
        }


def validate_file(path: str | Path, min_duration: float = 0.5, repair_non_finite: bool = False) -> FileReport:
    """Check one file. Never raises for a bad file: every problem becomes an :class:`Issue`.

    ``repair_non_finite``: the user accepts that NaN/infinite samples are set to 0, so they are a warning
    rather than an error (see the module docstring).
    """
    path = Path(path)
    report = FileReport(path=path)
    redo = "re-export it as WAV or FLAC from your audio editor, or remove it"
    if not path.is_file():
        report.add("error", "missing", "file not found; check the path")
        return report
    if not is_supported(path):
        report.add("error", "unsupported_format",
                   f"'{path.suffix or 'no extension'}' is not an audio format sda reads "
                   f"({', '.join(SUPPORTED_EXTENSIONS)}); convert it or move it out of the dataset")
        return report
    try:
        size = path.stat().st_size
    except OSError as exc:
        report.add("error", "unreadable", f"cannot be read ({exc.strerror}); check its permissions")
        return report
    if size == 0:
        report.add("error", "empty", f"the file is empty (0 bytes); {redo}")
        return report
    try:
        info = audio_info(path)
    except AudioReadError as exc:
        cause = exc.__cause__ or exc
        report.add("error", "unreadable", f"cannot be decoded ({decoder_message(cause, path)}); the file is "
                   f"corrupt or not really {path.suffix.lstrip('.').upper()}; {redo}")
        return report
    report.sample_rate, report.channels, report.duration = info.sample_rate, info.channels, info.duration
    if info.frames == 0:
        report.add("error", "empty", f"the file holds no audio (0 frames); {redo}")
        return report
    try:
        samples = _read_samples(path, report, repair_non_finite)
    except AudioReadError as exc:
        report.add("error", "unreadable", f"the audio data is damaged ({decoder_message(exc.__cause__ or exc, path)}); "
                   f"{redo}")
        return report
    if samples is None:
        return report
    if samples.shape[1] == 0:
        report.add("error", "empty", f"the file holds no audio (0 frames); {redo}")
        return report
    duration = samples.shape[1] / info.sample_rate
    report.duration = duration
    x = samples.astype(np.float64)
    mean_square = float(np.mean(x * x))
    report.rms_dbfs = 10.0 * math.log10(mean_square) if mean_square > 0 else -math.inf
    report.peak = float(np.max(np.abs(x)))
    report.clipped_fraction = float(np.mean(np.abs(x) >= CLIP_LEVEL))

    if report.rms_dbfs < SILENCE_DBFS:
        level = "digital silence" if report.peak == 0 else f"{report.rms_dbfs:.0f} dBFS RMS"
        report.add("error", "silent", f"the file is silent ({level}, below {SILENCE_DBFS:.0f} dBFS); "
                   "check the recording or remove it")
    if duration < min_duration:
        report.add("warning", "too_short", f"only {report.duration:.2f} s long (under {min_duration:g} s); "
                   "training will loop or pad it, so it is still usable, but longer recordings teach more")
    if report.clipped_fraction > CLIP_FRACTION:
        report.add("warning", "clipped", f"{100 * report.clipped_fraction:.1f}% of samples are at full scale "
                   "(clipped); the model will learn the distortion: use a cleaner take if you have one")
    if info.sample_rate not in COMMON_RATES:
        report.add("info", "unusual_rate", f"unusual sample rate {info.sample_rate} Hz; sda resamples it")
    if info.channels > 2:
        report.add("info", "many_channels", f"{info.channels} channels; sda mixes them down")
    return report


def _read_samples(path: Path, report: FileReport, repair: bool) -> np.ndarray | None:
    """The file's samples, with NaN/infinite ones reported (and set to 0 for the remaining checks); ``None``
    when the file is unusable for that reason alone (every sample non-finite)."""
    try:
        return read_audio(path).samples
    except NonFiniteAudioError as exc:
        report.non_finite = exc.count
        if exc.count == exc.total:
            report.add("error", "non_finite", "every sample is NaN or infinite (the file is damaged or was written "
                       "by a faulty tool); re-export it from your audio editor or remove it")
            return None
        share = f"{100.0 * exc.count / exc.total:.3g}%"
        if repair:
            report.add("warning", "non_finite", f"{exc.count} of {exc.total} samples ({share}) are NaN or infinite; "
                       "they are set to 0 as you accepted (a click or gap may remain where they were)")
        else:
            report.add("error", "non_finite", f"{exc.count} of {exc.total} samples ({share}) are NaN or infinite "
                       "(the file is damaged or was written by a faulty tool), so sda will not train on it as it "
                       "is: re-export it, remove it, or accept the repair that sets those samples to 0")
        return read_audio(path, non_finite="zero").samples


@dataclass
class DatasetReport:
    """All file reports plus dataset-level findings.

    ``ok`` means the dataset can be trained on: enough usable files and no unusable ones. Files with
    errors are listed in ``file_errors`` and summarised as one dataset-level error naming them.
    """

    source: str
    files: list[FileReport]
    issues: list[Issue]
    sample_rates: set[int]
    min_files: int
    max_files: int

    @property
    def errors(self) -> list[Issue]:
        """Dataset-level errors: reasons the dataset cannot be trained on (unusable files among them)."""
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        """Dataset-level warnings followed by every file warning."""
        own = [i for i in self.issues if i.severity == "warning"]
        return own + [i for f in self.files for i in f.issues if i.severity == "warning"]

    @property
    def non_finite_files(self) -> list[Path]:
        """Files with NaN/infinite samples that the repair would make usable (not the all-NaN ones)."""
        return [f.path for f in self.files if any(i.code == "non_finite" for i in f.issues)
                and (f.duration or 0) > 0 and f.rms_dbfs is not None]

    @property
    def file_errors(self) -> list[Issue]:
        return [i for f in self.files for i in f.issues if i.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def usable_files(self) -> list[Path]:
        return [f.path for f in self.files if f.usable]

    @property
    def total_duration(self) -> float:
        return float(sum(f.duration or 0.0 for f in self.files if f.usable))

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "ok": self.ok,
            "file_count": len(self.files), "usable_count": len(self.usable_files),
            "usable_files": [str(p) for p in self.usable_files],
            "total_duration": self.total_duration, "sample_rates": sorted(self.sample_rates),
            "min_files": self.min_files, "max_files": self.max_files,
            "errors": [i.to_dict() for i in self.errors],
            "warnings": [i.to_dict() for i in self.warnings],
            "issues": [i.to_dict() for i in self.issues],
            "files": [f.to_dict() for f in self.files],
        }

    def to_text(self) -> str:
        """A plain, multi-line report for people."""
        lines = [f"Dataset {self.source}: {len(self.files)} files checked, {len(self.usable_files)} usable, "
                 f"{self.total_duration:.1f} s of usable audio",
                 "sample rates: " + (", ".join(f"{r} Hz" for r in sorted(self.sample_rates)) or "none")]
        mark = {"error": "ERROR  ", "warning": "WARNING", "info": "note   "}
        problem_files = [f for f in self.files if f.issues]
        if problem_files:
            lines.append("")
            lines.append("Files:")
            for f in problem_files:
                for issue in f.issues:
                    lines.append(f"  {mark[issue.severity]} {f.path.name}: {issue.message}")
        if self.issues:
            lines.append("")
            lines.append("Dataset:")
            lines.extend(f"  {mark[i.severity]} {i.message}" for i in self.issues)
        lines.append("")
        if self.ok:
            lines.append(f"OK: ready to train on {len(self.usable_files)} files.")
        else:
            lines.append("NOT READY: fix the errors above, then run validate again.")
        return "\n".join(lines)


def _duplicates(reports: list[FileReport]) -> list[tuple[Path, Path]]:
    """``(copy, original)`` pairs of files with identical bytes."""
    seen: dict[str, Path] = {}
    pairs = []
    for report in reports:
        try:
            digest = file_sha256(report.path)
        except OSError:
            continue
        if digest in seen:
            pairs.append((report.path, seen[digest]))
        else:
            seen[digest] = report.path
    return pairs


def validate_dataset(
    folder_or_files: str | Path | Iterable[str | Path],
    min_files: int = 5,
    max_files: int = 500,
    min_duration: float = 0.5,
    repair_non_finite: bool = False,
) -> DatasetReport:
    """Check every file in a dataset folder (recursively) or a list of files.

    Non-audio files in the folder are reported as unsupported; hidden files, ``manifest.json`` and
    ``thumbnails`` folders are ignored. Never raises for bad files (a missing folder is an error issue).
    ``repair_non_finite`` is passed to :func:`validate_file` (the user accepted zeroing NaN/inf samples).
    """
    source = str(folder_or_files) if isinstance(folder_or_files, str | Path) else "(file list)"
    issues: list[Issue] = []
    try:
        candidates = list(iter_candidate_files(folder_or_files))
    except SdaError as exc:
        candidates = []
        issues.append(Issue("error", "not_found", str(exc)))
    files = [validate_file(p, min_duration=min_duration, repair_non_finite=repair_non_finite) for p in candidates]
    usable = [f for f in files if f.usable]
    rates = {f.sample_rate for f in usable if f.sample_rate}

    audio_count = sum(1 for f in files if is_supported(f.path))
    if issues:
        pass  # the source itself is missing; nothing more to say
    elif audio_count == 0:
        issues.append(Issue("error", "no_audio", f"no audio files found in {source}; add recordings "
                            f"({', '.join(SUPPORTED_EXTENSIONS)})"))
    elif len(usable) < min_files:
        issues.append(Issue("error", "too_few_files", f"only {len(usable)} usable file(s); sda needs at least "
                            f"{min_files} to train: add more recordings or fix the files marked ERROR"))
    if len(usable) > max_files:
        issues.append(Issue("warning", "too_many_files", f"{len(usable)} usable files is more than the "
                            f"{max_files} sda is designed for; training will be slow, consider a smaller selection"))
    broken = [f for f in files if not f.usable]
    if broken:
        names = ", ".join(f.path.name for f in broken)
        issues.append(Issue("error", "unusable_files", f"{len(broken)} file(s) cannot be used: {names}; "
                            "fix them (e.g. re-export as WAV or FLAC) or move them out of the dataset - sda "
                            "never leaves a recording out silently"))
    duplicates = _duplicates(usable)
    if duplicates:
        pairs = "; ".join(f"{a.name} = {b.name}" for a, b in duplicates)
        issues.append(Issue("warning", "duplicate_files", f"{len(duplicates)} file(s) have identical content ({pairs}); "
                            "duplicates count twice in training: remove the extra copies"))
    if len(rates) > 1:
        listed = ", ".join(str(r) for r in sorted(rates))
        issues.append(Issue("warning", "mixed_sample_rates", f"files use different sample rates ({listed} Hz); "
                            "sda resamples everything to 44100 Hz, which is fine, but check it is intended"))
    log.info("validated %s: %d files, %d usable", source, len(files), len(usable))
    return DatasetReport(source=source, files=files, issues=issues, sample_rates=rates,
                         min_files=min_files, max_files=max_files)


__all__ = ["COMMON_RATES", "DatasetReport", "FileReport", "Issue", "validate_dataset", "validate_file"]
