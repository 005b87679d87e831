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

from pathlib import Path
from typing import Any

from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events
from sda_engine.generate.renderer import Renderer
from sda_engine.generate.request import GenerationRequest
from sda_engine.generate.session import ModelSession
from sda_engine.generate.sketch import Sketch
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
    seeds = [request.seed + i for i in range(request.variations)]
    paths = output_paths(output, session.name, request.export.extension, seeds, session.home)
    check_output_dir(paths[0].parent)
    if output is not None:  # names sda picks itself step on to a free one instead
        refuse_existing(paths, overwrite)
    renderer = Renderer(session, request)  # vocoder, blended models and controls, before any work
    n = len(seeds)
    on_event(ProgressEvent(JOB, "start", step=0, total=n,
                           message=f"generating {n} x {request.duration:g} s with '{session.name}' "
                                   f"({renderer.vocoder_name} vocoder)"))
    results = []
    for i, (seed, path) in enumerate(zip(seeds, paths, strict=True)):
        cancel.raise_if_cancelled("generation")
        sketch = renderer.sample(seed, on_event, cancel)
        audio = renderer.render(sketch, on_event, cancel)
        result = write_generation(audio, request, path, session, extra={"variation": i + 1, "variations": n},
                                  overwrite=overwrite, unique=output is None)
        results.append(result)
        on_event(ProgressEvent(JOB, "progress", step=i + 1, total=n, message=f"wrote {result.path.name}",
                               data={"path": str(result.path)}))
    on_event(ProgressEvent(JOB, "done", step=n, total=n, message=f"generated {n} file(s)",
                           data={"paths": [str(r.path) for r in results]}))
    return results


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
