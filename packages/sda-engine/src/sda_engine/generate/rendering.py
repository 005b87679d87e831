"""The steps of rendering: sketch sampling, chunked decoding, dynamics, density gating, chunked vocoding.

:class:`sda_engine.generate.renderer.Renderer` composes them; they are plain functions of a model bundle and a
:class:`~sda_engine.generate.request.GenerationRequest`.

Long durations are made in chunks:

- **latents**: RVQ models sample codes from the prior (it continues beyond its context with a sliding
  window); VAE models run the vector autoregression fitted to their training latents
  (:mod:`sda_models.latent_var`), so the sound moves at the material's pace (models without that
  fit fall back to a smooth random trajectory, :func:`sda_engine.generate.stitching.smooth_latent_path`);
- **decoding** runs over latent chunks with an overlap; overlapping mel frames are crossfaded linearly
  (log-mel domain), so the decoder's edge effects never reach the output;
- **vocoding** runs over mel chunks with an overlap; audio chunks are joined with an equal-power
  crossfade (:func:`sda_engine.generate.stitching.crossfade_concat`).

Dynamics: the decoded log-mel's frame loudness is mapped onto the training audio's distribution
(:mod:`sda_models.loudness_match`), so gaps are as quiet and strokes as loud as in the material.

Density (GEN-02): the ``density`` control (-1..1, 0 = as generated) is steered on the sequence, the same way
for RVQ and VAE models, so that it moves what the ``density`` descriptor reads (the share of sounding frames and
the onsets per second) and leaves the envelope's modulation depth (``rhythmic``) mostly alone:

- above 0 (:func:`density_speed`): the sketch is sampled ``speed`` times longer (``2 ** value``, so up to 2x)
  and its decoded log-mel is played back ``speed`` times faster (:func:`compress_events`): the model's own
  events, more of them per second, each with its attack. A hotter RVQ prior (tried first) made the sound
  sparser and stranger; a second sketch layered under the first (tried next) smoothed the envelope without
  adding onsets the ear or the descriptor could count (docs/controls.md);
- below 0 (:func:`sparse_share`): whole events are silenced (:func:`density_gate`): the log-mel is cut into
  events at its onsets, and events chosen by a smooth seeded random field (so silences come in runs, not as
  a flicker) are taken down to the mel floor until ``-0.6 * value`` of the time is silent. A gap begins with
  a short fade at the end of the event before it and ends on the next onset (or, inside a drone, with a slow
  fade), so the gate adds no onsets of its own; the muted set grows
  with the value (the events silenced at -0.33 are among those silenced at -0.67). The vocoder renders
  the mel floor as a faint hiss, so the gaps are then set to digital silence after vocoding
  (:func:`silence_gaps`, the one post-vocoder step of density).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from sda_audio.errors import SdaError
from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events
from sda_engine.generate.sketch import Sketch
from sda_engine.generate.stitching import crossfade_concat, smooth_latent_path
from sda_models.device import cpu_generator
from sda_models.latent_var import sample_latent_dynamics
from sda_models.loudness_match import match_dynamics
from sda_models.mel import LOG_CLAMP, MelConfig
from sda_models.prior import sample as sample_codes

log = logging.getLogger(__name__)

MEL = MelConfig()
SAMPLE_RATE = MEL.sampling_rate
HOP = MEL.hop_length
DECODE_CHUNK = 256  # latent frames per decoder call
DECODE_OVERLAP = 16
VOCODE_CHUNK_FRAMES = 512  # mel frames (~6 s) per vocoder call
VOCODE_OVERLAP_FRAMES = 16  # ~190 ms crossfade
VAE_ANCHOR_SECONDS = 1.5
DENSE_MAX_SPEED = 2.0  # events per second at density +1, relative to the model's own
SPARSE_MAX_SHARE = 0.6  # share of the time silenced at density -1
MEL_FLOOR = math.log(LOG_CLAMP)  # the log-mel's clamp: silence
EVENT_MAX_SECONDS = 0.5  # longer stretches between onsets (drones) are cut into pieces of at most this
GAP_RELEASE_SECONDS = 0.06  # fade into a gap
GAP_ATTACK_SECONDS = 0.15  # fade out of a gap where no onset opens it (a drone resumes without an onset)
GATE_FIELD_SECONDS = 1.0  # knot spacing of the random field that picks the events to silence
GATE_SEED_OFFSET = 3_000_017
SAMPLE_JOB = "generate.sample"
VOCODE_JOB = "generate.vocode"


def n_mel_frames(duration: float) -> int:
    return max(1, math.ceil(duration * SAMPLE_RATE / HOP))


def sample_sketch(bundle: Any, request: Any, seed: int, device: torch.device,
                  on_event: ProgressCallback = ignore_events, cancel: CancelToken | None = None) -> Sketch:
    """A new :class:`Sketch` of ``request.duration`` seconds from ``seed`` (CPU random numbers, so the same
    seed gives the same sketch on every device). Events: job ``generate.sample``, step = latent frames made.

    Density above 0 makes the sketch :func:`density_speed` times longer in
    latent frames (``samples`` stays the output length): :func:`render_mel` plays it back that much faster."""
    ae = bundle.autoencoder
    ds = ae.config.downsample
    speed = density_speed(request.control.value("density"))  # dense: more of the sequence per second
    frames = math.ceil(n_mel_frames(request.duration * speed) / ds) + 1
    samples = int(round(request.duration * SAMPLE_RATE))
    gen = cpu_generator(seed)
    on_event(ProgressEvent(SAMPLE_JOB, "start", step=0, total=frames,
                           message=f"sampling {frames} latent frames (seed {seed})"))
    if ae.config.kind == "rvq":
        if bundle.prior is None:
            raise SdaError("this RVQ model has no prior, so it cannot generate",
                           hint="train it again (the prior is trained after the autoencoder)", action="retrain")

        def relabel(event: ProgressEvent) -> None:
            on_event(ProgressEvent(SAMPLE_JOB, event.kind, step=event.step, total=event.total,
                                   message=event.message, metrics=event.metrics, data=event.data))

        codes = sample_codes(bundle.prior, frames, gen, temperature=request.temperature, top_k=request.top_k,
                       top_p=request.top_p, on_event=relabel, cancel=cancel)
        with torch.no_grad():
            latent = ae.rvq.decode_codes(codes[None].to(device))
        sketch = Sketch("codes", samples, codes=codes.cpu(), latent=latent, seed=seed)
    else:
        dynamics = bundle.metadata.get("latent_dynamics")
        if dynamics:
            path = sample_latent_dynamics(dynamics, frames, gen, temperature=request.temperature)
        else:
            anchor = max(1, round(VAE_ANCHOR_SECONDS * SAMPLE_RATE / HOP / ds))
            path = smooth_latent_path(ae.config.latent_dim, frames, gen, anchor, scale=request.temperature)
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


def density_speed(value: float) -> float:
    """How many times faster than the model's own pace events come at density ``value`` (1 at and below 0)."""
    return float(DENSE_MAX_SPEED ** value) if value > 0 else 1.0


