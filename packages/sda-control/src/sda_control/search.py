"""Searched controls: find a latent in the model's own space whose decoded sound sits where the sliders ask.

A latent shift (:meth:`ControlMap.shift_latent`) moves every generation along one fitted direction, and on
small models the decoded descriptor often barely follows (the decoder-side check in :mod:`sda_control.fit`
then falls back to a DSP assist). The search instead asks the decoder itself: Gauss-Newton steps on the
latent ``(B, D, T)`` through ``decode`` (latent -> denormalised log-mel) against the differentiable stand-ins of
:mod:`sda_control.mel_descriptors`, so that

- each moved control's stand-in moves by ``value x reach`` of its data-sigma from where the unmoved latent
  measures (``reach``: half the control's fitted range, in the regression's sigma, within
  ``SearchOptions.min_reach..max_reach``);
- the other stand-ins stay where they were (the cross-talk penalty);
- the latent stays near the start and inside the data (after every step each frame's coordinate along
  every fitted readout is clamped to the control map's clamp range, and its distance from the start to a
  trust radius in units of the latent's own spread).

The latent moves by a global offset (per dim: the whole generation moves together, as a fitted direction
would, but each generation finds its own offset); latents longer than ``max_frames`` are measured on
evenly spaced crops (a bounded cost). For RVQ models the found
latent is projected onto the codebooks (nearest code per level); :func:`choose_candidate` then keeps
whichever of the candidates (continuous, projected, the fitted direction's shifts) measures closest to the
targets: decode and re-measure, for the cases gradients cannot help.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from sda_control.mel_descriptors import STANDIN_NAMES, describe_mel
from sda_control.names import CONTROL_NAMES, descriptor_of

Decode = Callable[[Tensor], Tensor]
"""latent ``(B, D, T)`` -> denormalised log-mel ``(B, n_mels, F)`` (differentiable)."""

# stand-in spread / real descriptor spread on the shared recordings (48 files): converts a control map's
# descriptor_std into stand-in units when the map predates ``standin_std``
STANDIN_PER_DESCRIPTOR_STD = {"brightness": 0.97, "warmth": 0.95, "roughness": 0.43, "tension": 1.43,
                              "rhythmic": 1.0, "pulse": 0.93, "density": 0.82, "reverberance": 3.2}


@dataclass(frozen=True)
class SearchOptions:
    """How the search runs (see the module docstring). The offset (``ridge``, ``radius``) is in units of the
    start latent's per-dim spread over time; targets and cross-talk in the stand-ins' data-sigma."""

    steps: int = 6  # Gauss-Newton steps
    line_search: tuple[float, ...] = (1.0, 0.5, 2.0)  # step lengths tried (decode and re-measure)
    ridge: float = 0.5  # on the offset, in the latent's spread: how far one step may go
    min_reach: float = 0.75  # target per unit slider value, in data-sigma of the stand-in
    max_reach: float = 1.5
    crosstalk_weight: float = 0.2
    stay_weight: float = 0.01
    radius: float = 3.0  # at most this many of the latent's per-dim spreads from the start
    max_frames: int = 512
    crop_frames: int = 128


@dataclass
class SearchResult:
    """The found latent and what the stand-ins said (``moved``: change in stand-in sigma per control)."""

    latent: Tensor
    start: dict[str, float]
    end: dict[str, float]
    moved: dict[str, float]
    targets: dict[str, float]
    loss: list[float] = field(default_factory=list)
    chosen: str = "searched"


@dataclass(frozen=True)
class SearchSpace:
    """What the search needs of a fitted control map: per control (``CONTROL_NAMES`` order) its reach, the
    readouts/directions/clamps that keep the latent in the data, and the stand-ins' sigma."""

    reach: dict[str, float]
    sigma: dict[str, float]
    readouts: Tensor | None = None  # (8, D)
    directions: Tensor | None = None  # (8, D)
    clamp_lo: Tensor | None = None  # (8,)
    clamp_hi: Tensor | None = None
    latent_mean: Tensor | None = None  # (D,)

    @classmethod
    def from_tensors(cls, tensors: dict[str, Tensor], options: SearchOptions = SearchOptions(),
                     standin_std: dict[str, float] | None = None) -> SearchSpace:
        """From a control map's tensors and its config's ``standin_std`` (or a ``standin_std`` tensor; a map
        fitted without either: ``descriptor_std`` x the stand-in's typical ratio)."""
        from sda_audio.descriptors import DESCRIPTOR_NAMES

        half = 0.5 * (tensors["range_hi"] - tensors["range_lo"])
        reach = {n: float(min(max(float(half[k]), options.min_reach), options.max_reach))
                 for k, n in enumerate(CONTROL_NAMES)}
        if standin_std:
            sig = {n: float(standin_std[n]) for n in STANDIN_NAMES}
        elif "standin_std" in tensors:
            sig = {n: float(v) for n, v in zip(STANDIN_NAMES, tensors["standin_std"].tolist(), strict=True)}
        else:
            std = dict(zip(DESCRIPTOR_NAMES, tensors["descriptor_std"].tolist(), strict=True))
            sig = {n: float(std[n]) * STANDIN_PER_DESCRIPTOR_STD[n] for n in STANDIN_NAMES}
        sig = {n: (v if v > 1e-9 else 1.0) for n, v in sig.items()}
        return cls(reach, sig, tensors["readouts"], tensors["directions"], tensors["clamp_lo"],
                   tensors["clamp_hi"], tensors["latent_mean"])

    def clamp(self, z: Tensor, start: Tensor) -> Tensor:
        """``z (B, D, T)`` with every frame's coordinate along each readout inside the clamp range (or, for a
        frame of ``start`` already beyond it, no further out than the start)."""
        if self.readouts is None or self.directions is None or self.latent_mean is None:
            return z
        assert self.clamp_lo is not None and self.clamp_hi is not None
        mean = self.latent_mean.to(z)[None, :, None]
        for k in range(self.readouts.shape[0]):
            readout = self.readouts[k].to(z)
            coord = torch.einsum("bdt,d->bt", z - mean, readout)
            c0 = torch.einsum("bdt,d->bt", start - mean, readout)
            lo = torch.minimum(c0, torch.full_like(c0, float(self.clamp_lo[k])))
            hi = torch.maximum(c0, torch.full_like(c0, float(self.clamp_hi[k])))
            excess = coord - torch.minimum(torch.maximum(coord, lo), hi)
            if bool((excess != 0).any()):
                z = z - excess[:, None, :] * self.directions[k].to(z)[None, :, None]
        return z


