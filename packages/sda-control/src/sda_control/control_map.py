"""The engine's view of a model's sliders: :class:`ControlMap` and the calls a generation makes.

With ``request.controls`` non-empty the engine does::

    cmap = ControlMap.from_bundle(bundle)        # None: the model has no fitted controls
    latent = cmap.shift_latent(latent, values)   # after sampling, before decoding
    audio = cmap.assist(audio, values, seed)     # on the mono audio after vocoding
    sidecar["controls"] = cmap.realisation(values)

Each control is realised one way, fixed when the controls were fitted (the decoder-side check in
:mod:`sda_control.fit`): ``"searched"`` (a gradient search through the decoder for a latent whose decoded
sound measures where the slider asks, :mod:`sda_control.search`; the engine runs it between sampling and
decoding, :meth:`ControlMap.search_latent`), ``"latent"`` (a shift along the model's own latent direction,
clamped to where the data lives), ``"steered"`` (density: the engine steers the sequence itself, see ``sda_engine.generate.rendering``), or
``"assisted"`` (a labelled DSP effect, :mod:`sda_control.assists`); ``"off"`` when the value is 0.
``mode="latent"`` forces the latent shift for every control and no assist (the evaluation's
"latent-only" column); ``mode="searched"`` the search for every control; ``mode="assist"`` uses the
assists alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from sda_audio.errors import SdaError
from sda_control.assists import apply_assists
from sda_control.names import CONTROL_NAMES, REALISATIONS, validate_controls

__all__ = ["CONTROL_NAMES", "ControlMap", "require_control_map", "validate_controls"]

MODES = ("auto", "searched", "latent", "assist")
REQUIRED_TENSORS = ("latent_mean", "directions", "readouts", "range_lo", "range_hi", "clamp_lo", "clamp_hi",
                    "descriptor_mean", "descriptor_std")
FIT_HINT = "fit the controls for this model first"


class ControlMap:
    """The fitted slider mapping of one model (tensors of its ``control.*`` section + its config).

    Args:
        kind: ``"vae"`` or ``"rvq"``.
        tensors: the ``control.*`` tensors, prefix stripped (see :func:`sda_control.fit.fit_controls`).
        config: ``metadata["configs"]["control"]``.
        mode: ``"auto"`` (each control as fitted), ``"searched"``, ``"latent"`` or ``"assist"`` (see the module
            docstring).
    """

    def __init__(self, kind: str, tensors: dict[str, Tensor], config: dict[str, Any], mode: str = "auto") -> None:
        if mode not in MODES:
            raise ValueError(f"unknown control mode {mode!r}; use one of {MODES}")
        missing = [k for k in REQUIRED_TENSORS if k not in tensors]
        if missing:
            raise SdaError(f"the model's control section lacks {', '.join('control.' + k for k in missing)}",
                           hint=FIT_HINT)
        d = tensors["latent_mean"].shape[0]
        n = len(CONTROL_NAMES)
        for key, shape in (("directions", (n, d)), ("readouts", (n, d)), ("range_lo", (n,)), ("range_hi", (n,)),
                           ("clamp_lo", (n,)), ("clamp_hi", (n,))):
            if tuple(tensors[key].shape) != shape:
                raise SdaError(f"control.{key} has shape {tuple(tensors[key].shape)}, expected {shape}",
                               hint=FIT_HINT)
        self.kind = kind
        self.tensors = {k: v.detach().float().cpu() for k, v in tensors.items()}
        self.config = dict(config)
        self.mode = mode
        fitted = dict(config.get("realisation") or {})
        self.methods = {name: fitted.get(name, "assisted") for name in CONTROL_NAMES}
        bad = [m for m in self.methods.values() if m not in REALISATIONS]
        if bad:
            raise SdaError(f"the model's control config names an unknown realisation {bad[0]!r}", hint=FIT_HINT)

    @classmethod
    def from_bundle(cls, bundle: Any, mode: str = "auto") -> ControlMap | None:
        """The map of a loaded model, or ``None`` when it has no control section."""
        tensors = getattr(bundle, "control_tensors", None)
        config = getattr(bundle, "control_config", None)
        if not tensors or not config:
            return None
        cmap = cls(bundle.kind, tensors, config, mode=mode)
        if cmap.latent_dim != bundle.autoencoder.config.latent_dim:
            raise SdaError(f"the control section was fitted for latent width {cmap.latent_dim}, the model has "
                           f"{bundle.autoencoder.config.latent_dim}", hint=FIT_HINT)
        return cmap

    @property
    def latent_dim(self) -> int:
        return int(self.tensors["latent_mean"].shape[0])

    def with_mode(self, mode: str) -> ControlMap:
        return ControlMap(self.kind, self.tensors, self.config, mode=mode)

    def method(self, name: str) -> str:
        """How ``name`` is realised when non-zero (``mode`` applied)."""
        if self.mode == "latent":
            return "latent"
        if self.mode == "searched":
            return "searched"
        if self.mode == "assist":
            return "assisted"
        return self.methods[name]

    def realisation(self, values: dict[str, float]) -> dict[str, str]:
        """Per control (all eight): ``"searched" | "latent" | "steered" | "assisted" | "off"``."""
        values = validate_controls(values)
        return {n: (self.method(n) if values.get(n, 0.0) != 0.0 else "off") for n in CONTROL_NAMES}

    @torch.no_grad()
    def shift_latent(self, latent: Tensor, values: dict[str, float]) -> Tensor:
        """Move ``latent (1, D, T)`` along the direction of every latent-realised control.

        Value ``v`` shifts the control's coordinate by ``v`` times half the data's range along it (5th to
        95th percentile of window means: ``+-1`` reach the data's edges from its middle); afterwards no
        frame may lie beyond the 1st/99th percentile of the training frames along any shifted direction
        (GEN-08). The other controls' predicted coordinates are left as they were.
        """
        values = validate_controls(values)
        names = [n for n in CONTROL_NAMES if values.get(n, 0.0) != 0.0 and self.method(n) == "latent"]
        if not names:
            return latent
        if latent.dim() != 3 or latent.shape[1] != self.latent_dim:
            raise ValueError(f"expected latent (B, {self.latent_dim}, T), got {tuple(latent.shape)}")
        t = self.tensors
        z = latent.float().clone()
        mean = t["latent_mean"].to(z.device)
        for name in names:
            k = CONTROL_NAMES.index(name)
            direction = t["directions"][k].to(z.device)[None, :, None]
            readout = t["readouts"][k].to(z.device)
            half = 0.5 * float(t["range_hi"][k] - t["range_lo"][k])
            z = z + values[name] * half * direction
            coord = torch.einsum("bdt,d->bt", z - mean[None, :, None], readout)
            excess = coord - coord.clamp(float(t["clamp_lo"][k]), float(t["clamp_hi"][k]))
            z = z - excess[:, None, :] * direction
        return z.to(latent.dtype)

    def searched(self, values: dict[str, float]) -> dict[str, float]:
        """The moved controls realised by the search (name -> value)."""
        values = validate_controls(values)
        return {n: v for n, v in values.items() if v != 0.0 and self.method(n) == "searched"}

    def search_latent(self, latent: Tensor, values: dict[str, float], decode: Any,
                      options: Any = None, rvq: Any = None) -> Tensor:
        """``latent (1, D, T)`` searched through ``decode`` (latent -> denormalised log-mel, differentiable)
        for the searched controls of ``values`` (see :mod:`sda_control.search`); unchanged when none is.

        ``rvq``: an RVQ model's quantiser: the found latent is also projected onto its codebooks and the
        candidate (continuous, projected) that re-measures nearer the targets is kept."""
        from sda_control.search import SearchOptions, SearchSpace, choose_candidate, project_codes
        from sda_control.search import search_latent as search

        moved = self.searched(values)
        if not moved:
            return latent
        opts = options or SearchOptions()
        space = SearchSpace.from_tensors(self.tensors, opts, self.config.get("standin_std"))
        found = search(decode, latent, moved, space, opts)
        if rvq is None:
            return found.latent
        candidates = [("searched", found.latent), ("searched codes", project_codes(rvq, found.latent))]
        return choose_candidate(decode, latent, candidates, moved, space)[1]

    def explore(self, latent: Tensor, values: dict[int, float]) -> Tensor:
        """Move ``latent`` along unlabelled principal axes (index -> -1..1, half the data's range each)."""
        axes = self.tensors.get("explore_axes")
        if axes is None:
            raise SdaError("this control section has no explore axes", hint=FIT_HINT)
        z = latent.float().clone()
        for i, v in values.items():
            if not 0 <= i < axes.shape[0] or not -1.0 <= float(v) <= 1.0:
                raise SdaError(f"explore axis {i} / value {v} out of range (axes 0..{axes.shape[0] - 1}, -1..1)")
            half = 0.5 * float(self.tensors["explore_hi"][i] - self.tensors["explore_lo"][i])
            z = z + float(v) * half * axes[i].to(z.device)[None, :, None]
        return z.to(latent.dtype)

    def assist(self, audio: np.ndarray, values: dict[str, float], seed: int) -> np.ndarray:
        """Apply the DSP assists of the assisted controls to mono float32 audio ``(T,)`` at 44.1 kHz."""
        values = validate_controls(values)
        names = tuple(n for n in CONTROL_NAMES if values.get(n, 0.0) != 0.0 and self.method(n) == "assisted")
        if not names:
            return np.asarray(audio, np.float32)
        return apply_assists(audio, values, seed, names=names, reference_std=self.descriptor_std())

    def descriptor_std(self) -> dict[str, float]:
        """The training data's spread per descriptor (what the evaluation's effect sizes are measured in)."""
        from sda_audio.descriptors import DESCRIPTOR_NAMES

        return {k: float(v) for k, v in zip(DESCRIPTOR_NAMES, self.tensors["descriptor_std"].tolist(), strict=True)}


def require_control_map(bundle: Any, values: dict[str, float], mode: str = "auto") -> ControlMap | None:
    """The map when any value is non-zero (``None`` when all are 0); an :class:`SdaError` when the model has
    no fitted controls but a control was asked for."""
    values = validate_controls(values)
    if not any(values.values()):
        return None
    cmap = ControlMap.from_bundle(bundle, mode=mode)
    if cmap is None:
        asked = ", ".join(n for n, v in values.items() if v)
        raise SdaError(f"this model has no fitted controls, so {asked} cannot be set", hint=FIT_HINT,
                       action="fit_controls")
    return cmap
