"""Training-free corpus resynthesis: render a log-mel with grains of the model's own training audio.

For every target frame the vocoder picks a frame of the :class:`CorpusIndex` whose log-mel is close
(nearest neighbours in normalised, PCA-reduced mel space), preferring the frame that *follows* the
previous pick so natural stretches of the source play through (a beam-limited Viterbi over the ``k``
nearest frames plus the successors of the best partial paths). Each pick contributes the ORIGINAL
audio around that frame, Hann-windowed and overlap-added; where the path jumps, the new grain is
shifted by up to ``align_samples`` to line up with the audio already written (WSOLA-style), so
splices do not cancel. Each grain is scaled so its mel level matches the target frame. Finally a
few passes of mel envelope correction (:func:`~sda_models.vocoders.mel_correction.match_mel`, a
band-smooth time-varying EQ) pull the result onto the target log-mel while keeping the grains' real
phase and texture. Last, :func:`~sda_models.vocoders.mel_correction.refine_stft` (fast Griffin-Lim
iterations started from the grains' phase) makes the overlapped grains one consistent STFT and, only
where the raw grains missed the target mel (held-out material whose partials sit at other pitches
than any grain's), blends their fine structure towards the smooth envelope the mel implies. Audio
close to the corpus keeps its own spectra exactly (a training file still comes back as itself). On
held-out real recordings this beats 64 Griffin-Lim iterations on mel L1 and multi-resolution STFT
distance (``benchmarks/vocoders.py``). The output is DC-free and soft-limited below full scale.

Cost: the nearest-neighbour search is ``T x M`` distances in chunks of 16M (64 MB); the path search
and overlap-add are linear in ``T``; correction and refinement work on 1024-frame chunks (~100 MB).
The refinement (24 accelerated iterations, each one STFT and one inverse STFT) dominates: about 0.09 s
of one CPU core per second of audio, all stages (``docs/benchmarks.md``, generation section);
``refine_iterations=0`` skips it (faster, worse on held-out material).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Any, cast

import numpy as np
import torch

from sda_audio.errors import SdaError
from sda_models.mel import LogMel
from sda_models.vocoders.base import Vocoder
from sda_models.vocoders.corpus_index import INT16_SCALE, CorpusIndex, mel_loudness
from sda_models.vocoders.mel_correction import match_mel, refine_stft

logger = logging.getLogger(__name__)

CDIST_BUDGET = 1 << 24  # distance-matrix elements per block (64 MB of float32)
QUERY_BLOCK = 512  # query frames per block
LIMIT_THRESHOLD = 0.95
CORRECTION_CHUNK = 1024  # frames (~12 s) per mel-correction pass: ~100 MB of working memory
CORRECTION_CONTEXT = 48  # frames of context on each side of a chunk


@dataclass(frozen=True)
class GrainSettings:
    """How the corpus vocoder picks and joins grains.

    Attributes:
        grain_frames: grain length in hops (a grain starts at every hop, so this is also the overlap
            factor); 4 = 2048 samples, 46 ms at 44.1 kHz.
        k: nearest-neighbour candidates per target frame (also the beam width of the path search).
        continuity_weight: cost of a jump to a frame that does not follow the previous pick, in units
            of the RMS feature distance (normalised mel standard deviations); higher = longer runs.
        repeat_penalty: extra cost of repeating the same frame (which buzzes at the hop rate).
        align_samples: how far a grain may slide, at a jump, to line up with the audio already written.
        pitch_jitter_semitones: standard deviation of a random per-grain pitch shift (granular texture).
        level_matching: scale each grain so its mel loudness matches the target frame.
        max_gain_db: limit for level matching (boost and cut).
        correction_iterations: passes of mel envelope correction (:func:`match_mel`) after the
            overlap-add; 0 leaves the grains' own spectra.
        max_correction_db: per-pass limit of that correction.
        correction_step, correction_inner: its update step and gain refinements per pass.
        refine_iterations: iterations of phase-consistent STFT refinement (:func:`refine_stft`) after
            the correction; they fix what a band EQ cannot (partials of held-out material at other
            pitches than the corpus has, inconsistent overlaps at splices); 0 turns it off.
        refine_acceleration: the fast Griffin-Lim extrapolation of that refinement (0 = plain
            Griffin-Lim); 0.9 reaches in 24 iterations the held-out quality 0.5 reached in 48
            (``docs/benchmarks.md``).
        fine_structure: share (0..1, in log magnitude) of the grains' own spectral fine structure the
            refinement keeps where the grains match the target badly; the rest is the smooth envelope
            the mel implies. Where they match (mel error of the raw grains -> 0, e.g. material close
            to the corpus) the share rises to 1, so the grains' own spectra are kept there.
        mismatch_nats: raw-grain log-mel error (per band and frame) at which the share reaches
            ``fine_structure``; smaller errors blend linearly towards 1.
        seed: seed for the pitch jitter.
    """

    grain_frames: int = 4
    k: int = 8
    continuity_weight: float = 0.3
    repeat_penalty: float = 0.5
    align_samples: int = 256
    pitch_jitter_semitones: float = 0.0
    level_matching: bool = True
    max_gain_db: float = 24.0
    correction_iterations: int = 8
    max_correction_db: float = 30.0
    correction_step: float = 1.0
    correction_inner: int = 2
    refine_iterations: int = 24
    refine_acceleration: float = 0.9
    fine_structure: float = 0.8
    mismatch_nats: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.grain_frames < 2:
            raise ValueError(f"grain_frames must be at least 2 (overlapping grains), got {self.grain_frames}")
        if self.k < 1:
            raise ValueError(f"k must be at least 1, got {self.k}")
        if self.continuity_weight < 0 or self.repeat_penalty < 0:
            raise ValueError("continuity_weight and repeat_penalty must be non-negative")
        if self.correction_iterations < 0 or self.correction_inner < 1 or not 0 < self.correction_step < 2:
            raise ValueError("need correction_iterations >= 0, correction_inner >= 1, 0 < correction_step < 2")
        if self.refine_iterations < 0 or not 0.0 <= self.fine_structure <= 1.0 or self.mismatch_nats <= 0:
            raise ValueError("need refine_iterations >= 0, 0 <= fine_structure <= 1 and mismatch_nats > 0")
        if not 0.0 <= self.refine_acceleration < 1.0:
            raise ValueError(f"refine_acceleration must be in [0, 1), got {self.refine_acceleration}")
        if self.align_samples < 0 or self.pitch_jitter_semitones < 0 or self.max_gain_db < 0:
            raise ValueError("align_samples, pitch_jitter_semitones and max_gain_db must be non-negative")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def nearest_frames(query: torch.Tensor, features: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest corpus frames for each query row, in blocks that bound memory.

    Blocks are up to ``QUERY_BLOCK`` query rows by ``CDIST_BUDGET / rows`` corpus frames; each block's
    ``k`` best are merged into a running top-``k``.

    Args:
        query: ``(T, D)``; features: ``(M, D)``.

    Returns:
        distances ``(T, k)`` (RMS per dimension, ascending) and indices ``(T, k)`` int64, on the CPU.
    """
    k = min(k, features.shape[0])
    rows = min(QUERY_BLOCK, max(1, query.shape[0]))
    cols = max(k, CDIST_BUDGET // rows)
    scale = 1.0 / math.sqrt(features.shape[1])
    dists, idxs = [], []
    for start in range(0, query.shape[0], rows):
        q = query[start:start + rows]
        best_d = best_i = None
        for c0 in range(0, features.shape[0], cols):
            d = torch.cdist(q, features[c0:c0 + cols])
            values, indices = torch.topk(d, min(k, d.shape[1]), dim=1, largest=False, sorted=True)
            indices = indices + c0
            if best_d is not None and best_i is not None:
                values, order = torch.topk(torch.cat([best_d, values], 1), k, dim=1, largest=False, sorted=True)
                indices = torch.gather(torch.cat([best_i, indices], 1), 1, order)
            best_d, best_i = values, indices
        dists.append(cast(torch.Tensor, best_d).cpu() * scale)  # set by the first block of columns
        idxs.append(cast(torch.Tensor, best_i).cpu())
    return torch.cat(dists), torch.cat(idxs)


def _sliding_dot(signal: np.ndarray, kernel: np.ndarray, lags: int) -> np.ndarray:
    """``out[lag] = sum_i signal[lag + i] * kernel[i]`` for ``lag < lags`` (FFT cross-correlation)."""
    n = 1 << int(np.ceil(np.log2(signal.shape[0] + kernel.shape[0])))
    spec = np.fft.rfft(signal, n) * np.conj(np.fft.rfft(kernel, n))
    return np.fft.irfft(spec, n)[:lags]


def soft_limit(wave: np.ndarray, threshold: float = LIMIT_THRESHOLD) -> np.ndarray:
    """Leave samples below ``threshold`` untouched and bend larger ones smoothly towards (never past) 1."""
    mag = np.abs(wave)
    over = mag > threshold
    if over.any():
        room = 1.0 - threshold
        mag = mag.copy()
        mag[over] = threshold + room * np.tanh((mag[over] - threshold) / room)
        wave = np.sign(wave) * mag
    return wave.astype(np.float32)


class CorpusVocoder(Vocoder):
    """A :class:`Vocoder` that needs no training: grains of the training audio chosen by mel similarity."""

    name = "corpus"
    thread_safe = True
    """``synthesize`` is a pure function of its log-mel (read-only index, per-call RNG), so chunks of one long
    render may be vocoded in parallel threads (:func:`sda_engine.generate.rendering.vocode_chunks`)."""

    def __init__(self, index: CorpusIndex, settings: GrainSettings | None = None,
                 device: torch.device | str = "cpu") -> None:
        self.index = index
        self.settings = settings or GrainSettings()
        self.device = torch.device(device)
        self.sample_rate = index.mel_config.sampling_rate
        self.hop_length = index.mel_config.hop_length
        self._features_dev = index.features.to(self.device)
        self._features = index.features.numpy()
        self._next_ok = index.next_is_continuation.numpy()
        self._audio = index.audio.numpy()
        self._frame_start = index.frame_start.numpy()
        self._frame_file = index.frame_file.numpy()
        self._file_start = index.file_offsets.numpy()
        self._file_stop = (index.file_offsets + index.file_lengths).numpy()
        self._file_scale = index.file_scales.numpy() / INT16_SCALE
        self._loudness = index.loudness.numpy()
        self._logmel = LogMel(index.mel_config)

    # ------------------------------------------------------------------ frame choice

    def choose_frames(self, log_mel: torch.Tensor) -> np.ndarray:
        """Corpus frame for each target frame: ``(n_mels, T)`` -> ``(T,)`` int64 (beam Viterbi)."""
        s = self.settings
        query = self.index.project(log_mel.detach().cpu()).to(self.device)
        knn_d, knn_i = nearest_frames(query, self._features_dev, s.k)
        knn_d, knn_i = knn_d.numpy(), knn_i.numpy()
        q = query.cpu().numpy()
        scale = 1.0 / math.sqrt(q.shape[1])
        n = q.shape[0]
        states = [knn_i[0]]
        back: list[np.ndarray] = [np.zeros(len(knn_i[0]), dtype=np.int64)]
        dp = knn_d[0].astype(np.float64)
        for t in range(1, n):
            prev = states[-1]
            order = np.argsort(dp, kind="stable")[: s.k]
            succ = prev[order][self._next_ok[prev[order]]] + 1
            succ_d = np.linalg.norm(self._features[succ] - q[t], axis=1) * scale
            cand = np.concatenate([knn_i[t], succ])
            cost = np.concatenate([knn_d[t], succ_d]).astype(np.float64)
            follows = (cand[None, :] == prev[:, None] + 1) & self._next_ok[prev][:, None]
            trans = np.where(follows, 0.0, s.continuity_weight)
            trans = trans + np.where(cand[None, :] == prev[:, None], s.repeat_penalty, 0.0)
            total = dp[:, None] + trans
            best = np.argmin(total, axis=0)
            dp = cost + total[best, np.arange(len(cand))]
            states.append(cand)
            back.append(best)
        path = np.empty(n, dtype=np.int64)
        j = int(np.argmin(dp))
        for t in range(n - 1, -1, -1):
            path[t] = states[t][j]
            j = int(back[t][j])
        return path

    # ------------------------------------------------------------------ grains

    def _read(self, frame: int, centre: float, length: int, ratio: float = 1.0) -> np.ndarray:
        """``length`` samples of the frame's file centred at global sample ``centre`` (zeros off the file)."""
        f = int(self._frame_file[frame])
        lo, hi = int(self._file_start[f]), int(self._file_stop[f])
        if ratio == 1.0:
            start = int(round(centre - length / 2))
            a, b = max(start, lo), min(start + length, hi)
            out = np.zeros(length, dtype=np.float32)
            if b > a:
                out[a - start:b - start] = self._audio[a:b]
            return out * np.float32(self._file_scale[f])
        pos = centre + (np.arange(length) - length / 2) * ratio
        base = np.floor(pos).astype(np.int64)
        frac = (pos - base).astype(np.float32)
        valid = (base >= lo) & (base + 1 < hi)
        base = np.clip(base, lo, max(lo, hi - 2))
        x0 = self._audio[base].astype(np.float32)
        x1 = self._audio[base + 1].astype(np.float32)
        return np.where(valid, x0 + frac * (x1 - x0), 0.0).astype(np.float32) * np.float32(self._file_scale[f])

    def _align(self, frame: int, centre: float, reference: np.ndarray, window: np.ndarray) -> int:
        """Shift (samples) that best lines the grain up with ``reference`` (the audio already written)."""
        a = self.settings.align_samples
        if a == 0 or not np.any(reference):
            return 0
        length = window.shape[0]
        seg = self._read(frame, centre, length + 2 * a)
        ref = reference * window
        corr = _sliding_dot(seg, ref, 2 * a + 1)
        energy = _sliding_dot(seg * seg, window * window, 2 * a + 1)
        score = corr / np.sqrt(energy + 1e-12)
        return int(np.argmax(score)) - a

    def _fine_structure(self, wave: np.ndarray, mel: torch.Tensor) -> torch.Tensor:
        """Per band and frame ``(n_mels, T)`` share of the grains' fine structure the refinement keeps."""
        s = self.settings
        error = (self._logmel(torch.from_numpy(wave)) - mel).abs()
        return 1.0 - (1.0 - s.fine_structure) * (error / s.mismatch_nats).clamp(max=1.0)

    def _correct(self, wave: np.ndarray, mel: torch.Tensor) -> np.ndarray:
        """Mel envelope correction in chunks of ``CORRECTION_CHUNK`` frames (bounded memory).

        Each chunk is corrected with ``CORRECTION_CONTEXT`` frames of context on both sides and cropped,
        so the seams match the unchunked result to within the reach of the iterations.
        """
        s = self.settings
        hop = self.hop_length
        n = mel.shape[1]
        out = np.empty_like(wave)
        too_short = wave.shape[0] <= self.index.mel_config.padding  # left as is by the correction too
        keep = self._fine_structure(wave, mel) if s.refine_iterations > 0 and not too_short else None
        for start in range(0, n, CORRECTION_CHUNK):
            stop = min(n, start + CORRECTION_CHUNK)
            lo, hi = max(0, start - CORRECTION_CONTEXT), min(n, stop + CORRECTION_CONTEXT)
            cfg, target = self.index.mel_config, mel[:, lo:hi]
            part = match_mel(torch.from_numpy(wave[lo * hop:hi * hop]), target, cfg,
                             s.correction_iterations, s.max_correction_db, s.correction_step, s.correction_inner)
            if keep is not None:
                part = refine_stft(part, target, cfg, s.refine_iterations, keep[:, lo:hi],
                                   acceleration=s.refine_acceleration, max_db=s.max_correction_db)
            out[start * hop:stop * hop] = part.numpy()[(start - lo) * hop:(stop - lo) * hop]
        return out

    def synthesize(self, log_mel: torch.Tensor) -> np.ndarray:
        """Render a log-mel ``(n_mels, T)`` as ``(T * hop,)`` float32 audio."""
        if log_mel.dim() != 2 or log_mel.shape[0] != self.index.mel_config.num_mels:
            raise SdaError(f"the corpus vocoder expects a log-mel of shape ({self.index.mel_config.num_mels}, T), "
                           f"got {tuple(log_mel.shape)}", hint="pass one un-normalised log-mel, not a batch")
        mel = log_mel.detach().float().cpu()
        if not torch.isfinite(mel).all():
            raise SdaError("the log-mel to render contains NaN or infinite values",
                           hint="the model output is broken; retrain or lower the temperature")
        s = self.settings
        hop = self.hop_length
        n = mel.shape[1]
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        path = self.choose_frames(mel)
        length = s.grain_frames * hop
        window = np.hanning(length + 1)[:-1].astype(np.float32)  # periodic Hann
        gains = np.ones(n, dtype=np.float32)
        if s.level_matching:
            limit = s.max_gain_db / 20.0 * math.log(10.0)
            diff = mel_loudness(mel).numpy() - self._loudness[path]
            gains = np.exp(np.clip(diff, -limit, limit)).astype(np.float32)
        rng = np.random.default_rng(s.seed)
        ratios = np.ones(n)
        if s.pitch_jitter_semitones > 0:
            ratios = 2.0 ** (rng.normal(0.0, s.pitch_jitter_semitones, size=n) / 12.0)
        pad = length
        acc = np.zeros(n * hop + 2 * pad, dtype=np.float32)
        wsum = np.zeros_like(acc)
        shift = 0
        for t in range(n):
            frame = int(path[t])
            out0 = pad + t * hop + hop // 2 - length // 2
            centre = float(self._frame_start[frame] + hop // 2)
            continues = t > 0 and frame == path[t - 1] + 1 and self._next_ok[path[t - 1]]
            if not continues:
                written = wsum[out0:out0 + length]
                reference = np.divide(acc[out0:out0 + length], written, out=np.zeros(length, np.float32),
                                      where=written > 1e-6)
                shift = self._align(frame, centre, reference, window)
            grain = self._read(frame, centre + shift, length, float(ratios[t]))
            acc[out0:out0 + length] += gains[t] * window * grain
            wsum[out0:out0 + length] += window
        out = acc[pad:pad + n * hop] / np.maximum(wsum[pad:pad + n * hop], 1e-3)
        if s.correction_iterations > 0 or s.refine_iterations > 0:
            out = self._correct(out, mel)
        out = out - out.mean()
        return soft_limit(out)
