"""The sound-quality yardstick: how close generated audio is to a set of real recordings, and how healthy.

Everything here is a fixed, documented measurement that needs no network and no pretrained model, so
anyone can rerun it (``benchmarks/sound_quality.py`` uses it; docs/quality.md explains it).

- **Window embedding**: each clip is levelled to -20 dBFS RMS, turned into a 40-band log-mel (dB,
  floored 80 dB below the clip's loudest frame), and cut into 0.5 s windows (hop 0.25 s). A window's
  embedding is the mean, the standard deviation and the mean absolute frame-to-frame change of each band
  over its frames (120 numbers): timbre, its spread, and how fast it moves, independent of playback level.
- **Fréchet distance** between Gaussian fits of two sets of window embeddings (as in FAD, on our embedding).
- **Onset rate** (strokes per second) from spectral flux with adaptive peak picking.
- **Quiet floor**: the 90th minus the 10th percentile of the 10 ms RMS envelope in dB - how far the quiet
  parts sit below the loud ones (a drum kit has a deep floor, a drone a shallow one).
- **Novelty**: the mean nearest-neighbour distance of generated windows to the training windows, divided
  by the same for held-out real windows (about 0: copying; about 1: new material from the same world).
- **Hygiene**: level against the set, DC offset, clipping, silent fraction, energy above 20 kHz.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torchaudio

EMBED_SR = 44100
EMBED_BANDS = 40
WINDOW_SECONDS = 0.5
WINDOW_HOP_SECONDS = 0.25
_N_FFT = 2048
_HOP = 512  # 11.6 ms frames; 43 frames per 0.5 s window
_FLOOR_DB = 80.0
_TARGET_RMS_DB = -20.0
_ONSET_RANGE_DB = 50.0
_ONSET_DELTA = 0.2


def _mono(samples: np.ndarray | torch.Tensor) -> np.ndarray:
    array = samples.detach().cpu().numpy() if isinstance(samples, torch.Tensor) else np.asarray(samples)
    array = array.astype(np.float64)
    if array.ndim == 2:
        array = array.mean(axis=0)
    return array


def _prepare(samples: np.ndarray | torch.Tensor, sample_rate: int) -> np.ndarray:
    mono = _mono(samples)
    if sample_rate != EMBED_SR:
        mono = torchaudio.functional.resample(torch.from_numpy(mono), sample_rate, EMBED_SR).numpy()
    return mono


_MEL_CACHE: dict[str, torchaudio.transforms.MelSpectrogram] = {}


def _mel_db(mono: np.ndarray) -> np.ndarray:
    """40-band mel power in dB, shape (bands, frames), floored 80 dB under the loudest frame."""
    if "mel" not in _MEL_CACHE:
        _MEL_CACHE["mel"] = torchaudio.transforms.MelSpectrogram(
            sample_rate=EMBED_SR, n_fft=_N_FFT, hop_length=_HOP, n_mels=EMBED_BANDS, f_min=20.0,
            f_max=EMBED_SR / 2, power=2.0, center=True, norm="slaney", mel_scale="slaney")
    with torch.no_grad():
        power = _MEL_CACHE["mel"](torch.from_numpy(mono).float()).double().numpy()
    db = 10.0 * np.log10(power + 1e-12)
    return np.maximum(db, db.max() - _FLOOR_DB)


def level(samples: np.ndarray | torch.Tensor, target_rms_db: float = _TARGET_RMS_DB) -> np.ndarray:
    """The clip scaled to a fixed RMS (silence stays silence)."""
    mono = _mono(samples)
    rms = np.sqrt(np.mean(mono**2)) if mono.size else 0.0
    if rms < 1e-9:
        return mono
    return mono * (10 ** (target_rms_db / 20) / rms)


def window_embeddings(samples: np.ndarray | torch.Tensor, sample_rate: int) -> np.ndarray:
    """Embeddings of 0.5 s windows of one clip: ``(windows, 3 * EMBED_BANDS)``.

    Clips shorter than one window give a single window over the whole clip.
    """
    mono = level(_prepare(samples, sample_rate))
    mel = _mel_db(mono)
    frames_per_window = max(1, int(round(WINDOW_SECONDS * EMBED_SR / _HOP)))
    hop = max(1, int(round(WINDOW_HOP_SECONDS * EMBED_SR / _HOP)))
    n_frames = mel.shape[1]
    if n_frames <= frames_per_window:
        starts = [0]
        frames_per_window = n_frames
    else:
        starts = list(range(0, n_frames - frames_per_window + 1, hop))
    delta = np.abs(np.diff(mel, axis=1, prepend=mel[:, :1]))
    windows = np.stack([mel[:, s: s + frames_per_window] for s in starts])  # (W, bands, frames)
    moves = np.stack([delta[:, s: s + frames_per_window] for s in starts])
    return np.concatenate([windows.mean(axis=2), windows.std(axis=2), moves.mean(axis=2)], axis=1)


def embed_set(clips: Sequence[tuple[np.ndarray | torch.Tensor, int]]) -> np.ndarray:
    """Window embeddings of many ``(samples, sample_rate)`` clips, stacked."""
    return np.concatenate([window_embeddings(s, sr) for s, sr in clips], axis=0)


def frechet_distance(a: np.ndarray, b: np.ndarray, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussian fits of two embedding sets ``(n, d)``.

    Covariances get ``eps``-scaled diagonal loading so that small sets (fewer windows than
    dimensions) still give a finite, stable number.
    """
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a = np.cov(a, rowvar=False) if len(a) > 1 else np.zeros((a.shape[1], a.shape[1]))
    cov_b = np.cov(b, rowvar=False) if len(b) > 1 else np.zeros((b.shape[1], b.shape[1]))
    load = eps * max(np.trace(cov_a), np.trace(cov_b), 1.0) / a.shape[1]
    cov_a = cov_a + np.eye(a.shape[1]) * load
    cov_b = cov_b + np.eye(b.shape[1]) * load
    # tr(sqrt(A B)) via the symmetric form sqrt(A)^T B sqrt(A), which stays real.
    vals_a, vecs_a = np.linalg.eigh(cov_a)
    sqrt_a = (vecs_a * np.sqrt(np.clip(vals_a, 0, None))) @ vecs_a.T
    middle = sqrt_a @ cov_b @ sqrt_a
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt)


