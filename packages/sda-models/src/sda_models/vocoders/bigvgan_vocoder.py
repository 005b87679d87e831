"""The universal vocoder: pretrained BigVGAN-v2 (44.1 kHz, 128 bands, hop 512) behind the :class:`Vocoder` API."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from sda_audio.errors import SdaError
from sda_audio.progress import CancelToken, ProgressCallback, ignore_events
from sda_models.device import resolve_device
from sda_models.mel import MelConfig
from sda_models.vocoders.base import Vocoder
from sda_models.vocoders.bigvgan import BigVGANGenerator
from sda_models.vocoders.bigvgan_weights import load_bigvgan_generator, resolve_bigvgan_weights
from sda_models.vocoders.chunking import render_chunked

logger = logging.getLogger(__name__)


def _as_mel(log_mel: torch.Tensor | np.ndarray, n_mels: int) -> torch.Tensor:
    mel = torch.as_tensor(log_mel, dtype=torch.float32)
    if mel.dim() == 3 and mel.shape[0] == 1:
        mel = mel[0]
    if mel.dim() != 2 or mel.shape[0] != n_mels:
        raise SdaError(f"the vocoder expects a log-mel of shape ({n_mels}, frames), got {tuple(mel.shape)}",
                       hint="pass the canonical 128-band log-mel from sda_models.mel.LogMel")
    if not torch.isfinite(mel).all():
        raise SdaError("the log-mel contains NaN or infinite values", hint="check the model that produced it")
    return mel


class BigVGANVocoder(Vocoder):
    """BigVGAN-v2 universal vocoder on CUDA, MPS or CPU; long inputs are rendered in overlapping chunks.

    Args:
        generator: a loaded :class:`BigVGANGenerator` (see :meth:`from_pretrained`).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"mps"`` or a ``torch.device``.
        chunk_frames / overlap_frames: chunk length and crossfade length in mel frames; each chunk is
            also given ``overlap_frames`` of context on both sides. Memory stays bounded by the chunk.
    """

    name = "bigvgan"

    def __init__(self, generator: BigVGANGenerator, device: str | torch.device | None = "auto",
                 chunk_frames: int = 256, overlap_frames: int = 16) -> None:
        cfg = generator.config
        mel = MelConfig()
        if (cfg.num_mels, cfg.hop_length, cfg.sampling_rate) != (mel.num_mels, mel.hop_length, mel.sampling_rate):
            raise SdaError(f"this BigVGAN variant ({cfg.num_mels} bands, hop {cfg.hop_length}, {cfg.sampling_rate} Hz) "
                           "does not speak sda's 128-band, hop-512, 44.1 kHz log-mel",
                           hint="use nvidia/bigvgan_v2_44khz_128band_512x")
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.generator = generator.to(self.device).eval()
        self.generator.fuse_weight_norm()
        self.hop_length = generator.config.hop_length
        self.sample_rate = generator.config.sampling_rate
        self.chunk_frames = int(chunk_frames)
        self.overlap_frames = int(overlap_frames)

    @classmethod
    def from_pretrained(cls, local_path: str | Path | None = None, *, device: str | torch.device | None = "auto",
                        cache_dir: str | Path | None = None, endpoint: str | None = None,
                        allow_download: bool = True, on_event: ProgressCallback = ignore_events,
                        cancel: CancelToken | None = None, chunk_frames: int = 256,
                        overlap_frames: int = 16) -> BigVGANVocoder:
        """Resolve (and if needed download) the official weights, load them safely, and wrap them."""
        weights = resolve_bigvgan_weights(local_path, cache_dir=cache_dir, endpoint=endpoint,
                                          allow_download=allow_download, on_event=on_event, cancel=cancel)
        logger.info("loading BigVGAN weights from %s (%s)", weights.checkpoint, weights.source)
        return cls(load_bigvgan_generator(weights), device=device, chunk_frames=chunk_frames,
                   overlap_frames=overlap_frames)

    def synthesize(self, log_mel: torch.Tensor) -> np.ndarray:
        """Canonical log-mel ``(128, frames)`` → float32 wave ``(frames * 512,)`` at 44.1 kHz."""
        mel = _as_mel(log_mel, self.generator.config.num_mels)
        wave = render_chunked(self.generator, mel, self.hop_length, self.device,
                              chunk=self.chunk_frames, overlap=self.overlap_frames, context=self.overlap_frames)
        return wave.numpy().astype(np.float32, copy=False)
