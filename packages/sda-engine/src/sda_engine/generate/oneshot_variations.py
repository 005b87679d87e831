"""One-shots as variations of the material's own hits: the default for one-shot models.

A one-shot cut from a sampled stream (:mod:`sda_engine.generate.oneshots`) is only as good as the code prior's
streams, and on 5-20 hits those hold flat blocks that stop abruptly: they pass the one-shot checks but sound like
one generic noise hit (docs/forms.md). A variation asks the decoder for a new point *between* two of the user's
own hits instead, the way :mod:`~sda_engine.generate.morph` blends two files:

1. the pool: the model's training one-shots (the files its form detection called one-shots; files validation held
   out whole are left out), read from its corpus index (the training audio stored beside the model, so the user's folder may have
   moved); with fewer than two, every training file;
2. per seed (a seeded CPU generator, ``[seed, VARIATION_STREAM, attempt]``): an anchor hit, a second hit and an
   amount drawn from :attr:`VariationOptions.amounts` (nearer the anchor: the anchor's character, moved
   towards the other's). The second hit is drawn among the anchor's **neighbours** in the kit (weights
   ``exp(-d^2 / 2 w^2)`` over the z-scored timbre-descriptor distance ``d``, ``w`` =
   :attr:`VariationOptions.neighbour_width` times the pool's median distance): a new tom is a tom moved towards
   another tom, not a tom-cymbal hybrid;
3. both are onset-aligned and encoded (RVQ: summed quantised embeddings), interpolated frame by frame and decoded
   continuous, then vocoded and trimmed at the end of the first event's decay and checked as any generated
   one-shot (:meth:`~sda_engine.generate.morph.Morph.render`);
4. a draw that fails a check is redrawn (at most :attr:`VariationOptions.attempts`); none passing keeps the best.

**Brightness and decay are searched among the hits** (``searched``, :data:`SELECTABLE`): when brightness or
reverb is moved, the hits are measured once with the real descriptors (:func:`sda_audio.descriptors.describe`),
and the anchor and the second hit are drawn with weights that favour hits whose descriptor sits where the slider
asks (``value x`` :data:`SELECT_REACH` pool-sigmas from the pool's mean) while the unmoved timbre descriptors
stay near the pool's middle; a brighter hit is then a variation of the kit's brighter hits, not an EQ on an
average one. Such controls are taken out of the request the decoder and vocoder see (no assist on top) and the
sidecar's ``notes.controls`` says ``searched``.

The hit's attack and decay come from the decoder reading latents of real hits, so they decay as the kit does;
the blend of two hits and the decoder's own rendering make it new (docs/forms.md measures how far from the
training hits: novelty). Models without a corpus index, or with fewer than two training files, fall back to the
stream cuts; the sidecar's ``notes.form.method`` says which (``variation`` or ``stream``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sda_audio.oneshot_checks import OneShotReference
from sda_audio.progress import CancelToken, ProgressCallback, ignore_events
from sda_audio.resample import resample
from sda_control.evaluate import SAMPLE_RATE
from sda_engine.generate.morph import Morph, MorphSource, morph_request, silence_latent, source_of_audio
from sda_engine.generate.oneshots import SEED_STEP, Candidate, measure
from sda_engine.generate.phrases import POOL_TARGET
from sda_engine.generate.renderer import Renderer
from sda_engine.generate.request import GenerationRequest
from sda_engine.generate.session import ModelSession
from sda_engine.generate.sketch import RenderedAudio

log = logging.getLogger(__name__)

VARIATION_STREAM = 13
"""Seeds a variation's draws: ``[seed, VARIATION_STREAM, attempt]``."""
TIMBRE = ("brightness", "warmth", "roughness", "tension", "reverb")
"""The controls whose descriptors a draw looks at: the moved ones are aimed at, the others kept near the middle."""
SELECTABLE = ("brightness", "reverb")
"""Controls a one-shot variation realises by choosing its hits. Measured on the drum kit
(``benchmarks/oneshot_controls.py``, docs/controls.md): chosen hits moved brightness (effect 2.8 data-sigma,
cross-talk 1.0) and decay (1.3, 1.3) further and cleaner than the fitted assists (1.3 / 1.8 and 0.2 / 9.5); for
warmth, roughness and tension the fitted realisation measured better (the kit's 18 hits cannot move one of them
without the others), so those stay with it."""
SELECT_REACH = 1.5
"""A slider at +-1 asks for hits this many pool-sigmas from the pool's mean descriptor."""
SELECT_WIDTH = 0.6
"""How sharply the draw favours the asked descriptor (pool-sigmas); unmoved descriptors get twice this width."""


