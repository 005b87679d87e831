"""Bounded-memory vocoding: render a long log-mel in overlapping chunks and crossfade them.

Each chunk is rendered with ``context`` extra frames on both sides (cut away afterwards), so within the
generator's receptive field a chunk sees what the whole-signal pass would see; consecutive chunks
overlap by ``overlap`` frames and are joined with a raised-cosine crossfade.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

Render = Callable[[torch.Tensor], torch.Tensor]
"""``mel (1, n_mels, t)`` on the model's device → ``wave (1, 1, t * hop)`` (or ``(1, t * hop)``)."""


def chunk_spans(frames: int, chunk: int, overlap: int) -> list[tuple[int, int]]:
    """``[start, end)`` frame spans covering ``frames``; each span after the first starts ``overlap`` early."""
    if chunk <= overlap:
        raise ValueError(f"chunk ({chunk}) must exceed overlap ({overlap})")
    spans: list[tuple[int, int]] = []
    start = 0
    while True:
        end = min(start + chunk, frames)
        spans.append((start, end))
        if end >= frames:
            return spans
        start = end - overlap


def render_chunked(render: Render, mel: torch.Tensor, hop: int, device: torch.device,
                   chunk: int = 256, overlap: int = 16, context: int = 16) -> torch.Tensor:
    """Render ``mel`` ``(n_mels, frames)`` to a CPU float32 wave ``(frames * hop,)`` chunk by chunk."""
    frames = mel.shape[-1]
    out = torch.zeros(frames * hop, dtype=torch.float32)
    if frames == 0:
        return out
    fade_len = overlap * hop
    ramp = 0.5 - 0.5 * torch.cos(torch.linspace(0.0, math.pi, fade_len + 2)[1:-1]) if fade_len else None
    with torch.inference_mode():
        for index, (start, end) in enumerate(chunk_spans(frames, chunk, overlap)):
            lo, hi = max(0, start - context), min(frames, end + context)
            piece = mel[:, lo:hi].unsqueeze(0).to(device=device, dtype=torch.float32)
            wave = render(piece).reshape(-1)[(start - lo) * hop:(end - lo) * hop].float().cpu()
            a = start * hop
            if index > 0 and ramp is not None:
                head = min(fade_len, wave.numel())
                out[a:a + head] = out[a:a + head] * (1 - ramp[:head]) + wave[:head] * ramp[:head]
                out[a + head:end * hop] = wave[head:]
            else:
                out[a:end * hop] = wave
    return out
