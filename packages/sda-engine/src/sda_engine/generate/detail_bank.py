"""The material's own detail for generated sound, found frame by frame in the model's latent space.

A small decoder renders the user's recordings with their partials blurred and their grain smoothed
(docs/quality.md, the reconstruction proof): a generation can only be as sharp as that. What the decoder misses
is known for every frame it was trained on: the frame's real log-mel minus the decoder's rendition of the frame's
latent (the *detail*, as a morph carries its sources' own, :mod:`sda_engine.generate.morph`). A
:class:`DetailBank` holds, for the model's training files (held-out files left out), each latent frame and the
detail of its ``downsample`` log-mel frames. A generated latent frame takes the detail of the training frame
nearest to it in the latent (squared Euclidean distance), preferring to carry on the run it is in (the next
frame of the same file, when that is within :data:`CONTINUE_SLACK` of the nearest), so the added partials and
grain continue as they did in the recording instead of changing every 46 ms. Each frame's detail has its mean
over the mel bands taken out (the spectral detail, not a loudness offset) and the chosen detail is smoothed over
:data:`SMOOTH_FRAMES` log-mel frames. The decoder still decides what is played and how loud; the bank adds the
fine structure of the material's own frames that say the same thing. ``GenerationRequest.detail = "none"``
renders the model alone.

Memory: at most :data:`MAX_BANK_FRAMES` latent frames are kept (files taken evenly when there are more), each
``n_mels x downsample`` float32 detail values plus its latent: about 2 KB a frame with the default mel settings,
so at most ~50 MB (about 19 minutes of training audio at 46 ms a frame).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sda_audio.progress import ProgressCallback, ProgressEvent, ignore_events
from sda_engine.generate.encoding import encode_audio
from sda_engine.generate.rendering import rendition
from sda_engine.generate.session import MEL, ModelSession

log = logging.getLogger(__name__)

DETAIL_JOB = "generate.detail"
MAX_BANK_FRAMES = 25_000
"""Latent frames a bank keeps at most (see the module: its memory bound)."""
CONTINUE_SLACK = 1.0
"""The next frame of the run is kept while its distance is at most this share above the nearest frame's."""
SMOOTH_FRAMES = 8
"""The chosen detail is smoothed over this many log-mel frames (a Hann window, ~93 ms): partials and grain
carry on across the 46 ms latent frames instead of switching at each one (measured on the ambient set: onsets
x2.2 of the real rate unsmoothed, x1.4 smoothed; docs/quality.md)."""
QUERY_BLOCK = 256
"""Generated frames matched at once (bounds the distance matrix to QUERY_BLOCK x bank frames)."""