@dataclass(frozen=True)
class VariationOptions:
    """How variations are drawn.

    Attributes:
        amounts: the amount towards the second hit is drawn uniformly from this range (0 = the anchor itself,
            1 = the anchor's own detail on the model's rendering of the second hit). With the anchor's detail
            the model's change is all that moves a hit, so it takes a half to all of the way: 0.5-1.0 measured
            median novelty 0.7 (plucks), 1.4 (drums), 1.5 (synth-hits) on the seed-0 models, 0.2-0.5 made the
            plucks near copies (0.36); checked on models of a second training seed (docs/forms.md).
        attempts: draws per one-shot before the best is kept.
        neighbour_width: how near the anchor the second hit is drawn, in units of the pool's median pairwise
            timbre distance (``None``: any other hit alike).
        selectable: the controls realised by choosing the hits (default :data:`SELECTABLE`; ``()`` leaves every
            control to the model's fitted realisation).
    """

    amounts: tuple[float, float] = (0.5, 1.0)
    attempts: int = 4
    neighbour_width: float | None = 0.5
    selectable: tuple[str, ...] = SELECTABLE


DEFAULT_VARIATIONS = VariationOptions()


@dataclass
class HitPool:
    """The model's own hits to vary, encoded on first use (a pool of 500 files encodes only what is drawn)."""

    session: ModelSession
    names: list[str]
    audio: list[np.ndarray]
    """Mono audio at the model's rate, one per name."""
    silence: torch.Tensor | None = None
    _sources: dict[int, MorphSource] = field(default_factory=dict)
    _descriptors: np.ndarray | None = None

    @classmethod
    def of(cls, session: ModelSession, oneshots_only: bool = False) -> HitPool | None:
        """The pool of ``session``'s model, or ``None`` (no corpus index, fewer than two usable files; with
        ``oneshots_only``, fewer than two one-shot files: a phrase's strokes are only varied from real hits)."""
        meta = session.bundle.metadata
        held = held_out_names(meta.get("dataset") or {})
        forms = {f.get("file"): f.get("form") for f in (meta.get("form") or {}).get("files") or []
                 if isinstance(f, dict)}
        if oneshots_only and sum(1 for n, f in forms.items() if f == "oneshot" and Path(str(n)).name not in held) < 2:
            return None  # no real hits to vary: decided from the metadata, without reading the training audio
        try:
            index = session.loaded_corpus_index()
        except Exception as exc:  # an unreadable index: the stream cuts still work
            log.warning("no hits to vary for %s: %s", session.name, exc)
            return None
        if index is None:
            return None
        entries = [(i, str(s.get("name", i))) for i, s in enumerate(index.sources)]
        trained = [(i, n) for i, n in entries if Path(n).name not in held]
        hits = [(i, n) for i, n in trained if forms.get(Path(n).name) == "oneshot"]
        chosen = hits if len(hits) >= 2 or oneshots_only else trained
        if len(chosen) < 2:
            return None
        names, audio = [], []
        for i, name in chosen:
            mono = session.training_audio(index, i)
            if mono is not None:
                names.append(Path(name).name)
                audio.append(mono)
        return cls(session, names, audio) if len(names) >= 2 else None

    def descriptors(self) -> np.ndarray:
        """``(hits, len(TIMBRE))``: each hit's descriptors (measured once, at 44.1 kHz mono)."""
        if self._descriptors is None:
            from sda_audio.descriptors import describe
            from sda_control.names import descriptor_of

            rows = []
            for mono in self.audio:
                x = mono if self.session.sample_rate == SAMPLE_RATE else np.asarray(
                    resample(mono[None], self.session.sample_rate, SAMPLE_RATE), dtype=np.float32)[0]
                d = describe(x, SAMPLE_RATE)
                rows.append([float(d[descriptor_of(name)]) for name in TIMBRE])
            self._descriptors = np.nan_to_num(np.array(rows, dtype=np.float64))
        return self._descriptors

    def weights(self, targets: dict[str, float], selectable: tuple[str, ...] = SELECTABLE) -> np.ndarray | None:
        """Draw weights over the hits for the moved timbre controls ``targets`` (name -> -1..1), or ``None`` when
        none is moved (a uniform draw)."""
        moved = {k: float(v) for k, v in targets.items() if k in selectable and v}
        if not moved:
            return None
        d = self.descriptors()
        z = (d - d.mean(axis=0)) / np.maximum(d.std(axis=0), 1e-9)
        cost = np.zeros(len(self.names))
        for j, name in enumerate(TIMBRE):
            if name in moved:
                cost += ((z[:, j] - moved[name] * SELECT_REACH) / SELECT_WIDTH) ** 2
            else:
                cost += (z[:, j] / (2.0 * SELECT_WIDTH)) ** 2
        w = np.exp(-0.5 * (cost - cost.min()))
        return w / w.sum()

    def affinity(self, width: float | None) -> np.ndarray | None:
        """``(hits, hits)``: how strongly each hit (row) draws each other hit as its partner, from their distance
        over the z-scored timbre descriptors (``width`` x the median pairwise distance; ``None``: uniform)."""
        if width is None or len(self.names) < 3:
            return None
        d = self.descriptors()
        z = (d - d.mean(axis=0)) / np.maximum(d.std(axis=0), 1e-9)
        dist = np.sqrt(((z[:, None, :] - z[None, :, :]) ** 2).sum(axis=-1))
        off = dist[~np.eye(len(dist), dtype=bool)]
        scale = max(float(np.median(off)) * float(width), 1e-9)
        near = np.exp(-0.5 * (dist / scale) ** 2)
        np.fill_diagonal(near, 0.0)
        return near

    def source(self, i: int) -> MorphSource:
        """Hit ``i`` onset-aligned and encoded (cached)."""
        if i not in self._sources:
            self._sources[i] = source_of_audio(self.session, self.audio[i], Path(self.names[i]))
        return self._sources[i]

    def morph(self, a: int, b: int, detail: str = "anchor") -> Morph:
        """Hit ``a`` towards hit ``b`` with the sources' ``detail`` (:data:`~sda_engine.generate.morph.DETAIL_MODES`;
        a variation's default: the anchor's own, so it keeps its anchor's partials and room)."""
        if self.silence is None:
            self.silence = silence_latent(self.session)
        return Morph(self.session, self.source(a), self.source(b), self.silence, detail)


