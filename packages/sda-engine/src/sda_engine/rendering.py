"""Model → mono 44.1 kHz audio: latent/code sampling, chunked decoding, density gating, chunked vocoding.

Long durations are made in chunks:

- **latents**: RVQ models sample codes from the prior (it continues beyond its context with a sliding
  window); VAE models run the vector autoregression fitted to their training latents
  (:mod:`sda_engine.latent_dynamics`), so the sound moves at the material's pace (models without that
  fit fall back to a smooth random trajectory, :func:`sda_engine.stitching.smooth_latent_path`);
- **decoding** runs over latent chunks with an overlap; overlapping mel frames are crossfaded linearly
  (log-mel domain), so the decoder's edge effects never reach the output;
- **vocoding** runs over mel chunks with an overlap; audio chunks are joined with an equal-power
  crossfade (:func:`sda_engine.stitching.crossfade_concat`).

Dynamics: the decoded log-mel's frame loudness is mapped onto the training audio's distribution
(:mod:`sda_engine.dynamics`), so gaps are as quiet and strokes as loud as in the material.

Density (GEN-02), ``0.1 .. 2.0``, 1 = as generated:

- VAE: the latent process runs ``density`` times faster (denser = more events per second);
- RVQ: density > 1 raises the prior temperature by ``sqrt(density)`` (more varied codes);
- both, density < 1: a gate attenuates the quietest ``1 - density`` share of frames by up to 30 dB
  (smoothed over ~50 ms), leaving space between events.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events
from sda_engine.dynamics import match_dynamics
from sda_engine.stitching import crossfade_concat, smooth_latent_path

log = logging.getLogger(__name__)

SAMPLE_RATE = 44100
HOP = 512
DECODE_CHUNK = 256  # latent frames per decoder call
DECODE_OVERLAP = 16
VOCODE_CHUNK_FRAMES = 512  # mel frames (~6 s) per vocoder call
VOCODE_OVERLAP_FRAMES = 16  # ~190 ms crossfade
VAE_ANCHOR_SECONDS = 1.5
GATE_DEPTH_NATS = math.log(10 ** (30 / 20))


@dataclass(frozen=True)
class RenderSettings:
    """What to render: seconds, seed, sampling controls, density."""

    duration: float
    seed: int = 0
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    density: float = 1.0
    dynamics: float = 1.0  # 0 = as decoded, 1 = the frame-loudness distribution of the training audio


def n_mel_frames(duration: float) -> int:
    return max(1, math.ceil(duration * SAMPLE_RATE / HOP))


def sample_latent(bundle: Any, settings: RenderSettings, device: torch.device,
                  on_event: ProgressCallback = ignore_events, cancel: CancelToken | None = None) -> torch.Tensor:
    """A latent trajectory ``(1, D, T')`` for ``settings.duration`` (CPU random numbers, moved to ``device``)."""
    from sda_models.device import cpu_generator

    ae = bundle.autoencoder
    ds = ae.config.downsample
    frames = math.ceil(n_mel_frames(settings.duration) / ds) + 1
    gen = cpu_generator(settings.seed)
    if ae.config.kind == "rvq":
        from sda_models.prior import sample

        if bundle.prior is None:
            from sda_audio.errors import SdaError

            raise SdaError("this RVQ model has no prior, so it cannot generate",
                           hint="train it again (the prior is trained after the autoencoder)")
        temperature = settings.temperature * (math.sqrt(settings.density) if settings.density > 1 else 1.0)
        codes = sample(bundle.prior, frames, gen, temperature=temperature, top_k=settings.top_k,
                       top_p=settings.top_p, on_event=on_event, cancel=cancel)
        with torch.no_grad():
            return ae.rvq.decode_codes(codes[None].to(device))
    dynamics = bundle.metadata.get("latent_dynamics")
    if dynamics:
        from sda_engine.latent_dynamics import sample_latent_dynamics

        path = sample_latent_dynamics(dynamics, frames, gen, temperature=settings.temperature,
                                      rate=max(settings.density, 0.05))
        return path[None].to(device)
    anchor = max(1, round(VAE_ANCHOR_SECONDS * SAMPLE_RATE / HOP / ds / max(settings.density, 0.05)))
    path = smooth_latent_path(ae.config.latent_dim, frames, gen, anchor, scale=settings.temperature)
    return path[None].to(device)


@torch.no_grad()
def decode_latent(ae: Any, latent: torch.Tensor, cancel: CancelToken | None = None) -> torch.Tensor:
    """Decode ``(1, D, T')`` in overlapping chunks → normalised mel ``(1, 128, T' * ds)``."""
    ds = ae.config.downsample
    total = latent.shape[-1]
    if total <= DECODE_CHUNK:
        return ae.decode(latent)
    out = torch.zeros(1, ae.config.n_mels, total * ds, device=latent.device)
    weight = torch.zeros(total * ds, device=latent.device)
    start = 0
    while start < total:
        if cancel is not None:
            cancel.raise_if_cancelled("generation")
        stop = min(total, start + DECODE_CHUNK)
        mel = ae.decode(latent[..., start:stop])
        n = mel.shape[-1]
        w = torch.ones(n, device=latent.device)
        ramp = DECODE_OVERLAP * ds
        if start > 0:
            w[:ramp] = torch.linspace(0, 1, ramp + 2, device=latent.device)[1:-1]
        if stop < total:
            w[-ramp:] = torch.linspace(1, 0, ramp + 2, device=latent.device)[1:-1]
        out[..., start * ds:start * ds + n] += mel * w
        weight[start * ds:start * ds + n] += w
        if stop == total:
            break
        start = stop - DECODE_OVERLAP
    return out / weight.clamp_min(1e-6)


def density_gate(log_mel: torch.Tensor, density: float) -> torch.Tensor:
    """Attenuate the quietest ``1 - density`` share of frames (density < 1) by up to 30 dB, smoothly."""
    if density >= 1.0:
        return log_mel
    loud = log_mel.mean(dim=0)
    threshold = torch.quantile(loud.float(), float(min(max(1.0 - density, 0.0), 0.95)))
    gate = torch.sigmoid((loud - threshold) * 4.0)  # 1 = keep, 0 = attenuate
    kernel = torch.ones(1, 1, 5, device=log_mel.device) / 5.0  # ~58 ms smoothing
    gate = torch.nn.functional.conv1d(gate[None, None], kernel, padding=2)[0, 0][: loud.shape[0]]
    return log_mel - (1.0 - gate)[None] * GATE_DEPTH_NATS


def vocode_chunks(vocoder: Any, log_mel: torch.Tensor, cancel: CancelToken | None = None,
                  on_event: ProgressCallback = ignore_events) -> tuple[np.ndarray, list[int]]:
    """Vocode ``(128, T)`` in overlapping chunks joined by equal-power crossfades → ``(T*512,)``, seams."""
    total = log_mel.shape[-1]
    chunks: list[np.ndarray] = []
    start = 0
    n_chunks = max(1, math.ceil((total - VOCODE_OVERLAP_FRAMES) / (VOCODE_CHUNK_FRAMES - VOCODE_OVERLAP_FRAMES)))
    while True:
        if cancel is not None:
            cancel.raise_if_cancelled("generation")
        stop = min(total, start + VOCODE_CHUNK_FRAMES)
        audio = np.asarray(vocoder.synthesize(log_mel[:, start:stop].float().cpu()), dtype=np.float32).reshape(-1)
        chunks.append(audio[: (stop - start) * HOP])
        on_event(ProgressEvent("generate", "progress", step=len(chunks), total=n_chunks,
                               message=f"vocoding chunk {len(chunks)}/{n_chunks}"))
        if stop >= total:
            break
        start = stop - VOCODE_OVERLAP_FRAMES
    return crossfade_concat(chunks, VOCODE_OVERLAP_FRAMES * HOP)


def render_mel(bundles: Sequence[tuple[Any, float]], settings: RenderSettings, device: torch.device,
               on_event: ProgressCallback = ignore_events, cancel: CancelToken | None = None) -> torch.Tensor:
    """The (un-normalised) log-mel ``(128, frames)`` to vocode.

    ``bundles`` is ``[(bundle, weight), ...]``: the first model samples the latent trajectory; every
    model decodes it and the log-mels are mixed by weight (latent blending of related models).
    """
    frames = n_mel_frames(settings.duration)
    latent = sample_latent(bundles[0][0], settings, device, on_event, cancel)
    total_w = sum(w for _, w in bundles)
    mel = None
    for bundle, w in bundles:
        norm = decode_latent(bundle.autoencoder, latent, cancel)[..., :frames]
        part = bundle.stats.denormalize(norm)[0] * (w / total_w)
        mel = part if mel is None else mel + part
    assert mel is not None
    quantiles = (bundles[0][0].metadata.get("dynamics") or {}).get("frame_loudness_quantiles")
    if quantiles and settings.dynamics > 0:
        mel = match_dynamics(mel, quantiles, settings.dynamics)
    return density_gate(mel.float(), settings.density)


def render_mono(bundles: Sequence[tuple[Any, float]], vocoder: Any, settings: RenderSettings,
                device: torch.device, on_event: ProgressCallback = ignore_events,
                cancel: CancelToken | None = None) -> tuple[np.ndarray, list[int]]:
    """Mono float32 audio at 44.1 kHz of exactly ``duration`` seconds, and the vocoder seam positions."""
    mel = render_mel(bundles, settings, device, on_event, cancel)
    audio, seams = vocode_chunks(vocoder, mel, cancel, on_event)
    n = int(round(settings.duration * SAMPLE_RATE))
    if audio.shape[0] < n:
        audio = np.pad(audio, (0, n - audio.shape[0]))
    fade = min(256, n // 4)
    audio = audio[:n].copy()
    if fade > 0:  # no click at the very start or end
        audio[:fade] *= np.linspace(0, 1, fade, dtype=np.float32)
        audio[-fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
    return audio, [s for s in seams if s < n]
