"""Musical descriptors: the measuring sticks the sliders are judged by.

``describe(samples, sample_rate)`` mixes to mono and returns the eight numbers of ``DESCRIPTOR_NAMES``
(definitions, units and references in docs/descriptors.md). Two STFTs are taken once and shared: a
short one (~46 ms window, ~11.6 ms hop) for everything about time and timbre (brightness, warmth,
onsets, envelope, decay) and a long one (~186 ms Blackman window) whose resolved spectral peaks feed
roughness and tension. Long inputs are processed in blocks of frames, so memory stays bounded; an hour
of 44.1 kHz audio takes seconds (benchmarks/descriptors_speed.py).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torchaudio.functional as AF
from scipy.ndimage import maximum_filter1d

from sda_audio.errors import SdaError
from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events

log = logging.getLogger(__name__)

DESCRIPTOR_NAMES = ("brightness", "warmth", "roughness", "tension", "rhythmic", "pulse", "density", "reverberance")

_BLOCK_FRAMES = 4096  # STFT frames per block
_WARM_BAND = (100.0, 500.0)
_N_MELS = 40
_PEAKS = 24  # strongest spectral peaks per long frame
_PEAK_FLOOR_DB = -50.0  # peaks quieter than this relative to the frame's strongest are ignored
# Huron (1994) interval-class consonance for ic1..ic6, mapped to a dissonance weight in [0, 1].
_HURON_CONSONANCE = np.array([-1.428, -0.582, 0.594, 0.386, 1.240, -0.453])
_IC_DISSONANCE = (1.240 - _HURON_CONSONANCE) / (1.240 + 1.428)
_SETHARES_DMAX = 0.18096  # max of exp(-3.5x) - exp(-5.75x)


def _pow2(seconds: float, sample_rate: int) -> int:
    return 1 << max(8, round(math.log2(seconds * sample_rate)))


def _mono(samples: np.ndarray | torch.Tensor) -> torch.Tensor:
    x = samples.detach().cpu() if isinstance(samples, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(samples))
    x = x.to(torch.float32)
    if x.dim() == 2:
        x = x.mean(dim=0)
    elif x.dim() != 1:
        raise SdaError(f"descriptors need samples shaped (C, T) or (T,), got {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise SdaError("audio contains NaN or infinite samples", hint="check the file or the generator output")
    return x


def _stft_blocks(x: torch.Tensor, n_fft: int, hop: int, window: torch.Tensor) -> Iterator[torch.Tensor]:
    """Magnitude spectra ``(F, n)`` of consecutive blocks of centred frames (zero padding at the ends)."""
    padded = torch.nn.functional.pad(x, (n_fft // 2, n_fft // 2 + n_fft))
    n_frames = 1 + x.shape[-1] // hop
    for k0 in range(0, n_frames, _BLOCK_FRAMES):
        k1 = min(n_frames, k0 + _BLOCK_FRAMES)
        chunk = padded[k0 * hop : (k1 - 1) * hop + n_fft]
        spec = torch.stft(chunk, n_fft, hop, window=window, center=False, return_complex=True)
        yield spec.abs()[:, : k1 - k0]


def _short_features(x: torch.Tensor, sr: int) -> dict[str, np.ndarray]:
    """Per short frame: energy, centroid (Hz), warm-band energy, band energy >20 Hz, onset strength."""
    n_fft = _pow2(0.0464, sr)
    hop = n_fft // 4
    window = torch.hann_window(n_fft)
    freqs = torch.fft.rfftfreq(n_fft, 1.0 / sr)
    warm = (freqs >= _WARM_BAND[0]) & (freqs < _WARM_BAND[1])
    audible = freqs >= 20.0
    fb = AF.melscale_fbanks(n_fft // 2 + 1, 30.0, min(16000.0, sr / 2), _N_MELS, sr, norm="slaney")
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in ("energy", "centroid", "warm", "audible", "logmel")}
    for mag in _stft_blocks(x, n_fft, hop, window):
        power = mag.square()
        msum = mag.sum(0)
        parts["energy"].append(power.sum(0))
        parts["centroid"].append((freqs @ mag) / msum.clamp(min=1e-12))
        parts["warm"].append(power[warm].sum(0))
        parts["audible"].append(power[audible].sum(0))
        parts["logmel"].append(10.0 * torch.log10(fb.T @ power + 1e-10))
    feats = {k: torch.cat(v, dim=-1) for k, v in parts.items()}
    logmel = feats.pop("logmel")
    flux = torch.relu(torch.diff(logmel, dim=-1, prepend=logmel[:, :1])).mean(0)
    out = {k: v.double().numpy() for k, v in feats.items()}
    out["onset"] = flux.double().numpy()
    out["frame_rate"] = np.array(sr / hop)
    return out


def _peaks(mag: torch.Tensor, sr: int, n_fft: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Strongest local maxima per frame with parabolic refinement: freqs, amps ``(n, K)`` (amp 0 = none)."""
    m = mag.T  # (n, F)
    left, mid, right = m[:, :-2], m[:, 1:-1], m[:, 2:]
    binhz = sr / n_fft
    lo, hi = max(1, int(20.0 / binhz)), int(min(10000.0, 0.45 * sr) / binhz)
    is_peak = (mid > left) & (mid >= right)
    is_peak[:, : lo - 1] = False
    is_peak[:, hi:] = False
    floor = m.amax(dim=1, keepdim=True) * 10 ** (_PEAK_FLOOR_DB / 20)
    is_peak &= mid > floor.clamp(min=1e-7)
    score = torch.where(is_peak, mid, torch.zeros(()))
    k = min(_PEAKS, score.shape[1])
    amp, idx = torch.topk(score, k, dim=1)
    la, ma, ra = (torch.log(torch.gather(t, 1, idx).clamp(min=1e-12)) for t in (left, mid, right))
    denom = la - 2 * ma + ra
    delta = torch.where(denom.abs() > 1e-9, 0.5 * (la - ra) / denom, torch.zeros(())).clamp(-0.5, 0.5)
    freq = (idx.to(torch.float32) + 1 + delta) * binhz
    amp = torch.where(amp > 0, torch.exp(ma - 0.25 * (la - ra) * delta), torch.zeros(()))
    return freq, amp


