"""Hearing what a model knows: each recording through encode -> decode -> vocoder, written beside its name.

Generation cannot sound better than what a model reconstructs, so a musician judges a model first by its
reconstructions of their own files (``sda reconstruct``). The path is the product's: the sketch comes from
:func:`~sda_engine.generate.encoding.encode_audio` (an RVQ model's code grid, a VAE's posterior mean), and is
rendered and written by :func:`~sda_engine.generate.pipeline.write_sketch` (default vocoder, export settings,
sidecar, history). Loudness is left as decoded (``dynamics=0``) and the output is mono, so what you hear is the
model, not the finishing steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sda_audio.errors import SdaError
from sda_audio.io import read_audio
from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events
from sda_engine.generate.encoding import encode_audio
from sda_engine.generate.pipeline import write_sketch
from sda_engine.generate.request import GenerationRequest
from sda_engine.generate.session import ModelSession
from sda_engine.store.generation_writer import GenerationResult, refuse_existing

JOB = "reconstruct"


def reconstruction_paths(files: Sequence[Path], folder: Path, extension: str) -> list[Path]:
    """``folder/<original stem>.<ext>`` per file; two originals with one stem are refused (one would be lost)."""
    paths = [folder / f"{Path(f).stem}.{extension}" for f in files]
    seen: dict[Path, Path] = {}
    for original, path in zip(files, paths, strict=True):
        if path in seen:
            raise SdaError(f"{seen[path].name} and {Path(original).name} would both be written as {path.name}",
                           path=original, hint="reconstruct them into separate folders")
        seen[path] = Path(original)
    return paths


def reconstruct_files(session: ModelSession, files: Sequence[str | Path], folder: str | Path,
                      request: GenerationRequest | None = None, *, overwrite: bool = False,
                      on_event: ProgressCallback = ignore_events,
                      cancel: CancelToken | None = None) -> list[GenerationResult]:
    """Write each of ``files`` as ``session``'s model hears it into ``folder`` (named after the original).

    ``request`` gives the export and vocoder settings (default: the request defaults, mono, loudness as decoded);
    its duration is each file's own. Every name is checked before any work, so an existing file is refused
    (without ``overwrite``) before the first reconstruction is made."""
    sources = [Path(f).expanduser() for f in files]
    if not sources:
        raise SdaError("no recordings to reconstruct", hint="give one or more audio files")
    base = (request or GenerationRequest()).replace(channels="mono", dynamics=0.0, variations=1)
    out = Path(folder).expanduser()
    if out.exists() and not out.is_dir():
        raise SdaError(f"{out} is a file, not a folder", path=out, hint="give a folder to write the reconstructions into")
    out.mkdir(parents=True, exist_ok=True)
    targets = reconstruction_paths(sources, out, base.export.extension)
    refuse_existing(targets, overwrite)
    results = []
    on_event(ProgressEvent(JOB, "start", 0, len(sources), f"reconstructing {len(sources)} file(s)"))
    for i, (source, target) in enumerate(zip(sources, targets, strict=True)):
        if cancel is not None:
            cancel.raise_if_cancelled("reconstruction")
        clip = read_audio(source, mono=True)
        sketch = encode_audio(session, clip.samples, clip.sample_rate)
        seconds = max(0.1, round(clip.samples.shape[-1] / clip.sample_rate, 3))
        extra = {"reconstruction_of": {"path": str(source.resolve()), "seconds": seconds}}
        results.append(write_sketch(session, sketch, base.replace(duration=seconds), target, extra=extra,
                                    overwrite=overwrite, cancel=cancel))
        on_event(ProgressEvent(JOB, "progress", i + 1, len(sources), f"{source.name} -> {target.name}"))
    on_event(ProgressEvent(JOB, "done", len(sources), len(sources), f"{len(sources)} reconstruction(s) in {out}"))
    return results
