"""Labelled signal-processing assists: what a slider does where the model's data does not vary in a quality.

Each assist takes mono float32 audio ``(T,)`` at 44.1 kHz and a value in -1..1, returns audio of the same
length, and is the identity at 0. They act on the vocoded audio after the model, so every use is
recorded as ``"assisted"`` (never passed off as the model's own latent control).

- brightness / warmth: one STFT gain (a tilt around 1 kHz and a 100-500 Hz band gain) solved so the
  spectral centroid moves by up to an octave, or the warm band's share by up to 2.3x, while the other
  of the two stays where it was;
- roughness: +: amplitude modulation at 45 Hz (sidebands beat against the partials, Sethares roughness);
  -: spectral sharpening (weaker peaks next to a stronger one are attenuated, fewer beating pairs);
- tension: layered partials on the material's strongest low peak, following its envelope: +: tritone
  and minor ninth (dissonant interval classes); -: fifth and octave (consonant);
- rhythmic: +: a 4 Hz gate; -: envelope levelling (the slow envelope is divided out);
- pulse: +: accents at 120 BPM; -: onset smearing (the fast envelope is levelled);
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
    """Smoothed amplitude envelope (RMS over a Hann window of ``seconds``), same length as ``x``."""
    width = max(3, int(seconds * SAMPLE_RATE) | 1)
    kernel = torch.hann_window(width + 2)[1:-1]
    kernel = kernel / kernel.sum()
    power = torch.nn.functional.conv1d(x.square()[None, None], kernel[None, None], padding=width // 2)[0, 0]
    return power[: x.shape[-1]].clamp_min(0).sqrt()


def _spectral_targets(power: torch.Tensor, freqs: torch.Tensor) -> tuple[float, float]:
    """(energy-weighted mean spectral centroid in Hz, warm-band share of the audible energy), as
    :func:`sda_audio.descriptors.describe` measures brightness and warmth."""
    mag = power.sqrt()
    energy = power.sum(0)
    centroid = (freqs @ mag) / mag.sum(0).clamp_min(1e-12)
    brightness = float((centroid * energy).sum() / energy.sum().clamp_min(1e-12))
    warm = (freqs >= 100.0) & (freqs < 500.0)
    audible = freqs >= 20.0
    return brightness, float(power[warm].sum() / power[audible].sum().clamp_min(1e-30))


def _shape_gain(freqs: torch.Tensor, warm_db: float, tilt_db_oct: float) -> torch.Tensor:
    """Amplitude gain per bin: a smooth bump of ``warm_db`` over 100-500 Hz times a tilt around 1 kHz."""
    logf = torch.log2(freqs.clamp_min(20.0))
    centre, half = math.log2(math.sqrt(100.0 * 500.0)), math.log2(500.0 / 100.0) / 2 + 0.25
    bump = torch.clamp(1.0 - ((logf - centre) / half).abs(), 0, 1) ** 0.5
    return 10 ** ((warm_db * bump + tilt_db_oct * (logf - math.log2(1000.0))) / 20.0)


def _bisect(fn: Callable[[float], float], target: float, lo: float, hi: float, steps: int = 18) -> float:
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

    Brightness ``v`` scales the spectral centroid by ``2 ** v`` (an octave at the ends); warmth ``v``
    scales the 100-500 Hz share of the energy by ``2 ** (1.2 v)``. A tilt (dB/octave around 1 kHz) and a
    warm-band gain are solved jointly (alternating bisection on the measured spectrum) so that setting
    one leaves the other descriptor where it was. Loudness is kept.
    """
    spec = _stft(x)
    power = spec.abs().square()
    freqs = torch.fft.rfftfreq(_N_FFT, 1.0 / SAMPLE_RATE)
    b0, w0 = _spectral_targets(power, freqs)
    if b0 <= 0 or w0 <= 0:
        return x
    b_target = b0 * 2.0 ** brightness
    w_target = min(max(w0 * 2.0 ** (1.2 * warmth), 1e-4), 0.95)
    warm_db, tilt_db = 0.0, 0.0

    def measured(wdb: float, tdb: float) -> tuple[float, float]:
        return _spectral_targets(power * _shape_gain(freqs, wdb, tdb)[:, None] ** 2, freqs)

    for _ in range(4):
        tilt_db = _bisect(lambda t, w=warm_db: measured(w, t)[0], b_target, -15.0, 15.0)
        warm_db = _bisect(lambda w, t=tilt_db: measured(w, t)[1], w_target, -40.0, 30.0)
    y = _istft(spec * _shape_gain(freqs, warm_db, tilt_db)[:, None], x.shape[-1])
    return _match_rms(y, x)


def tilt(x: torch.Tensor, value: float, generator: torch.Generator) -> torch.Tensor:
    """Brightness: the centroid scaled by ``2 ** value``, warmth held (see :func:`spectral_shape`)."""
    return spectral_shape(x, value, 0.0)


def low_band(x: torch.Tensor, value: float, generator: torch.Generator) -> torch.Tensor:
    """Warmth: the 100-500 Hz share scaled by ``2 ** (1.2 value)``, brightness held."""
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

    + a tritone and a minor ninth above the root (dissonant interval classes, far apart in Hz, so little
    roughness); - a fifth and an octave (consonant). Up to equal loudness with the sound at the ends.
    """
    root = _root(x)
    steps = (0.0, 6.0, 13.0) if value > 0 else (0.0, 7.0, 12.0)
    t = torch.arange(x.shape[-1], dtype=torch.float64) / SAMPLE_RATE
    phases = torch.rand(len(steps), generator=generator, dtype=torch.float64) * 2 * math.pi
    tone = sum(torch.sin(2 * math.pi * root * 2 ** (s / 12) * t + ph) for s, ph in zip(steps, phases, strict=True))
    tone = torch.as_tensor(tone, dtype=torch.float32) * _envelope(x, 0.05)
    y = x + abs(value) * _match_rms(tone, x)
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


def gate_rhythm(x: torch.Tensor, value: float, generator: torch.Generator) -> torch.Tensor:
    """Rhythmic: + a 4 Hz gate (depth ``value``); - the 0.1-1 s envelope levelled."""
    if value > 0:
        return _match_rms(x * _gate(x.shape[-1], 4.0, 0.5, 0.03, value), x)
    return _match_rms(_level(x, 0.12, -value), x)


def gate_pulse(x: torch.Tensor, value: float, generator: torch.Generator) -> torch.Tensor:
    """Pulse: + accents at 120 BPM (up to +12 dB, 80 ms decay; no gaps, so density stays);
    - onset smearing (the 30 ms envelope levelled)."""
    if value > 0:
        t = torch.arange(x.shape[-1], dtype=torch.float32) / SAMPLE_RATE
        since = torch.remainder(t, 0.5)
        accent = 1.0 + 3.0 * value * torch.exp(-since / 0.08)
        return _match_rms(x * accent, x)
    return _match_rms(_level(x, 0.03, -0.8 * value), x)


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
    env = _envelope(x, 0.02)
    fast_peak = torch.nn.functional.max_pool1d(env[None, None], 8821, stride=1, padding=4410)[0, 0]
    ratio = env / fast_peak.clamp_min(1e-9)  # 1 at the loudest point of the last/next 0.1 s, < 1 in tails
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