def onset_envelope(samples: np.ndarray | torch.Tensor, sample_rate: int) -> tuple[np.ndarray, float]:
    """Spectral-flux onset strength (SuperFlux-style) and its frame rate (frames per second).

    The mel is floored 50 dB under the loudest frame so decaying noise tails do not count as
    strokes; the reference frame is max-filtered across neighbouring bands (vibrato-robust) and the
    clip is preceded by silence so a stroke at time zero counts.
    """
    mono = level(_prepare(samples, sample_rate))
    mel = _mel_db(mono)
    mel = np.maximum(mel, mel.max() - _ONSET_RANGE_DB)
    mel = np.concatenate([np.full((mel.shape[0], 2), mel.min()), mel], axis=1)
    reference = np.maximum(np.maximum(mel, np.roll(mel, 1, axis=0)), np.roll(mel, -1, axis=0))
    flux = np.maximum(mel[:, 2:] - reference[:, :-2], 0.0).mean(axis=0)
    edge = _N_FFT // (2 * _HOP)  # the last frames see the reflected padding past the end, not sound
    flux[-edge:] = 0.0
    return flux, EMBED_SR / _HOP


def onset_times(samples: np.ndarray | torch.Tensor, sample_rate: int, min_gap: float = 0.05) -> np.ndarray:
    """Onset times in seconds: local maxima of the flux that stand above their neighbourhood.

    A peak counts when it is the maximum within +-30 ms, exceeds the mean of the surrounding
    +-100 ms by ``delta`` (a fixed fraction of the clip's strongest flux, so level-independent),
    and is at least ``min_gap`` after the previous onset.
    """
    flux, rate = onset_envelope(samples, sample_rate)
    if flux.size < 3 or flux.max() <= 0:
        return np.zeros(0)
    near = max(1, int(round(0.03 * rate)))
    wide = max(1, int(round(0.10 * rate)))
    delta = _ONSET_DELTA * flux.max()
    gap = max(1, int(round(min_gap * rate)))
    onsets: list[int] = []
    for i in range(flux.size):
        lo, hi = max(0, i - near), min(flux.size, i + near + 1)
        if flux[i] < flux[lo:hi].max() or flux[i] <= 0:
            continue
        if flux[i] < flux[max(0, i - wide): i + wide + 1].mean() + delta:
            continue
        if onsets and i - onsets[-1] < gap:
            continue
        onsets.append(i)
    return np.asarray(onsets, dtype=np.float64) / rate


