"""Mel envelope correction: filter a waveform, frame by frame, until its log-mel matches a target.

The corpus vocoder's grains carry real, coherent phase and texture but only approximately the right
spectrum. This applies a smooth time-varying EQ in the canonical STFT frame grid (the one
:class:`~sda_models.mel.LogMel` uses): the per-band log-mel error is spread onto the linear bins
through the normalised mel filterbank, the STFT is scaled by it and overlap-added back. A few
iterations converge because each step only changes magnitudes by a band-smooth gain.

:func:`refine_stft` goes one step further, for held-out material whose partials sit at other
frequencies than any grain's: a few fast Griffin-Lim iterations (Perraudin et al. 2013) on the same
grid, started from the grains' own phase, whose target magnitude is the wave's fine structure blended
(geometrically) with the smooth envelope the mel implies, then band-corrected onto the target mel.
"""

from __future__ import annotations

import math
import warnings
from functools import lru_cache

import torch

from sda_models.mel import LOG_CLAMP, MAGNITUDE_EPS, MelConfig, mel_filterbank


@lru_cache(maxsize=8)
def _grid(config: MelConfig, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(window, filterbank as CSR, spread as CSR, spread dense)`` for ``config`` on ``device``, built once.

    ``spread`` ``(n_freqs, n_mels)`` carries a per-band value onto the linear bins (the filterbank normalised
    per bin); each bin lies in at most two bands, so both sparse products are ~10x faster than dense ones.
    """
    fb = mel_filterbank(config).to(device)  # (n_mels, n_freqs)
    spread = (fb / fb.sum(0).clamp_min(1e-12)).T.contiguous()  # zero rows where no band covers a bin
    with warnings.catch_warnings():  # "sparse CSR support is in beta": matmul with it is stable
        warnings.simplefilter("ignore", UserWarning)
        fb_sparse, spread_sparse = fb.to_sparse_csr(), spread.to_sparse_csr()
    return torch.hann_window(config.win_length, device=device), fb_sparse, spread_sparse, spread


def _spread(spread_sparse: torch.Tensor, bands: torch.Tensor) -> torch.Tensor:
    """Per band and frame ``(n_mels, T)`` -> per bin and frame ``(n_freqs, T)`` through the sparse spread."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return spread_sparse @ bands


def _stft(wave: torch.Tensor, config: MelConfig, window: torch.Tensor) -> torch.Tensor:
    """Canonical-grid STFT: ``(N,)`` -> complex ``(n_freqs, N // hop)`` (reflect pad, centre off)."""
    pad = config.padding
    padded = torch.nn.functional.pad(wave[None, None], (pad, pad), mode="reflect")[0, 0]
    return torch.stft(padded, config.n_fft, hop_length=config.hop_length, win_length=config.win_length,
                      window=window, center=False, return_complex=True)


def _overlap_add(frames: torch.Tensor, hop: int) -> torch.Tensor:
    """Overlap-add ``(T, n)`` frames spaced ``hop`` apart -> ``((T - 1) * hop + n,)``."""
    n_frames, n = frames.shape
    if n % hop == 0:
        parts = n // hop
        out = frames.new_zeros(n_frames + parts - 1, hop)
        for k in range(parts):
            out[k:k + n_frames] += frames[:, k * hop:(k + 1) * hop]
        return out.reshape(-1)
    total = (n_frames - 1) * hop + n
    return torch.nn.functional.fold(frames.T[None], output_size=(1, total), kernel_size=(1, n),
                                    stride=(1, hop))[0, 0, 0]


def _window_norm(window: torch.Tensor, n_frames: int, hop: int) -> torch.Tensor:
    """The overlap-added squared window of ``n_frames`` frames (clamped): the inverse STFT's divisor."""
    return _overlap_add((window * window).expand(n_frames, -1), hop).clamp_min(1e-8)


def _istft(spec: torch.Tensor, config: MelConfig, window: torch.Tensor, length: int,
           norm: torch.Tensor | None = None) -> torch.Tensor:
    """Weighted overlap-add inverse of :func:`_stft` (least-squares), cropped to ``length`` samples.

    ``norm`` (the overlap-added squared window, clamped) may be passed in when it is reused.
    """
    frames = torch.fft.irfft(spec.T, n=config.n_fft).mul_(window)  # (T, n_fft)
    out = _overlap_add(frames, config.hop_length)
    if norm is None:
        norm = _window_norm(window, frames.shape[0], config.hop_length)
    out = out / norm
    return out[config.padding: config.padding + length]


def match_mel(wave: torch.Tensor, target: torch.Tensor, config: MelConfig | None = None,
              iterations: int = 3, max_db: float = 30.0, step: float = 1.0, inner: int = 1) -> torch.Tensor:
    """Filter ``wave`` ``(T * hop,)`` so its log-mel approaches ``target`` ``(n_mels, T)``.

    Each iteration's per-band correction is limited to ``max_db``; bands the wave has no energy in
    stay quiet (this is EQ, not synthesis). Returns a float32 wave of the same length.
    """
    cfg = config or MelConfig()
    if iterations <= 0 or wave.numel() <= cfg.padding:
        return wave
    device = wave.device
    window, fb_sparse, spread_sparse, _ = _grid(cfg, device)
    limit = max_db / 20.0 * math.log(10.0)
    target = target.to(device).float()
    floor = math.log(LOG_CLAMP)
    quiet_target = target <= floor + 1e-3
    y = wave.float()
    norm = None
    for _ in range(iterations):
        spec = _stft(y, cfg, window)
        mag = torch.sqrt(spec.real.square() + spec.imag.square() + MAGNITUDE_EPS)
        log_gain = torch.zeros_like(mag)
        for _ in range(inner):
            current = torch.log(torch.clamp(fb_sparse @ (mag * torch.exp(log_gain)), min=LOG_CLAMP))
            error = torch.where(quiet_target & (current <= floor + 1e-3), 0.0, target - current)
            log_gain = (log_gain + step * _spread(spread_sparse, error)).clamp(-limit, limit)
        if norm is None:
            norm = _window_norm(window, spec.shape[1], cfg.hop_length)
        y = _istft(spec * torch.exp(log_gain), cfg, window, wave.shape[0], norm)
    return y


@lru_cache(maxsize=4)
def _envelope_basis(config: MelConfig) -> torch.Tensor:
    """``(n_freqs, n_mels)`` least-squares inverse of the mel filterbank (mel magnitude -> linear)."""
    return torch.linalg.pinv(mel_filterbank(config).double()).float()


def refine_stft(wave: torch.Tensor, target: torch.Tensor, config: MelConfig | None = None,
                iterations: int = 48, fine_structure: float | torch.Tensor = 0.8, acceleration: float = 0.5,
                max_db: float = 30.0) -> torch.Tensor:
    """Phase-consistent magnitude refinement of ``wave`` ``(T * hop,)`` towards ``target`` ``(n_mels, T)``.

    Each iteration takes the canonical-grid STFT, sets its magnitude to
    ``|S| ** fine_structure * E ** (1 - fine_structure)`` (``E``: the mel's least-squares linear
    magnitude, the envelope Griffin-Lim would use; ``fine_structure`` is a number or a per band and
    frame ``(n_mels, T)`` share, spread onto the bins like the correction), rescales every mel band
    so the result's mel equals the target (limited to ``max_db``; silent bands stay silent), keeps
    the current phase and
    resynthesises; the next STFT is extrapolated by ``acceleration`` (fast Griffin-Lim). Starting from
    the grains' phase, this keeps their onsets and texture while spreading energy the way the mel
    says. ``fine_structure=1`` keeps the grains' spectra (only the phase is made consistent).
    """
    cfg = config or MelConfig()
    if iterations <= 0 or wave.numel() <= cfg.padding:
        return wave
    device = wave.device
    window, fb_sparse, spread_sparse, spread = _grid(cfg, device)
    target = target.to(device).float()
    envelope = (_envelope_basis(cfg).to(device) @ torch.exp(target)).clamp_min(0.0)
    if isinstance(fine_structure, torch.Tensor):
        keep = fine_structure.to(device).float().clamp(0.0, 1.0)
        alpha = _spread(spread_sparse, keep) + (1.0 - spread.sum(1, keepdim=True)).clamp_min(0.0)  # uncovered: own
    else:
        alpha = torch.full_like(envelope, float(fine_structure))
    log_env = (1.0 - alpha) * torch.log(envelope.clamp_min(1e-12))  # all in log magnitude from here
    limit = max_db / 20.0 * math.log(10.0)
    floor = math.log(LOG_CLAMP) + 1e-3
    quiet_target = target <= floor
    y = wave.float()
    spec = _stft(y, cfg, window)
    # the STFT comes out frame-major ((n_freqs, T) strides (1, n_freqs)): constants in the same memory order
    # keep every elementwise pass contiguous
    log_env, alpha = log_env.T.contiguous().T, alpha.T.contiguous().T
    norm = _window_norm(window, spec.shape[1], cfg.hop_length)
    previous = None
    for _ in range(iterations):
        log_mag = spec.real.square().add_(spec.imag.square()).add_(MAGNITUDE_EPS).log_().mul_(0.5)
        log_new = torch.addcmul(log_env, alpha, log_mag)
        current = torch.log(torch.clamp(fb_sparse @ torch.exp(log_new), min=LOG_CLAMP))
        error = torch.where(quiet_target & (current <= floor), 0.0, target - current)
        log_ratio = log_new.sub_(log_mag).add_(_spread(spread_sparse, error).clamp_(-limit, limit))
        y = _istft(spec * log_ratio.exp_(), cfg, window, wave.shape[0], norm)
        # fast Griffin-Lim extrapolates the STFT, S + a (S - S_prev); the STFT is linear, so this is the
        # STFT of y + a (y - y_prev): a quarter of the data to combine
        spec = _stft(y if previous is None else torch.add(y, y - previous, alpha=acceleration), cfg, window)
        previous = y
    return y
