"""The two controls of the yardstick that isolate what the *model* adds over its vocoder.

- **vocoder alone**: log-mel frames of the training files (the models' own mel definition,
  :class:`sda_models.mel.LogMel`) picked independently at random, as many as a generated clip has;
- **model frames shuffled in time**: the generation's own log-mel with its frames permuted.

Both are vocoded by the very vocoder object the generation used, the way
:class:`sda_engine.generate.renderer.Renderer` vocodes (chunks, crossfades, trim, edge fades). The log-mels and
the vocoder are captured while :func:`sda_engine.generate.pipeline.generate_files` runs (:func:`capture_rendering` wraps
``rendering.render_mel`` and ``rendering.vocode_chunks`` and restores them afterwards), so the RVQ prior
is not sampled twice; :func:`rerender` rebuilds them from the results' parameters where capturing is not
possible.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

SAMPLE_RATE = 44100


def training_log_mels(waves: Sequence[np.ndarray]) -> torch.Tensor:
    """All log-mel frames of the training files (mono 44.1 kHz): ``(128, frames)``."""
    from sda_models.mel import LogMel, MelConfig

    mel = LogMel(MelConfig())
    parts = []
    with torch.no_grad():
        for w in waves:
            x = torch.from_numpy(np.asarray(w, dtype=np.float32).reshape(-1))
            if x.numel() < 2048:
                x = torch.nn.functional.pad(x, (0, 2048 - x.numel()))
            parts.append(mel(x[None])[0])
    return torch.cat(parts, dim=-1)


def random_frames(pool: torch.Tensor, n_frames: int, rng: np.random.Generator) -> torch.Tensor:
    """``n_frames`` frames picked independently at random from ``pool (128, N)``: ``(128, n_frames)``."""
    idx = torch.from_numpy(rng.integers(0, pool.shape[-1], size=n_frames))
    return pool[:, idx].clone()


def shuffle_frames(log_mel: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """The same frames in a random order (time structure removed): ``(128, T)``."""
    perm = torch.from_numpy(rng.permutation(log_mel.shape[-1]))
    return log_mel[:, perm].clone()


def vocode_like_generation(vocoder: Any, log_mel: torch.Tensor, duration: float) -> np.ndarray:
    """Vocode ``(128, T)`` as the renderer does → mono ``(duration * sr,)``."""
    from sda_engine.generate.rendering import vocode_chunks

    audio, _ = vocode_chunks(vocoder, log_mel)
    n = int(round(duration * SAMPLE_RATE))
    if audio.shape[0] < n:
        audio = np.pad(audio, (0, n - audio.shape[0]))
    audio = np.asarray(audio[:n], dtype=np.float32).copy()
    fade = min(256, n // 4)
    if fade > 0:
        audio[:fade] *= np.linspace(0, 1, fade, dtype=np.float32)
        audio[-fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
    return audio


@dataclass
class Captured:
    """What one :func:`sda_engine.generate.pipeline.generate_files` call rendered: its log-mels and its vocoder."""

    mels: list[torch.Tensor] = field(default_factory=list)
    vocoder: Any = None


@contextmanager
def capture_rendering() -> Iterator[Captured]:
    """Record every log-mel ``(128, T)`` rendered and the vocoder used, while the block runs."""
    from sda_engine.generate import rendering

    captured = Captured()
    render_mel, vocode_chunks = rendering.render_mel, rendering.vocode_chunks

    def mel_spy(*args: Any, **kwargs: Any) -> torch.Tensor:
        mel = render_mel(*args, **kwargs)
        captured.mels.append(mel.detach().float().cpu().clone())
        return mel

    def vocode_spy(vocoder: Any, *args: Any, **kwargs: Any) -> Any:
        captured.vocoder = vocoder
        return vocode_chunks(vocoder, *args, **kwargs)

    rendering.render_mel, rendering.vocode_chunks = mel_spy, vocode_spy
    try:
        yield captured
    finally:
        rendering.render_mel, rendering.vocode_chunks = render_mel, vocode_chunks


def rerender(results: Sequence[Any], model_path: Path, voc_choice: str, home: Any,
             device: str) -> tuple[list[torch.Tensor], Any]:
    """The log-mels of ``results`` re-rendered from their requests, and the vocoder the session picks."""
    from sda_engine.generate.renderer import Renderer
    from sda_engine.generate.session import ModelSession

    session = ModelSession.open(model_path, device, home)
    vocoder = session.vocoder(voc_choice)[0]
    mels = []
    for r in results:
        renderer = Renderer(session, r.request)
        mels.append(renderer.mel(renderer.sample(r.seed)).detach().float().cpu())
    return mels, vocoder


def control_clips(vocoder: Any, mels: Sequence[torch.Tensor], durations: Sequence[float], pool: torch.Tensor,
                  seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``(vocoder_alone, model_shuffled)`` clips, one of each per generated log-mel (seeded)."""
    rng = np.random.default_rng(seed)
    alone, shuffled = [], []
    for mel, duration in zip(mels, durations, strict=True):
        shuffled.append(vocode_like_generation(vocoder, shuffle_frames(mel, rng), duration))
        alone.append(vocode_like_generation(vocoder, random_frames(pool, mel.shape[-1], rng), duration))
    return alone, shuffled
