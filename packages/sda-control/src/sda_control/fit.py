"""Fitting the sliders of one model: latent directions whose decoded sound moves each descriptor.

1. The training files are cut into windows (and augmented copies of them, for variety), encoded into the
   model's continuous space (VAE: posterior mean; RVQ: the quantised latent, i.e. the summed code
   embeddings) and measured with sda-audio's descriptors.
2. The window latents (time means) are whitened with PCA; one ridge regression per descriptor predicts
   the standardised descriptor from the whitened latent (ridge strength chosen by cross-validation
   grouped by source file, so augmented copies never leak between folds).
3. The directions are the joint least-squares inverse of the regressions: direction ``k`` moves the
   predicted descriptor ``k`` by one data-sigma and leaves the other predicted descriptors where they
   are (decorrelated). Its readout ``w_k`` gives the coordinate of any latent along it.
4. Safe ranges are data percentiles of that coordinate (GEN-08); the top principal axes are stored as
   unlabelled "explore" axes.
5. A decoder-side check measures each direction: a few training windows are shifted to -1 and +1,
   decoded, rendered with Griffin-Lim and re-measured. A direction that moves its own descriptor by at
   least ``min_effect`` data-sigma (median over the windows, most of them agreeing) with cross-talk
   within ``max_crosstalk``, and whose regression has a cross-validated R^2 of at least ``min_cv_r2``,
   is used ("latent"); the
   others fall back to the labelled DSP assists ("assisted"). Density is always "steered": the engine
   realises it on the sequence itself (a faster sequence, or whole events silenced).

   With ``check_searched``, the same check runs for the searched realisation (:mod:`sda_control.search`:
   a gradient search through the decoder per window); a control is ``"searched"`` where that passes and
   beats the latent direction (:func:`_better`).

6. A model trained with attribute regularisation (``AutoencoderConfig.attributes``: latent dim ``i`` tied
   to descriptor ``attributes[i]``, AR-VAE) offers a second candidate for those controls: the regularised
   axis itself (unit vector on dim ``i``, in units of the windows' spread along it, signed to raise the
   descriptor). Both candidates go through the same decoder-side check and the better one is kept
   (:func:`_better`); ``control_config["direction"]`` and the notes say which.

Tiny sets (fewer than ``small_files`` files) get fewer principal components and stronger ridge; the
report says so.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sda_audio.augment import default_augmentation
from sda_audio.descriptors import DESCRIPTOR_NAMES, describe
from sda_audio.errors import SdaError
from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events
from sda_control.control_map import ControlMap
from sda_control.names import CONTROL_NAMES, descriptor_of
from sda_models.device import cpu_generator
from sda_models.mel import LogMel, MelConfig

log = logging.getLogger(__name__)

JOB = "train.control"
SAMPLE_RATE = MelConfig().sampling_rate
CONFIG_VERSION = 1
N_EXPLORE = 3


@dataclass(frozen=True)
class ControlFitConfig:
    """How the sliders are fitted (see the module docstring)."""

    window_seconds: float = 3.0
    min_window_seconds: float = 0.25
    max_windows_per_file: int = 12
    augmented_copies: int = 1  # per window; tiny sets get twice as many
    augmentation_strength: float = 1.5
    variance_kept: float = 0.99
    ridge_grid: tuple[float, ...] = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)  # x number of windows
    small_files: int = 8
    range_percentiles: tuple[float, float] = (5.0, 95.0)  # window means: the reach of +-1
    clamp_percentiles: tuple[float, float] = (1.0, 99.0)  # frames: where no frame may go beyond
    check_windows: int = 6
    check_gl_iters: int = 16
    min_effect: float = 0.5
    max_crosstalk: float = 0.5
    min_agreement: float = 0.75  # share of checked windows that move the same way as the median
    min_cv_r2: float = 0.1  # the latents must predict the descriptor at all (grouped cross-validation)
    check_searched: bool = True  # also check the searched realisation (sda_control.search) through the decoder
    search_steps: int = 6
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ControlFitReport:
    """What the fit found: data size, regression quality and the decoder-side check per control."""

    n_files: int
    n_windows: int
    n_augmented: int
    components: int
    small_data: bool
    cv_r2: dict[str, float]
    ridge: dict[str, float]
    check: dict[str, dict[str, float | str]]
    realisation: dict[str, str]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_text(self) -> str:
        lines = [f"{self.n_files} files -> {self.n_windows} windows (+{self.n_augmented} augmented), "
                 f"{self.components} latent components"]
        for name in CONTROL_NAMES:
            c = self.check.get(name, {})
            lines.append(f"  {name:<11} {self.realisation[name]:<9} cv R2 {self.cv_r2[descriptor_of(name)]:+.2f}  "
                         f"decoded effect {float(c.get('effect', 0.0)):+.2f} sigma, "
                         f"cross-talk {float(c.get('crosstalk', 0.0)):.2f}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


@dataclass
class _Window:
    group: int  # source file index
    audio: np.ndarray
    augmented: bool


def _read(path: Path) -> np.ndarray:
    from sda_audio.io import read_audio

    clip = read_audio(path, sample_rate=SAMPLE_RATE, mono=True)
    return np.ascontiguousarray(np.asarray(clip.samples, np.float32).reshape(-1))


def _windows(files: Sequence[Path], cfg: ControlFitConfig, small: bool, cancel: CancelToken | None
             ) -> list[_Window]:
    length = int(cfg.window_seconds * SAMPLE_RATE)
    out: list[_Window] = []
    gen = cpu_generator(cfg.seed)
    augment = default_augmentation(cfg.augmentation_strength, p=0.7)
    copies = cfg.augmented_copies * (2 if small else 1)
    for gi, path in enumerate(files):
        if cancel is not None:
            cancel.raise_if_cancelled("control fit")
        audio = _read(path)
        if len(audio) < cfg.min_window_seconds * SAMPLE_RATE:
            continue
        if len(audio) <= length:
            starts = [0]
        else:
            n = min(cfg.max_windows_per_file, 1 + (len(audio) - length) // (length // 2))
            starts = np.linspace(0, len(audio) - length, n).astype(int).tolist()
        for s in starts:
            win = audio[s:s + length]
            if float(np.sqrt(np.mean(win ** 2))) < 1e-5:
                continue
            out.append(_Window(gi, win, False))
            for _ in range(copies):
                aug = augment(torch.from_numpy(win)[None], SAMPLE_RATE, gen)[0].numpy().astype(np.float32)
                out.append(_Window(gi, aug, True))
    return out


@torch.no_grad()
def _encode(bundle: Any, audio: np.ndarray, mel: LogMel) -> Tensor:
    """Latent ``(D, T')`` of mono audio (CPU float32)."""
    device = next(bundle.autoencoder.parameters()).device
    wave = torch.from_numpy(audio)[None]
    frames = max(1, wave.shape[-1] // mel.config.hop_length)
    need = frames * mel.config.hop_length
    if wave.shape[-1] < need + 1:
        wave = torch.nn.functional.pad(wave, (0, need - wave.shape[-1] + 1))
    m = mel(wave)[..., :frames].to(device)
    latent = bundle.autoencoder.encode(bundle.stats.normalize(m))
    return latent[0].float().cpu()


def _grouped_folds(groups: np.ndarray, k: int = 5) -> list[np.ndarray]:
    unique = np.unique(groups)
    k = min(k, len(unique))
    return [np.isin(groups, unique[i::k]) for i in range(k)]


def _ridge(x: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    p = x.shape[1]
    return np.linalg.solve(x.T @ x + lam * np.eye(p), x.T @ y)


def _fit_ridge(x: np.ndarray, y: np.ndarray, groups: np.ndarray, grid: Sequence[float]
               ) -> tuple[np.ndarray, float, float]:
    """Ridge coefficients for target ``y`` with the strength of best grouped-CV R2: ``(b, lam, r2)``."""
    n = len(y)
    folds = _grouped_folds(groups)
    best = (-math.inf, grid[-1] * n)
    for g in grid:
        lam = g * n
        if len(folds) < 2:
            break
        pred = np.zeros(n)
        for test in folds:
            b = _ridge(x[~test], y[~test], lam)
            pred[test] = x[test] @ b
        r2 = 1.0 - float(np.sum((y - pred) ** 2)) / max(float(np.sum((y - y.mean()) ** 2)), 1e-12)
        if r2 > best[0]:
            best = (r2, lam)
    r2, lam = best
    return _ridge(x, y, lam), lam, (r2 if math.isfinite(r2) else 0.0)


SLIDER_ROWS = ("directions", "readouts", "range_lo", "range_hi", "clamp_lo", "clamp_hi")
"""The per-control rows of the control tensors (one row per slider, in ``CONTROL_NAMES`` order)."""


def _safe_ranges(readouts: np.ndarray, z_all: np.ndarray, frames: np.ndarray, z_mean: np.ndarray,
                 cfg: ControlFitConfig) -> dict[str, np.ndarray]:
    """GEN-08 ranges of the sliders read by ``readouts (K, D)``: +-1 reaches the window means' range
    percentiles; no frame may go beyond the frames' clamp percentiles (never inside the range)."""
    window = (z_all - z_mean) @ readouts.T
    frame = (frames - z_mean) @ readouts.T
    lo, hi = np.percentile(window, cfg.range_percentiles, axis=0)
    flo, fhi = np.percentile(frame, cfg.clamp_percentiles, axis=0)
    return {"range_lo": lo, "range_hi": hi, "clamp_lo": np.minimum(flo, lo), "clamp_hi": np.maximum(fhi, hi)}


def _passes(c: dict[str, float | str], cv_r2: float, cfg: ControlFitConfig) -> bool:
    """The decoder-side check's verdict (effect, cross-talk, agreement) and the cross-validated R2 gate."""
    return (float(c["effect"]) >= cfg.min_effect and float(c["crosstalk"]) <= cfg.max_crosstalk
            and float(c["agreement"]) >= cfg.min_agreement and cv_r2 >= cfg.min_cv_r2)


def _better(axis: dict[str, float | str], regression: dict[str, float | str], cfg: ControlFitConfig) -> bool:
    """Whether the regularised axis beats the regression direction: a passing candidate beats a failing one;
    between equals, the larger ``effect x agreement``, divided by how far cross-talk exceeds its limit."""
    def score(c: dict[str, float | str]) -> tuple[bool, float]:
        excess = max(1.0, float(c["crosstalk"]) / cfg.max_crosstalk)
        return c["passed"] == "yes", float(c["effect"]) * float(c["agreement"]) / excess

    return score(axis) > score(regression)


def _regularised_axes(bundle: Any, z_all: np.ndarray, frames: np.ndarray, y_all: np.ndarray, groups: np.ndarray,
                      cfg: ControlFitConfig) -> dict[str, dict[str, Any]]:
    """Candidate slider rows for the controls whose descriptor a latent dim was trained to follow.

    Per control: ``directions``/``readouts`` (D,) with ``readout . direction = 1`` (the coordinate is the
    window-mean spread along the dim), ranges and clamps like the regression's, the dim and the grouped
    cross-validated R2 of the descriptor from that dim alone.
    """
    config = getattr(bundle.autoencoder, "config", None)
    tied = dict(getattr(config, "regularised", None) or {})
    out: dict[str, dict[str, Any]] = {}
    z_mean = z_all.mean(axis=0)
    for dim, descriptor in sorted(tied.items()):
        names = [n for n in CONTROL_NAMES if descriptor_of(n) == descriptor and n != "density"]
        if not names or dim >= z_all.shape[1]:
            continue
        spread = float(z_all[:, dim].std())
        if spread < 1e-9:
            continue
        y = y_all[:, DESCRIPTOR_NAMES.index(descriptor)]
        x = ((z_all[:, dim] - z_mean[dim]) / spread)[:, None]
        corr = float(np.mean(x[:, 0] * (y - y.mean())) / max(float(y.std()), 1e-12))
        sign = 1.0 if corr >= 0 else -1.0
        _, _, r2 = _fit_ridge(x, y, groups, cfg.ridge_grid)
        readout = np.zeros(z_all.shape[1])
        readout[dim] = sign / spread
        direction = np.zeros(z_all.shape[1])
        direction[dim] = sign * spread
        ranges = {k: v[0] for k, v in _safe_ranges(readout[None], z_all, frames, z_mean, cfg).items()}
        out[names[0]] = {"dim": int(dim), "cv_r2": float(r2), "directions": direction, "readouts": readout,
                         **ranges}
    return out


def fit_controls(bundle: Any, files: Sequence[str | Path], on_event: ProgressCallback = ignore_events,
                 cancel: CancelToken | None = None, config: ControlFitConfig | None = None
                 ) -> tuple[dict[str, Tensor], dict[str, Any], ControlFitReport]:
    """Fit the eight sliders of ``bundle`` on ``files``.

    Returns:
        ``(control_tensors, control_config, report)``: the ``control.*`` section (prefix stripped) and
        ``metadata["configs"]["control"]``, ready for :func:`attach_controls`.

    Raises:
        SdaError: no usable audio (every file shorter than ``min_window_seconds`` or silent).
    """
    cfg = config or ControlFitConfig()
    files = [Path(f) for f in files]
    small = len(files) < cfg.small_files
    on_event(ProgressEvent(JOB, "start", 0, 4, f"fitting the controls on {len(files)} files"))
    windows = _windows(files, cfg, small, cancel)
    n_orig = sum(not w.augmented for w in windows)
    if n_orig < 3:
        raise SdaError(f"only {n_orig} usable windows of audio in {len(files)} files: too little to fit controls",
                       hint="give at least a few seconds of non-silent audio")
    mel = LogMel(bundle.mel_config)
    latents, feats, descs, standins = [], [], [], []
    for i, w in enumerate(windows):
        if cancel is not None:
            cancel.raise_if_cancelled("control fit")
        z = _encode(bundle, w.audio, mel)
        latents.append(z)
        if not w.augmented:
            standins.append(_standins(w.audio, mel))
        feats.append(z.mean(dim=-1).double().numpy())
        d = describe(w.audio, SAMPLE_RATE)
        descs.append([d[k] for k in DESCRIPTOR_NAMES])
        if i % 16 == 0:
            on_event(ProgressEvent(JOB, "progress", 1, 4, f"encoded and measured {i + 1}/{len(windows)} windows"))
    z_all = np.stack(feats)  # (N, D)
    d_all = np.asarray(descs, np.float64)  # (N, K)
    groups = np.array([w.group for w in windows])
    original = np.array([not w.augmented for w in windows])
    d_mean = d_all[original].mean(axis=0)
    d_std = d_all[original].std(axis=0)
    d_std_fit = np.where(d_all.std(axis=0) > 1e-9, d_all.std(axis=0), 1.0)
    y_all = (d_all - d_all.mean(axis=0)) / d_std_fit

    # whitening: PCA of the window latents
    z_mean = z_all.mean(axis=0)
    u, s, vt = np.linalg.svd(z_all - z_mean, full_matrices=False)
    var = s ** 2 / max(len(z_all) - 1, 1)
    keep = int(np.searchsorted(np.cumsum(var) / max(var.sum(), 1e-12), cfg.variance_kept) + 1)
    limit = max(2, len(np.unique(groups)) * (1 if small else 3), n_orig // 3)
    p = max(1, min(keep, limit, len(s)))
    basis = vt[:p].T  # (D, p)
    scale = np.sqrt(np.maximum(var[:p], 1e-12))  # std along each component
    x_all = (z_all - z_mean) @ basis / scale
    on_event(ProgressEvent(JOB, "progress", 2, 4, f"regressing the descriptors on {p} latent components"))

    grid = [g * (10.0 if small else 1.0) for g in cfg.ridge_grid]
    coefs, lams, r2s = [], [], []
    for k in range(len(DESCRIPTOR_NAMES)):
        b, lam, r2 = _fit_ridge(x_all, y_all[:, k], groups, grid)
        coefs.append(b)
        lams.append(lam)
        r2s.append(r2)
    b_mat = np.stack(coefs, axis=1)  # (p, K) whitened coefficients
    # joint least-squares inverse: B^T V = I (ridge-stabilised for collinear descriptors)
    gram = b_mat.T @ b_mat
    v_mat = b_mat @ np.linalg.inv(gram + 1e-3 * np.trace(gram) / len(gram) * np.eye(len(gram)))
    directions = (basis * scale) @ v_mat  # (D, K): +1 predicted sigma of descriptor k
    readouts = basis @ (b_mat / scale[:, None])  # (D, K): coordinate = (z - z_mean) . readout
    order = [DESCRIPTOR_NAMES.index(descriptor_of(n)) for n in CONTROL_NAMES]
    directions, readouts = directions[:, order].T, readouts[:, order].T  # (8, D)

    frames = torch.cat([z.T for z in latents]).double().numpy()
    ranges = _safe_ranges(readouts, z_all, frames, z_mean, cfg)
    explore = (basis[:, :N_EXPLORE] * scale[:N_EXPLORE]).T  # (<=3, D): one data-sigma per axis
    escore = x_all[:, :N_EXPLORE]
    elo, ehi = np.percentile(escore, cfg.range_percentiles, axis=0)

    def f32(a: Any) -> Tensor:
        return torch.as_tensor(np.asarray(a, np.float64), dtype=torch.float32).contiguous()

    tensors = {"latent_mean": f32(z_mean), "directions": f32(directions), "readouts": f32(readouts),
               **{k: f32(v) for k, v in ranges.items()}, "descriptor_mean": f32(d_mean),
               "descriptor_std": f32(d_std), "explore_axes": f32(explore), "explore_lo": f32(elo),
               "explore_hi": f32(ehi)}
    notes = []
    if small:
        notes.append(f"only {len(files)} files: {p} latent components, ridge x10, "
                     f"{cfg.augmented_copies * 2} augmented copies per window")
    cv_r2 = {k: float(r) for k, r in zip(DESCRIPTOR_NAMES, r2s, strict=True)}
    control_config: dict[str, Any] = {
        "version": CONFIG_VERSION, "names": list(CONTROL_NAMES), "descriptors": list(DESCRIPTOR_NAMES),
        "kind": bundle.kind, "realisation": dict.fromkeys(CONTROL_NAMES, "latent"),
        "descriptor_std": {k: float(v) for k, v in zip(DESCRIPTOR_NAMES, d_std, strict=True)},
        # the mel stand-ins' spread over the windows: the searched controls' data-sigma (sda_control.search)
        "standin_std": {k: float(v) for k, v in zip(DESCRIPTOR_NAMES, np.asarray(standins).std(axis=0),
                                                    strict=True)},
        "cv_r2": cv_r2, "ridge": {k: float(v) for k, v in zip(DESCRIPTOR_NAMES, lams, strict=True)},
        "components": p, "n_files": len(files), "n_windows": n_orig, "n_augmented": len(windows) - n_orig,
        "small_data": small, "fit": cfg.to_dict(), "fitted": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    on_event(ProgressEvent(JOB, "progress", 3, 4, "checking each direction through the decoder"))
    clips = [w.audio for w in windows if not w.augmented]
    check = decoder_check(bundle, ControlMap(bundle.kind, tensors, control_config, mode="latent"),
                          clips, d_std, cfg, mel, cancel)
    for name in CONTROL_NAMES:
        check[name]["passed"] = "yes" if _passes(check[name], cv_r2[descriptor_of(name)], cfg) else "no"
    direction: dict[str, str] = dict.fromkeys(CONTROL_NAMES, "regression")
    control_config["direction"] = direction
    axes = _regularised_axes(bundle, z_all, frames, y_all, groups, cfg)
    if axes:
        on_event(ProgressEvent(JOB, "progress", 3, 4, "checking the regularised latent axes through the decoder"))
        candidate = {k: v.clone() for k, v in tensors.items()}
        for name, axis in axes.items():
            k = CONTROL_NAMES.index(name)
            for key in SLIDER_ROWS:
                candidate[key][k] = f32(axis[key])
        axis_check = decoder_check(bundle, ControlMap(bundle.kind, candidate, control_config, mode="latent"),
                                   clips, d_std, cfg, mel, cancel, names=tuple(axes))
        for name, axis in axes.items():
            c = axis_check[name]
            c.update(dim=float(axis["dim"]), cv_r2=float(axis["cv_r2"]))
            c["passed"] = "yes" if _passes(c, float(axis["cv_r2"]), cfg) else "no"
            keep_axis = _better(c, check[name], cfg)
            notes.append(f"{name}: latent dim {axis['dim']} was regularised; kept the "
                         f"{'regularised axis' if keep_axis else 'regression direction'} (decoded effect "
                         f"{float(c['effect']):+.2f} vs {float(check[name]['effect']):+.2f} sigma, cross-talk "
                         f"{float(c['crosstalk']):.2f} vs {float(check[name]['crosstalk']):.2f})")
            if keep_axis:
                k = CONTROL_NAMES.index(name)
                for key in SLIDER_ROWS:
                    tensors[key][k] = candidate[key][k]
                c["regression_effect"] = float(check[name]["effect"])
                check[name] = c
                control_config["direction"][name] = "regularised axis"
            else:
                check[name]["axis_effect"] = float(c["effect"])
        control_config["regularised"] = {name: int(axis["dim"]) for name, axis in axes.items()}
    searched: dict[str, dict[str, float | str]] = {}
    if cfg.check_searched:
        on_event(ProgressEvent(JOB, "progress", 3, 4, "checking the searched controls through the decoder"))
        searched = decoder_check(bundle, ControlMap(bundle.kind, tensors, control_config, mode="searched"),
                                 clips, d_std, cfg, mel, cancel,
                                 names=tuple(n for n in CONTROL_NAMES if n != "density"))
        for c in searched.values():
            c["passed"] = "yes" if _passes(c, 1.0, cfg) else "no"  # the search needs no regression
    realisation = {}
    for name in CONTROL_NAMES:
        realisation[name] = "latent" if check[name]["passed"] == "yes" else "assisted"
        found = searched.get(name)
        if found is not None and found["passed"] == "yes" and _better(found, check[name], cfg):
            realisation[name] = "searched"
            found["latent_effect"] = float(check[name]["effect"])
            check[name] = found
    realisation["density"] = "steered"  # the engine steers density itself (faster sequence, event gate)
    control_config["realisation"] = realisation
    control_config["check"] = check
    missing = [n for n in CONTROL_NAMES if realisation[n] == "assisted"]
    if check["density"]["passed"] == "yes":
        notes.append("the density direction passed the decoder check, but density is steered by the engine")
    if missing:
        notes.append(f"assisted (neither the latent direction nor the search passed the decoder check): "
                     f"{', '.join(missing)}")
    if searched:
        control_config["searched_check"] = searched
    control_config["notes"] = notes
    report = ControlFitReport(n_files=len(files), n_windows=n_orig, n_augmented=len(windows) - n_orig,
                              components=p, small_data=small, cv_r2=cv_r2, ridge=control_config["ridge"],
                              check=check, realisation=realisation, notes=notes)
    on_event(ProgressEvent(JOB, "done", 4, 4, "controls fitted", data=report.to_dict()))
    return tensors, control_config, report


@torch.no_grad()
def decoder_check(bundle: Any, cmap: ControlMap, clips: Sequence[np.ndarray], d_std: np.ndarray,
                  cfg: ControlFitConfig, mel: LogMel, cancel: CancelToken | None = None,
                  names: Sequence[str] = CONTROL_NAMES) -> dict[str, dict[str, float | str]]:
    """Shift a few windows to -1 / +1 along each direction (of ``names``), decode, Griffin-Lim, re-measure.

    Returns per control the median own effect (data-sigma) and the cross-talk (largest other effect
    relative to the own one) over the windows.
    """
    from sda_models.vocoders.floor import GriffinLimFloor

    vocoder = GriffinLimFloor(n_iter=cfg.check_gl_iters, seed=cfg.seed, config=bundle.mel_config)
    idx = np.linspace(0, len(clips) - 1, min(cfg.check_windows, len(clips))).astype(int)
    std = np.where(d_std > 1e-9, d_std, 1.0)
    out: dict[str, dict[str, float | str]] = {}
    latents = [_encode(bundle, clips[i], mel)[None] for i in idx]
    device = next(bundle.autoencoder.parameters()).device
    for name in names:
        changes = []
        for z in latents:
            if cancel is not None:
                cancel.raise_if_cancelled("control fit")
            ends = []
            for v in (-1.0, 1.0):
                shifted = cmap.shift_latent(z.to(device), {name: v})
                if cmap.mode == "searched":
                    shifted = _search(bundle, cmap, shifted, {name: v}, cfg)
                log_mel = bundle.stats.denormalize(bundle.autoencoder.decode(shifted))[0].float().cpu()
                d = describe(vocoder.synthesize(log_mel), SAMPLE_RATE)
                ends.append(np.array([d[k] for k in DESCRIPTOR_NAMES]))
            changes.append((ends[1] - ends[0]) / std)
        stacked = np.stack(changes)
        effects = np.median(stacked, axis=0)
        own = DESCRIPTOR_NAMES.index(descriptor_of(name))
        agree = float(np.mean(np.sign(stacked[:, own]) == np.sign(effects[own]))) if effects[own] else 0.0
        others = [abs(float(effects[j])) for j in range(len(DESCRIPTOR_NAMES)) if j != own]
        own_effect = float(effects[own])
        worst = max(others)
        out[name] = {"effect": own_effect, "agreement": agree,
                     "crosstalk": worst / abs(own_effect) if abs(own_effect) > 1e-9 else 99.0,
                     "crosstalk_with": [k for j, k in enumerate(DESCRIPTOR_NAMES)
                                        if j != own and abs(float(effects[j])) == worst][0]}
    return out


def _standins(audio: np.ndarray, mel: LogMel) -> list[float]:
    """The mel stand-ins (:mod:`sda_control.mel_descriptors`) of one window, in ``STANDIN_NAMES`` order."""
    from sda_control.mel_descriptors import STANDIN_NAMES, describe_mel

    wave = torch.from_numpy(np.ascontiguousarray(audio))[None]
    with torch.no_grad():
        values = describe_mel(mel(wave).double())
    return [float(values[k][0]) for k in STANDIN_NAMES]


def _search(bundle: Any, cmap: ControlMap, latent: Tensor, values: dict[str, float], cfg: ControlFitConfig
            ) -> Tensor:
    from sda_control.search import SearchOptions, search_through_decoder

    return search_through_decoder(bundle, cmap, latent, values, SearchOptions(steps=cfg.search_steps))


def attach_controls(bundle: Any, tensors: dict[str, Tensor], config: dict[str, Any]) -> Any:
    """Put a fitted control section into ``bundle`` (``control_tensors`` + ``metadata.configs.control``)."""
    bundle.control_tensors = {k: v.detach().cpu().float().contiguous() for k, v in tensors.items()}
    meta = dict(bundle.metadata)
    configs = dict(meta.get("configs") or {})
    configs["control"] = config
    meta["configs"] = configs
    bundle.metadata = meta
    return bundle
