"""Between a model and its code grids: the RVQ check, audio -> codes through the mel front end, codes -> mel.

Everything here takes an ``sda_models`` :class:`~sda_models.model_file.ModelBundle` (and the model's name and
file digest where a grid records them); opening models by name and rendering audio belong to the engine above
this package, which passes what these functions need.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from sda_audio.errors import SdaError
from sda_control.codes.grid import CodeGrid, ModelRef

if TYPE_CHECKING:
    from sda_models.model_file import ModelBundle
    from sda_models.rvq import ResidualVectorQuantizer


def require_rvq(bundle: ModelBundle, name: str) -> ResidualVectorQuantizer:
    """The bundle's RVQ quantiser, or an SdaError saying that a VAE model has no codes."""
    rvq = getattr(bundle.autoencoder, "rvq", None)
    if bundle.kind != "rvq" or rvq is None:
        raise SdaError(f"model '{name}' is a {bundle.kind.upper()}: it has no codes to show or edit",
                       hint="code grids need an RVQ model, the default kind when training")
    return rvq


def frame_seconds(bundle: ModelBundle) -> float:
    """Seconds per latent frame: the autoencoder's downsampling times the mel hop."""
    mel = bundle.mel_config
    return bundle.autoencoder.config.downsample * mel.hop_length / mel.sampling_rate


def model_ref(bundle: ModelBundle, name: str, sha256: str, path: str | Path | None = None) -> ModelRef:
    rvq = require_rvq(bundle, name)
    return ModelRef(name=name, sha256=sha256, levels=int(rvq.levels), codebook_size=int(rvq.codebook_size),
                    frame_seconds=frame_seconds(bundle), path=str(path) if path is not None else None)


def check_model(grid: CodeGrid, bundle: ModelBundle, name: str, sha256: str) -> None:
    """Refuse a model whose codes mean something else than the grid's (another model or another version)."""
    ref = model_ref(bundle, name, sha256)
    where = grid.path
    if (ref.levels, ref.codebook_size) != (grid.model.levels, grid.model.codebook_size):
        raise SdaError(f"the grid has {grid.model.levels} levels of {grid.model.codebook_size} codes (model "
                       f"'{grid.model.name}') but model '{name}' has {ref.levels} of {ref.codebook_size}",
                       path=where, hint="use the model the grid was encoded with, or encode the sound again")
    if grid.model.sha256 and sha256 and grid.model.sha256 != sha256:
        raise SdaError(f"the grid was encoded with another version of model '{grid.model.name}' "
                       f"(sha256 {grid.model.sha256[:12]}, this one is {sha256[:12]})", path=where,
                       hint="its codes mean different sounds in this model; encode the sound again with it")


def model_to_open(grid: CodeGrid) -> str:
    """What to open for ``grid``'s model: the ``.sda`` file it was encoded with when it is still there,
    else its library name."""
    if grid.model.path and Path(grid.model.path).is_file():
        return grid.model.path
    return grid.model.name


def _device(bundle: ModelBundle) -> torch.device:
    return next(bundle.autoencoder.parameters()).device


def mono_44k(samples: np.ndarray | Tensor, sample_rate: int, target_rate: int) -> Tensor:
    """Any ``(C, T)`` or ``(T,)`` audio -> mono float32 ``(T',)`` at ``target_rate`` (anti-aliased)."""
    from sda_audio.resample import resample

    x = torch.as_tensor(np.asarray(samples, dtype=np.float32))
    if x.dim() == 2:
        x = x.mean(dim=0)
    if x.dim() != 1:
        raise SdaError(f"audio must be (channels, samples) or (samples,), got {tuple(x.shape)}")
    if sample_rate != target_rate:
        x = torch.as_tensor(resample(x[None], sample_rate, target_rate))[0]
    return x.float().contiguous()


@torch.no_grad()
def audio_to_codes(bundle: ModelBundle, samples: np.ndarray | Tensor, sample_rate: int, name: str = "model") -> Tensor:
    """Audio (any rate, length, channels) -> the model's codes ``(levels, frames)`` (long, CPU).

    The audio goes through the model's own mel front end and normalisation, then ``encode_codes``, in one
    piece: the encoder's group normalisation sees the whole sound, so chunks would not give the same codes.
    """
    from sda_models.mel import LogMel

    require_rvq(bundle, name)
    cfg = bundle.mel_config
    wave = mono_44k(samples, sample_rate, cfg.sampling_rate)
    min_samples = max(cfg.hop_length * bundle.autoencoder.config.downsample, cfg.padding + 1)
    if wave.shape[0] < min_samples:
        wave = torch.nn.functional.pad(wave, (0, min_samples - wave.shape[0]))
    dev = _device(bundle)
    mel = LogMel(cfg).to(dev)(wave.to(dev)[None])
    mel_norm = bundle.stats.to(dev).normalize(mel)
    return bundle.autoencoder.encode_codes(mel_norm)[0].cpu()


@torch.no_grad()
def codes_to_mel(bundle: ModelBundle, codes: Tensor, name: str = "model") -> Tensor:
    """Codes ``(levels, frames)`` -> the log-mel ``(n_mels, frames * downsample)`` the decoder makes (CPU)."""
    require_rvq(bundle, name)
    dev = _device(bundle)
    mel_norm = bundle.autoencoder.decode_codes(codes.long()[None].to(dev))
    return bundle.stats.to(dev).denormalize(mel_norm)[0].float().cpu()


@torch.no_grad()
def audio_to_mel(bundle: ModelBundle, samples: np.ndarray | Tensor, sample_rate: int) -> Tensor:
    """The model's log-mel ``(n_mels, frames)`` of any audio (for comparisons with :func:`codes_to_mel`)."""
    from sda_models.mel import LogMel

    cfg = bundle.mel_config
    return LogMel(cfg)(mono_44k(samples, sample_rate, cfg.sampling_rate)[None])[0]


def encode_file(bundle: ModelBundle, ref: ModelRef, path: str | Path) -> CodeGrid:
    """An audio file (any format sda reads) -> its code grid, with the file's hash and format recorded."""
    from sda_audio.files import file_sha256
    from sda_audio.io import read_audio

    path = Path(path)
    clip = read_audio(path)
    codes = audio_to_codes(bundle, clip.samples, clip.sample_rate, ref.name)
    source = {"path": str(path), "sha256": file_sha256(path), "sample_rate": int(clip.sample_rate),
              "channels": int(clip.channels), "seconds": float(clip.duration)}
    return CodeGrid(codes=codes, model=ref, source=source)


def mel_distance(a: Tensor, b: Tensor) -> float:
    """Mean absolute difference of two log-mels ``(n_mels, T)`` over their common frames (nats)."""
    n = min(a.shape[-1], b.shape[-1])
    return float((a[..., :n] - b[..., :n]).abs().mean())