def held_out_names(dataset: dict[str, Any]) -> set[str]:
    """Names of the files validation held out whole (split ``files``); with a ``tail-windows`` split (small sets)
    every file's head was trained on, so none is left out."""
    names = {Path(f).name for f in dataset.get("val_files") or []}
    if dataset.get("split") == "files":
        return names
    every = {Path(f).name for f in dataset.get("files") or []}
    return set() if dataset.get("split") is not None or names >= every else names


def draw(pool_size: int, seed: int, attempt: int, options: VariationOptions = DEFAULT_VARIATIONS,
         weights: np.ndarray | None = None, affinity: np.ndarray | None = None) -> tuple[int, int, float]:
    """``(anchor, other, amount)`` for ``seed``'s ``attempt``-th draw (seeded CPU generator); ``weights``
    (:meth:`HitPool.weights`) favour some hits for both, ``affinity`` (:meth:`HitPool.affinity`) the anchor's
    neighbours for the other."""
    rng = np.random.default_rng([seed, VARIATION_STREAM, attempt])
    if weights is None and affinity is None:
        a, b = (int(x) for x in rng.choice(pool_size, 2, replace=False))
    else:
        p = np.ones(pool_size) if weights is None else np.maximum(np.asarray(weights, dtype=np.float64), 1e-12)
        a = int(rng.choice(pool_size, p=p / p.sum()))
        if affinity is not None:
            p = p * np.maximum(np.asarray(affinity[a], dtype=np.float64), 1e-12)
        p[a] = 0.0
        b = int(rng.choice(pool_size, p=p / p.sum()))
    lo, hi = options.amounts
    return a, b, float(rng.uniform(lo, hi))


def variation_detail(request: GenerationRequest) -> str:
    """The sources' detail a variation carries for ``request.detail``: ``auto`` is the anchor's own."""
    return "anchor" if request.render.detail == "auto" else request.render.detail


