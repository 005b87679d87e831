"""The corpus index behind training-free corpus resynthesis.

Built once per model from its training audio: every hop-512 frame's log-mel (canonical
:class:`~sda_models.mel.LogMel`), reduced to a compact matching feature (per-band normalised log-mel,
projected with PCA), its loudness, and the original audio (mono, 44.1 kHz, int16 with a per-file scale)
so a vocoder can overlap-add real grains of it.

Memory: the audio dominates, 2 bytes per sample (88 KB per second at 44.1 kHz), plus 32 float32
features and a few ints per frame (~150 bytes, 13 KB per second). 500 files x 10 s is about 440 MB of
audio and 65 MB of features, on disk and in memory. Building holds every file's int16 audio and
float32 log-mel (~440 + 220 MB at that size), then briefly the concatenated copies: about 1.3 GB peak.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sda_audio.atomic import atomic_path
from sda_audio.errors import SdaError
from sda_audio.files import file_sha256
from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events
from sda_models.mel import LogMel, MelConfig

logger = logging.getLogger(__name__)

INDEX_FORMAT_VERSION = 1
METADATA_KEY = "sda_corpus_index"
INT16_SCALE = 32767.0
STD_FLOOR = 1e-3

INDEX_SUFFIX = ".corpus.safetensors"

CorpusSource = str | Path | np.ndarray | torch.Tensor


def corpus_index_path_for(model_path: str | Path) -> Path:
    """Where a model's corpus index lives: beside the model, ``name.sda`` -> ``name.corpus.safetensors``."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + INDEX_SUFFIX)


def mel_loudness(log_mel: torch.Tensor) -> torch.Tensor:
    """Per-frame level of a log-mel ``(..., n_mels, T)`` -> ``(..., T)``: the mean log magnitude over bands.

    A gain ``g`` applied to the audio shifts this by exactly ``log(g)`` (above the log clamp); matching
    it is the uniform shift that best fits the target log-mel.
    """
    return log_mel.float().mean(dim=-2)


def _load_mono(path: Path, sample_rate: int) -> np.ndarray:
    """``path`` as mono float32 ``(T,)`` at ``sample_rate``, read exactly as the training data is
    (:func:`sda_audio.io.read_audio`: channels averaged, then the anti-aliased sinc resampler)."""
    from sda_audio.io import read_audio

    clip = read_audio(path, sample_rate=sample_rate, mono=True)
    return np.ascontiguousarray(clip.samples.reshape(-1), dtype=np.float32)


def _as_array(source: CorpusSource) -> np.ndarray:
    arr = source.detach().cpu().numpy() if isinstance(source, torch.Tensor) else np.asarray(source)
    arr = arr.astype(np.float32)
    if arr.ndim == 2:
        arr = arr.mean(axis=0)
    if arr.ndim != 1:
        raise SdaError(f"corpus audio arrays must be (samples,) or (channels, samples), got {arr.shape}",
                       hint="pass mono 44.1 kHz arrays or file paths")
    return np.ascontiguousarray(arr)


