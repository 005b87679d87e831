"""Sweeping a model's musical controls through the product path (``sda controls evaluate``, the benchmark).

:func:`session_render_fn` renders ``(control values, seed) -> audio`` through
:class:`~sda_engine.generate.renderer.Renderer` exactly as ``sda generate`` would, with every control realised as
fitted, searched-only, latent-only or assisted-only (:func:`with_mode`).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from sda_control.control_map import CONTROL_NAMES, ControlMap
from sda_engine.generate.detail_bank import material_detail
from sda_engine.generate.renderer import Renderer
from sda_engine.generate.request import GenerationRequest
from sda_engine.generate.session import ModelSession


def with_mode(bundle: Any, mode: str) -> Any:
    """A shallow copy of ``bundle`` whose control config realises every control by ``mode`` (``auto``: as
    fitted; ``searched``: the search through the decoder for every control; ``latent``: the latent direction
    for every control; ``assist``: the DSP assists alone)."""
    if mode == "auto":
        return bundle
    method = {"latent": "latent", "assist": "assisted", "searched": "searched"}[mode]
    out = copy.copy(bundle)
    meta = copy.deepcopy(bundle.metadata)
    meta["configs"]["control"]["realisation"] = dict.fromkeys(CONTROL_NAMES, method)
    out.metadata = meta
    return out


def session_render_fn(session: ModelSession, duration: float, mode: str = "auto", vocoder: str = "auto",
                      shared: dict[Any, np.ndarray] | None = None) -> Any:
    """``(values, seed) -> mono audio`` of ``session``'s model through the product path (:class:`Renderer`).

    Shortcuts that give the same audio as a full render: sketches are sampled once per seed (except for
    density, which steers the sampling); an assisted control renders the seed's plain audio once and
    applies :meth:`ControlMap.assist` to it, exactly as the renderer does after vocoding. ``shared``
    caches the renders that do not depend on ``mode`` (density, which the engine steers itself) across
    calls. ``mode`` overrides how every control is realised (see :func:`with_mode`); it replaces
    ``session.bundle`` with that view.
    """
    session.use_bundle(with_mode(session.bundle, mode))
    cmap = ControlMap.from_bundle(session.bundle)
    base = GenerationRequest().replace(duration=duration, channels="mono", vocoder=vocoder)
    sketches: dict[int, Any] = {}
    plain: dict[int, np.ndarray] = {}
    cache = shared if shared is not None else {}

    def full(values: dict[str, float], seed: int) -> np.ndarray:
        request = base.replace(seed=seed, controls=dict(values))
        renderer = Renderer(session, request, detail_bank=material_detail(session, request))
        if "density" in values or seed not in sketches:
            sketch = renderer.sample(seed)
            if "density" not in values:
                sketches[seed] = sketch
        else:
            sketch = sketches[seed]
        return np.asarray(renderer.render(sketch).samples, np.float32).mean(axis=0)

    def render(values: dict[str, float], seed: int) -> np.ndarray:
        moved = {k: v for k, v in values.items() if v}
        if not moved:
            if seed not in plain:
                plain[seed] = full({}, seed)
            return plain[seed]
        if set(moved) == {"density"}:
            key = ("density", moved["density"], seed, duration, vocoder)
            if key not in cache:
                cache[key] = full(moved, seed)
            return cache[key]
        if cmap is not None and all(cmap.method(k) == "assisted" for k in moved):
            return cmap.assist(render({}, seed), moved, seed)
        return full(moved, seed)

    return render