def _standins(log_mel: Tensor) -> dict[str, Tensor]:
    return describe_mel(log_mel.float())


def _crops(total: int, options: SearchOptions) -> list[tuple[int, int]]:
    if total <= options.max_frames:
        return [(0, total)]
    n = max(1, options.max_frames // options.crop_frames)
    starts = torch.linspace(0, total - options.crop_frames, n).round().long().tolist()
    return [(s, s + options.crop_frames) for s in starts]


def search_latent(decode: Decode, latent: Tensor, values: dict[str, float], space: SearchSpace,
                  options: SearchOptions = SearchOptions()) -> SearchResult:
    """Gauss-Newton search from ``latent (B, D, T)`` for the controls ``values`` (name -> -1..1, non-zero).

    Each step takes the Jacobian of the eight stand-ins (in data-sigma) with respect to a global latent
    offset (in units of the latent's per-dim spread), solves the ridge-regularised least squares for the
    offset that brings the moved stand-ins to their targets and keeps the others where they were, and
    tries it at a few lengths (decode and re-measure), keeping the best. Deterministic (no random numbers).
    Returns the found latent (the start's dtype and device).
    """
    moved = {n: float(v) for n, v in values.items() if v}
    if not moved:
        return SearchResult(latent, {}, {}, {}, {})
    unknown = [n for n in moved if n not in CONTROL_NAMES]
    if unknown:
        raise ValueError(f"unknown control {unknown[0]!r}")
    z0 = latent.detach().float()
    crops = _crops(z0.shape[-1], options)
    scale = z0.std(dim=-1, keepdim=True) if z0.shape[-1] > 1 else torch.ones_like(z0[..., :1])
    scale = torch.maximum(scale, 0.1 * scale.mean().clamp(min=1e-3))  # (B, D, 1)
    target_names = {descriptor_of(n): n for n in moved}
    sigma = torch.tensor([space.sigma[d] for d in STANDIN_NAMES], dtype=z0.dtype, device=z0.device)

    def measure(z: Tensor) -> Tensor:
        """Stand-ins ``(B, 8)`` of ``z`` (mean over the crops)."""
        parts = [_standins(decode(z[..., a:b])) for a, b in crops]
        return torch.stack([torch.stack([p[k] for p in parts]).mean(0) for k in STANDIN_NAMES], dim=-1)

    def place(offset: Tensor) -> Tensor:
        """The latent at ``offset (B, D)``, inside the trust radius and the data's clamps."""
        step = offset.clamp(-options.radius, options.radius)[..., None] * scale
        return space.clamp(z0 + step, z0)

    with torch.no_grad():
        s0 = measure(z0)
    target = torch.zeros_like(s0)
    weight = torch.full((len(STANDIN_NAMES),), options.crosstalk_weight, dtype=z0.dtype, device=z0.device)
    for d, n in target_names.items():
        k = STANDIN_NAMES.index(d)
        target[:, k] = moved[n] * space.reach[n]
        weight[k] = 1.0

    def loss_of(s: Tensor, offset: Tensor) -> Tensor:
        change = (s - s0) / sigma
        miss = change - target
        own = weight == 1.0
        cost = miss[:, own].square().sum(-1)
        # Huber on the others: a descriptor with a tiny data spread must not drown the targets
        cost = cost + options.crosstalk_weight * 2.0 * torch.nn.functional.huber_loss(
            miss[:, ~own], torch.zeros_like(miss[:, ~own]), delta=1.0, reduction="none").sum(-1)
        return cost + options.stay_weight * offset.square().sum(-1)

    offset = torch.zeros(z0.shape[:2], dtype=z0.dtype, device=z0.device)
    with torch.no_grad():
        current = loss_of(s0, offset)
    history = [float(current.mean())]
    eye = torch.eye(z0.shape[1], dtype=z0.dtype, device=z0.device)
    for _ in range(options.steps):
        u = offset.clone().requires_grad_(True)
        s = measure(place(u))
        jac = torch.stack([torch.autograd.grad(s[:, k].sum(), u, retain_graph=k < s.shape[1] - 1)[0]
                           for k in range(s.shape[1])], dim=1) / sigma[None, :, None]  # (B, 8, D)
        residual = (target - (s.detach() - s0) / sigma)  # (B, 8)
        jw = jac * weight[None, :, None]
        lhs = jac.transpose(1, 2) @ jw + options.ridge * eye
        rhs = (jw.transpose(1, 2) @ residual[..., None])[..., 0] - options.stay_weight * u.detach()
        delta = torch.linalg.solve(lhs, rhs)  # (B, D)
        improved = False
        with torch.no_grad():
            for length in options.line_search:
                trial = offset + length * delta
                cost = loss_of(measure(place(trial)), trial)
                better = cost < current
                if bool(better.any()):
                    improved = True
                    offset = torch.where(better[:, None], trial, offset)
                    current = torch.where(better, cost, current)
        history.append(float(current.mean()))
        if not improved:
            break
    with torch.no_grad():
        found = place(offset)
        end = measure(found)
    change = (end - s0) / sigma
    return SearchResult(
        latent=found.to(latent.dtype),
        start={d: float(s0[:, k].mean()) for k, d in enumerate(STANDIN_NAMES)},
        end={d: float(end[:, k].mean()) for k, d in enumerate(STANDIN_NAMES)},
        moved={n: float(change[:, STANDIN_NAMES.index(descriptor_of(n))].mean()) for n in CONTROL_NAMES},
        targets={target_names[d]: moved[target_names[d]] * space.reach[target_names[d]] for d in target_names},
        loss=history)


def search_through_decoder(bundle: Any, cmap: Any, latent: Tensor, values: dict[str, float],
                           options: SearchOptions | None = None) -> Tensor:
    """``latent (1, D, T')`` searched through ``bundle``'s decoder for the searched controls of ``values``
    (:meth:`sda_control.control_map.ControlMap.search_latent`; RVQ models also try the nearest codes). The
    decoder is frozen meanwhile (eval mode, no weight gradients): only the latent moves."""
    ae = bundle.autoencoder
    was_training = ae.training
    flags = [p.requires_grad for p in ae.parameters()]
    ae.eval()
    for p in ae.parameters():
        p.requires_grad_(False)
    try:
        with torch.enable_grad():
            return cmap.search_latent(latent, values, lambda z: bundle.stats.denormalize(ae.decode(z)), options,
                                      rvq=ae.rvq if bundle.kind == "rvq" else None).detach()
    finally:
        for p, flag in zip(ae.parameters(), flags, strict=True):
            p.requires_grad_(flag)
        ae.train(was_training)


def project_codes(rvq: torch.nn.Module, latent: Tensor) -> Tensor:
    """The nearest code per level (residual quantisation) of ``latent (B, D, T)``, summed back: a latent the
    RVQ decoder has seen."""
    with torch.no_grad():
        codes = rvq.encode_codes(latent)  # pyright: ignore[reportCallIssue]
        return rvq.decode_codes(codes).to(latent.dtype)  # pyright: ignore[reportCallIssue]


Measure = Callable[[Tensor], dict[str, float]]
"""log-mel ``(1, n_mels, F)`` -> descriptor name -> value (stand-ins, or the real descriptors after a vocoder)."""


def choose_candidate(decode: Decode, start: Tensor, candidates: Sequence[tuple[str, Tensor]],
                     values: dict[str, float], space: SearchSpace, measure: Measure | None = None,
                     sigma: dict[str, float] | None = None, crosstalk_weight: float = 0.5
                     ) -> tuple[str, Tensor, float]:
    """Decode and re-measure: of ``candidates`` ``[(label, latent)]``, the one whose measured change from
    ``start`` (in data-sigma) is nearest the targets, with the others' changes as cross-talk.

    ``measure`` defaults to the stand-ins (``sigma``: ``space.sigma``); pass the real descriptors (after a
    vocoder) and their data-sigma where they are affordable. Returns ``(label, latent, score)``."""
    def default(log_mel: Tensor) -> dict[str, float]:
        return {k: float(v.mean()) for k, v in _standins(log_mel).items()}

    meas = measure or default
    sig = sigma or space.sigma
    with torch.no_grad():
        base = meas(decode(start))
        targets = {descriptor_of(n): v * space.reach[n] for n, v in values.items() if v}
        best: tuple[str, Tensor, float] | None = None
        for label, z in candidates:
            got = meas(decode(z))
            score = 0.0
            for d in STANDIN_NAMES:
                change = (got[d] - base[d]) / sig[d]
                score += (change - targets[d]) ** 2 if d in targets else crosstalk_weight * change ** 2
            if best is None or score < best[2]:
                best = (label, z, score)
    assert best is not None
    return best