def sparse_share(value: float) -> float:
    """The share of the time :func:`density_gate` silences at density ``value`` (0 at and above 0)."""
    return SPARSE_MAX_SHARE * min(-float(value), 1.0) if value < 0 else 0.0


def compress_events(log_mel: torch.Tensor, speed: float, frames: int) -> torch.Tensor:
    """The first ``frames`` of ``log_mel (128, T)`` played ``speed`` times faster: every ``speed``-th frame
    (nearest), so each event keeps its spectrum and its attack (averaging frames would soften the attacks
    and, with them, the onsets), only its decay is shorter.

    The speed is capped where ``T`` runs out (an encoded or edited sketch has no extra frames)."""
    speed = min(float(speed), log_mel.shape[-1] / max(frames, 1))
    if speed <= 1.0 + 1e-6:
        return log_mel[..., :frames]
    index = torch.floor(torch.arange(frames, dtype=torch.float64) * speed + 0.5).long()
    return log_mel[..., index.clamp(max=log_mel.shape[-1] - 1).to(log_mel.device)]


def event_onsets(log_mel: torch.Tensor) -> torch.Tensor:
    """Frames where an event starts in ``log_mel (128, T)``: peaks (+-35 ms) of the spectral flux that stand
    out from their half-second neighbourhood (as the ``density`` descriptor counts onsets)."""
    flux = torch.relu(torch.diff(log_mel.float(), dim=-1, prepend=log_mel[:, :1].float())).mean(dim=0)
    n = flux.shape[0]
    if n < 3:
        return torch.zeros(0, dtype=torch.long)
    reach = max(1, round(0.035 * SAMPLE_RATE / HOP))
    local_max = torch.nn.functional.max_pool1d(flux[None, None], 2 * reach + 1, 1, reach)[0, 0][:n]
    avg = min(n, max(3, round(0.5 * SAMPLE_RATE / HOP)))
    local_mean = torch.nn.functional.avg_pool1d(flux[None, None], avg, 1, avg // 2, count_include_pad=True)[0, 0][:n]
    strong = max(float(torch.quantile(flux, 0.995)) * 0.1, 1e-6)
    peaks = (flux >= local_max) & (flux > 1.5 * local_mean) & (flux > strong)
    return torch.nonzero(peaks).flatten()


def _event_bounds(onsets: torch.Tensor, n: int) -> list[tuple[int, int, bool]]:
    """``(start, stop, starts_at_onset)`` spans covering ``0..n``: cut at onsets, none longer than
    ``EVENT_MAX_SECONDS``."""
    longest = max(4, round(EVENT_MAX_SECONDS * SAMPLE_RATE / HOP))
    cuts = sorted({0, *[int(t) for t in onsets if 0 < int(t) < n]})
    onset_set = {int(t) for t in onsets}
    spans: list[tuple[int, int, bool]] = []
    for a, b in zip(cuts, [*cuts[1:], n], strict=True):
        pieces = max(1, math.ceil((b - a) / longest))
        edges = [a + round(i * (b - a) / pieces) for i in range(pieces + 1)]
        spans.extend((edges[i], edges[i + 1], i == 0 and a in onset_set) for i in range(pieces))
    return spans


def density_gate(log_mel: torch.Tensor, share: float, seed: int = 0) -> torch.Tensor:
    """Silence whole events of ``log_mel (128, T)`` (down to the mel floor) until ``share`` of the time is
    silent; nothing changes at ``share`` 0. The events are picked by a smooth random field from ``seed``
    (seeded CPU generator), lowest first, so a larger share silences a superset of a smaller one's events."""
    n = log_mel.shape[-1]
    if share <= 0.0 or n < 4:
        return log_mel
    spans = _event_bounds(event_onsets(log_mel), n)
    knot = max(2, round(GATE_FIELD_SECONDS * SAMPLE_RATE / HOP))
    knots = torch.randn(n // knot + 2, generator=cpu_generator(seed + GATE_SEED_OFFSET), dtype=torch.float64)
    field = torch.nn.functional.interpolate(knots[None, None], size=n, mode="linear", align_corners=True)[0, 0]
    priority = [float(field[a:b].mean()) for a, b, _ in spans]
    keep = torch.ones(n, dtype=torch.float64)
    muted = [False] * len(spans)
    silent, budget = 0, share * n
    for i in sorted(range(len(spans)), key=lambda k: (priority[k], k)):
        if silent >= budget - 0.5:
            break
        a, b, _ = spans[i]
        muted[i], silent = True, silent + (b - a)
        keep[a:b] = 0.0
    release = max(1, round(GAP_RELEASE_SECONDS * SAMPLE_RATE / HOP))
    attack = max(1, round(GAP_ATTACK_SECONDS * SAMPLE_RATE / HOP))
    for i, (a, b, at_onset) in enumerate(spans):
        if muted[i]:
            continue
        if i + 1 < len(spans) and muted[i + 1]:  # fade into the gap at the end of this event
            m = min(release, b - a)
            keep[b - m:b] = torch.linspace(1.0, 0.0, m + 2, dtype=torch.float64)[1:-1]
        if i > 0 and muted[i - 1] and not at_onset:  # no onset opens the gap: fade in, slowly
            m = min(attack, b - a)
            keep[a:a + m] = torch.minimum(keep[a:a + m], torch.linspace(0.0, 1.0, m + 2, dtype=torch.float64)[1:-1])
    g = keep.to(log_mel.device, log_mel.dtype)[None]
    return log_mel * g + torch.clamp(log_mel, max=MEL_FLOOR) * (1.0 - g)  # never louder than it was

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
               cancel: CancelToken | None = None, seed: int | None = None,
               detail: torch.Tensor | None = None) -> torch.Tensor:
    """The (un-normalised) log-mel ``(128, frames)`` to vocode.

    ``members`` is ``[(bundle, weight), ...]``: every model decodes ``latent`` and the log-mels are mixed by
    weight (latent blending of related models); the first model's training loudness sets the dynamics.
    ``detail`` (``(128, F)``, a sketch's :attr:`~sda_engine.generate.sketch.Sketch.detail`) is added to the
    decoded log-mel from its first frame, the sum kept above the mel floor. The density control acts here (see
    the module docstring); ``seed`` picks the events a sparse setting silences (the sketch's seed; ``None`` = 0).
    """
    total_w = sum(w for _, w in members)
    mel = None
    for bundle, w in members:
        norm = decode_latent(bundle.autoencoder, latent, cancel)
        part = bundle.stats.denormalize(norm)[0] * (w / total_w)
        mel = part if mel is None else mel + part
    assert mel is not None
    if detail is not None:
        mel = add_detail(mel, detail)
    value = float(request.control.value("density"))
    mel = compress_events(mel, density_speed(value), frames)
    quantiles = (members[0][0].metadata.get("dynamics") or {}).get("frame_loudness_quantiles")
    if quantiles and request.dynamics > 0:
        mel = match_dynamics(mel, quantiles, request.dynamics)
    return density_gate(mel.float(), sparse_share(value), 0 if seed is None else int(seed))


def rendition(bundle: Any, latent: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``(n_mels, T' * downsample)`` float32 on the CPU: the (un-normalised) log-mel the decoder renders of
    ``latent (1, D, T')``, in eval mode and without gradients (the autoencoder's mode is restored)."""
    ae = bundle.autoencoder
    was = ae.training
    ae.eval()
    try:
        with torch.no_grad():
            return bundle.stats.to(device).denormalize(decode_latent(ae, latent.to(device)))[0].float().cpu()
    finally:
        ae.train(was)


def add_detail(log_mel: torch.Tensor, detail: torch.Tensor) -> torch.Tensor:
    """``log_mel (n_mels, T)`` plus ``detail (n_mels, F)`` over their common first frames, at least the mel
    floor (silence)."""
    n = min(log_mel.shape[-1], detail.shape[-1])
    if n == 0:
        return log_mel
    out = log_mel.clone()
    out[:, :n] = torch.clamp(out[:, :n] + detail[:, :n].to(out.device, out.dtype), min=MEL_FLOOR)
    return out


def silence_gaps(audio: np.ndarray, log_mel: torch.Tensor) -> np.ndarray:
    """``audio`` with the gaps :func:`density_gate` made (frames of ``log_mel (128, T)`` at the mel floor in
    every band) set to digital silence, with one-frame ramps.

    A vocoder renders the mel floor as its own quietest sound (the corpus vocoder: its quietest grain, about
    60 dB down), a steady hiss that reads as sound to the ear and as a never-ending decay to the
    ``reverberance`` descriptor. This is a gain after the vocoder (an assist on the engine's gaps)."""
    silent = (log_mel.max(dim=0).values <= MEL_FLOOR + 1e-4).cpu().numpy()
    if not silent.any():
        return audio
    keep = np.where(silent, 0.0, 1.0)
    gain = np.interp(np.arange(audio.shape[0]) / HOP, np.arange(keep.shape[0]), keep)
    return (audio * gain).astype(np.float32)


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