@dataclass(frozen=True)
class DetailBank:
    """Latent frames of the model's training files and the detail the decoder misses of each.

    Attributes:
        latents: ``(N, D)`` float32: each training latent frame (what the decoder reads).
        details: ``(N, n_mels, downsample)`` float32: its log-mel frames minus the decoder's rendition of them.
        next_frame: ``(N,)`` int64: the index of the frame that follows in the same file, -1 at a file's end.
        files: the training files' names, in bank order.
    """

    latents: torch.Tensor
    details: torch.Tensor
    next_frame: torch.Tensor
    files: tuple[str, ...]

    @property
    def frames(self) -> int:
        return int(self.latents.shape[0])

    @classmethod
    def of(cls, session: ModelSession, max_frames: int = MAX_BANK_FRAMES,
           on_event: ProgressCallback = ignore_events) -> DetailBank | None:
        """The bank of ``session``'s model from its corpus index (the training audio stored with it), or ``None``
        (no corpus index, or no training file with sound in it). Events: job ``generate.detail``, step = files."""
        from sda_engine.generate.oneshot_variations import held_out_names

        index = session.loaded_corpus_index()
        if index is None:
            return None
        held = held_out_names(session.bundle.metadata.get("dataset") or {})
        chosen = [(i, str(s.get("name", i))) for i, s in enumerate(index.sources)
                  if Path(str(s.get("name", i))).name not in held]
        if not chosen:
            return None
        step = session.bundle.autoencoder.config.downsample * MEL.hop_length
        total = sum(int(index.sources[i].get("samples", 0)) for i, _ in chosen) // step
        if total > max_frames:  # files taken evenly through the set
            keep = max(1, int(len(chosen) * max_frames / max(total, 1)))
            chosen = [chosen[int(k)] for k in np.linspace(0, len(chosen) - 1, keep).round().astype(int)]
        on_event(ProgressEvent(DETAIL_JOB, "start", step=0, total=len(chosen),
                               message=f"reading the detail of {len(chosen)} training file(s) (once per session)"))
        latents: list[torch.Tensor] = []
        details: list[torch.Tensor] = []
        nexts: list[torch.Tensor] = []
        names: list[str] = []
        count = 0
        for i, name in chosen:
            mono = session.training_audio(index, i)
            if mono is None:
                continue
            z, d = file_detail(session, mono)
            n = min(z.shape[0], max_frames - count)
            if n <= 0:
                break
            latents.append(z[:n])
            details.append(d[:n])
            follow = torch.arange(count + 1, count + n + 1, dtype=torch.int64)
            follow[-1] = -1
            nexts.append(follow)
            names.append(Path(name).name)
            count += n
            on_event(ProgressEvent(DETAIL_JOB, "progress", step=len(names), total=len(chosen)))
        on_event(ProgressEvent(DETAIL_JOB, "done", step=len(names), total=len(chosen),
                               message=f"{count} frames of {len(names)} file(s)"))
        if not latents:
            return None
        return cls(torch.cat(latents), torch.cat(details), torch.cat(nexts), tuple(names))

    def detail_for(self, latent: torch.Tensor) -> torch.Tensor:
        """``(n_mels, T' * downsample)`` on the CPU: the detail for a generated latent ``(1, D, T')``."""
        if latent.dim() != 3 or latent.shape[1] != self.latents.shape[1]:
            raise ValueError(f"expected a latent (1, {self.latents.shape[1]}, T'), got {tuple(latent.shape)}")
        blocks = self.details[self.choose(latent)]  # (T', n_mels, ds)
        return smooth(blocks.permute(1, 0, 2).reshape(blocks.shape[1], -1).contiguous(), SMOOTH_FRAMES)

    def choose(self, latent: torch.Tensor) -> torch.Tensor:
        """``(T',)`` bank frame indices for a latent ``(1, D, T')``: the nearest frame, or the next frame of the
        run while it is within :data:`CONTINUE_SLACK` of the nearest."""
        # float64 on the CPU: the nearest frame is the same on every machine (no near-tie decided by rounding)
        query = latent.detach()[0].T.cpu().double()  # (T', D)
        bank = self.latents.double()
        bank_sq = (bank * bank).sum(dim=1)
        chosen = torch.empty(query.shape[0], dtype=torch.int64)
        previous = -1
        for start in range(0, query.shape[0], QUERY_BLOCK):
            q = query[start:start + QUERY_BLOCK]
            dist = (q * q).sum(dim=1, keepdim=True) - 2.0 * q @ bank.T + bank_sq[None]  # (B, N)
            best = dist.argmin(dim=1)
            for k in range(q.shape[0]):
                pick = int(best[k])
                if previous >= 0:
                    follow = int(self.next_frame[previous])
                    nearest = float(dist[k, pick])
                    if follow >= 0 and float(dist[k, follow]) <= nearest + CONTINUE_SLACK * max(abs(nearest), 1e-6):
                        pick = follow
                chosen[start + k] = pick
                previous = pick
        return chosen


def material_detail(session: ModelSession, request: Any, on_event: ProgressCallback = ignore_events
                    ) -> DetailBank | None:
    """The bank of the material's own detail a sampled generation carries (made once per session), or ``None``
    (``detail`` "none", or a model without its training audio)."""
    if request.render.detail == "none":
        return None
    try:
        return session.derived("detail-bank", lambda: DetailBank.of(session, on_event=on_event))
    except Exception as exc:  # an unreadable corpus index: the model's own rendering still works
        log.warning("no detail of the material for %s: %s", session.name, exc)
        return None


def file_detail(session: ModelSession, mono: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """``(latents (T', D), details (T', n_mels, ds))`` of one training file (mono, the model's rate), the detail
    taken in the whole file's decoding context."""
    from sda_engine.generate.morph import log_mel_of

    sketch = encode_audio(session, mono, session.sample_rate)
    assert sketch.latent is not None
    latent = sketch.latent.detach().float()
    heard = rendition(session.bundle, latent, session.device)
    true = log_mel_of(mono)
    ds = session.bundle.autoencoder.config.downsample
    frames = latent.shape[-1]
    n = min(true.shape[-1], heard.shape[-1], frames * ds)
    detail = torch.zeros(true.shape[0], frames * ds)
    detail[:, :n] = true[:, :n] - heard[:, :n]
    # the spectral detail, not the frame's loudness: a level offset switched every latent frame is heard as
    # flutter and counted as onsets (ambient: x2.2 the real onset rate with it, x1.6 without)
    detail = detail - detail.mean(dim=0, keepdim=True)
    blocks = detail.reshape(true.shape[0], frames, ds).permute(1, 0, 2).contiguous()
    return latent[0].T.contiguous(), blocks


def smooth(detail: torch.Tensor, width: int) -> torch.Tensor:
    """``detail (n_mels, T)`` smoothed along time with a ``width``-frame Hann window (edges held)."""
    if width <= 1 or detail.shape[-1] < 2:
        return detail
    kernel = torch.hann_window(width + 2, periodic=False)[1:-1]
    kernel = (kernel / kernel.sum()).view(1, 1, -1)
    padded = torch.nn.functional.pad(detail[:, None, :], (width // 2, width - 1 - width // 2), mode="replicate")
    return torch.nn.functional.conv1d(padded, kernel)[:, 0, :]

