"""Writing a generation: the audio file, its ``<file>.json`` sidecar and its history entry.

:func:`write_generation` takes rendered audio and the request that made it (the object, never a dict of it)
and writes them as the request asks (format, rate, bit depth, loudness). Files are created, never silently
replaced: a name that is taken (the audio or its sidecar) is refused unless ``overwrite`` is given, and the
name is claimed with an exclusive create (``O_EXCL``), so of two generations racing for one name exactly one
wins, and each history entry points at the file its own generation made. Names sda picks itself (the history
folder) step on to ``-2``, ``-3`` ... instead.

The sidecar is :func:`sda_audio.export.export_audio`'s report; what generation adds sits under ``metadata``:

- ``model``, ``model_sha256``, ``model_kind``;
- ``request``: the nested :class:`~sda_engine.generate.request.GenerationRequest` of exactly this file
  (``variations`` 1, its own seed). ``request.render.seed`` is the one place the seed is stored;
- ``parameters``: the request's other fields, flat, with the run's ``variation``, ``variations``, ``device``
  and ``blend`` (``[{"model", "weight"}]``, main model first) and what the caller adds (``code_grid``, ...);
- ``vocoder``, ``vocoder_reason``, ``blend_method``, ``notes`` (how the request was realised), ``sda_version``,
  ``comment`` (also written into the file's tags).

A sketch that was not sampled (an edited code grid, a codebook entry) has no seed: its ``request.render.seed`` is
the request's and did not shape the sound, and ``parameters`` say where it came from (``code_grid``,
``codebook_entry``). Sidecars written before kept the seed three more times (``metadata.seed``,
``metadata.parameters.seed`` and in ``metadata.comment``); ``metadata.request`` was there too and reads the same.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from sda_audio.errors import SdaError
from sda_audio.export import export_audio
from sda_engine import __version__
from sda_engine.generate.request import GenerationRequest
from sda_engine.generate.sketch import RenderedAudio
from sda_engine.store.history import History, HistoryRecord, claim_file, taken_error
from sda_engine.store.home import SdaHome

log = logging.getLogger(__name__)

RUN_KEYS = ("variation", "variations", "device", "blend")
"""The ``parameters`` keys a history row keeps under ``run`` (not settings: how this file was made)."""
MIN_FREE_BYTES = 16 * 1024 * 1024


class GeneratingModel(Protocol):
    """What the writer needs to know of the model (a :class:`~sda_engine.generate.session.ModelSession`)."""

    name: str
    sha256: str
    device: torch.device
    home: SdaHome

    @property
    def kind(self) -> str: ...


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
        parameters: the sidecar's ``parameters`` (flat settings without the seed, and the run's details).
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


def sidecar_path(path: Path) -> Path:
    """``take.wav`` -> ``take.wav.json``."""
    return path.with_name(path.name + ".json")


def output_paths(output: str | Path | None, model_name: str, extension: str, seeds: list[int | None],
                 home: SdaHome, numbered: bool = False) -> list[Path]:
    """Where files go: ``output`` as a file (``-v01``, ``-v02`` ... added for several) or a folder
    (``<model>_s<seed>.<ext>``), or, without ``output``, a fresh path in the history folder. ``numbered`` (one-shots:
    a folder a sampler loads) names the files of a folder ``<model>_001.<ext>``, ``<model>_002.<ext>`` ..."""
    ext = extension.lstrip(".")
    seed = seeds[0]
    if numbered and output is not None:
        out = Path(output).expanduser()
        if out.is_dir() or str(output).endswith(("/", "\\")) or not out.suffix:
            return [out / f"{model_name}_{i + 1:03d}.{ext}" for i in range(len(seeds))]
    if output is None:
        base = History(home).new_audio_path(model_name, seed, ext)
    else:
        out = Path(output).expanduser()
        if out.is_dir() or str(output).endswith(("/", "\\")) or not out.suffix:
            base = out / (f"{model_name}_s{seed}.{ext}" if seed is not None else f"{model_name}.{ext}")
        else:
            base = out if out.suffix.lstrip(".").lower() == ext else out.with_suffix(f".{ext}")
    if len(seeds) == 1:
        return [base]
    return [base.with_name(f"{base.stem}-v{i + 1:02d}{base.suffix}") for i in range(len(seeds))]


def check_output_dir(folder: Path) -> None:
    """Fail early, naming the folder, when it cannot be created or written, or the disk is full."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SdaError(f"cannot create the output folder ({exc.strerror})", path=folder,
                       hint="choose a folder you can write to") from exc
    try:  # a probe of its own, so that two generations checking one folder at once do not trip each other
        fd, probe = tempfile.mkstemp(prefix=".sda-write-test.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise SdaError(f"the output folder is not writable ({exc.strerror})", path=folder,
                       hint="choose a folder you can write to") from exc
    if shutil.disk_usage(folder).free < MIN_FREE_BYTES:
        raise SdaError("the disk is full (less than 16 MB free)", path=folder, hint="free some space first")


