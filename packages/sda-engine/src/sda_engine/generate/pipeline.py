"""``sda generate`` in two functions: per variation, sample -> render -> write.

    session = ModelSession.open("rain", "cpu")
    request = GenerationRequest().replace(duration=8, seed=3, variations=2)
    results = generate_files(session, request, output="out/")      # out/rain_s3-v01.wav, -v02.wav

:func:`generate_files` is what the CLI and the GUI call; :func:`write_sketch` renders and writes a sketch that
was not sampled (an edited code grid, a codebook entry). Both compose the three parts of generation and add
nothing of their own: the session (:mod:`~sda_engine.generate.session`) keeps the model warm, the renderer
(:mod:`~sda_engine.generate.renderer`) makes the audio, the writer (:mod:`sda_engine.store.generation_writer`)
writes the file, its sidecar and its history entry. The same session, request and device give the same audio.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events
from sda_engine.generate.detail_bank import material_detail
from sda_engine.generate.forms import oneshot_reference_of, resolve_form, room_tone_of, timing_of
from sda_engine.generate.morph import morph_request
from sda_engine.generate.oneshot_variations import (
    DEFAULT_VARIATIONS,
    HitPool,
    VariationOptions,
    render_variation,
    variation_strokes,
    without_selected,
)
from sda_engine.generate.oneshots import Candidate, render_oneshot, stream_seconds
from sda_engine.generate.phrases import STEERED, PhraseMaterial, render_phrase, stroke_pool
from sda_engine.generate.renderer import Renderer
from sda_engine.generate.request import GenerationRequest
from sda_engine.generate.session import ModelSession
from sda_engine.generate.sketch import RenderedAudio, Sketch
from sda_engine.store.generation_writer import (
    GenerationResult,
    check_output_dir,
    output_paths,
    refuse_existing,
    write_generation,
)

JOB = "generate"


def generate_files(session: ModelSession, request: GenerationRequest, output: str | Path | None = None, *,
                   overwrite: bool = False, on_event: ProgressCallback = ignore_events,
                   cancel: CancelToken | None = None) -> list[GenerationResult]:
    """``request.variations`` files with seeds ``seed, seed + 1, ...``.

    Args:
        session: the open model.
        request: what to generate.
        output: a file (``-v01``, ``-v02`` ... added for several variations) or a folder; default: new names in
            the history folder.
        overwrite: replace files already at ``output``; otherwise they are refused before any work.
        on_event / cancel: job ``generate`` (step = files written) with sub-jobs ``generate.sample`` and
            ``generate.vocode``; cancelling stops between steps.

    Raises:
        SdaError: impossible settings, a bad blended model, a taken file name (action ``overwrite``), an
            unwritable output folder, a full disk.
    """
    cancel = cancel or CancelToken()
    form, form_source = resolve_form(request, session.bundle.metadata, session.name)
    seeds = [request.seed + i for i in range(request.variations)]
    paths = output_paths(output, session.name, request.export.extension, seeds, session.home,
                         numbered=form == "oneshot")
    check_output_dir(paths[0].parent)
    if output is not None:  # names sda picks itself step on to a free one instead
        refuse_existing(paths, overwrite)
    render = form_renderer(session, request, form, form_source, on_event, cancel)
    renderer = render.renderer  # vocoder, blended models and controls, before any work
    n = len(seeds)
    what = f"{request.duration:g} s" if form == "texture" else ("one-shot(s)" if form == "oneshot"
                                                              else f"{request.duration:g} s phrase(s)")
    on_event(ProgressEvent(JOB, "start", step=0, total=n,
                           message=f"generating {n} x {what} with '{session.name}' "
                                   f"({renderer.vocoder_name} vocoder)"))
    results = []
    for i, (seed, path) in enumerate(zip(seeds, paths, strict=True)):
        cancel.raise_if_cancelled("generation")
        audio = render(seed)
        result = write_generation(audio, request, path, session, extra={"variation": i + 1, "variations": n},
                                  overwrite=overwrite, unique=output is None)
        results.append(result)
        on_event(ProgressEvent(JOB, "progress", step=i + 1, total=n, message=f"wrote {result.path.name}",
                               data={"path": str(result.path)}))
    on_event(ProgressEvent(JOB, "done", step=n, total=n, message=f"generated {n} file(s)",
                           data={"paths": [str(r.path) for r in results]}))
    return results


class FormRenderer:
    """Per seed, the audio of the resolved form: a texture as before (sample -> render), a one-shot (a variation
    of the material's hits, :mod:`~sda_engine.generate.oneshot_variations`, or without them a cut of a stream,
    :mod:`~sda_engine.generate.oneshots`) or a phrase (:mod:`~sda_engine.generate.phrases`)."""

    def __init__(self, session: ModelSession, request: GenerationRequest, form: str, source: str,
                 on_event: ProgressCallback, cancel: CancelToken,
                 variations: VariationOptions = DEFAULT_VARIATIONS) -> None:
        self.form, self.source, self.request, self.variations = form, source, request, variations
        self.on_event, self.cancel = on_event, cancel
        meta = session.bundle.metadata
        self.reference, self.has_reference = oneshot_reference_of(meta)
        self.timing = timing_of(meta)
        self.tone = room_tone_of(meta)
        if form == "texture":
            self.renderer = Renderer(session, request, detail_bank=material_detail(session, request, on_event))
            return
        controls = dict(request.control.controls)
        stream = request.replace(duration=stream_seconds(self.reference))
        if form == "phrase":  # density, pulse and rhythmic are realised by the phrase's timing, not the latent
            kept = tuple((k, v) for k, v in request.control.controls if k not in STEERED)
            stream = dataclasses.replace(stream, control=dataclasses.replace(stream.control, controls=kept))
        self.controls = controls
        # variations of the material's own hits (sda_engine.generate.oneshot_variations); a phrase's strokes only
        # from a set of one-shots, each trimmed at its decay
        self.pool = session.derived(f"hit-pool:{form == 'phrase'}",
                                    lambda: HitPool.of(session, oneshots_only=form == "phrase"))
        self.variation_request = stream.replace(form="oneshot") if form == "phrase" else request
        if self.pool is not None:  # the timbre controls choose the hits; the rest go to the decoder and vocoder
            self.renderer = Renderer(session, morph_request(without_selected(self.variation_request,
                                                                             variations.selectable)))
        else:
            self.renderer = Renderer(session, stream, detail_bank=material_detail(session, request, on_event))

    def __call__(self, seed: int) -> RenderedAudio:
        if self.form == "texture":
            return self.renderer.render(self.renderer.sample(seed, self.on_event, self.cancel), self.on_event,
                                        self.cancel)
        if self.form == "oneshot" and self.pool is not None:
            audio = render_variation(self.pool, self.renderer, self.request, seed, self.on_event, self.cancel,
                                     self.variations)
        elif self.form == "oneshot":
            audio = render_oneshot(self.renderer, seed, self.reference, self.timing.get("lengths") or (),
                                   self.on_event, self.cancel, has_reference=self.has_reference, tone=self.tone)
            audio.notes["form"]["method"] = "stream"
        else:
            audio = render_phrase(self.renderer, seed, self.request.duration, self.material, self.controls,
                                  self.request.bpm, self.on_event, self.cancel, strokes=self.strokes(seed))
            audio.notes["form"]["strokes"] = "variation" if self.pool is not None else "stream"
        audio.notes["form"]["source"] = self.source
        return audio


    @property
    def material(self) -> PhraseMaterial:
        return PhraseMaterial(self.reference, self.timing, self.tone)

    def strokes(self, seed: int) -> tuple[list[Candidate], RenderedAudio]:
        """A phrase's strokes for ``seed``: variations of the material's hits where it has them, else cuts of
        streams (:func:`~sda_engine.generate.phrases.stroke_pool`). Phrases of one seed with other timings may
        share them (``render_phrase(..., strokes=...)``)."""
        if self.pool is not None:
            return variation_strokes(self.pool, self.renderer, self.variation_request, seed, self.reference,
                                     self.on_event, self.cancel, self.variations)
        return stroke_pool(self.renderer, seed, self.reference, self.on_event, self.cancel)


def form_renderer(session: ModelSession, request: GenerationRequest, form: str, source: str,
                   on_event: ProgressCallback, cancel: CancelToken,
                   variations: VariationOptions = DEFAULT_VARIATIONS) -> FormRenderer:
    """What renders each seed of ``request`` in ``form`` (resolved by :func:`resolve_form`, ``source`` how;
    ``variations``: how one-shot variations are drawn)."""
    return FormRenderer(session, request, form, source, on_event, cancel, variations)


def write_sketch(session: ModelSession, sketch: Sketch, request: GenerationRequest,
                 output: str | Path | None = None, *, extra: dict[str, Any] | None = None, overwrite: bool = False,
                 on_event: ProgressCallback = ignore_events, cancel: CancelToken | None = None) -> GenerationResult:
    """Render ``sketch`` (an edited code grid, say) and write it like a generation: file, sidecar (``extra``
    added to its ``parameters``) and history entry. ``output`` and ``overwrite`` as in :func:`generate_files`."""
    path = output_paths(output, session.name, request.export.extension, [sketch.seed], session.home)[0]
    check_output_dir(path.parent)
    if output is not None:
        refuse_existing([path], overwrite)
    audio = Renderer(session, request).render(sketch, on_event, cancel)
    return write_generation(audio, request, path, session, extra=extra, overwrite=overwrite, unique=output is None)
