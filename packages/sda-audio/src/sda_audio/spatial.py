"""Stereo and binaural rendering (OUT-07).

- ``mono_to_stereo``: mono-compatible pseudo-stereo. ``L = M + g*S``, ``R = M - g*S`` with ``M`` the
  mono signal and ``S`` a decorrelated copy: a short random-phase all-pass FIR (``"decorrelate"``,
  Kendall 1995) or a ~12 ms delay (``"mid_side"``, Lauridsen complementary combs). ``L + R = 2M``, so
  the mono fold-down never gets comb-filtered.
- ``set_stereo_width``: mid/side scaling of the side signal.
- ``binaural_render``: a spherical-head model needing no download: Woodworth ITD (head radius
  8.75 cm) as a fractional delay, the Brown & Duda (1998) one-pole/one-zero head-shadow filter per ear,
  and an optional pinna-notch elevation cue; or a measured HRTF set from a SOFA file
  (``load_sofa_hrtf``; needs ``h5py``, the ``sda-audio[sofa]`` extra).

Azimuth is in degrees, positive to the listener's RIGHT (0 = front, +90 = right, -90 = left,
180 = behind); elevation is positive upward. SOFA files use positive-to-the-left azimuths; the
conversion is done when a direction is looked up. Arrays are numpy float32; torch tensors are
accepted and converted.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

import numpy as np
import scipy.signal as ss
import torch

from sda_audio.errors import SdaError

log = logging.getLogger(__name__)

HEAD_RADIUS_M = 0.0875
SPEED_OF_SOUND = 343.0
_SIDE_GAIN = 0.7  # side gain at width 1: inter-channel correlation ~0.34 on broadband sound


def _array(x: np.ndarray | torch.Tensor, ndim: int, what: str) -> np.ndarray:
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    a = a.astype(np.float32, copy=False)
    if a.ndim != ndim:
        raise SdaError(f"{what} must have {ndim} dimension(s), got shape {a.shape}")
    return a


def _check_width(width: float) -> None:
    if not 0.0 <= width <= 2.0:
        raise SdaError(f"stereo width {width} is outside [0, 2]", hint="0 = mono, 1 = unchanged/natural, 2 = extra wide")


def random_phase_allpass(sample_rate: int, seed: int = 0, seconds: float = 0.01) -> np.ndarray:
    """A short FIR with flat magnitude and random phase (the decorrelation filter), ``(N,)``."""
    n = 1 << max(5, round(math.log2(seconds * sample_rate)))
    rng = np.random.default_rng(seed)
    phase = rng.uniform(-np.pi, np.pi, n // 2 + 1)
    phase[0] = 0.0
    phase[-1] = 0.0
    h = np.fft.irfft(np.exp(1j * phase), n)
    return h.astype(np.float32)


def mono_to_stereo(
    mono: np.ndarray | torch.Tensor,
    sample_rate: int,
    width: float = 1.0,
    method: Literal["decorrelate", "mid_side"] = "decorrelate",
    seed: int = 0,
) -> np.ndarray:
    """Mono ``(T,)`` -> stereo ``(2, T)`` whose mono sum ``(L+R)/2`` is the input up to a gain.

    Channels are scaled by ``1/sqrt(1 + g^2)`` so each keeps about the input's level.
    """
    x = _array(mono, 1, "mono input")
    _check_width(width)
    if method == "decorrelate":
        side = ss.fftconvolve(x, random_phase_allpass(sample_rate, seed))[: len(x)]
    elif method == "mid_side":
        delay = int(round(0.012 * sample_rate))
        side = np.concatenate([np.zeros(min(delay, len(x)), np.float32), x[: max(0, len(x) - delay)]])
    else:
        raise SdaError(f"unknown stereo method {method!r}", hint="use 'decorrelate' or 'mid_side'")
    g = _SIDE_GAIN * width
    norm = 1.0 / math.sqrt(1.0 + g * g)
    return (np.stack([x + g * side, x - g * side]) * norm).astype(np.float32)


def set_stereo_width(stereo: np.ndarray | torch.Tensor, width: float) -> np.ndarray:
    """Scale the side signal of ``(2, T)``: 0 = mono (identical channels), 1 = unchanged, up to 2."""
    x = _array(stereo, 2, "stereo input")
    if x.shape[0] != 2:
        raise SdaError(f"stereo input must have 2 channels, got {x.shape[0]}")
    _check_width(width)
    mid = 0.5 * (x[0] + x[1])
    side = 0.5 * (x[0] - x[1]) * width
    return np.stack([mid + side, mid - side]).astype(np.float32)


# -- spherical head model ------------------------------------------------------------------------------


def _lateral_angle(azimuth_deg: float, elevation_deg: float) -> float:
    """Angle (rad) of the source from the median plane, positive right; front/back folded."""
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    return math.asin(max(-1.0, min(1.0, math.sin(az) * math.cos(el))))


def woodworth_itd(azimuth_deg: float, elevation_deg: float = 0.0, radius: float = HEAD_RADIUS_M) -> float:
    """Interaural time difference in seconds, positive when the RIGHT ear leads: (a/c)(theta + sin theta)."""
    theta = _lateral_angle(azimuth_deg, elevation_deg)
    return math.copysign(radius / SPEED_OF_SOUND * (abs(theta) + math.sin(abs(theta))), theta)


def head_shadow_coefficients(
    incidence_deg: float, sample_rate: int, radius: float = HEAD_RADIUS_M
) -> tuple[np.ndarray, np.ndarray]:
    """Brown & Duda (1998) head-shadow filter for one ear, bilinear-transformed: ``(b, a)``.

    ``H(s) = (alpha s + beta) / (s + beta)``, ``beta = 2c/a``, with
    ``alpha = (1 + a_min/2) + (1 - a_min/2) cos(incidence / theta_min * 180 deg)``, ``a_min = 0.1``,
    ``theta_min = 150 deg``; ``incidence`` is the angle between the source and the ear's axis.
    High frequencies get +6 dB at 0 deg and about -20 dB at 150 deg; low frequencies pass unchanged.
    """
    alpha_min, theta_min = 0.1, 150.0
    alpha = (1 + alpha_min / 2) + (1 - alpha_min / 2) * math.cos(math.radians(incidence_deg / theta_min * 180.0))
    beta = 2.0 * SPEED_OF_SOUND / radius
    k = 2.0 * sample_rate
    b = np.array([alpha * k + beta, beta - alpha * k]) / (k + beta)
    a = np.array([1.0, (beta - k) / (k + beta)])
    return b, a


def _fractional_delay(x: np.ndarray, delay: float, taps: int = 64) -> np.ndarray:
    """Delay by ``delay`` samples (>= 0) with a Kaiser-windowed sinc; output length kept."""
    whole = int(math.floor(delay))
    frac = delay - whole
    n = np.arange(taps) - (taps // 2 - 1)
    h = np.sinc(n - frac) * np.kaiser(taps, 8.0)
    h /= h.sum()
    y = ss.fftconvolve(x, h)[taps // 2 - 1 : taps // 2 - 1 + len(x)]
    if whole:
        y = np.concatenate([np.zeros(min(whole, len(y)), y.dtype), y[: max(0, len(y) - whole)]])
    return y


def _elevation_cue(x: np.ndarray, sample_rate: int, elevation_deg: float) -> np.ndarray:
    """A pinna-like notch whose centre rises with elevation (~6 kHz below to ~10 kHz above)."""
    centre = 8000.0 + 2000.0 * max(-1.0, min(1.0, elevation_deg / 60.0))
    if elevation_deg == 0.0 or centre >= 0.45 * sample_rate:
        return x
    b, a = ss.iirnotch(centre, Q=2.0, fs=sample_rate)
    return cast(np.ndarray, ss.lfilter(b, a, x)).astype(np.float32)


@dataclass(frozen=True)
class Hrtf:
    """Measured head-related impulse responses.

    Attributes:
        ir: ``(M, 2, N)`` float32, ear 0 = left, 1 = right.
        positions: ``(M, 3)`` SOFA spherical: azimuth deg (positive LEFT), elevation deg, distance m.
        sample_rate: of ``ir``.
        path: the file it came from.
    """

    ir: np.ndarray
    positions: np.ndarray
    sample_rate: int
    path: Path | None = None

    def nearest(self, azimuth_deg: float, elevation_deg: float = 0.0) -> int:
        """Index of the measured direction closest (great circle) to sda's azimuth (positive right)."""
        az = np.radians(self.positions[:, 0])
        el = np.radians(self.positions[:, 1])
        taz, tel = math.radians(-azimuth_deg), math.radians(elevation_deg)
        cosd = np.sin(el) * math.sin(tel) + np.cos(el) * math.cos(tel) * np.cos(az - taz)
        return int(np.argmax(cosd))