def refuse_existing(paths: list[Path], overwrite: bool = False) -> None:
    """Raise (action ``overwrite``) when one of ``paths`` or its sidecar is already there and ``overwrite`` is
    not given. An early check, before any work; :func:`write_generation` claims each name for real."""
    if overwrite:
        return
    for path in paths:
        for target in (path, sidecar_path(path)):
            if target.exists():
                raise taken_error(target)


def claim(path: Path) -> list[Path]:
    """Claim an audio file and its sidecar (:func:`claim_file`); returns both, or raises when either is taken."""
    claim_file(path)
    try:
        return [path, claim_file(sidecar_path(path))]
    except SdaError:
        path.unlink(missing_ok=True)
        raise


def claim_unique(path: Path) -> tuple[Path, list[Path]]:
    """``path``, or ``<stem>-2<ext>``, ``<stem>-3<ext>`` ...: the first name this call could :func:`claim`."""
    n = 1
    while True:
        candidate = path if n == 1 else path.with_name(f"{path.stem}-{n}{path.suffix}")
        try:
            return candidate, claim(candidate)
        except SdaError:
            n += 1


@contextlib.contextmanager
def claimed(path: Path, overwrite: bool = False, unique: bool = False) -> Iterator[Path]:
    """The name to write: ``path`` claimed exclusively (``unique``: the next free ``-N`` name), or ``path`` as it
    is with ``overwrite``. Claimed names are removed again when the block fails."""
    if overwrite:
        yield path
        return
    target, owned = claim_unique(path) if unique else (path, claim(path))
    try:
        yield target
    except BaseException:
        for p in owned:
            p.unlink(missing_ok=True)
        raise


def write_generation(audio: RenderedAudio, request: GenerationRequest, path: str | Path, model: GeneratingModel,
                     *, extra: dict[str, Any] | None = None, overwrite: bool = False, unique: bool = False
                     ) -> GenerationResult:
    """Export ``audio`` to ``path`` as ``request`` asks, with its sidecar, and record it in the history.

    Args:
        audio: what the renderer made (its seed, vocoder, notes and blend go into the sidecar).
        request: the request that made it (any ``variations``; the sidecar and history keep the one of this
            file: ``variations=1``, the audio's seed).
        path: the file, with the format's extension.
        model: the model it came from (name, sha256, kind, device, home).
        extra: keys added to the sidecar's ``parameters`` (``variation``, ``code_grid``, ...).
        overwrite: replace a file (and sidecar) already at ``path``; otherwise such a file is refused.
        unique: a name sda picked itself: when it is taken, write ``<stem>-2``, ``-3`` ... instead.

    Raises:
        SdaError: the name is taken (action ``overwrite``), the folder is unwritable or the disk full.
    """
    one = request.with_seed(audio.seed) if audio.seed is not None else request.replace(variations=1)
    parameters = {k: v for k, v in one.to_flat().items() if k != "seed"}
    parameters.update({"device": str(model.device), "blend": audio.blend, **(extra or {})})
    metadata = {"model": model.name, "model_sha256": model.sha256, "model_kind": model.kind,
                "request": one.to_dict(), "parameters": parameters, "vocoder": audio.vocoder,
                "vocoder_reason": audio.vocoder_reason, "blend_method": audio.blend_method, "notes": audio.notes,
                "sda_version": __version__, "comment": f"sda {model.name}"}
    settings = request.export.settings("mono" if audio.samples.shape[0] == 1 else "stereo")
    with claimed(Path(path), overwrite, unique) as target:
        written = export_audio(audio.samples, audio.sample_rate, target, settings, metadata)
    sidecar = sidecar_path(written)
    history_params = {**one.to_dict(), "run": {k: v for k, v in parameters.items() if k in RUN_KEYS}}
    entry = History(model.home).record(HistoryRecord(
        model.name, model.sha256, history_params, audio.seed, written, sidecar, vocoder=audio.vocoder,
        vocoder_reason=audio.vocoder_reason, duration=audio.duration, sample_rate=request.sample_rate,
        format=request.format))
    log.info("wrote %s (history #%s)", written, entry.id)
    return GenerationResult(path=written, sidecar=sidecar, seed=audio.seed, duration=audio.duration,
                            model=model.name, model_sha256=model.sha256, vocoder=audio.vocoder,
                            vocoder_reason=audio.vocoder_reason, blend_method=audio.blend_method,
                            history_id=entry.id, request=one, parameters=parameters, notes=dict(audio.notes))
