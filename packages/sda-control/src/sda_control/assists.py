"""Labelled signal-processing assists: what a slider does where the model's data does not vary in a quality.

Each assist takes mono float32 audio ``(T,)`` at 44.1 kHz and a value in -1..1, returns audio of the same
length, and is the identity at 0. They act on the vocoded audio after the model, so every use is
recorded as ``"assisted"`` (never passed off as the model's own latent control).

- brightness / warmth: one STFT gain (a tilt around 1 kHz and a 100-500 Hz band gain) solved so the
  spectral centroid moves by up to 0.8 octave, or the warm band's share by up to 3.5x, while the other
  of the two stays where it was;
- roughness: +: amplitude modulation at 45 Hz (sidebands beat against the partials, Sethares roughness);
  -: spectral sharpening (weaker peaks next to a stronger one are attenuated, fewer beating pairs);
- tension: layered partials on the material's strongest low peak, following its envelope: +: tritone
  major seventh and minor ninth (dissonant interval classes); -: fifth, octave, twelfth (consonant); up to
  three times the sound's level;
- rhythmic: +: an irregular gate (no steady period); -: envelope levelling (the slow envelope is divided out);
- pulse: +: accents on the material's own strongest period; -: short segments shuffled (periodicity
  broken, level distribution kept);
- density: +: upward compression of quiet frames plus an 8 Hz ripple (more active frames, more onsets);
  -: a downward expander on the quietest frames (gaps);
- reverb: +: convolution with a synthetic room (exponentially decaying stereo-free noise, RT60 up to
  2.5 s); -: a tail gate that cuts decays quickly (drier).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torchaudio.functional as AF

from sda_models.device import cpu_generator

SAMPLE_RATE = 44100
_N_FFT = 2048
_HOP = 512

Assist = Callable[[torch.Tensor, float, torch.Generator], torch.Tensor]


def _stft(x: torch.Tensor) -> torch.Tensor:
    return torch.stft(x, _N_FFT, _HOP, window=torch.hann_window(_N_FFT), return_complex=True)


def _istft(spec: torch.Tensor, length: int) -> torch.Tensor:
    return torch.istft(spec, _N_FFT, _HOP, window=torch.hann_window(_N_FFT), length=length)


def _rms(x: torch.Tensor) -> float:
    return float(x.square().mean().sqrt()) if x.numel() else 0.0


def _match_rms(y: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    r = _rms(y)
    return y * (_rms(ref) / r) if r > 1e-9 else y


def _envelope(x: torch.Tensor, seconds: float) -> torch.Tensor:
    """Smoothed amplitude envelope (RMS over ``seconds``), same length as ``x``: pooled at an eighth of
    the window and interpolated back, so long windows stay cheap."""
    width = max(3, int(seconds * SAMPLE_RATE))
    hop = max(1, width // 8)
    power = torch.nn.functional.avg_pool1d(x.square()[None, None], width, stride=hop, padding=width // 2,
                                           count_include_pad=False)
    env = torch.nn.functional.interpolate(power, size=x.shape[-1], mode="linear", align_corners=False)[0, 0]
    return env.clamp_min(0).sqrt()


class _SpectrumModel:
    """Brightness and warmth, as :func:`sda_audio.descriptors.describe` measures them (energy-weighted
    mean spectral centroid; 100-500 Hz share of the audible energy), of a few frames under a per-bin gain:
    matrix-vector products on precomputed spectra, so the solve below is cheap."""

    def __init__(self, spec: torch.Tensor, freqs: torch.Tensor) -> None:
        frames = spec.shape[-1]
        self.mag = spec[:, :: max(1, frames // 64)].abs().double().numpy()  # (F, <=~64 frames)
        self.power = self.mag ** 2
        self.freqs = freqs.double().numpy()
        self.total = self.power.sum(axis=1)
        self.warm = (self.freqs >= 100.0) & (self.freqs < 500.0)
        self.audible = self.freqs >= 20.0

    def measure(self, gain: np.ndarray) -> tuple[float, float]:
        energy = (gain ** 2) @ self.power
        centroid = ((self.freqs * gain) @ self.mag) / np.maximum(gain @ self.mag, 1e-12)
        brightness = float((centroid * energy).sum() / max(float(energy.sum()), 1e-12))
        weighted = self.total * gain ** 2
        return brightness, float(weighted[self.warm].sum() / max(float(weighted[self.audible].sum()), 1e-30))


def _shape_gain(freqs: torch.Tensor, warm_db: float, tilt_db_oct: float) -> torch.Tensor:
    """Amplitude gain per bin: a smooth bump of ``warm_db`` over 100-500 Hz times a tilt around 1 kHz."""
    logf = torch.log2(freqs.clamp_min(40.0))  # nothing below 40 Hz is boosted more than 40 Hz
    centre, half = math.log2(math.sqrt(100.0 * 500.0)), math.log2(500.0 / 100.0) / 2 + 0.25
    bump = torch.clamp(1.0 - ((logf - centre) / half).abs(), 0, 1) ** 0.5
    db = (warm_db * bump + tilt_db_oct * (logf - math.log2(1000.0))).clamp(-36.0, 24.0)
    return 10 ** (db / 20.0)


def _bisect(fn: Callable[[float], float], target: float, lo: float, hi: float, steps: int = 14) -> float:
    """The x in [lo, hi] where the increasing ``fn`` reaches ``target`` (clamped to the ends)."""
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        if fn(mid) < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def spectral_shape(x: torch.Tensor, brightness: float, warmth: float) -> torch.Tensor:
    """Brightness and warmth together, each aimed at its own descriptor while the other is held.

    Brightness ``v`` scales the spectral centroid by ``2 ** (0.8 v)`` (as far as a tilt
    of at most 8 dB per octave and gains within -36..+24 dB reach); warmth ``v``
    scales the 100-500 Hz share of the energy by ``2 ** (1.8 v)``. A tilt (dB/octave around 1 kHz) and a
    warm-band gain are solved jointly (alternating bisection on the measured spectrum) so that setting
    one leaves the other descriptor where it was. Loudness is kept.
    """
    spec = _stft(x)
    freqs = torch.fft.rfftfreq(_N_FFT, 1.0 / SAMPLE_RATE)
    model = _SpectrumModel(spec, freqs)
    b0, w0 = model.measure(np.ones(len(model.freqs)))
    if b0 <= 0 or w0 <= 0:
        return x
    b_target = b0 * 2.0 ** (0.8 * brightness)
    w_target = min(max(w0 * 2.0 ** (1.8 * warmth), 1e-4), 0.95)
    warm_db, tilt_db = 0.0, 0.0

    def measured(wdb: float, tdb: float) -> tuple[float, float]:
        return model.measure(_shape_gain(freqs, wdb, tdb).double().numpy())

    for _ in range(3):
        tilt_db = _bisect(lambda t, w=warm_db: measured(w, t)[0], b_target, -8.0, 8.0)
        warm_db = _bisect(lambda w, t=tilt_db: measured(w, t)[1], w_target, -30.0, 24.0)
    y = _istft(spec * _shape_gain(freqs, warm_db, tilt_db)[:, None], x.shape[-1])
    return _match_rms(y, x)


def tilt(x: torch.Tensor, value: float, generator: torch.Generator) -> torch.Tensor:
    """Brightness: the centroid scaled by ``2 ** (0.8 value)``, warmth held (see :func:`spectral_shape`)."""
    return spectral_shape(x, value, 0.0)


def low_band(x: torch.Tensor, value: float, generator: torch.Generator) -> torch.Tensor:
    """Warmth: the 100-500 Hz share scaled by ``2 ** (1.8 value)``, brightness held."""
    return spectral_shape(x, 0.0, value)


def roughen(x: torch.Tensor, value: float, generator: torch.Generator) -> torch.Tensor:
    """Roughness: + amplitude modulation at 45 Hz (depth ``value``); - spectral peak sharpening."""
    if value > 0:
        t = torch.arange(x.shape[-1], dtype=torch.float32) / SAMPLE_RATE
        mod = 1.0 + value * torch.sin(2 * math.pi * 45.0 * t)
        return _match_rms(x * mod, x)
    spec = _stft(x)
    mag = spec.abs()
    neighbourhood = torch.nn.functional.max_pool1d(mag.T[:, None], 9, stride=1, padding=4)[:, 0].T
    ratio = (mag / neighbourhood.clamp_min(1e-9)).clamp(0, 1)
    sharpened = spec * ratio ** (3.0 * -value)
    return _match_rms(_istft(sharpened, x.shape[-1]), x)


def _root(x: torch.Tensor) -> float:
    """The strongest spectral peak between 130 and 520 Hz of the average spectrum (220 Hz if none)."""
    power = _stft(x).abs().square().mean(dim=1)
    freqs = torch.fft.rfftfreq(_N_FFT, 1.0 / SAMPLE_RATE)
    band = (freqs >= 130.0) & (freqs <= 520.0)
    if float(power[band].sum()) <= 0:
        return 220.0
    return float(freqs[band][int(torch.argmax(power[band]))])


def detune(x: torch.Tensor, value: float, generator: torch.Generator) -> torch.Tensor:
    """Tension: layered partials that follow the sound's envelope, on the material's strongest low peak.

    + a tritone, a major seventh and a minor ninth above the root (dissonant interval classes, far apart
    in Hz, so little roughness); - a fifth, an octave and a twelfth (consonant). Up to three times the
    sound's level at the ends.
    """
    root = _root(x)
    steps = (0.0, 6.0, 11.0, 13.0) if value > 0 else (0.0, 7.0, 12.0, 19.0)
    t = torch.arange(x.shape[-1], dtype=torch.float64) / SAMPLE_RATE
    phases = torch.rand(len(steps), generator=generator, dtype=torch.float64) * 2 * math.pi
    tone = sum(torch.sin(2 * math.pi * root * 2 ** (s / 12) * t + ph) for s, ph in zip(steps, phases, strict=True))
    tone = torch.as_tensor(tone, dtype=torch.float32) * _envelope(x, 0.05)
    y = x + 3.0 * abs(value) * _match_rms(tone, x)
    return _match_rms(y, x)


def _gate(n: int, rate_hz: float, duty: float, attack_s: float, depth: float) -> torch.Tensor:
    """A periodic gain gate ``(n,)``: 1 while open, ``1 - depth`` while closed, raised-cosine edges."""
    t = torch.arange(n, dtype=torch.float32) / SAMPLE_RATE
    phase = torch.remainder(t * rate_hz, 1.0)
    edge = max(attack_s * rate_hz, 1e-4)
    rise = torch.clamp(phase / edge, 0, 1)
    fall = torch.clamp((duty - phase) / edge + 1.0, 0, 1)
    shape = 0.5 - 0.5 * torch.cos(math.pi * torch.minimum(rise, fall))
    return 1.0 - depth * (1.0 - shape)


def _level(x: torch.Tensor, seconds: float, amount: float) -> torch.Tensor:
    """Divide out ``amount`` of the envelope smoothed over ``seconds`` (0 = unchanged, 1 = flat)."""
    env = _envelope(x, seconds)
    ref = env.mean().clamp_min(1e-9)
    gain = (ref / env.clamp_min(ref * 1e-2)) ** amount
    return x * gain.clamp(max=30.0)


def _irregular_gate(n: int, depth: float, generator: torch.Generator) -> torch.Tensor:
    """Open/closed spans of random length (open 0.12-0.4 s, closed 0.08-0.3 s) with 15 ms raised-cosine
    edges: strong 0.5-10 Hz modulation without a steady period (so pulse is not what moves)."""
    gate = torch.ones(n)
    pos, is_open = 0, True
    while pos < n:
        lo, hi = (0.12, 0.4) if is_open else (0.08, 0.3)
        span = int((lo + (hi - lo) * float(torch.rand(1, generator=generator))) * SAMPLE_RATE)
        if not is_open:
            gate[pos:pos + span] = 1.0 - depth
        pos += span
        is_open = not is_open
    edge = int(0.015 * SAMPLE_RATE)
    kernel = torch.hann_window(edge + 2)[1:-1]
    smooth = torch.nn.functional.conv1d(gate[None, None], (kernel / kernel.sum())[None, None], padding=edge // 2)
    return smooth[0, 0, :n]


def gate_rhythm(x: torch.Tensor, value: float, generator: torch.Generator) -> torch.Tensor:
    """Rhythmic: + an irregular gate (down by up to 20 dB, never silent, so density stays); - the 0.1-1 s
    envelope levelled."""
    if value > 0:
        return _match_rms(x * _irregular_gate(x.shape[-1], 0.9 * value, generator), x)
    return _match_rms(_level(x, 0.12, -value), x)


def _onset_envelope(x: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Spectral-flux onset strength per STFT frame and the frame rate."""
    logmag = torch.log10(_stft(x).abs().square() + 1e-10)
    flux = torch.relu(torch.diff(logmag, dim=-1, prepend=logmag[:, :1])).mean(0)
    return flux, SAMPLE_RATE / _HOP