def selected_controls(request: GenerationRequest, selectable: tuple[str, ...] = SELECTABLE) -> dict[str, float]:
    """The moved controls of ``request`` a variation realises by choosing its hits (``selectable``)."""
    return {k: float(v) for k, v in request.control.control_values.items() if k in selectable and v}


def without_selected(request: GenerationRequest, selectable: tuple[str, ...] = SELECTABLE) -> GenerationRequest:
    """``request`` without the controls the hits' choice realises (the decoder and vocoder do not move them)."""
    chosen = selected_controls(request, selectable)
    kept = tuple((k, v) for k, v in request.control.controls if k not in chosen)
    return replace(request, control=replace(request.control, controls=kept))


def render_variation(pool: HitPool, renderer: Renderer, request: GenerationRequest, seed: int,
                     on_event: ProgressCallback = ignore_events, cancel: CancelToken | None = None,
                     options: VariationOptions = DEFAULT_VARIATIONS) -> RenderedAudio:
    """One one-shot for ``seed`` (see the module), with ``notes["form"]`` saying which hits, at which amount,
    and how it measured. ``renderer`` must render ``morph_request(without_selected(request))`` (loudness as
    decoded); the timbre controls ``request`` moves choose the hits (``notes["controls"]``: ``searched``)."""
    targets = selected_controls(request, options.selectable)
    weights = pool.weights(targets, options.selectable)
    affinity = pool.affinity(options.neighbour_width)
    tried: list[tuple[int, RenderedAudio, dict[str, Any]]] = []
    for attempt in range(max(1, options.attempts)):
        if cancel is not None:
            cancel.raise_if_cancelled("generation")
        a, b, amount = draw(len(pool.names), seed, attempt, options, weights, affinity)
        audio = pool.morph(a, b, variation_detail(request)).render(amount, morph_request(request), renderer, cancel,
                                                                   on_event)
        form = dict(audio.notes.get("form") or {})
        form.update({"method": "variation", "between": [pool.names[a], pool.names[b]],
                     "amount": round(amount, 4), "attempts": attempt + 1,
                     "detail": (audio.notes.get("morph") or {}).get("detail", "none")})
        tried.append((len(form.get("failed") or []), audio, form))
        if form.get("passed"):
            break
    _, audio, form = min(tried, key=lambda t: t[0])
    if not form.get("passed"):
        form["message"] = (f"no variation of {len(tried)} draw(s) passed every one-shot check; kept the closest "
                           f"(failed: {', '.join(form.get('failed') or []) or 'none'})")
    notes = {k: v for k, v in audio.notes.items() if k != "morph"}
    if targets:
        notes["controls"] = {**(notes.get("controls") or {}), **{k: "searched" for k in targets}}
        form["chosen_for"] = {k: round(v, 4) for k, v in targets.items()}
    return replace(audio, seed=seed, notes={**notes, "form": form})


def variation_strokes(pool: HitPool, renderer: Renderer, request: GenerationRequest, seed: int,
                      reference: OneShotReference, on_event: ProgressCallback = ignore_events,
                      cancel: CancelToken | None = None, options: VariationOptions = DEFAULT_VARIATIONS
                      ) -> tuple[list[Candidate], RenderedAudio]:
    """Strokes for a phrase (:func:`sda_engine.generate.phrases.render_phrase`'s ``strokes``): up to
    :data:`~sda_engine.generate.phrases.POOL_TARGET` variations (seeds ``seed + k * SEED_STEP``), the passing
    ones (the best when none pass), each re-measured against ``reference``; and the last one rendered.
    ``renderer`` renders ``morph_request(request)`` with the one-shot form (each stroke trimmed at its decay)."""
    every: list[Candidate] = []
    last: RenderedAudio | None = None
    for k in range(POOL_TARGET):
        stroke_seed = seed + k * SEED_STEP
        last = render_variation(pool, renderer, request, stroke_seed, on_event, cancel, options)
        sr = last.sample_rate
        events, report = measure(last.samples.mean(axis=0), sr, reference)
        every.append(Candidate(samples=last.samples, report=report, events=events, stream_seed=stroke_seed,
                               start=0.0, end=last.samples.shape[-1] / sr))
    assert last is not None
    passing = [c for c in every if c.report.passed]
    return (passing or sorted(every, key=lambda c: c.failures)[: max(1, POOL_TARGET // 2)]), last
