"""Request + sketch -> audio: :class:`Renderer`, generation's inference object.

A renderer is made for one :class:`~sda_engine.generate.request.GenerationRequest` on one
:class:`~sda_engine.generate.session.ModelSession`. Making it resolves, once, everything the request needs from
the session: the vocoder, the blend groups (:class:`Voice`, opening the blended models) and each group's musical
controls (:class:`Controls`). Then, as often as the caller likes:

- :meth:`Renderer.sample` ``(seed) -> Sketch``: a new code grid (RVQ) or latent sequence (VAE);
- :meth:`Renderer.render` ``(sketch) -> RenderedAudio``: decode -> blend -> dynamics -> density -> chunked
  vocoding -> assists -> edge fades -> mono/stereo/binaural (the steps are the plain functions of
  :mod:`sda_engine.generate.rendering`);
- :meth:`Renderer.mel` ``(sketch)``: the log-mel that :meth:`Renderer.render` vocodes.

It writes no files and knows nothing of training: :mod:`sda_engine.store.generation_writer` writes what it
renders, and :mod:`sda_engine.generate.pipeline` composes the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from sda_audio.errors import SdaError
from sda_audio.progress import CancelToken, ProgressCallback, ignore_events
from sda_audio.spatial import binaural_render, mono_to_stereo
from sda_control.control_map import ControlMap, require_control_map
from sda_control.search import search_through_decoder
from sda_engine.generate import rendering
from sda_engine.generate.request import GenerationRequest
from sda_engine.generate.session import ModelSession
from sda_engine.generate.sketch import RenderedAudio, Sketch
from sda_models.model_file import ModelBundle
from sda_models.vocoders.base import Vocoder

if TYPE_CHECKING:
    from sda_engine.generate.detail_bank import DetailBank

DUAL_SEED_OFFSET = 1_000_003
"""Stereo ``dual``: the right channel is a second generation with seed ``s + DUAL_SEED_OFFSET``."""
DENSITY_GAPS_NOTE = ("assisted: the events the density gate silenced in the sequence (steered) are set to "
                     "digital silence after the vocoder")
DUAL_NEEDS_SEED_NOTE = "decorrelate: a dual stereo pair needs a sampled sketch with a seed"


@dataclass(frozen=True)
class Controls:
    """One model's musical controls for one request.

    Attributes:
        cmap: the model's fitted :class:`~sda_control.control_map.ControlMap`; ``None`` when no control needs one
            (density alone is steered by the engine).
        values: the moved controls the model realises (name -> -1..1; density is not among them).
        explore: the moved explore axes (0-based axis -> -1..1).
    """

    cmap: ControlMap | None = None
    values: dict[str, float] | None = None
    explore: dict[int, float] | None = None

    @classmethod
    def of(cls, bundle: ModelBundle, request: GenerationRequest) -> Controls:
        """The controls ``request`` moves, read from ``bundle``. Raises when the model has no fitted controls."""
        values = dict(request.control.control_values)
        values.pop("density", None)
        explore = {int(k[len("explore"):]) - 1: v for k, v in values.items() if k.startswith("explore")}
        values = {k: v for k, v in values.items() if not k.startswith("explore")}
        if not values and not explore:
            return cls(None, {}, {})
        mode = request.control.control_mode
        cmap = ControlMap.from_bundle(bundle, mode=mode)
        if cmap is None and values:
            require_control_map(bundle, values, mode=mode)  # raises: the model has no fitted controls
        if cmap is None:
            raise SdaError("this model has no fitted controls, so its explore axes cannot be set",
                           hint="fit the controls for this model first", action="fit_controls")
        return cls(cmap, values, explore)

    def shift(self, latent: torch.Tensor, bundle: ModelBundle) -> torch.Tensor:
        """The decoder input ``(1, D, T')`` moved along the latent-realised controls and explore axes, then
        searched through ``bundle``'s decoder for the searched controls (:meth:`ControlMap.search_latent`)."""
        if self.cmap is None:
            return latent
        if self.values:
            latent = self.cmap.shift_latent(latent, self.values)
            if self.cmap.searched(self.values):
                latent = search_through_decoder(bundle, self.cmap, latent, self.values)
        if self.explore:
            latent = self.cmap.explore(latent, self.explore)
        return latent

    def assist(self, mono: np.ndarray, seed: int | None) -> np.ndarray:
        """``mono (T,)`` with the assisted controls' DSP effects (``seed``: the sketch's, ``None`` = 0)."""
        if self.cmap is None or not self.values:
            return mono
        return np.asarray(self.cmap.assist(mono, self.values, seed or 0), dtype=np.float32)

    def realisation(self, request: GenerationRequest) -> dict[str, str]:
        """How each moved control is realised: ``searched`` (a search in the model's own space through its
        decoder), ``latent`` (a direction in the model's own space), ``steered`` (the sampling itself:
        density), ``assisted`` (a labelled DSP effect)."""
        fitted = self.cmap.realisation(self.values or {}) if self.cmap is not None else {}
        out = {k: v for k, v in fitted.items() if v != "off"}
        if request.control.value("density"):
            out["density"] = "steered"
        out.update({f"explore{i + 1}": "latent" for i in self.explore or {}})
        return out


@dataclass(frozen=True)
class Voice:
    """One blend group, rendered by one vocoder.

    Attributes:
        session: the model whose sketch and controls the group uses (the main model, or an unrelated partner).
        members: ``((bundle, weight), ...)``: models that decode one latent path; their log-mels are mixed by
            weight (latent blending of related models).
        vocoder: the group's vocoder; controls: the group's musical controls.
        own_sketch: an unrelated partner samples its own sketch from the same seed.
    """

    session: ModelSession
    members: tuple[tuple[ModelBundle, float], ...]
    vocoder: Vocoder
    controls: Controls
    own_sketch: bool = False

    @property
    def weight(self) -> float:
        return sum(w for _, w in self.members)


class Renderer:
    """Renders sketches of ``session``'s model as ``request`` asks (see the module docstring).

    Attributes:
        vocoder / vocoder_name / vocoder_reason: the main model's vocoder for ``request.vocoder``, and why.
        voices: the blend groups (one without a blend, or when every partner is related).
        blend_method / blend: how the blend is made (``"latent"`` or ``"mix"``) and ``[{"model", "weight"}]``
            with the main model first; ``None`` without a blend.
        realisation: how each moved control is realised for the main model (``{"density": "steered", ...}``).
    """

    def __init__(self, session: ModelSession, request: GenerationRequest, detail_bank: DetailBank | None = None
                 ) -> None:
        self.session, self.request, self.detail_bank = session, request, detail_bank
        self.vocoder, self.vocoder_name, self.vocoder_reason = session.vocoder(request.vocoder)
        self.voices = _voices(session, request, self.vocoder)
        self.blend_method, self.blend = _blend(session, request, self.voices)
        self.realisation = self.voices[0].controls.realisation(request)

    def sample(self, seed: int | None = None, on_event: ProgressCallback = ignore_events,
               cancel: CancelToken | None = None) -> Sketch:
        """A new sketch of ``request.duration`` seconds from ``seed`` (default ``request.seed``); the musical
        density acts here (a dense sketch is sampled longer and played faster, see :mod:`rendering`)."""
        seed = self.request.seed if seed is None else seed
        assert seed is not None
        return rendering.sample_sketch(self.session.bundle, self.request, seed, self.session.device, on_event, cancel)

    def mel(self, sketch: Sketch, cancel: CancelToken | None = None) -> torch.Tensor:
        """The log-mel ``(n_mels, frames)`` that :meth:`render` vocodes (blend, dynamics and density applied)."""
        voice = self.voices[0]
        frames = rendering.n_mel_frames(sketch.samples / self.session.sample_rate)
        latent = voice.controls.shift(rendering.sketch_latent(self.session.bundle, sketch, self.session.device),
                                      self.session.bundle)
        return rendering.render_mel(voice.members, latent, frames, self.request, cancel, seed=sketch.seed,
                                    detail=sketch.detail)

    def render(self, sketch: Sketch, on_event: ProgressCallback = ignore_events,
               cancel: CancelToken | None = None) -> RenderedAudio:
        """``sketch`` as audio ``(channels, T)``: decoded, vocoded, made mono, stereo or binaural.

        Events: jobs ``generate.vocode`` (and ``generate.sample`` for a dual stereo pair or an unrelated
        blended model, which sample sketches of their own)."""
        request, sample_rate = self.request, self.session.sample_rate
        mono, seams = self._mono(sketch, on_event, cancel)
        notes: dict[str, Any] = {}
        channels = request.channels
        if channels == "stereo":
            method = request.stereo_method
            if method == "dual" and sketch.seed is None:
                method = "decorrelate"
                notes["stereo_method"] = DUAL_NEEDS_SEED_NOTE
            if method == "dual":
                assert sketch.seed is not None
                second = self.sample(sketch.seed + DUAL_SEED_OFFSET, on_event, cancel)
                right = self._mono(second, on_event, cancel, gate_seed=sketch.seed)[0]
                audio = np.stack([mono, right[: mono.shape[0]]])
            else:
                audio = np.asarray(mono_to_stereo(mono, sample_rate, method=method, seed=sketch.seed or 0),
                                   dtype=np.float32)
        elif channels == "binaural":
            audio = np.asarray(binaural_render(mono, sample_rate, request.azimuth, request.elevation),
                               dtype=np.float32)
        else:
            audio = mono[None]
        if self.realisation:
            notes["controls"] = dict(self.realisation)
        if self.detail_bank is not None and sketch.detail is None:
            bank = self.detail_bank
            notes["detail"] = (f"the fine detail of your recordings, from the nearest of {bank.frames} frames of "
                               f"{len(bank.files)} training file{'s' if len(bank.files) != 1 else ''}")
        if rendering.sparse_share(request.control.value("density")) > 0:
            notes["density_gaps"] = DENSITY_GAPS_NOTE
        return RenderedAudio(samples=audio, sample_rate=sample_rate, seed=sketch.seed, vocoder=self.vocoder_name,
                             vocoder_reason=self.vocoder_reason, channels=channels, seams=seams, notes=notes,
                             blend_method=self.blend_method, blend=self.blend)

    def _mono(self, sketch: Sketch, on_event: ProgressCallback, cancel: CancelToken | None,
              gate_seed: int | None = None) -> tuple[np.ndarray, list[int]]:
        """Mono audio of ``sketch`` and its vocoder seams; ``gate_seed`` (default the sketch's seed) picks the
        events a sparse density silences (a dual stereo pair shares its left channel's, so the gaps line up)."""
        if len(self.voices) == 1:
            return self._voice(self.voices[0], sketch, on_event, cancel, gate_seed)
        total = sum(voice.weight for voice in self.voices)
        mix: np.ndarray | None = None
        for voice in self.voices:
            part, _ = self._voice(voice, sketch, on_event, cancel, gate_seed)
            rms = float(np.sqrt(np.mean(part**2))) or 1.0
            part = part / rms * (voice.weight / total)  # loudness-matched mix by weight
            mix = part if mix is None else mix + part
        assert mix is not None
        peak = float(np.max(np.abs(mix))) or 1.0
        return (mix / peak * 0.9).astype(np.float32), []

    def _voice(self, voice: Voice, sketch: Sketch, on_event: ProgressCallback, cancel: CancelToken | None,
               gate_seed: int | None) -> tuple[np.ndarray, list[int]]:
        gate_seed = sketch.seed if gate_seed is None else gate_seed
        owner = voice.session
        if voice.own_sketch:  # an unrelated blended model makes its own sketch
            if sketch.seed is None:
                raise SdaError(f"'{owner.name}' cannot be mixed into an encoded or edited sketch",
                               hint="blend only models that share a lineage with it")
            sketch = rendering.sample_sketch(owner.bundle, self.request, sketch.seed, owner.device, on_event, cancel)
        frames = rendering.n_mel_frames(sketch.samples / self.session.sample_rate)
        latent = voice.controls.shift(rendering.sketch_latent(owner.bundle, sketch, owner.device), owner.bundle)
        detail = sketch.detail
        if detail is None and self.detail_bank is not None and voice is self.voices[0]:
            detail = self.detail_bank.detail_for(latent)
        mel = rendering.render_mel(voice.members, latent, frames, self.request, cancel, seed=gate_seed,
                                   detail=detail)
        audio, seams = rendering.vocode_chunks(voice.vocoder, mel, cancel, on_event)
        mono = rendering.finish_mono(audio, sketch.samples)
        if rendering.sparse_share(self.request.control.value("density")) > 0:
            mono = rendering.silence_gaps(mono, mel)  # the gaps the density gate made, silent
        mono = voice.controls.assist(mono, sketch.seed)
        return mono, [s for s in seams if s < sketch.samples]


def _voices(session: ModelSession, request: GenerationRequest, vocoder: Vocoder) -> list[Voice]:
    """Blend groups: related models (same kind and latent size, common lineage) decode one latent path and
    their log-mels are mixed; every other model renders on its own and the audio is mixed."""
    own = Controls.of(session.bundle, request)
    blend = request.control.blend
    if not blend:
        return [Voice(session, ((session.bundle, 1.0),), vocoder, own)]
    others = [(session.partner(model), weight) for model, weight in blend]
    primary_w = _primary_weight(blend)
    if all(_related(session, other) for other, _ in others):
        members = ((session.bundle, primary_w), *((other.bundle, w) for other, w in others))
        return [Voice(session, members, vocoder, own)]
    return [Voice(session, ((session.bundle, primary_w),), vocoder, own)] + [
        Voice(other, ((other.bundle, w),), other.vocoder("auto")[0], Controls.of(other.bundle, request),
              own_sketch=True)
        for other, w in others]


def _primary_weight(blend: Sequence[tuple[str, float]]) -> float:
    """The main model's weight: what the blended models leave of 1 (1 when they leave nothing)."""
    rest = 1.0 - sum(w for _, w in blend)
    return rest if rest > 0 else 1.0


def _related(session: ModelSession, other: ModelSession) -> bool:
    mine, theirs = session.bundle, other.bundle
    lineage = (mine.metadata.get("lineage") or {}).get("id")
    return (other.kind == session.kind
            and theirs.autoencoder.config.latent_dim == mine.autoencoder.config.latent_dim
            and lineage is not None and (theirs.metadata.get("lineage") or {}).get("id") == lineage)


def _blend(session: ModelSession, request: GenerationRequest, voices: list[Voice]
           ) -> tuple[str | None, list[dict[str, Any]] | None]:
    blend = request.control.blend
    if not blend:
        return None, None
    info = [{"model": session.name, "weight": _primary_weight(blend)}]
    info += [{"model": str(m), "weight": w} for m, w in blend]
    return ("latent" if len(voices) == 1 else "mix"), info