def _render_hrtf(x: np.ndarray, sample_rate: int, azimuth: float, elevation: float, hrtf: Hrtf) -> np.ndarray:
    ir = hrtf.ir[hrtf.nearest(azimuth, elevation)].astype(np.float64)
    if hrtf.sample_rate != sample_rate:
        g = math.gcd(int(hrtf.sample_rate), int(sample_rate))
        ir = ss.resample_poly(ir, sample_rate // g, hrtf.sample_rate // g, axis=-1)
    return np.stack([ss.fftconvolve(x, ir[ear])[: len(x)] for ear in (0, 1)]).astype(np.float32)


def binaural_render(
    mono: np.ndarray | torch.Tensor,
    sample_rate: int,
    azimuth_deg: float,
    elevation_deg: float = 0.0,
    hrtf: Hrtf | None = None,
    elevation_cue: bool = True,
) -> np.ndarray:
    """Place a mono source ``(T,)`` for headphones: ``(2, T)`` float32 (left, right).

    Without ``hrtf`` the spherical-head model is used (ITD: Woodworth; ILD: Brown & Duda head shadow;
    elevation: pinna-notch cue when ``elevation_cue``). With ``hrtf`` the nearest measured direction's
    impulse responses are convolved (resampled if the rates differ).
    """
    x = _array(mono, 1, "mono input")
    if hrtf is not None:
        return _render_hrtf(x, sample_rate, azimuth_deg, elevation_deg, hrtf)
    itd = woodworth_itd(azimuth_deg, elevation_deg)
    # incidence from each ear's axis (ears at -90 / +90 deg), measured on the lateral angle
    lateral = math.degrees(_lateral_angle(azimuth_deg, elevation_deg))
    front = math.cos(math.radians(azimuth_deg)) >= 0
    direction = lateral if front else math.copysign(180.0, lateral or 1.0) - lateral
    out = []
    for ear_axis, lags in ((-90.0, itd > 0), (90.0, itd < 0)):
        incidence = abs((direction - ear_axis + 180.0) % 360.0 - 180.0)
        b, a = head_shadow_coefficients(incidence, sample_rate)
        y = cast(np.ndarray, ss.lfilter(b, a, x)).astype(np.float32)
        if lags:
            y = _fractional_delay(y, abs(itd) * sample_rate)
        if elevation_cue:
            y = _elevation_cue(y, sample_rate, elevation_deg)
        out.append(y)
    return np.stack(out).astype(np.float32)


# -- SOFA ------------------------------------------------------------------------------------------------


def load_sofa_hrtf(path: str | Path) -> Hrtf:
    """Read a SOFA ``SimpleFreeFieldHRIR`` file (HDF5/netCDF4): ``Data.IR``, ``SourcePosition``, rate.

    Raises:
        SdaError: h5py missing (``pip install sda-audio[sofa]``), file unreadable or not an HRIR set.
    """
    path = Path(path)
    try:
        import h5py
    except ImportError as exc:
        raise SdaError(
            "reading SOFA HRTF files needs the optional h5py package", path=path, hint="pip install sda-audio[sofa]"
        ) from exc
    if not path.is_file():
        raise SdaError("SOFA file not found", path=path, hint="check the path")
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in ("Data.IR", "SourcePosition", "Data.SamplingRate") if k not in f]
            if missing:
                raise SdaError(
                    f"not a SimpleFreeFieldHRIR SOFA file (missing {', '.join(missing)})",
                    path=path,
                    hint="use a SOFA HRIR set such as those from sofacoustics.org",
                )
            ir = np.asarray(cast(h5py.Dataset, f["Data.IR"])[()], dtype=np.float32)
            pos = np.asarray(cast(h5py.Dataset, f["SourcePosition"])[()], dtype=np.float64)
            rate = float(np.asarray(cast(h5py.Dataset, f["Data.SamplingRate"])[()]).reshape(-1)[0])
            pos_type = f["SourcePosition"].attrs.get("Type", b"spherical")
    except SdaError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        raise SdaError(f"could not read SOFA file: {exc}", path=path, hint="is it an HDF5/netCDF4 .sofa file?") from exc
    if isinstance(pos_type, bytes):
        pos_type = pos_type.decode()
    if ir.ndim != 3 or ir.shape[1] != 2 or pos.ndim != 2 or pos.shape[0] != ir.shape[0] or pos.shape[1] < 2:
        raise SdaError(
            f"unexpected shapes Data.IR {ir.shape}, SourcePosition {pos.shape} (want (M, 2, N) and (M, 3))",
            path=path,
            hint="only two-ear SimpleFreeFieldHRIR files are supported",
        )
    if str(pos_type).lower().startswith("cartesian"):
        x, y, z = pos[:, 0], pos[:, 1], pos[:, 2]
        dist = np.sqrt(x**2 + y**2 + z**2)
        pos = np.stack([np.degrees(np.arctan2(y, x)), np.degrees(np.arcsin(z / np.maximum(dist, 1e-12))), dist], 1)
    log.info("loaded %d HRIR directions (%d taps, %g Hz) from %s", ir.shape[0], ir.shape[2], rate, path)
    return Hrtf(ir=ir, positions=pos.astype(np.float64), sample_rate=int(round(rate)), path=path)
