"""A loaded model kept warm between calls: :class:`ModelSession`.

``ModelSession.open(name_or_path, device)`` loads the weights, hashes the file and picks vocoders once;
then, as often as the caller likes and without reloading anything:

- :meth:`ModelSession.sample` ``(request) -> Sketch``: a new code grid (RVQ) or latent sequence (VAE);
- :meth:`ModelSession.encode` ``(audio) -> Sketch``: any recording in the model's own terms;
- :meth:`ModelSession.render` ``(sketch, request) -> RenderedAudio``: mel -> vocoder -> spatial;
- :meth:`ModelSession.export` / :meth:`ModelSession.write`: the file, its sidecar and the history entry;
- :meth:`ModelSession.generate`: their composition for ``request.variations`` seeds (``sda generate``).

The CLI, the GUI, the musical sliders and the code-grid editor all call these.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sda_audio.errors import SdaError
from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events
from sda_engine.generate import rendering
from sda_engine.generate.request import GenerationRequest
from sda_engine.generate.sketch import RenderedAudio, Sketch
from sda_engine.store.home import SdaHome

log = logging.getLogger(__name__)

JOB = "generate"
_UNREAD = object()  # a session's control map before it is first needed
DUAL_SEED_OFFSET = 1_000_003
"""Stereo ``dual``: the right channel is a second generation with seed ``s + DUAL_SEED_OFFSET``."""


@dataclass
class GenerationResult:
    """One written file.

    Attributes:
        path / sidecar: the audio file and its ``<file>.json`` sidecar.
        seed: the seed of this variation (``None`` for an encoded or edited sketch); duration: seconds.
        vocoder / vocoder_reason: which vocoder rendered it and why.
        blend_method: ``"latent"`` (related models decode one latent path), ``"mix"`` (audio mix), or None.
        history_id: the history entry's id.
        request: the request that makes exactly this file again (``variations=1``, this seed).
        parameters: the flat settings with run details (variation, device, blend), as in the sidecar.
        notes: how the request was realised (``controls``: per moved control latent/steered/assisted; where a
            setting could not be followed literally, why).
    """

    path: Path
    sidecar: Path
    seed: int | None
    duration: float
    model: str
    model_sha256: str
    vocoder: str
    vocoder_reason: str
    blend_method: str | None = None
    history_id: int | None = None
    request: GenerationRequest = field(default_factory=GenerationRequest)
    parameters: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "sidecar": str(self.sidecar), "seed": self.seed, "duration": self.duration,
                "model": self.model, "model_sha256": self.model_sha256, "vocoder": self.vocoder,
                "vocoder_reason": self.vocoder_reason, "blend_method": self.blend_method,
                "history_id": self.history_id, "request": self.request.to_dict(), "parameters": self.parameters,
                "notes": self.notes}


def resolve_model(model: str | Path, home: SdaHome) -> tuple[Path, str]:
    """``(path, name)`` of a library name or a ``.sda`` path."""
    from sda_engine.store.library import ModelLibrary

    text = str(model)
    candidate = Path(text).expanduser()
    if candidate.is_file():
        return candidate, candidate.name.removesuffix(".sda")
    if text.endswith(".sda") or "/" in text:
        raise SdaError("model file not found", path=candidate, hint="check the path or use a library name")
    direct = home.model_path(text)
    try:
        path = ModelLibrary(home, reconcile=False).resolve(text)
    except SdaError:
        if direct.is_file():
            return direct, text
        raise SdaError(f"no model named '{text}'",
                       hint="your model library lists the models you have; train one first") from None
    return Path(path), text


class ModelSession:
    """One loaded model (and the models it is blended with), ready to sample, render and export.

    Build it with :meth:`open`. It is not thread-safe: a GUI keeps one per worker.
    """

    def __init__(self, bundle: Any, path: Path, name: str, sha256: str, device: torch.device,
                 home: SdaHome) -> None:
        self.bundle, self.path, self.name, self.sha256 = bundle, path, name, sha256
        self.device, self.home = device, home
        self._vocoders: dict[str, tuple[Any, str, str]] = {}
        self._partners: dict[str, ModelSession] = {}
        self._fitted_map: Any = _UNREAD

    @classmethod
    def open(cls, model: str | Path, device: str | torch.device = "auto",
             home: SdaHome | str | Path | None = None) -> ModelSession:
        """Load ``model`` (a library name or a ``.sda`` path) onto ``device`` (``auto``, ``cpu``, ``cuda``,
        ``mps``; ``SDA_DEVICE`` overrides ``auto``)."""
        from sda_audio.dataset import file_sha256
        from sda_models import model_file
        from sda_models.device import resolve_device

        home = home if isinstance(home, SdaHome) else SdaHome(home)
        dev = device if isinstance(device, torch.device) else resolve_device(device)
        path, name = resolve_model(model, home)
        bundle = model_file.load_model(path, dev)
        return cls(bundle, path, name, file_sha256(path), dev, home)

    def use_bundle(self, bundle: Any) -> None:
        """Render with ``bundle`` from now on (e.g. the same model with its controls realised another way);
        the control map is read again from it. Vocoders and blend partners are kept."""
        self.bundle = bundle
        self._fitted_map = _UNREAD

    # -- what the model is -----------------------------------------------------------------------
    @property
    def kind(self) -> str:
        """``"rvq"`` (codes + prior) or ``"vae"`` (continuous latents)."""
        return str(self.bundle.autoencoder.config.kind)

    @property
    def sample_rate(self) -> int:
        return rendering.SAMPLE_RATE

    @property
    def frame_seconds(self) -> float:
        """Seconds per latent frame (one column of a code grid)."""
        return self.bundle.autoencoder.config.downsample * rendering.HOP / rendering.SAMPLE_RATE

    def vocoder(self, choice: str = "auto") -> tuple[Any, str, str]:
        """``(vocoder, name, reason)`` for ``choice``, chosen once per session and kept."""
        if choice not in self._vocoders:
            self._vocoders[choice] = self._select_vocoder(choice)
        return self._vocoders[choice]

    def partner(self, model: str | Path) -> ModelSession:
        """A session for a model blended with this one (opened once, on this device)."""
        key = str(model)
        if key not in self._partners:
            self._partners[key] = ModelSession.open(model, self.device, self.home)
        return self._partners[key]

    # -- sketches --------------------------------------------------------------------------------
    def sample(self, request: GenerationRequest, seed: int | None = None, on_event: ProgressCallback = ignore_events,
               cancel: CancelToken | None = None) -> Sketch:
        """A new sketch of ``request.duration`` seconds from ``seed`` (default ``request.seed``); the musical
        density acts here (a dense sketch is sampled longer and played faster, see :mod:`rendering`)."""
        return rendering.sample_sketch(self.bundle, request, request.seed if seed is None else seed, self.device,
                                       on_event, cancel)

    @torch.no_grad()
    def encode(self, samples: np.ndarray, sample_rate: int) -> Sketch:
        """Any audio (``(T,)`` or ``(C, T)``, any rate) -> its sketch: the code grid of an RVQ model
        (:func:`sda_control.codes.audio_to_codes`), the posterior-mean latents of a VAE. Channels are averaged;
        the rate is converted to the model's."""
        from sda_audio.resample import resample
        from sda_models.mel import LogMel

        audio = np.asarray(samples, dtype=np.float32)
        mono = audio.mean(axis=0) if audio.ndim == 2 else audio.reshape(-1)
        if sample_rate != self.sample_rate:
            mono = np.asarray(resample(mono[None], sample_rate, self.sample_rate), dtype=np.float32)[0]
        n = mono.shape[0]
        if n == 0:
            raise SdaError("the audio to encode is empty", hint="give a recording with sound in it")
        if self.kind == "rvq":  # the code-grid editor's encoder: one pipeline for both
            from sda_control.codes import audio_to_codes

            codes = audio_to_codes(self.bundle, mono, self.sample_rate, self.name)
            with torch.no_grad():
                return Sketch("codes", n, codes=codes, latent=self.bundle.autoencoder.rvq.decode_codes(
                    codes[None].to(self.device)))
        n_fft = rendering.MEL.n_fft
        wave = torch.from_numpy(np.pad(mono, (0, max(0, n_fft - n))))[None].to(self.device)
        mel = LogMel(rendering.MEL).to(self.device)(wave)
        ae = self.bundle.autoencoder
        was = ae.training
        ae.eval()
        try:
            return Sketch("latents", n, latent=ae.encode(self.bundle.stats.to(self.device).normalize(mel)))
        finally:
            ae.train(was)

    def sketch_from_codes(self, codes: torch.Tensor, samples: int | None = None) -> Sketch:
        """An edited or loaded code grid ``(levels, T')`` of this model as a sketch (all its frames by default)."""
        if self.kind != "rvq":
            raise SdaError(f"'{self.name}' is a VAE model: it has no codes", hint="use an RVQ model for code grids")
        cfg = self.bundle.autoencoder.config
        if codes.dim() != 2 or codes.shape[0] != cfg.rvq_levels:
            raise SdaError(f"a code grid for '{self.name}' needs {cfg.rvq_levels} levels, got shape "
                           f"{tuple(codes.shape)}", hint="encode the audio with this model")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= cfg.codebook_size):
            raise SdaError(f"code indices must be 0..{cfg.codebook_size - 1} for '{self.name}'",
                           hint="encode the audio with this model")
        return Sketch.from_codes(codes, samples, downsample=cfg.downsample, hop=rendering.HOP)

    # -- rendering -------------------------------------------------------------------------------
    def mel(self, sketch: Sketch, request: GenerationRequest, cancel: CancelToken | None = None) -> torch.Tensor:
        """The log-mel ``(128, frames)`` that :meth:`render` vocodes (blend, dynamics and density applied)."""
        members = self._latent_members(request)
        frames = rendering.n_mel_frames(sketch.samples / self.sample_rate)
        return rendering.render_mel(members, self._controlled_latent(sketch, request), frames, request, cancel,
                                    seed=sketch.seed)

    def render(self, sketch: Sketch, request: GenerationRequest, on_event: ProgressCallback = ignore_events,
               cancel: CancelToken | None = None) -> RenderedAudio:
        """``sketch`` as audio: decoded, vocoded (``request.vocoder``), made mono/stereo/binaural."""
        mono, seams, voc_name, voc_reason = self._render_mono(sketch, request, on_event, cancel)
        notes: dict[str, Any] = {}
        channels = request.channels
        if channels == "stereo":
            method = request.stereo_method
            if method == "dual" and sketch.seed is None:
                method = "decorrelate"
                notes["stereo_method"] = "decorrelate: a dual stereo pair needs a sampled sketch with a seed"
            if method == "dual":
                assert sketch.seed is not None
                second = self.sample(request, sketch.seed + DUAL_SEED_OFFSET, on_event, cancel)
                right = self._render_mono(second, request, on_event, cancel, gate_seed=sketch.seed)[0]
                audio = np.stack([mono, right[: mono.shape[0]]])
            else:
                from sda_audio.spatial import mono_to_stereo

                audio = np.asarray(mono_to_stereo(mono, self.sample_rate, method=method, seed=sketch.seed or 0),
                                   dtype=np.float32)
        elif channels == "binaural":
            from sda_audio.spatial import binaural_render

            audio = np.asarray(binaural_render(mono, self.sample_rate, request.azimuth, request.elevation),
                               dtype=np.float32)
        else:
            audio = mono[None]
        realised = self.control_realisation(request)
        if realised:
            notes["controls"] = realised
        if rendering.sparse_share(request.control.value("density")) > 0:
            notes["density_gaps"] = ("assisted: the events the density gate silenced in the sequence (steered) "
                                     "are set to digital silence after the vocoder")
        return RenderedAudio(samples=audio, sample_rate=self.sample_rate, seed=sketch.seed, vocoder=voc_name,
                             vocoder_reason=voc_reason, channels=channels, seams=seams, notes=notes)

    def control_realisation(self, request: GenerationRequest) -> dict[str, str]:
        """How each moved control is realised for this model: ``latent`` (a direction in the model's own
        space), ``steered`` (the sampling itself: density), ``assisted`` (a labelled DSP effect)."""
        cmap, values, explore = self._control_map(request)
        out = {k: v for k, v in (cmap.realisation(values) if cmap is not None else {}).items() if v != "off"}
        if request.control.value("density"):
            out["density"] = "steered"
        out.update({f"explore{i + 1}": "latent" for i in explore})
        return out

    # -- files -----------------------------------------------------------------------------------
    def export(self, audio: RenderedAudio, request: GenerationRequest, path: str | Path,
               extra: dict[str, Any] | None = None) -> tuple[Path, dict[str, Any]]:
        """Write ``audio`` as ``request`` asks (format, rate, depth, loudness) with its sidecar JSON.

        Returns ``(written path, sidecar metadata)``. ``extra`` adds keys to the sidecar (e.g. ``source``).
        """
        from sda_audio.export import export_audio

        settings = request.export.settings("mono" if audio.samples.shape[0] == 1 else "stereo")
        one = request.with_seed(audio.seed) if audio.seed is not None else request.replace(variations=1)
        blend_method, blend_info = self._blend_description(request)
        parameters = {**one.to_flat(), "device": str(self.device), "blend": blend_info, **(extra or {})}
        if audio.seed is None:  # an encoded or edited sketch: no seed made it
            parameters["seed"] = None
        metadata = {"model": self.name, "model_sha256": self.sha256, "model_kind": self.kind,
                    "request": one.to_dict(), "parameters": parameters, "seed": audio.seed,
                    "vocoder": audio.vocoder, "vocoder_reason": audio.vocoder_reason, "blend_method": blend_method,
                    "notes": audio.notes, "sda_version": _sda_version(),
                    "comment": f"sda {self.name}" + (f" seed {audio.seed}" if audio.seed is not None else "")}
        written = export_audio(audio.samples, audio.sample_rate, Path(path), settings, metadata)
        return written, metadata

    def write(self, sketch: Sketch, request: GenerationRequest, output: str | Path | None = None,
              on_event: ProgressCallback = ignore_events, cancel: CancelToken | None = None,
              extra: dict[str, Any] | None = None) -> GenerationResult:
        """Render ``sketch``, export it to ``output`` (a file or folder; default the history folder) and
        record it in the history."""
        path = self.output_paths(output, request.export.extension, [sketch.seed])[0]
        check_output_dir(path.parent)
        audio = self.render(sketch, request, on_event, cancel)
        return self._record(audio, request, path, extra)

    def generate(self, request: GenerationRequest, output: str | Path | None = None,
                 on_event: ProgressCallback = ignore_events, cancel: CancelToken | None = None
                 ) -> list[GenerationResult]:
        """``request.variations`` files with seeds ``seed, seed + 1, ...`` (job ``generate``: step = files
        written; sub-jobs ``generate.sample`` and ``generate.vocode``)."""
        cancel = cancel or CancelToken()
        seeds = [request.seed + i for i in range(request.variations)]
        paths = self.output_paths(output, request.export.extension, seeds)
        check_output_dir(paths[0].parent)
        _, voc_name, _ = self.vocoder(request.vocoder)
        self._latent_members(request)  # open blended models (and fail on a bad one) before any work
        n = len(seeds)
        on_event(ProgressEvent(JOB, "start", step=0, total=n,
                               message=f"generating {n} x {request.duration:g} s with '{self.name}' "
                                       f"({voc_name} vocoder)"))
        results = []
        for i, (seed, path) in enumerate(zip(seeds, paths, strict=True)):
            cancel.raise_if_cancelled("generation")
            sketch = self.sample(request, seed, on_event, cancel)
            audio = self.render(sketch, request, on_event, cancel)
            result = self._record(audio, request, path, {"variation": i + 1, "variations": n})
            results.append(result)
            on_event(ProgressEvent(JOB, "progress", step=i + 1, total=n, message=f"wrote {result.path.name}",
                                   data={"path": str(result.path)}))
        on_event(ProgressEvent(JOB, "done", step=n, total=n, message=f"generated {n} file(s)",
                               data={"paths": [str(r.path) for r in results]}))
        return results

    def output_paths(self, output: str | Path | None, ext: str, seeds: list[int | None]) -> list[Path]:
        """Where files go: ``output`` as a file (``-v01``, ``-v02`` ... added for several) or a folder, or a
        fresh history path."""
        ext = ext.lstrip(".")
        seed = seeds[0]
        if output is None:
            from sda_engine.store.history import History

            base = History(self.home).new_audio_path(self.name, seed, ext)
        else:
            out = Path(output).expanduser()
            if out.is_dir() or str(output).endswith(("/", "\\")) or not out.suffix:
                base = out / (f"{self.name}_s{seed}.{ext}" if seed is not None else f"{self.name}.{ext}")
            else:
                base = out if out.suffix.lstrip(".").lower() == ext else out.with_suffix(f".{ext}")
        if len(seeds) == 1:
            return [base]
        return [base.with_name(f"{base.stem}-v{i + 1:02d}{base.suffix}") for i in range(len(seeds))]

    # -- internals -------------------------------------------------------------------------------
    def _record(self, audio: RenderedAudio, request: GenerationRequest, path: Path,
                extra: dict[str, Any] | None) -> GenerationResult:
        from sda_engine.store.history import History

        written, metadata = self.export(audio, request, path, extra)
        sidecar = written.with_name(written.name + ".json")
        one = GenerationRequest.from_dict(metadata["request"])
        history_params = {**metadata["request"], "run": {k: v for k, v in metadata["parameters"].items()
                                                         if k in ("variation", "variations", "device", "blend")}}
        entry = History(self.home).record(self.name, self.sha256, history_params, audio.seed, written, sidecar,
                                          vocoder=audio.vocoder, vocoder_reason=audio.vocoder_reason,
                                          duration=audio.duration, sample_rate=request.sample_rate,
                                          format=request.format)
        return GenerationResult(path=written, sidecar=sidecar, seed=audio.seed, duration=audio.duration,
                                model=self.name, model_sha256=self.sha256, vocoder=audio.vocoder,
                                vocoder_reason=audio.vocoder_reason, blend_method=metadata["blend_method"],
                                history_id=entry.id, request=one, parameters=metadata["parameters"],
                                notes=dict(audio.notes))

    def _render_mono(self, sketch: Sketch, request: GenerationRequest, on_event: ProgressCallback,
                     cancel: CancelToken | None, gate_seed: int | None = None
                     ) -> tuple[np.ndarray, list[int], str, str]:
        """Mono audio of ``sketch``; ``gate_seed`` (default the sketch's seed) picks the events a sparse
        density silences (a dual stereo pair shares its left channel's, so the gaps line up)."""
        vocoder, voc_name, voc_reason = self.vocoder(request.vocoder)
        groups = self._groups(request)
        if len(groups) == 1:
            mono, seams = self._vocoded(groups[0][0], vocoder, sketch, request, on_event, cancel,
                                        gate_seed=gate_seed)
            return mono, seams, voc_name, voc_reason
        total = sum(sum(w for _, w in members) for members, _ in groups)
        mix: np.ndarray | None = None
        for members, session in groups:
            voc = vocoder if session is self else session.vocoder("auto")[0]
            part, _ = self._vocoded(members, voc, sketch, request, on_event, cancel, sampler=session,
                                    gate_seed=gate_seed)
            rms = float(np.sqrt(np.mean(part**2))) or 1.0
            part = part / rms * (sum(w for _, w in members) / total)  # loudness-matched mix by weight
            mix = part if mix is None else mix + part
        assert mix is not None
        peak = float(np.max(np.abs(mix))) or 1.0
        return (mix / peak * 0.9).astype(np.float32), [], voc_name, voc_reason

    def _vocoded(self, members: list[tuple[Any, float]], vocoder: Any, sketch: Sketch, request: GenerationRequest,
                 on_event: ProgressCallback, cancel: CancelToken | None, sampler: ModelSession | None = None,
                 gate_seed: int | None = None) -> tuple[np.ndarray, list[int]]:
        gate_seed = sketch.seed if gate_seed is None else gate_seed
        if sampler is not None and sampler is not self:  # an unrelated blended model makes its own sketch
            if sketch.seed is None:
                raise SdaError(f"'{sampler.name}' cannot be mixed into an encoded or edited sketch",
                               hint="blend only models that share a lineage with it")
            sketch = sampler.sample(request, sketch.seed, on_event, cancel)
        owner = sampler or self
        frames = rendering.n_mel_frames(sketch.samples / self.sample_rate)
        mel = rendering.render_mel(members, owner._controlled_latent(sketch, request), frames, request, cancel,
                                   seed=gate_seed)
        audio, seams = rendering.vocode_chunks(vocoder, mel, cancel, on_event)
        mono = rendering.finish_mono(audio, sketch.samples)
        if rendering.sparse_share(request.control.value("density")) > 0:
            mono = rendering.silence_gaps(mono, mel)  # the gaps the density gate made, silent
        mono = owner._assisted(mono, sketch, request)
        return mono, [s for s in seams if s < sketch.samples]

    def _control_map(self, request: GenerationRequest) -> tuple[Any, dict[str, float], dict[int, float]]:
        """``(map, model-realised values, explore axis -> value)``; the map is ``None`` when no control needs
        one (density alone is steered by the engine). Raises when the model has no fitted controls."""
        from sda_control.hooks import require_control_map

        values = dict(request.control.control_values)
        values.pop("density", None)
        explore = {int(k[len("explore"):]) - 1: v for k, v in values.items() if k.startswith("explore")}
        values = {k: v for k, v in values.items() if not k.startswith("explore")}
        if not values and not explore:
            return None, {}, {}
        if self._fitted_map is _UNREAD:  # read the model's control section once per session
            from sda_control.hooks import ControlMap

            self._fitted_map = ControlMap.from_bundle(self.bundle)
        cmap = self._fitted_map
        if cmap is None and values:
            require_control_map(self.bundle, values)  # raises: the model has no fitted controls
        if cmap is None:
            raise SdaError("this model has no fitted controls, so its explore axes cannot be set",
                           hint="fit the controls for this model first", action="fit_controls")
        return cmap, values, explore

    def _controlled_latent(self, sketch: Sketch, request: GenerationRequest) -> torch.Tensor:
        """The sketch's decoder input moved along the latent-realised controls and explore axes."""
        latent = rendering.sketch_latent(self.bundle, sketch, self.device)
        cmap, values, explore = self._control_map(request)
        if cmap is None:
            return latent
        if values:
            latent = cmap.shift_latent(latent, values)
        if explore:
            latent = cmap.explore(latent, explore)
        return latent

    def _assisted(self, mono: np.ndarray, sketch: Sketch, request: GenerationRequest) -> np.ndarray:
        cmap, values, _ = self._control_map(request)
        if cmap is None or not values:
            return mono
        return np.asarray(cmap.assist(mono, values, sketch.seed or 0), dtype=np.float32)

    def _latent_members(self, request: GenerationRequest) -> list[tuple[Any, float]]:
        groups = self._groups(request)
        return groups[0][0]

    def _groups(self, request: GenerationRequest) -> list[tuple[list[tuple[Any, float]], ModelSession]]:
        """Blend groups: related models (same kind and latent size, common lineage) decode one latent path and
        their log-mels are mixed; every other model renders on its own and the audio is mixed."""
        blend = request.control.blend
        if not blend:
            return [([(self.bundle, 1.0)], self)]
        others = [(self.partner(model), weight) for model, weight in blend]
        rest = 1.0 - sum(w for _, w in others)
        primary_w = rest if rest > 0 else 1.0
        related = [(s, w) for s, w in others if self._related(s)]
        if len(related) == len(others):
            return [([(self.bundle, primary_w)] + [(s.bundle, w) for s, w in others], self)]
        return [([(self.bundle, primary_w)], self)] + [([(s.bundle, w)], s) for s, w in others]

    def _related(self, other: ModelSession) -> bool:
        mine, theirs = self.bundle, other.bundle
        lineage = (mine.metadata.get("lineage") or {}).get("id")
        return (other.kind == self.kind
                and theirs.autoencoder.config.latent_dim == mine.autoencoder.config.latent_dim
                and lineage is not None and (theirs.metadata.get("lineage") or {}).get("id") == lineage)

    def _blend_description(self, request: GenerationRequest) -> tuple[str | None, list[dict[str, Any]] | None]:
        blend = request.control.blend
        if not blend:
            return None, None
        rest = 1.0 - sum(w for _, w in blend)
        info = [{"model": self.name, "weight": rest if rest > 0 else 1.0}]
        info += [{"model": str(m), "weight": w} for m, w in blend]
        return ("latent" if len(self._groups(request)) == 1 else "mix"), info

    def _select_vocoder(self, choice: str) -> tuple[Any, str, str]:
        from sda_models.vocoders.select import select_vocoder

        index_path = self._corpus_index()
        voc_meta = self.bundle.metadata.get("vocoder") or {}
        vocoder, why = select_vocoder(choice, bundle_vocoder_tensors=self.bundle.vocoder_tensors,
                                      bundle_vocoder_config=voc_meta.get("config"), corpus_index_path=index_path,
                                      device=self.device, bundle_vocoder_validation=voc_meta.get("validation"))
        return vocoder, why.name, why.reason

    def _corpus_index(self) -> Path | None:
        """The corpus index in the library, beside the model file, named in its metadata, or rebuilt from the
        training files when they are still on disk (a model imported without its index)."""
        from sda_models.vocoders.corpus_index import corpus_index_path_for

        library_path = self.home.corpus_index_path(self.name) if _valid_name(self.name) else None
        candidates = [library_path, corpus_index_path_for(self.path)]
        meta_index = self.bundle.metadata.get("corpus_index")
        if meta_index:
            candidates.append(Path(meta_index))
        for candidate in candidates:
            if candidate is not None and candidate.is_file():
                return candidate
        files = [Path(f) for f in self.bundle.metadata.get("dataset", {}).get("files", [])]
        if library_path is None or not files or not all(f.is_file() for f in files):
            return None
        from sda_engine.train.finishing import build_corpus_index

        log.info("rebuilding the corpus index of %s from its %d training files", self.name, len(files))
        return build_corpus_index(self.home, self.name, files, ignore_events, None)


def check_output_dir(folder: Path) -> None:
    """Fail early, naming the folder, when it cannot be created or written, or the disk is full."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SdaError(f"cannot create the output folder ({exc.strerror})", path=folder,
                       hint="choose a folder you can write to") from exc
    probe = folder / ".sda-write-test"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise SdaError(f"the output folder is not writable ({exc.strerror})", path=folder,
                       hint="choose a folder you can write to") from exc
    if shutil.disk_usage(folder).free < 16 * 1024 * 1024:
        raise SdaError("the disk is full (less than 16 MB free)", path=folder, hint="free some space first")


def _valid_name(name: str) -> bool:
    from sda_engine.store.home import validate_name

    try:
        validate_name(name)
    except SdaError:
        return False
    return True


def _sda_version() -> str:
    from sda_engine import __version__

    return __version__