def onset_rate(samples: np.ndarray | torch.Tensor, sample_rate: int) -> float:
    """Strokes per second."""
    duration = _mono(samples).shape[-1] / sample_rate
    return float(len(onset_times(samples, sample_rate)) / max(duration, 1e-9))


def envelope_db(samples: np.ndarray | torch.Tensor, sample_rate: int, frame_seconds: float = 0.01) -> np.ndarray:
    """RMS envelope over 10 ms frames, in dBFS."""
    mono = _mono(samples)
    frame = max(1, int(round(frame_seconds * sample_rate)))
    n = mono.size // frame
    if n == 0:
        return np.full(1, -120.0)
    rms = np.sqrt(np.mean(mono[: n * frame].reshape(n, frame) ** 2, axis=1))
    return 20.0 * np.log10(rms + 1e-6)


def quiet_floor_db(samples: np.ndarray | torch.Tensor, sample_rate: int) -> float:
    """How far (dB) the 10th percentile of the 10 ms envelope sits below its 90th percentile."""
    env = envelope_db(samples, sample_rate)
    return float(np.percentile(env, 90) - np.percentile(env, 10))


def _standardise(reference: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    mean = reference.mean(axis=0)
    std = reference.std(axis=0) + 1e-6
    return [(x - mean) / std for x in (reference, *others)]


def nearest_neighbour_distance(query: np.ndarray, reference: np.ndarray) -> float:
    """Mean Euclidean distance from each query row to its nearest reference row."""
    q = torch.from_numpy(query).double()
    r = torch.from_numpy(reference).double()
    return float(torch.cdist(q, r).min(dim=1).values.mean())


def novelty(generated: np.ndarray, training: np.ndarray, held_out: np.ndarray) -> float:
    """NN distance of generated windows to training windows over the same for held-out real windows."""
    train_s, gen_s, held_s = _standardise(training, generated, held_out)
    return nearest_neighbour_distance(gen_s, train_s) / max(nearest_neighbour_distance(held_s, train_s), 1e-9)


@dataclass(frozen=True)
class HygieneLimits:
    """Where a generated file stops being usable, judged apart from the embedding."""

    max_level_gap_db: float = 12.0  # RMS level of the file against the set's median file level
    max_dc: float = 0.01  # |mean| as a fraction of full scale
    max_dc_to_rms: float = 0.5  # DC that dominates the signal (a near-silent offset) fails too
    max_clipped_fraction: float = 0.001  # samples at |x| >= 0.999
    max_silent_fraction_over_set: float = 0.25  # silent 10 ms frames beyond the set's own fraction
    max_ultrasonic_fraction: float = 0.01  # energy above 20 kHz over total energy
    silence_dbfs: float = -60.0


@dataclass(frozen=True)
class HygieneReport:
    level_gap_db: float
    dc_offset: float
    clipped_fraction: float
    silent_fraction: float
    ultrasonic_fraction: float
    failures: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["ok"] = self.ok
        return out


def rms_db(samples: np.ndarray | torch.Tensor) -> float:
    mono = _mono(samples)
    return float(20.0 * np.log10(np.sqrt(np.mean(mono**2)) + 1e-9)) if mono.size else -180.0


def silent_fraction(samples: np.ndarray | torch.Tensor, sample_rate: int, threshold_dbfs: float = -60.0) -> float:
    return float(np.mean(envelope_db(samples, sample_rate) < threshold_dbfs))


def ultrasonic_fraction(samples: np.ndarray | torch.Tensor, sample_rate: int, cutoff_hz: float = 20000.0) -> float:
    mono = _mono(samples)
    if sample_rate <= 2 * cutoff_hz or mono.size == 0:
        return 0.0
    spectrum = np.abs(np.fft.rfft(mono)) ** 2
    freqs = np.fft.rfftfreq(mono.size, 1.0 / sample_rate)
    total = spectrum.sum()
    return float(spectrum[freqs > cutoff_hz].sum() / total) if total > 0 else 0.0


def hygiene(samples: np.ndarray | torch.Tensor, sample_rate: int, set_level_db: float,
            set_silent_fraction: float, limits: HygieneLimits | None = None) -> HygieneReport:
    """Check one generated file against the set it should sound like."""
    limits = limits or HygieneLimits()
    arr = samples.detach().cpu().numpy() if isinstance(samples, torch.Tensor) else np.asarray(samples)
    mono = _mono(arr)
    gap = rms_db(mono) - set_level_db
    dc = float(abs(mono.mean())) if mono.size else 0.0
    clipped = float(np.mean(np.abs(arr) >= 0.999)) if arr.size else 0.0
    silent = silent_fraction(mono, sample_rate, limits.silence_dbfs)
    ultra = ultrasonic_fraction(mono, sample_rate)
    failures = []
    if abs(gap) > limits.max_level_gap_db:
        failures.append(f"level {gap:+.1f} dB from the set")
    rms = float(np.sqrt(np.mean(mono**2))) if mono.size else 0.0
    if dc > limits.max_dc or (rms > 1e-6 and dc / rms > limits.max_dc_to_rms):
        failures.append(f"DC offset {dc:.3f}")
    if clipped > limits.max_clipped_fraction:
        failures.append(f"clipping on {clipped:.2%} of samples")
    if silent > set_silent_fraction + limits.max_silent_fraction_over_set:
        failures.append(f"silent {silent:.0%} of the time (set: {set_silent_fraction:.0%})")
    if ultra > limits.max_ultrasonic_fraction:
        failures.append(f"{ultra:.1%} of energy above 20 kHz")
    return HygieneReport(gap, dc, clipped, silent, ultra, tuple(failures))


def shuffled_grains(samples: np.ndarray | torch.Tensor, sample_rate: int, seed: int,
                    grain_seconds: float = 0.05) -> np.ndarray:
    """The clip cut into 50 ms grains and put back in random order (a control: timbre, no structure)."""
    mono = _mono(samples)
    grain = max(1, int(round(grain_seconds * sample_rate)))
    n = mono.size // grain
    if n < 2:
        return mono.copy()
    rng = np.random.default_rng(seed)
    grains = mono[: n * grain].reshape(n, grain)[rng.permutation(n)]
    fade = min(64, grain // 4)
    if fade > 0:
        ramp = np.linspace(0.0, 1.0, fade)
        grains[:, :fade] *= ramp
        grains[:, -fade:] *= ramp[::-1]
    return grains.reshape(-1)


def pink_noise(n_samples: int, seed: int) -> np.ndarray:
    """Pink (1/f power) noise at about -20 dBFS RMS."""
    rng = np.random.default_rng(seed)
    spectrum = rng.standard_normal(n_samples // 2 + 1) + 1j * rng.standard_normal(n_samples // 2 + 1)
    freqs = np.arange(n_samples // 2 + 1, dtype=np.float64)
    spectrum /= np.sqrt(np.maximum(freqs, 1.0))
    spectrum[0] = 0.0
    return level(np.fft.irfft(spectrum, n=n_samples))
