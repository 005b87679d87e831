"""The vocoder extension point: every vocoder turns one canonical log-mel into a 44.1 kHz waveform."""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np
import torch

from sda_models.mel import MelConfig


@dataclass(frozen=True)
class VocoderChoice:
    """Which vocoder renders a generation and why (reported to the user and stored in the sidecar)."""

    name: str
    reason: str


class Vocoder(abc.ABC):
    """Renders the canonical log-mel (see :mod:`sda_models.mel`) as audio.

    Input is the *un-normalised* log-mel, shape ``(n_mels, frames)``, in the BigVGAN-v2 44 kHz
    128-band definition. Output is mono float32 audio at :attr:`sample_rate` with
    ``frames * hop_length`` samples.
    """

    name: str = "vocoder"
    sample_rate: int = MelConfig().sampling_rate
    hop_length: int = 512

    @abc.abstractmethod
    def synthesize(self, log_mel: torch.Tensor) -> np.ndarray:
        """Render ``log_mel`` ``(n_mels, frames)`` to a ``(frames * hop_length,)`` float32 waveform."""