def _roughness(freq: torch.Tensor, amp: torch.Tensor) -> torch.Tensor:
    """Sethares (1993) sensory dissonance of all peak pairs per frame, / energy, 1 = worst pure dyad."""
    fmin = torch.minimum(freq[:, :, None], freq[:, None, :])
    s = 0.24 / (0.0207 * fmin + 18.96)
    df = (freq[:, :, None] - freq[:, None, :]).abs()
    d = torch.exp(-3.5 * s * df) - torch.exp(-5.75 * s * df)
    pair = amp[:, :, None] * amp[:, None, :] * d
    total = pair.sum(dim=(1, 2)) / 2  # each unordered pair once (diagonal is 0)
    return total / amp.square().sum(1).clamp(min=1e-20) / (_SETHARES_DMAX / 2)


def _tension(freq: torch.Tensor, amp: torch.Tensor) -> torch.Tensor:
    """Interval-class dissonance of the peak chroma (Huron 1994 weights), in [0, 1]."""
    valid = (freq >= 50.0) & (freq <= 5000.0) & (amp > 0)
    pc = torch.remainder(12.0 * torch.log2(freq.clamp(min=1.0) / 440.0), 12.0)
    low = pc.floor()
    frac = pc - low
    w = torch.where(valid, amp, torch.zeros(()))
    chroma = torch.zeros(freq.shape[0], 12)
    chroma.scatter_add_(1, low.long() % 12, w * (1 - frac))
    chroma.scatter_add_(1, (low.long() + 1) % 12, w * frac)
    i = torch.arange(12)
    ic = (i[:, None] - i[None, :]).abs()
    ic = torch.minimum(ic, 12 - ic)
    weights = torch.cat([torch.zeros(1), torch.from_numpy(_IC_DISSONANCE).float()])[ic]
    num = torch.einsum("ni,ij,nj->n", chroma, weights, chroma)
    return num / chroma.sum(1).square().clamp(min=1e-20)


def _long_features(x: torch.Tensor, sr: int) -> dict[str, np.ndarray]:
    n_fft = _pow2(0.186, sr)
    hop = n_fft // 2
    window = torch.blackman_window(n_fft)
    rough, tense, energy = [], [], []
    for mag in _stft_blocks(x, n_fft, hop, window):
        freq, amp = _peaks(mag, sr, n_fft)
        rough.append(_roughness(freq, amp))
        tense.append(_tension(freq, amp))
        energy.append(mag.square().sum(0))
    return {
        "roughness": torch.cat(rough).double().numpy(),
        "tension": torch.cat(tense).double().numpy(),
        "energy": torch.cat(energy).double().numpy(),
        "frame_rate": np.array(sr / hop),
    }


def _weighted_mean(values: np.ndarray, weights: np.ndarray) -> float:
    total = float(weights.sum())
    return float((values * weights).sum() / total) if total > 0 else 0.0


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    if width < 2 or len(x) < width:
        return x
    kernel = np.hanning(width + 2)[1:-1]
    return np.convolve(x, kernel / kernel.sum(), mode="same")