def _beat(x: torch.Tensor) -> tuple[float, float]:
    """(period s, phase s) of the material's own strongest periodicity in 40-240 BPM (0.5 s if none)."""
    onset, rate = _onset_envelope(x)
    o = onset - onset.mean()
    n = o.shape[0]
    lo, hi = int(round(rate * 60 / 240)), min(int(round(rate * 60 / 40)), n // 2)
    if hi <= lo or float(o.abs().sum()) == 0:
        return 0.5, 0.0
    acf = torch.stack([(o[: n - lag] * o[lag:]).sum() / (n - lag) for lag in range(lo, hi + 1)])
    lag = lo + int(torch.argmax(acf))
    folded = torch.zeros(lag)
    folded.index_add_(0, torch.arange(n) % lag, onset)
    return lag / rate, int(torch.argmax(folded)) / rate


def _shuffle(x: torch.Tensor, amount: float, generator: torch.Generator) -> torch.Tensor:
    """Swap a share ``amount`` of ~90-210 ms segments with random others, joined by 20 ms equal-power
    overlaps (no dips, so no new onsets at the joins)."""
    n = x.shape[-1]
    ov = int(0.02 * SAMPLE_RATE)
    bounds = [0]
    while bounds[-1] < n:
        step = 0.09 + 0.12 * float(torch.rand(1, generator=generator))
        bounds.append(min(n, bounds[-1] + int(step * SAMPLE_RATE)))
    spans = list(zip(bounds[:-1], bounds[1:], strict=True))
    order = list(range(len(spans)))
    for i in range(len(order)):
        if float(torch.rand(1, generator=generator)) < amount:
            j = int(torch.randint(len(order), (1,), generator=generator))
            order[i], order[j] = order[j], order[i]
    padded = torch.nn.functional.pad(x, (0, ov))
    out = torch.zeros(n + ov)
    fade_in = torch.sin(0.5 * math.pi * torch.linspace(0, 1, ov))
    fade_out = torch.cos(0.5 * math.pi * torch.linspace(0, 1, ov))
    pos = 0
    for k, i in enumerate(order):
        a, b = spans[i]
        seg = padded[a:b + ov].clone()
        if k > 0:
            seg[:ov] *= fade_in
        seg[-ov:] *= fade_out
        out[pos:pos + seg.shape[-1]] += seg[: out.shape[-1] - pos]
        pos += b - a
    return out[:n]


def gate_pulse(x: torch.Tensor, value: float, generator: torch.Generator) -> torch.Tensor:
    """Pulse: + accents (up to +12 dB, 80 ms decay) on the material's own strongest period, so its beat
    is reinforced rather than fought; - segments shuffled, which breaks the periodicity but keeps the
    level distribution (no gaps, so density stays)."""
    if value > 0:
        period, phase = _beat(x)
        t = torch.arange(x.shape[-1], dtype=torch.float32) / SAMPLE_RATE
        since = torch.remainder(t - phase, period)
        accent = 1.0 + 3.0 * value * torch.exp(-since / 0.08)
        return _match_rms(x * accent, x)
    return _match_rms(_shuffle(x, -value, generator), x)


def gate_density(x: torch.Tensor, value: float, generator: torch.Generator) -> torch.Tensor:
    """Density: + quiet frames raised and an 8 Hz ripple; - the quietest frames gated out."""
    env = _envelope(x, 0.05)
    peak = float(torch.quantile(env[:: max(1, env.numel() // 20000)], 0.99)) + 1e-9
    if value > 0:
        lift = (peak * 0.3 / env.clamp_min(peak * 1e-3)).clamp(min=1.0) ** value
        ripple = _gate(x.shape[-1], 8.0, 0.5, 0.005, 0.6 * value)
        return _match_rms(x * lift.clamp(max=100.0) * ripple, x)
    threshold = peak * 10 ** (-6.0 * -value * 2 / 20)  # up to 12 dB below the peak
    gain = torch.sigmoid((env / threshold - 1.0) * 8.0)
    floor = 10 ** (-60 / 20)
    return _match_rms(x * (floor + (1 - floor) * gain ** (-value)), x)


def room_impulse(rt60: float, generator: torch.Generator) -> torch.Tensor:
    """A synthetic room: seeded noise under an exponential decay reaching -60 dB at ``rt60`` s."""
    n = int(min(rt60 * 1.2, 4.0) * SAMPLE_RATE)
    t = torch.arange(n, dtype=torch.float32) / SAMPLE_RATE
    noise = torch.randn(n, generator=generator)
    ir = noise * torch.exp(-6.9078 * t / rt60)  # ln(1000) = 6.9078: amplitude -60 dB at rt60
    ir[: int(0.002 * SAMPLE_RATE)] *= torch.linspace(0, 1, int(0.002 * SAMPLE_RATE))
    return ir / ir.square().sum().sqrt()


def reverberate(x: torch.Tensor, value: float, generator: torch.Generator) -> torch.Tensor:
    """Reverb: + convolution with a synthetic room (RT60 0.3-2.5 s, wet up to 70 %); - a tail gate."""
    if value > 0:
        rt60 = 0.3 + 2.2 * value
        wet = AF.fftconvolve(x, room_impulse(rt60, generator))[: x.shape[-1]]
        mix = 0.7 * value
        return _match_rms((1 - mix) * x + mix * _match_rms(wet, x), x)
    hop = 220  # 5 ms frames
    env = torch.nn.functional.avg_pool1d(x.square()[None, None], 2 * hop, stride=hop, padding=hop).sqrt()
    peak = torch.nn.functional.max_pool1d(env, 41, stride=1, padding=20)  # the loudest point within 0.1 s
    ratio = torch.nn.functional.interpolate(env / peak.clamp_min(1e-9), size=x.shape[-1], mode="linear",
                                            align_corners=False)[0, 0]  # 1 at peaks, < 1 in tails
    gain = ratio.clamp(0, 1) ** (3.0 * -value)
    return _match_rms(x * gain, x)


ASSISTS: dict[str, Assist] = {
    "brightness": tilt,
    "warmth": low_band,
    "roughness": roughen,
    "tension": detune,
    "rhythmic": gate_rhythm,
    "pulse": gate_pulse,
    "density": gate_density,
    "reverb": reverberate,
}

ORDER = ("tension", "roughness", "density", "rhythmic", "pulse", "reverb")  # after the spectral pair


def apply_assists(audio: np.ndarray, values: dict[str, float], seed: int,
                  names: tuple[str, ...] | None = None) -> np.ndarray:
    """Apply the assists of ``names`` (default: every non-zero value) in a fixed order (brightness and
    warmth jointly first, then tension, roughness, the time-domain ones, reverb last). Returns float32 ``(T,)`` with the input's RMS, peak-limited to 0.99."""
    x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32).reshape(-1))
    if x.numel() == 0:
        return audio.astype(np.float32)
    gen = cpu_generator(seed)
    wanted = [n for n in ("brightness", "warmth") if float(values.get(n, 0.0)) != 0.0
              and (names is None or n in names)]
    if wanted:  # one joint solve, so the one not asked for is held where it was
        x = spectral_shape(x, *(max(-1.0, min(1.0, float(values.get(n, 0.0)))) if n in wanted else 0.0
                                for n in ("brightness", "warmth")))
    for name in ORDER:
        value = float(values.get(name, 0.0))
        if value == 0.0 or (names is not None and name not in names):
            continue
        x = ASSISTS[name](x, max(-1.0, min(1.0, value)), gen)
    x = torch.nan_to_num(x)
    peak = float(x.abs().max())
    if peak > 0.99:
        x = x * (0.99 / peak)
    return x.numpy().astype(np.float32)
