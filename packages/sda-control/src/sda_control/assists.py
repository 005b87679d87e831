"""Labelled signal-processing assists: what a slider does where the model's data does not vary in a quality.

Each assist takes mono float32 audio ``(T,)`` at 44.1 kHz and a value in -1..1, returns audio of the same
length, and is the identity at 0. They act on the vocoded audio after the model, so every use is
recorded as ``"assisted"`` (never passed off as the model's own latent control). Given the training
data's spread per descriptor (``reference_std``, what the evaluation measures effects in), brightness and
warmth aim +-1 at ``REACH_SIGMA`` data-sigma; without it they use fixed relative moves. Every assist
aimed at another quality re-solves the spectral shape afterwards (:func:`hold_spectrum`), so brightness
and warmth stay where they were.

- brightness / warmth: one STFT gain (a tilt around 1 kHz and a 100-500 Hz band gain) solved so the
  spectral centroid (octaves) or the warm band's share (logits) moves while the other of the two stays;
  the reach is cut where the spectrum cannot give it with the other held;
- roughness: +: amplitude modulation at 45 Hz (sidebands beat against the partials, Sethares roughness);
  -: spectral sharpening (weaker peaks next to a stronger one are attenuated, fewer beating pairs);
- tension: +: copies of the material a tritone down and a major seventh up (dissonant interval classes);
  -: a chroma comb keeping the strongest pitch class and its fifth (consonant);
- rhythmic: +: an irregular gate (no steady period); -: envelope levelling (the slow envelope is divided out);
- pulse: +: accents on the material's own strongest period; -: a wandering playback speed (phase vocoder,
  pitch kept), so events drift off the period without onsets added or removed;
- density: +: upward compression of quiet frames plus an 8 Hz ripple (more active frames, more onsets);
  -: a downward expander on the quietest frames (gaps);
- reverb: +: a room tail whose every frequency bin decays at the room's RT60 (at least the sound's own
  decay time), mixed in below the sound; -: a gentle tail gate (drier).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torchaudio.functional as AF

from sda_audio.descriptors import describe
from sda_models.device import cpu_generator
from sda_models.mel import MelConfig

SAMPLE_RATE = MelConfig().sampling_rate
_N_FFT = 2048
_HOP = 512

Spread = dict[str, float]  # the training data's spread per descriptor (``ControlMap.descriptor_std()``)
Assist = Callable[..., torch.Tensor]  # (x (T,), value -1..1, generator, std: Spread | None) -> (T,)
_MAX_TILT = 10.0  # dB per octave
_MAX_WARM_DB = 30.0
_WET = 0.7  # the room tail's level at +1 reverb, relative to the sound's RMS
_RT60 = (0.5, 4.0)  # the room's decay time: (at least) the sound's own (or this), + this * value
_TAIL_GATE = 0.2  # -1 reverb: gain (level / loudest level within 0.1 s) ** this
_TENSE_STEPS = (-6.0, 11.0)  # tension +: a tritone below, a major seventh above (the centroid stays near)
_FOCUS_DB = 26.0  # tension -1: pitch classes away from the root and its fifth attenuated this much
_LAYER = 0.8  # tension +1: each layered copy at this times the sound's RMS
_ACCENT = 3.0  # pulse +1: accent gain 1 + this on the beat
_WARP = 0.3  # pulse -1: the playback rate wanders within about exp(+-this)
REACH_SIGMA = 1.2  # with a known spread, +-1 aims the own descriptor this many data-sigma away


def _stft(x: torch.Tensor) -> torch.Tensor:
    return torch.stft(x, _N_FFT, _HOP, window=torch.hann_window(_N_FFT), return_complex=True)


def _istft(spec: torch.Tensor, length: int) -> torch.Tensor:
    return torch.istft(spec, _N_FFT, _HOP, window=torch.hann_window(_N_FFT), length=length)


def _bin_advance(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Each STFT bin's expected phase advance per hop ``(F,)`` (a steady sinusoid at the bin's centre)."""
    return torch.linspace(0, math.pi * _HOP, _N_FFT // 2 + 1, dtype=dtype)


def _true_advance(delta: torch.Tensor, expected: torch.Tensor) -> torch.Tensor:
    """A bin's measured phase step ``delta`` unwrapped around its ``expected`` advance (the deviation taken
    to -pi..pi): the instantaneous frequency in radians per hop, as a phase vocoder needs it."""
    dev = delta - expected
    return dev - 2 * math.pi * torch.round(dev / (2 * math.pi)) + expected


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


def _solve_shape(model: _SpectrumModel, freqs: torch.Tensor, b_target: float, w_target: float
                 ) -> tuple[float, float]:
    """(warm-band dB, tilt dB/octave) that bring the modelled brightness and warmth to the targets
    (alternating bisection, each within its limits)."""
    warm_db, tilt_db = 0.0, 0.0
    for _ in range(3):
        tilt_db = _bisect(lambda t, w=warm_db: model.measure(_shape_gain(freqs, w, t).double().numpy())[0],
                          b_target, -_MAX_TILT, _MAX_TILT)
        warm_db = _bisect(lambda w, t=tilt_db: model.measure(_shape_gain(freqs, w, t).double().numpy())[1],
                          w_target, -_MAX_WARM_DB, _MAX_WARM_DB)
    return warm_db, tilt_db


def _reach(d0: float, key: str, std: Spread | None, fallback: float, cap: float,
           warp: Callable[[float], float], unwarp: Callable[[float], float]) -> float:
    """The half-range ``k`` (in the warped domain) of a slider moving a descriptor now at ``d0``:
    ``unwarp(warp(d0) + k) - unwarp(warp(d0) - k)`` spans ``2 * REACH_SIGMA`` data-sigma when the training
    data's spread is known (``fallback`` otherwise), at most ``cap``."""
    sigma = float(std.get(key, 0.0)) if std else 0.0
    if sigma <= 0:
        return fallback
    c = warp(d0)
    span = lambda k: unwarp(c + k) - unwarp(c - k)  # noqa: E731
    if span(cap) <= 2 * REACH_SIGMA * sigma:
        return cap
    return _bisect(span, 2 * REACH_SIGMA * sigma, 0.0, cap)


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def spectral_shape(x: torch.Tensor, brightness: float, warmth: float, std: Spread | None = None) -> torch.Tensor:
    """Brightness and warmth together, each aimed at its own descriptor while the other is held.

    Brightness ``v`` scales the centroid by ``2 ** (k v)`` and warmth ``v`` moves the logit of the
    100-500 Hz share by ``k v``, ``k`` chosen so that -1..+1 spans ``2 * REACH_SIGMA`` data-sigma of the
    training data (with ``std``; at most 2 octaves / 4 logits; without ``std`` 0.8 octave / 1.25 logits).
    A tilt (dB/octave around 1 kHz, at most 10) and a warm-band gain are solved jointly (alternating bisection on the measured
    spectrum) so that setting one leaves the other descriptor where it was. Loudness is kept.
    """
    spec = _stft(x)
    freqs = torch.fft.rfftfreq(_N_FFT, 1.0 / SAMPLE_RATE)
    model = _SpectrumModel(spec, freqs)
    b0, w0 = model.measure(np.ones(len(model.freqs)))
    if b0 <= 0 or w0 <= 0:
        return x
    w0 = min(max(w0, 1e-4), 0.95)
    b_oct = _reach(b0, "brightness", std, 0.8, 2.0, math.log2, lambda v: 2.0 ** v)
    w_logit = _reach(w0, "warmth", std, 1.25, 4.0, _logit, _sigmoid)

    def solve(b_move: float, w_move: float) -> tuple[float, float, bool]:
        """(warm dB, tilt dB/octave, whether both targets were met) for moves in octaves / logits."""
        b_target = b0 * 2.0 ** b_move
        w_target = min(max(_sigmoid(_logit(w0) + w_move), 1e-4), 0.95)
        warm_db, tilt_db = _solve_shape(model, freqs, b_target, w_target)
        b, w = model.measure(_shape_gain(freqs, warm_db, tilt_db).double().numpy())
        ok = abs(math.log2(max(b, 1e-9) / b_target)) < 0.1 and abs(_logit(min(max(w, 1e-4), 0.95))
                                                                     - _logit(w_target)) < 0.25
        return warm_db, tilt_db, ok

    # the reach is cut (the same for every value of the sign, so the sweep stays monotone) until the full
    # move at +-1 is met with the other descriptor held: a tilt cannot create what the spectrum lacks
    scale = 1.0
    for scale in (1.0, 0.75, 0.5, 0.3, 0.15):
        if solve(math.copysign(b_oct * scale, brightness) if brightness else 0.0,
                 math.copysign(w_logit * scale, warmth) if warmth else 0.0)[2]:
            break
    warm_db, tilt_db, _ = solve(b_oct * scale * brightness, w_logit * scale * warmth)
    y = _istft(spec * _shape_gain(freqs, warm_db, tilt_db)[:, None], x.shape[-1])
    return _match_rms(y, x)


def hold_spectrum(y: torch.Tensor, ref: torch.Tensor, passes: int = 2) -> torch.Tensor:
    """``y`` re-shaped (tilt + 100-500 Hz gain, within the same limits) so that its brightness and warmth
    are those of ``ref`` again: an assist aimed at another quality does not move these two. The solve is
    repeated on its own output (``passes``), since a resynthesised spectrum is not exactly the gained one."""
    freqs = torch.fft.rfftfreq(_N_FFT, 1.0 / SAMPLE_RATE)
    b_ref, w_ref = _SpectrumModel(_stft(ref), freqs).measure(np.ones(len(freqs)))
    if min(b_ref, w_ref) <= 0:
        return y
    for _ in range(passes):
        spec = _stft(y)
        model = _SpectrumModel(spec, freqs)
        if min(model.measure(np.ones(len(freqs)))) <= 0:
            return y
        warm_db, tilt_db = _solve_shape(model, freqs, b_ref, min(w_ref, 0.95))
        y = _match_rms(_istft(spec * _shape_gain(freqs, warm_db, tilt_db)[:, None], y.shape[-1]), y)
    return y


def tilt(x: torch.Tensor, value: float, generator: torch.Generator, std: Spread | None = None) -> torch.Tensor:
    """Brightness: the centroid moved, warmth held (see :func:`spectral_shape`)."""
    return spectral_shape(x, value, 0.0, std)


def low_band(x: torch.Tensor, value: float, generator: torch.Generator, std: Spread | None = None) -> torch.Tensor:
    """Warmth: the 100-500 Hz share moved, brightness held (see :func:`spectral_shape`)."""
    return spectral_shape(x, 0.0, value, std)


def roughen(x: torch.Tensor, value: float, generator: torch.Generator, std: Spread | None = None) -> torch.Tensor:
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


def _shifted(x: torch.Tensor, semitones: float) -> torch.Tensor:
    """``x`` pitch-shifted by ``semitones``, same length: a phase-vocoder stretch by the pitch ratio (bins
    that would fold over Nyquist removed), read back at the original length."""
    ratio = 2.0 ** (semitones / 12.0)
    spec = _stft(x)
    stretched = AF.phase_vocoder(spec, 1.0 / ratio, _bin_advance()[:, None])
    freqs = torch.fft.rfftfreq(_N_FFT, 1.0 / SAMPLE_RATE)
    stretched[freqs > 0.95 * SAMPLE_RATE / 2 / ratio] = 0
    long = _istft(stretched, int(round(x.shape[-1] * ratio)))
    return torch.nn.functional.interpolate(long[None, None], size=x.shape[-1], mode="linear",
                                           align_corners=False)[0, 0]


def _pitch_class(freqs: torch.Tensor) -> torch.Tensor:
    return torch.remainder(12.0 * torch.log2(freqs.clamp_min(1.0) / 440.0), 12.0)


def _focus(x: torch.Tensor, amount: float) -> torch.Tensor:
    """A chroma comb: keep the material's strongest pitch class and its fifth, attenuate every other
    pitch class by up to ``amount`` (0..1); what remains is a consonant "power chord" of the material's
    own partials. Long frames (186 ms, as the tension descriptor uses) so low partials are resolved."""
    n_fft, hop = 8192, 2048
    window = torch.hann_window(n_fft)
    spec = torch.stft(x, n_fft, hop, window=window, return_complex=True)
    freqs = torch.fft.rfftfreq(n_fft, 1.0 / SAMPLE_RATE)
    pc = _pitch_class(freqs)
    power = spec.abs().square().mean(dim=1)
    band = (freqs >= 50.0) & (freqs <= 5000.0)
    chroma = torch.zeros(12, dtype=power.dtype)
    chroma.index_add_(0, torch.round(pc[band]).long() % 12, power[band])
    root = float(torch.argmax(chroma))  # on the A440 grid, as the tension descriptor's chroma
    dist = torch.stack([torch.remainder(pc - k, 12.0) for k in (root, root + 7.0)])
    dist = torch.minimum(dist, 12.0 - dist).amin(dim=0)  # semitones to the nearest kept class
    gain = 1.0 - amount * (1.0 - torch.exp(-((dist / 0.3) ** 2)))
    gain[freqs < 50.0] = 1.0
    return torch.istft(spec * gain[:, None], n_fft, hop, window=window, length=x.shape[-1])


def detune(x: torch.Tensor, value: float, generator: torch.Generator, std: Spread | None = None) -> torch.Tensor:
    """Tension: + the material layered with copies of itself a tritone down and a major seventh up (the
    most dissonant interval classes, 6 and 1; one below and one above, so the centroid moves little; the
    copies share its timbre and envelope), each at up to
    ``_LAYER * value ** 2`` of its level; - a chroma comb that keeps the material's strongest pitch class and its
    fifth and attenuates the others (by up to ``_FOCUS_DB``, linear in dB): fewer, consonant pitch classes. Brightness and
    warmth are held.
    """
    if value > 0:
        y = x.clone()
        for s in _TENSE_STEPS:
            y = y + _LAYER * value ** 2 * _match_rms(_shifted(x, s), x)  # tension saturates: value squared
    else:
        y = _focus(x, 1.0 - 10.0 ** (_FOCUS_DB * value / 20.0))
    return hold_spectrum(_match_rms(y, x), x)


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
    full = AF.fftconvolve(gate, kernel / kernel.sum())  # (as a direct convolution, seconds on 20 s of audio)
    start = kernel.shape[0] - 1 - edge // 2
    return full[start:start + n]


def gate_rhythm(x: torch.Tensor, value: float, generator: torch.Generator, std: Spread | None = None) -> torch.Tensor:
    """Rhythmic: + an irregular gate (down by up to 20 dB, never silent, so density stays); - the 0.1-1 s
    envelope levelled."""
    if value > 0:
        return hold_spectrum(_match_rms(x * _irregular_gate(x.shape[-1], 0.9 * value, generator), x), x)
    return hold_spectrum(_match_rms(_level(x, 0.12, -value), x), x)


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


def _warp_time(x: torch.Tensor, depth: float, generator: torch.Generator) -> torch.Tensor:
    """``x`` played at a smoothly wandering speed (pitch kept, length kept): a phase vocoder reads the
    STFT at positions whose rate is ``exp(depth * n(t))``, ``n`` a smooth random curve (a new value
    ~0.4 s smoothing, no steady spacing). Events drift off any steady period (onsets move, none are added or removed)."""
    spec = _stft(x)
    frames = spec.shape[-1]
    knots = max(4, int(frames * _HOP / SAMPLE_RATE / 0.1) + 4)  # white noise every ~0.1 s, then smoothed
    noise = torch.randn(knots, generator=generator, dtype=torch.float64)
    curve = torch.nn.functional.interpolate(noise[None, None], size=frames, mode="linear", align_corners=True)[0, 0]
    width = max(3, int(0.4 * SAMPLE_RATE / _HOP))
    kernel = torch.hann_window(width + 2, dtype=torch.float64)[1:-1]
    curve = torch.nn.functional.conv1d(torch.nn.functional.pad(curve[None, None], (width // 2, width - 1 - width // 2),
                                                               mode="replicate"), (kernel / kernel.sum())[None, None])[0, 0]
    curve = curve / curve.std().clamp_min(1e-9)
    rate = torch.exp(depth * curve)
    pos = torch.cumsum(rate, 0) - rate[0]
    pos = pos * ((frames - 1) / float(pos[-1])) if float(pos[-1]) > 0 else torch.arange(frames, dtype=torch.float64)
    padded = torch.nn.functional.pad(spec, (0, 2))
    i0 = pos.floor().long()
    s0, s1 = padded[:, i0], padded[:, i0 + 1]
    step = _true_advance(s1.angle().double() - s0.angle().double(), _bin_advance(torch.float64)[:, None])
    phase = torch.cat([spec[:, :1].angle().double(), torch.cumsum(step, -1)[:, :-1]], dim=-1)
    alpha = (pos - i0)[None, :]
    mag = alpha * s1.abs().double() + (1 - alpha) * s0.abs().double()
    return _istft(torch.polar(mag, phase).to(spec.dtype), x.shape[-1])


def gate_pulse(x: torch.Tensor, value: float, generator: torch.Generator, std: Spread | None = None) -> torch.Tensor:
    """Pulse: + accents (up to +12 dB, 80 ms decay) on the material's own strongest period, so its beat
    is reinforced rather than fought; - the playback speed wanders (:func:`_warp_time`, up to
    ``exp(+-_WARP)``), so events drift off the period while no onset is added or removed (density and
    the envelope's modulation stay). Brightness and warmth are held."""
    if value > 0:
        period, phase = _beat(x)
        t = torch.arange(x.shape[-1], dtype=torch.float32) / SAMPLE_RATE
        since = torch.remainder(t - phase, period)
        accent = 1.0 + _ACCENT * value * torch.exp(-since / 0.08)
        return hold_spectrum(_match_rms(x * accent, x), x)
    return hold_spectrum(_match_rms(_warp_time(x, _WARP * -value, generator), x), x)


def gate_density(x: torch.Tensor, value: float, generator: torch.Generator, std: Spread | None = None) -> torch.Tensor:
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


def spectral_room(x: torch.Tensor, rt60: float) -> torch.Tensor:
    """The tail of a room (without the direct sound): every STFT bin's power decays exponentially
    (-60 dB at ``rt60`` s) after it is excited.

    A convolution with a noise impulse response gives each partial a randomly fading tail (a tone's tail
    is narrowband noise), and a decay measured on such a tail scatters widely. Smoothing the power per
    bin gives every tail the room's decay exactly, so the measured decay time follows ``rt60``; the
    phases are the sound's own where it dominates the tail, else continued at the bin's last
    instantaneous frequency (a partial rings on at its pitch: no new pitches, no beating).
    """
    spec = _stft(x)
    power = spec.abs().square().double()  # (F, frames)
    a = 10.0 ** (-6.0 * _HOP / (SAMPLE_RATE * rt60))  # power decay per frame
    tail = AF.lfilter(power, torch.tensor([1.0, -a], dtype=torch.float64), torch.tensor([0.0, a], dtype=torch.float64),
                      clamp=False)  # tail[t] = a * (tail[t-1] + power[t-1])
    ph_x = spec.angle().double()
    inst = _true_advance(torch.diff(ph_x, dim=1, prepend=ph_x[:, :1]), _bin_advance(torch.float64)[:, None])
    strong = power >= 0.25 * tail  # the sound dominates its own tail here: keep its phase
    phase = torch.empty_like(ph_x)
    cur, inc = ph_x[:, 0], inst[:, 0]
    for t in range(ph_x.shape[1]):
        inc = torch.where(strong[:, t], inst[:, t], inc)
        cur = torch.where(strong[:, t], ph_x[:, t], cur + inc)
        phase[:, t] = cur
    wet = torch.polar(tail.clamp_min(0).sqrt(), phase).to(spec.dtype)
    return _istft(wet, x.shape[-1])


def reverberate(x: torch.Tensor, value: float, generator: torch.Generator, std: Spread | None = None) -> torch.Tensor:
    """Reverb: + a room tail (:func:`spectral_room`; RT60 the sound's own decay time, at least 0.5 s, plus
    up to 4 s) mixed in at up to 0.7 of the sound's
    RMS (the old 70 % convolution mix filled every gap, so no decay was left for the descriptor to see and
    the envelope's modulation, rhythmic, collapsed); - a gentle tail gate (decays cut faster).
    Brightness and warmth are held."""
    if value > 0:
        own = describe(x.numpy(), SAMPLE_RATE)["reverberance"]  # a room shorter than the sound's own decays
        rt60 = max(own, _RT60[0]) + _RT60[1] * value             # would shorten them
        wet = spectral_room(x, rt60)
        y = x + _WET * value * _match_rms(wet, x)
        return hold_spectrum(_match_rms(y, x), x)
    hop = 220  # 5 ms frames
    env = torch.nn.functional.avg_pool1d(x.square()[None, None], 2 * hop, stride=hop, padding=hop).sqrt()
    peak = torch.nn.functional.max_pool1d(env, 41, stride=1, padding=20)  # the loudest point within 0.1 s
    ratio = torch.nn.functional.interpolate(env / peak.clamp_min(1e-9), size=x.shape[-1], mode="linear",
                                            align_corners=False)[0, 0]  # 1 at peaks, < 1 in tails
    gain = ratio.clamp(0, 1) ** (_TAIL_GATE * -value)
    return hold_spectrum(_match_rms(x * gain, x), x)


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
                  names: tuple[str, ...] | None = None, reference_std: Spread | None = None) -> np.ndarray:
    """Apply the assists of ``names`` (default: every non-zero value) in a fixed order (brightness and
    warmth jointly first, then tension, roughness, the time-domain ones, reverb last). ``reference_std``:
    the training data's spread per descriptor (``ControlMap.descriptor_std()``), which sets the reach of
    brightness and warmth. Returns float32 ``(T,)`` with the input's RMS, peak-limited to 0.99."""
    x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32).reshape(-1))
    if x.numel() == 0:
        return audio.astype(np.float32)
    gen = cpu_generator(seed)
    wanted = [n for n in ("brightness", "warmth") if float(values.get(n, 0.0)) != 0.0
              and (names is None or n in names)]
    if wanted:  # one joint solve, so the one not asked for is held where it was
        brightness, warmth = (max(-1.0, min(1.0, float(values.get(n, 0.0)))) if n in wanted else 0.0
                              for n in ("brightness", "warmth"))
        x = spectral_shape(x, brightness, warmth, reference_std)
    for name in ORDER:
        value = float(values.get(name, 0.0))
        if value == 0.0 or (names is not None and name not in names):
            continue
        x = ASSISTS[name](x, max(-1.0, min(1.0, value)), gen, reference_std)
    x = torch.nan_to_num(x)
    peak = float(x.abs().max())
    if peak > 0.99:
        x = x * (0.99 / peak)
    return x.numpy().astype(np.float32)