@dataclass
class CorpusIndex:
    """Frames of a model's training audio, ready for nearest-neighbour grain lookup.

    Attributes:
        audio: ``(N,)`` int16, all files' mono audio concatenated (file ``i`` spans
            ``file_offsets[i] : file_offsets[i] + file_lengths[i]``).
        file_scales: ``(F,)`` float32; sample = ``audio * file_scales[file] / 32767``.
        file_offsets, file_lengths: ``(F,)`` int64 sample offsets and lengths.
        frame_file: ``(M,)`` int64 file of each frame; ``frame_start``: ``(M,)`` int64 global sample
            where each frame's hop starts (its mel window is centred at ``frame_start + hop / 2``).
        features: ``(M, D)`` float32 matching features (normalised, PCA-reduced log-mel).
        loudness: ``(M,)`` float32 :func:`mel_loudness` of each frame.
        mel_mean, mel_std: ``(n_mels,)`` per-band statistics of the corpus log-mel.
        projection: ``(n_mels, D)`` float32 PCA basis (identity when not reduced).
        mel_config: the mel definition the index was built with.
        sources: per-file ``{"name", "sha256", "samples"}`` records.
    """

    audio: torch.Tensor
    file_scales: torch.Tensor
    file_offsets: torch.Tensor
    file_lengths: torch.Tensor
    frame_file: torch.Tensor
    frame_start: torch.Tensor
    features: torch.Tensor
    loudness: torch.Tensor
    mel_mean: torch.Tensor
    mel_std: torch.Tensor
    projection: torch.Tensor
    mel_config: MelConfig
    sources: list[dict]

    @property
    def num_frames(self) -> int:
        return int(self.frame_file.shape[0])

    @property
    def num_files(self) -> int:
        return int(self.file_offsets.shape[0])

    @property
    def feature_dim(self) -> int:
        return int(self.features.shape[1])

    @property
    def duration_seconds(self) -> float:
        return float(self.file_lengths.sum()) / self.mel_config.sampling_rate

    @property
    def next_is_continuation(self) -> torch.Tensor:
        """``(M,)`` bool: frame ``i + 1`` exists and comes from the same file as frame ``i``."""
        same = torch.zeros(self.num_frames, dtype=torch.bool)
        if self.num_frames > 1:
            same[:-1] = self.frame_file[1:] == self.frame_file[:-1]
        return same

    def project(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Matching features of a log-mel ``(n_mels, T)`` -> ``(T, D)``."""
        norm = (log_mel.float().T - self.mel_mean) / self.mel_std
        return norm @ self.projection

    def file_audio(self, file_index: int) -> np.ndarray:
        """Float32 audio of one indexed file (for tests and benchmarks)."""
        start = int(self.file_offsets[file_index])
        stop = start + int(self.file_lengths[file_index])
        scale = float(self.file_scales[file_index]) / INT16_SCALE
        return self.audio[start:stop].numpy().astype(np.float32) * scale

    # ------------------------------------------------------------------ building

    @classmethod
    def build(
        cls,
        files: Sequence[CorpusSource],
        mel_config: MelConfig | None = None,
        *,
        pca_dims: int | None = 32,
        on_event: ProgressCallback = ignore_events,
        cancel: CancelToken | None = None,
        job: str = "train.vocoder",
    ) -> CorpusIndex:
        """Index ``files`` (paths, or mono 44.1 kHz arrays ``(samples,)``).

        ``pca_dims`` reduces the normalised 128-band log-mel to that many principal components
        (``None`` keeps all bands). Files shorter than one hop are skipped with a warning event.
        """
        config = mel_config or MelConfig()
        hop = config.hop_length
        if not files:
            raise SdaError("cannot build a corpus index from no audio files",
                           hint="train the model on at least one audio file")
        logmel = LogMel(config)
        chunks: list[np.ndarray] = []
        scales: list[float] = []
        mels: list[torch.Tensor] = []
        sources: list[dict] = []
        total = len(files)
        on_event(ProgressEvent(job, "start", 0, total, f"indexing {total} files for corpus resynthesis"))
        for i, item in enumerate(files):
            if cancel is not None:
                cancel.raise_if_cancelled("building the corpus index")
            if isinstance(item, str | Path):
                path = Path(item)
                if not path.is_file():
                    raise SdaError("training file for the corpus index is missing", path=path,
                                   hint="restore the file or rebuild the index from the model's dataset")
                wave = _load_mono(path, config.sampling_rate)
                name, sha = path.name, file_sha256(path)
            else:
                wave = _as_array(item)
                name, sha = f"array-{i}", hashlib.sha256(wave.tobytes()).hexdigest()
            usable = (wave.shape[0] // hop) * hop
            if usable <= config.padding or not np.isfinite(wave).all():
                on_event(ProgressEvent(job, "warning", i + 1, total,
                                       f"{name}: too short or not finite; left out of the corpus index"))
                continue
            wave = wave[:usable] - float(wave[:usable].mean())
            mel = logmel(torch.from_numpy(wave))
            peak = float(np.abs(wave).max())
            scale = peak if peak > 0 else 1.0
            chunks.append(np.round(wave / scale * INT16_SCALE).astype(np.int16))
            scales.append(scale)
            mels.append(mel[:, : usable // hop])
            sources.append({"name": name, "sha256": sha, "samples": int(usable)})
            on_event(ProgressEvent(job, "progress", i + 1, total, f"indexed {name}"))
        if not chunks:
            raise SdaError("none of the training files is long enough for a corpus index",
                           hint="use recordings of at least 50 ms")
        index = cls._from_parts(chunks, scales, mels, sources, config, pca_dims)
        on_event(ProgressEvent(job, "done", total, total,
                               f"corpus index: {index.num_files} files, {index.num_frames} frames",
                               metrics={"frames": float(index.num_frames)}))
        return index

    @classmethod
    def _from_parts(cls, chunks: list[np.ndarray], scales: list[float], mels: list[torch.Tensor],
                    sources: list[dict], config: MelConfig, pca_dims: int | None) -> CorpusIndex:
        hop = config.hop_length
        lengths = torch.tensor([c.shape[0] for c in chunks], dtype=torch.int64)
        offsets = torch.cumsum(lengths, 0) - lengths
        frames_per_file = lengths // hop
        frame_file = torch.repeat_interleave(torch.arange(len(chunks)), frames_per_file)
        local = torch.cat([torch.arange(int(n)) for n in frames_per_file])
        frame_start = offsets[frame_file] + local * hop
        mel = torch.cat(mels, dim=1).T.contiguous()  # (M, n_mels)
        mels.clear()  # frees the per-file copies
        loudness = mel_loudness(mel.T)
        mean = mel.mean(0)
        std = mel.std(0, unbiased=False).clamp_min(STD_FLOOR)
        norm = mel.sub_(mean).div_(std)  # in place: one (M, n_mels) matrix alive
        n_mels = norm.shape[1]
        dims = n_mels if pca_dims is None else max(1, min(int(pca_dims), n_mels, norm.shape[0]))
        if dims < n_mels:
            cov = norm.T.double() @ norm.double() / norm.shape[0]
            u, _s, _vh = torch.linalg.svd(cov)
            basis = u[:, :dims]
            signs = torch.sign(basis[basis.abs().argmax(0), torch.arange(dims)])
            projection = (basis * signs).float()
        else:
            projection = torch.eye(n_mels)
        features = (norm @ projection).contiguous()
        audio = torch.from_numpy(np.concatenate(chunks))
        chunks.clear()
        return cls(
            audio=audio,
            file_scales=torch.tensor(scales, dtype=torch.float32),
            file_offsets=offsets,
            file_lengths=lengths,
            frame_file=frame_file,
            frame_start=frame_start,
            features=features,
            loudness=loudness.float(),
            mel_mean=mean.float(),
            mel_std=std.float(),
            projection=projection,
            mel_config=config,
            sources=sources,
        )

    # ------------------------------------------------------------------ persistence

    _TENSORS = ("audio", "file_scales", "file_offsets", "file_lengths", "frame_file", "frame_start",
                "features", "loudness", "mel_mean", "mel_std", "projection")

    def save(self, path: str | Path) -> Path:
        """Write the index as one safetensors file with JSON metadata in its header (atomic)."""
        from safetensors.torch import save_file

        path = Path(path)
        meta = {
            "format_version": INDEX_FORMAT_VERSION,
            "mel_config": self.mel_config.to_dict(),
            "sources": self.sources,
        }
        tensors = {name: getattr(self, name).contiguous() for name in self._TENSORS}
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata={METADATA_KEY: json.dumps(meta)})
        logger.info("saved corpus index (%d frames) to %s", self.num_frames, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> CorpusIndex:
        """Read an index written by :meth:`save`; a missing or damaged file is a clear :class:`SdaError`."""
        from safetensors import SafetensorError, safe_open

        path = Path(path)
        rebuild = "rebuild it (it is rebuilt from the model's training files when you train or generate)"
        if not path.is_file():
            raise SdaError("corpus index not found", path=path, hint=rebuild)
        try:
            with safe_open(str(path), framework="pt", device="cpu") as handle:
                header = handle.metadata() or {}
                tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        except (SafetensorError, OSError, ValueError) as exc:
            raise SdaError(f"corpus index is damaged or not a safetensors file ({exc})", path=path,
                           hint=rebuild) from exc
        if METADATA_KEY not in header:
            raise SdaError("not a corpus index (no sda corpus metadata)", path=path, hint=rebuild)
        try:
            meta = json.loads(header[METADATA_KEY])
            version = int(meta["format_version"])
            config = MelConfig.from_dict(meta["mel_config"])
            sources = list(meta["sources"])
        except (ValueError, KeyError, TypeError) as exc:
            raise SdaError(f"corpus index metadata is damaged ({exc})", path=path, hint=rebuild) from exc
        if version != INDEX_FORMAT_VERSION:
            raise SdaError(f"corpus index format {version} is not supported (expected {INDEX_FORMAT_VERSION})",
                           path=path, hint=rebuild)
        missing = [name for name in cls._TENSORS if name not in tensors]
        if missing:
            raise SdaError(f"corpus index is missing tensors: {', '.join(missing)}", path=path, hint=rebuild)
        return cls(**{name: tensors[name] for name in cls._TENSORS}, mel_config=config, sources=sources)
