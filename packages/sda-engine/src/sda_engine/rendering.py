"""The steps of rendering: sketch sampling, chunked decoding, dynamics, density gating, chunked vocoding.

:class:`sda_engine.session.ModelSession` composes them; they are plain functions of a model bundle and a
:class:`~sda_engine.request.GenerationRequest`.

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

Density (GEN-02): the ``density`` control (-1..1, 0 = as generated) as a rate factor ``0.1 .. 2.0``
(:func:`sda_engine.request.density_factor`):

- VAE: the latent process runs ``density`` times faster (denser = more events per second);
- RVQ, density > 1: a second sketch (another seed) is layered under the first at ``density - 1`` of its level
  (more events per second; :meth:`sda_engine.session.ModelSession.render`); a hotter prior was tried first
  and made the sound sparser and stranger, not denser (docs/controls.md);
- both, density < 1: a gate attenuates the quietest ``1 - density`` share of frames by up to 30 dB
  (smoothed over ~50 ms), leaving space between events.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events
from sda_engine.dynamics import match_dynamics
from sda_engine.request import density_factor
from sda_engine.sketch import Sketch
from sda_engine.stitching import crossfade_concat, smooth_latent_path
from sda_models.mel import MelConfig

log = logging.getLogger(__name__)

MEL = MelConfig()
SAMPLE_RATE = MEL.sampling_rate
HOP = MEL.hop_length
DECODE_CHUNK = 256  # latent frames per decoder call
DECODE_OVERLAP = 16
VOCODE_CHUNK_FRAMES = 512  # mel frames (~6 s) per vocoder call
VOCODE_OVERLAP_FRAMES = 16  # ~190 ms crossfade
VAE_ANCHOR_SECONDS = 1.5
GATE_DEPTH_NATS = math.log(10 ** (30 / 20))
SAMPLE_JOB = "generate.sample"
VOCODE_JOB = "generate.vocode"


def n_mel_frames(duration: float) -> int:
    return max(1, math.ceil(duration * SAMPLE_RATE / HOP))


def sample_sketch(bundle: Any, request: Any, seed: int, device: torch.device,
                  on_event: ProgressCallback = ignore_events, cancel: CancelToken | None = None,
                  steer: dict[str, float] | None = None) -> Sketch:
    """A new :class:`Sketch` of ``request.duration`` seconds from ``seed`` (CPU random numbers, so the same
    seed gives the same sketch on every device). Events: job ``generate.sample``, step = latent frames made.

    ``steer`` (from a fitted control map): ``temperature_scale`` multiplies the temperature, ``rate`` the
    speed of a VAE's latent process (on top of the density control's own steering)."""
    from sda_models.device import cpu_generator

    ae = bundle.autoencoder
    ds = ae.config.downsample
    frames = math.ceil(n_mel_frames(request.duration) / ds) + 1
    samples = int(round(request.duration * SAMPLE_RATE))
    steer = steer or {}
    density = density_factor(request.control.value("density"))
    rate = density * float(steer.get("rate", 1.0))
    temperature = request.temperature * float(steer.get("temperature_scale", 1.0))
    gen = cpu_generator(seed)
    on_event(ProgressEvent(SAMPLE_JOB, "start", step=0, total=frames,
                           message=f"sampling {frames} latent frames (seed {seed})"))
    if ae.config.kind == "rvq":
        from sda_models.prior import sample

        if bundle.prior is None:
            from sda_audio.errors import SdaError

            raise SdaError("this RVQ model has no prior, so it cannot generate",
                           hint="train it again (the prior is trained after the autoencoder)", action="retrain")

        def relabel(event: ProgressEvent) -> None:
            on_event(ProgressEvent(SAMPLE_JOB, event.kind, step=event.step, total=event.total,
                                   message=event.message, metrics=event.metrics, data=event.data))

        codes = sample(bundle.prior, frames, gen, temperature=temperature, top_k=request.top_k,
                       top_p=request.top_p, on_event=relabel, cancel=cancel)
        with torch.no_grad():
            latent = ae.rvq.decode_codes(codes[None].to(device))
        sketch = Sketch("codes", samples, codes=codes.cpu(), latent=latent, seed=seed)
    else:
        dynamics = bundle.metadata.get("latent_dynamics")
        if dynamics:
            from sda_engine.latent_dynamics import sample_latent_dynamics

            path = sample_latent_dynamics(dynamics, frames, gen, temperature=temperature, rate=max(rate, 0.05))
        else:
            anchor = max(1, round(VAE_ANCHOR_SECONDS * SAMPLE_RATE / HOP / ds / max(rate, 0.05)))
            path = smooth_latent_path(ae.config.latent_dim, frames, gen, anchor, scale=temperature)
        sketch = Sketch("latents", samples, latent=path[None].to(device), seed=seed)
    on_event(ProgressEvent(SAMPLE_JOB, "done", step=frames, total=frames, message="sampled"))
    return sketch


def sketch_latent(bundle: Any, sketch: Sketch, device: torch.device) -> torch.Tensor:
    """The decoder input ``(1, D, T')`` of ``sketch`` on ``device`` (RVQ codes are looked up when needed)."""
    if sketch.latent is not None:
        return sketch.latent.to(device)
    assert sketch.codes is not None
    ae = bundle.autoencoder
    if ae.config.kind != "rvq":
        from sda_audio.errors import SdaError

        raise SdaError("this model is a VAE: it has no codes to decode", hint="use an RVQ model for code grids")
    with torch.no_grad():
        return ae.rvq.decode_codes(sketch.codes[None].to(device))


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


VOCODE_WORKERS = 2
"""Chunks vocoded at once by a vocoder that says it is thread-safe (``thread_safe = True``: the corpus vocoder,
a pure function of its log-mel), each worker on one intra-op thread: on a 2-core CPU two chunks side by side
beat one chunk spread over two threads (its FFTs and small operations scale poorly)."""


def vocode_chunks(vocoder: Any, log_mel: torch.Tensor, cancel: CancelToken | None = None,
                  on_event: ProgressCallback = ignore_events) -> tuple[np.ndarray, list[int]]:
    """Vocode ``(128, T)`` in overlapping chunks joined by equal-power crossfades → ``(T*512,)``, seams.

    Events: job ``generate.vocode``, step = chunks done. The result does not depend on how many chunks ran
    at once."""
    total = log_mel.shape[-1]
    spans: list[tuple[int, int]] = []
    start = 0
    while True:
        stop = min(total, start + VOCODE_CHUNK_FRAMES)
        spans.append((start, stop))
        if stop >= total:
            break
        start = stop - VOCODE_OVERLAP_FRAMES
    n_chunks = len(spans)
    on_event(ProgressEvent(VOCODE_JOB, "start", step=0, total=n_chunks, message=f"vocoding {n_chunks} chunk(s)"))

    def one(span: tuple[int, int]) -> np.ndarray:
        if cancel is not None:
            cancel.raise_if_cancelled("generation")
        a, b = span
        audio = np.asarray(vocoder.synthesize(log_mel[:, a:b].float().cpu()), dtype=np.float32).reshape(-1)
        return audio[: (b - a) * HOP]

    workers = min(VOCODE_WORKERS, n_chunks, torch.get_num_threads())
    chunks: list[np.ndarray] = []
    if workers > 1 and getattr(vocoder, "thread_safe", False):
        from concurrent.futures import ThreadPoolExecutor

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for audio in pool.map(one, spans):  # in order, so the result is the sequential one
                    chunks.append(audio)
                    on_event(ProgressEvent(VOCODE_JOB, "progress", step=len(chunks), total=n_chunks,
                                           message=f"vocoding chunk {len(chunks)}/{n_chunks}"))
        finally:
            torch.set_num_threads(threads)
    else:
        for span in spans:
            chunks.append(one(span))
            on_event(ProgressEvent(VOCODE_JOB, "progress", step=len(chunks), total=n_chunks,
                                   message=f"vocoding chunk {len(chunks)}/{n_chunks}"))
    on_event(ProgressEvent(VOCODE_JOB, "done", step=len(chunks), total=n_chunks, message="vocoded"))
    return crossfade_concat(chunks, VOCODE_OVERLAP_FRAMES * HOP)


def render_mel(members: Sequence[tuple[Any, float]], latent: torch.Tensor, frames: int, request: Any,
               cancel: CancelToken | None = None) -> torch.Tensor:
    """The (un-normalised) log-mel ``(128, frames)`` to vocode.

    ``members`` is ``[(bundle, weight), ...]``: every model decodes ``latent`` and the log-mels are mixed by
    weight (latent blending of related models); the first model's training loudness sets the dynamics.
    """
    total_w = sum(w for _, w in members)
    mel = None
    for bundle, w in members:
        norm = decode_latent(bundle.autoencoder, latent, cancel)[..., :frames]
        part = bundle.stats.denormalize(norm)[0] * (w / total_w)
        mel = part if mel is None else mel + part
    assert mel is not None
    quantiles = (members[0][0].metadata.get("dynamics") or {}).get("frame_loudness_quantiles")
    if quantiles and request.dynamics > 0:
        mel = match_dynamics(mel, quantiles, request.dynamics)
    return density_gate(mel.float(), density_factor(request.control.value("density")))


def finish_mono(audio: np.ndarray, samples: int) -> np.ndarray:
    """Exactly ``samples`` long (padded with silence if short), with 256-sample edge fades against clicks."""
    if audio.shape[0] < samples:
        audio = np.pad(audio, (0, samples - audio.shape[0]))
    audio = np.asarray(audio[:samples], dtype=np.float32).copy()
    fade = min(256, samples // 4)
    if fade > 0:
        audio[:fade] *= np.linspace(0, 1, fade, dtype=np.float32)
        audio[-fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
    return audio