def _windows(x: np.ndarray, rate: float, seconds: float = 6.0) -> np.ndarray:
    """Overlapping analysis windows ``(W, L)`` (50 % hop); one window when ``x`` is shorter."""
    length = int(seconds * rate)
    if len(x) <= length:
        return x[None, :]
    starts = np.arange(0, len(x) - length + 1, length // 2)
    return np.stack([x[s : s + length] for s in starts])


def _rhythmic(energy: np.ndarray, rate: float) -> float:
    """Modulation index of the amplitude envelope in 0.5-10 Hz (a sine AM with depth m gives ~m)."""
    env = _windows(np.sqrt(energy), rate)
    mean = env.mean(axis=1, keepdims=True)
    ok = mean[:, 0] > 0
    if not ok.any():
        return 0.0
    m = env[ok] / mean[ok] - 1.0
    m -= m.mean(axis=1, keepdims=True)
    spec = np.fft.rfft(m, axis=1)
    f = np.fft.rfftfreq(m.shape[1], 1.0 / rate)
    spec[:, (f < 0.5) | (f > 10.0)] = 0
    band = np.fft.irfft(spec, n=m.shape[1], axis=1)
    depth = np.sqrt(2.0) * band.std(axis=1)
    return _weighted_mean(depth, mean[ok, 0])


def _pulse(onset: np.ndarray, energy: np.ndarray, rate: float) -> float:
    """Max normalised autocorrelation of the onset envelope over 40-240 BPM lags, in [0, 1]."""
    o = _windows(_smooth(onset, 5), rate)
    e = _windows(energy, rate).mean(axis=1)
    n = o.shape[1]
    lo, hi = int(round(rate * 60 / 240)), min(int(round(rate * 60 / 40)), n // 2)
    if hi <= lo:
        return 0.0
    o = o - o.mean(axis=1, keepdims=True)
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    spec = np.fft.rfft(o, nfft, axis=1)
    acf = np.fft.irfft(spec * np.conj(spec), nfft, axis=1)[:, : hi + 1]
    c = np.cumsum(o**2, axis=1)
    lags = np.arange(lo, hi + 1)
    head = c[:, n - 1 - lags]  # sum of o[t]^2 for t < n - lag
    tail = c[:, -1:] - np.concatenate([np.zeros((o.shape[0], 1)), c], axis=1)[:, lags]
    r = acf[:, lags] / np.sqrt(np.maximum(head * tail, 1e-30))
    best = np.clip(r.max(axis=1), 0.0, 1.0)
    return _weighted_mean(best, e)


def _active(energy: np.ndarray) -> np.ndarray:
    ref = np.percentile(energy, 99) if len(energy) else 0.0
    return energy > max(ref * 10 ** (-45 / 10), 1e-10)


def _onset_times(onset: np.ndarray, rate: float) -> np.ndarray:
    """Frames of onset peaks: local maxima (+-35 ms) above an adaptive threshold."""
    if len(onset) < 3:
        return np.zeros(0, dtype=int)
    o = _smooth(onset, 3)
    reach = max(1, int(0.035 * rate))
    local_max = maximum_filter1d(o, 2 * reach + 1, mode="constant", cval=0.0)
    avg_len = min(len(o), max(3, int(0.5 * rate)))
    local_mean = np.convolve(o, np.ones(avg_len) / avg_len, mode="same")
    strong = max(float(np.percentile(o, 99.5)) * 0.1, 1e-6)
    return np.nonzero((o >= local_max) & (o > 1.5 * local_mean) & (o > strong))[0]


def _density(onset: np.ndarray, energy: np.ndarray, rate: float) -> float:
    """0.5 * fraction of non-silent frames + 0.5 * (1 - exp(-onsets per second / 8)), in [0, 1]."""
    active = _active(energy)
    if not active.any():
        return 0.0
    peaks = _onset_times(onset, rate)
    peaks = peaks[active[peaks]]
    seconds = len(energy) / rate
    return 0.5 * float(active.mean()) + 0.5 * (1.0 - math.exp(-len(peaks) / seconds / 8.0))


def _reverberance(energy: np.ndarray, rate: float) -> float:
    """Decay time (s to fall 60 dB) of the late parts of free decays, clipped to [0, 10] s; 0 = none.

    Local slopes (dB/s) of the frame-level envelope are fitted over ~70 ms windows that lie above the
    noise floor and deep inside a decay (ending >= 10 dB below the maximum of the preceding 2 s, so
    the direct sound has died away and the tail dominates, like the -5/-10 dB start of ISO 3382
    T20/T30). The median of those slopes is the decay rate. Steady sounds have no such decays: 0.
    """
    db = 10.0 * np.log10(energy + 1e-12)
    width = max(3, int(round(0.07 * rate)))
    if len(db) < width + 1:
        return 0.0
    floor = max(float(np.percentile(db, 99)) - 60.0, -100.0)
    t = (np.arange(width) - (width - 1) / 2) / rate
    windows = np.lib.stride_tricks.sliding_window_view(db, width)
    slopes = windows @ (t / np.sum(t**2))
    reach = max(1, int(2.0 * rate))  # decays slower than 10 dB / 2 s (T60 > 12 s) are not seen
    recent_max = maximum_filter1d(db, reach, mode="nearest", origin=(reach - 1) // 2)  # max of db[t-reach+1:t+1]
    ends = np.arange(width - 1, len(db))
    in_decay = recent_max[ends] - db[ends] >= 10.0
    ok = (windows.min(axis=1) > floor) & (slopes < 0) & in_decay
    if ok.sum() < 3:
        return 0.0
    rate_db = float(np.median(slopes[ok]))
    return float(np.clip(-60.0 / rate_db, 0.0, 10.0))


def describe_frames(samples: np.ndarray | torch.Tensor, sample_rate: int) -> dict[str, np.ndarray]:
    """Per-frame descriptors of the mono mix.

    Returns:
        ``time`` (s) with ``brightness`` (Hz), ``warmth`` (0-1), ``onset`` (dB flux), ``loudness`` (dB)
        per short frame (~11.6 ms hop), and ``time_long`` with ``roughness`` and ``tension`` per long
        frame (~93 ms hop).
    """
    x = _mono(samples)
    short = _short_features(x, sample_rate)
    longf = _long_features(x, sample_rate)
    rate, rate_l = float(short["frame_rate"]), float(longf["frame_rate"])
    audible = short["audible"]
    return {
        "time": np.arange(len(short["energy"])) / rate,
        "brightness": short["centroid"],
        "warmth": np.where(audible > 0, short["warm"] / np.maximum(audible, 1e-30), 0.0),
        "onset": short["onset"],
        "loudness": 10.0 * np.log10(short["energy"] + 1e-12),
        "time_long": np.arange(len(longf["energy"])) / rate_l,
        "roughness": longf["roughness"],
        "tension": longf["tension"],
    }


def describe(samples: np.ndarray | torch.Tensor, sample_rate: int) -> dict[str, float]:
    """The eight descriptors of ``samples`` ``(C, T)`` or ``(T,)`` (mono-mixed first); all finite.

    Silence gives 0 for every descriptor. Units: brightness Hz; reverberance seconds; the rest are
    dimensionless (see docs/descriptors.md).
    """
    x = _mono(samples)
    rms = float(x.square().mean().sqrt()) if x.numel() else 0.0
    if rms < 1e-7:
        return dict.fromkeys(DESCRIPTOR_NAMES, 0.0)
    x = x * (0.1 / rms)  # gain-invariant analysis
    short = _short_features(x, sample_rate)
    longf = _long_features(x, sample_rate)
    rate = float(short["frame_rate"])
    energy, onset = short["energy"], short["onset"]
    weights = energy * _active(energy)
    result = {
        "brightness": _weighted_mean(short["centroid"], weights),
        "warmth": float(short["warm"].sum() / max(short["audible"].sum(), 1e-30)),
        "roughness": _weighted_mean(longf["roughness"], longf["energy"]),
        "tension": _weighted_mean(longf["tension"], longf["energy"]),
        "rhythmic": _rhythmic(energy, rate),
        "pulse": _pulse(onset, energy, rate),
        "density": _density(onset, energy, rate),
        "reverberance": _reverberance(energy, rate),
    }
    return {k: float(np.nan_to_num(result[k])) for k in DESCRIPTOR_NAMES}


def describe_batch(
    items: Sequence[np.ndarray | torch.Tensor],
    sample_rate: int | Sequence[int],
    on_event: ProgressCallback = ignore_events,
    cancel: CancelToken | None = None,
) -> list[dict[str, float]]:
    """``describe`` for each item (job ``describe``: start, progress per item, done)."""
    rates = [sample_rate] * len(items) if isinstance(sample_rate, int) else list(sample_rate)
    if len(rates) != len(items):
        raise SdaError(f"describe_batch got {len(items)} signals but {len(rates)} sample rates")
    total = len(items)
    on_event(ProgressEvent("describe", "start", 0, total, "describing audio"))
    out = []
    for i, (item, sr) in enumerate(zip(items, rates)):
        if cancel is not None:
            cancel.raise_if_cancelled("describe")
        out.append(describe(item, sr))
        on_event(ProgressEvent("describe", "progress", i + 1, total, f"described {i + 1}/{total}"))
    on_event(ProgressEvent("describe", "done", total, total, "described"))
    return out
