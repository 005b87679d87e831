"""Generation (``sda generate``): model → audio files with sidecars and history entries.

:func:`generate` loads a model (library name or ``.sda`` path), renders mono audio with
:mod:`sda_engine.rendering`, makes it stereo or binaural when asked, exports it with
:func:`sda_audio.export.export_audio` (sidecar JSON: model, its sha256, every parameter, seed, vocoder and
why, sda version) and records every output in the history. The same seed, parameters and device give
identical audio.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sda_audio.dataset import file_sha256
from sda_audio.errors import SdaError
from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events
from sda_engine.home import SdaHome
from sda_engine.rendering import SAMPLE_RATE, RenderSettings, render_mono

log = logging.getLogger(__name__)

MAX_SECONDS = 600.0
CHANNELS = ("mono", "stereo", "binaural")
STEREO_METHODS = ("decorrelate", "mid_side", "dual")
DUAL_SEED_OFFSET = 1_000_003


@dataclass
class GenerationResult:
    """One generated file.

    Attributes:
        path / sidecar: the audio file and its ``<file>.json`` sidecar.
        seed: the seed of this variation; duration: seconds.
        vocoder / vocoder_reason: which vocoder rendered it and why.
        blend_method: ``"latent"`` (related models decode one latent path), ``"mix"`` (audio mix), or None.
        history_id: the history entry's id.
        parameters: everything that shaped the sound (also in the sidecar).
    """

    path: Path
    sidecar: Path
    seed: int
    duration: float
    model: str
    model_sha256: str
    vocoder: str
    vocoder_reason: str
    blend_method: str | None = None
    history_id: int | None = None
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["path"], out["sidecar"] = str(self.path), str(self.sidecar)
        return out


def _resolve_model(model: str | Path, home: SdaHome) -> tuple[Path, str]:
    from sda_engine.library import ModelLibrary

    text = str(model)
    candidate = Path(text).expanduser()
    if candidate.is_file():
        return candidate, candidate.name.removesuffix(".sda")
    if text.endswith(".sda") or "/" in text:
        raise SdaError("model file not found", path=candidate, hint="check the path or use a library name")
    direct = home.model_path(text)
    try:
        path = ModelLibrary(home).resolve(text)
    except SdaError:
        if direct.is_file():
            return direct, text
        raise SdaError(f"no model named '{text}'",
                       hint="`sda models list` shows your models; train one first") from None
    return Path(path), text


def _select_vocoder(choice: str, bundle: Any, name: str, model_path: Path, home: SdaHome,
                    device: torch.device) -> tuple[Any, str, str]:
    """``(vocoder, name, reason)`` via :func:`sda_models.vocoders.select.select_vocoder` when available."""
    index_path = home.corpus_index_path(name) if _valid_name(name) else None
    meta_index = bundle.metadata.get("corpus_index")
    if (index_path is None or not index_path.is_file()) and meta_index and Path(meta_index).is_file():
        index_path = Path(meta_index)
    if index_path is None or not index_path.is_file():
        index_path = _find_or_rebuild_corpus_index(bundle, name, model_path, home, index_path)
    from sda_models.vocoders.select import select_vocoder

    voc_meta = bundle.metadata.get("vocoder") or {}
    vocoder, why = select_vocoder(choice, bundle_vocoder_tensors=bundle.vocoder_tensors,
                                  bundle_vocoder_config=voc_meta.get("config"), corpus_index_path=index_path,
                                  device=device, bundle_vocoder_validation=voc_meta.get("validation"))
    return vocoder, why.name, why.reason


def _find_or_rebuild_corpus_index(bundle: Any, name: str, model_path: Path, home: SdaHome,
                                  library_path: Path | None) -> Path | None:
    """The corpus index beside the model file, or one rebuilt from the training files when they are
    still on disk (a model imported without its index); ``None`` when neither is possible."""
    from sda_models.vocoders.corpus_index import corpus_index_path_for

    beside = corpus_index_path_for(model_path)
    if beside.is_file():
        return beside
    files = [Path(f) for f in bundle.metadata.get("dataset", {}).get("files", [])]
    if library_path is None or not files or not all(f.is_file() for f in files):
        return None
    from sda_engine.finishing import build_corpus_index

    log.info("rebuilding the corpus index of %s from its %d training files", name, len(files))
    return build_corpus_index(home, name, files, ignore_events, None)


def _valid_name(name: str) -> bool:
    from sda_engine.home import validate_name

    try:
        validate_name(name)
    except SdaError:
        return False
    return True


def _check_output_dir(folder: Path) -> None:
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


def _stereo(mono: np.ndarray, method: str, seed: int, render_second: Any) -> np.ndarray:
    """``(2, T)``: ``dual`` = a second generation for the right channel; else :func:`mono_to_stereo`."""
    if method == "dual":
        right = render_second()
        return np.stack([mono, right[: mono.shape[0]]])
    from sda_audio.spatial import mono_to_stereo

    return np.asarray(mono_to_stereo(mono, SAMPLE_RATE, method=method, seed=seed), dtype=np.float32)


def _binaural(mono: np.ndarray, azimuth: float, elevation: float) -> np.ndarray:
    from sda_audio.spatial import binaural_render

    return np.asarray(binaural_render(mono, SAMPLE_RATE, azimuth, elevation), dtype=np.float32)


def _output_paths(output: str | Path | None, name: str, seeds: list[int], ext: str, home: SdaHome) -> list[Path]:
    ext = ext.lstrip(".")
    if output is None:
        from sda_engine.history import History

        base = History(home).new_audio_path(name, seeds[0], ext)
    else:
        out = Path(output).expanduser()
        if out.is_dir() or str(output).endswith(("/", "\\")) or not out.suffix:
            base = out / f"{name}_s{seeds[0]}.{ext}"
        else:
            base = out if out.suffix.lstrip(".").lower() == ext else out.with_suffix(f".{ext}")
    if len(seeds) == 1:
        return [base]
    return [base.with_name(f"{base.stem}-v{i + 1:02d}{base.suffix}") for i in range(len(seeds))]


def generate(
    model: str | Path,
    duration: float,
    seed: int = 0,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    density: float = 1.0,
    channels: str = "mono",
    stereo_method: str = "decorrelate",
    format: str = "wav",
    sample_rate: int = 48000,
    bit_depth: int = 24,
    variations: int = 1,
    vocoder: str = "auto",
    output: str | Path | None = None,
    blend: Sequence[tuple[str | Path, float]] | None = None,
    azimuth: float = 30.0,
    elevation: float = 0.0,
    loudness_lufs: float | None = None,
    device: str = "auto",
    on_event: ProgressCallback = ignore_events,
    cancel: CancelToken | None = None,
    home: SdaHome | str | Path | None = None,
) -> list[GenerationResult]:
    """Generate ``variations`` audio files from a model.

    Args:
        model: a library name or a path to a ``.sda`` file.
        duration: seconds, 0 < duration <= 600.
        seed: the first variation's seed (variation ``i`` uses ``seed + i``).
        temperature / top_k / top_p: sampling controls (RVQ prior; for a VAE, temperature scales the
            latent spread).
        density: 0.1..2 (1 = as generated); see :mod:`sda_engine.rendering`.
        channels: ``mono``, ``stereo`` or ``binaural``; stereo_method: ``decorrelate``, ``mid_side``
            (both from :mod:`sda_audio.spatial`) or ``dual`` (two independent generations, seeds
            ``s`` and ``s + 1000003``).
        format / sample_rate / bit_depth / loudness_lufs: export settings (wav|flac|mp3|ogg).
        vocoder: ``auto``, ``corpus``, ``hifigan`` or ``bigvgan`` (see ``select_vocoder``).
        output: a file path or a folder (default: the history folder). With variations, ``-v01``, ``-v02``
            ... are added to the file name.
        blend: extra ``[(model, weight), ...]`` to blend with ``model`` (whose weight is
            ``1 - sum(weights)`` if positive, else 1): related models (same kind and latent size, common
            lineage) decode one latent path and their log-mels are mixed ("latent"); otherwise each model
            generates on its own and the audio is mixed ("mix").
        azimuth / elevation: binaural source direction in degrees.
        device: ``auto``, ``cpu``, ``cuda``, ``mps``.

    Returns:
        One :class:`GenerationResult` per variation.

    Raises:
        SdaError: missing model, impossible duration, bad options, unwritable output folder, full disk.
    """
    from sda_audio.export import ExportSettings, export_audio
    from sda_engine.history import History
    from sda_models.device import resolve_device
    from sda_models.model_file import load_model

    cancel = cancel or CancelToken()
    home = home if isinstance(home, SdaHome) else SdaHome(home)
    if not (duration > 0) or duration > MAX_SECONDS:
        raise SdaError(f"cannot generate {duration} s of audio", hint="choose a duration from 0.1 to 600 seconds")
    if channels not in CHANNELS:
        raise SdaError(f"unknown channel layout '{channels}'", hint="use mono, stereo or binaural")
    if stereo_method not in STEREO_METHODS:
        raise SdaError(f"unknown stereo method '{stereo_method}'", hint="use decorrelate, mid_side or dual")
    if not 0.1 <= density <= 2.0:
        raise SdaError(f"density {density} is outside 0.1..2", hint="1 = as generated; lower = sparser")
    if variations < 1 or variations > 100:
        raise SdaError(f"cannot make {variations} variations", hint="choose 1 to 100")
    settings_out = ExportSettings(format=format, sample_rate=sample_rate, bit_depth=bit_depth,
                                  channels="mono" if channels == "mono" else "stereo",
                                  loudness_lufs=loudness_lufs)
    dev = resolve_device(device)
    model_path, name = _resolve_model(model, home)
    bundle = load_model(model_path, dev)
    model_sha = file_sha256(model_path)
    voc, voc_name, voc_reason = _select_vocoder(vocoder, bundle, name, model_path, home, dev)
    groups, blend_method, blend_info = _blend_groups(bundle, name, blend, home, dev, voc)
    seeds = [seed + i for i in range(variations)]
    paths = _output_paths(output, name, seeds, settings_out.extension, home)
    _check_output_dir(paths[0].parent)
    history = History(home)
    results = []
    on_event(ProgressEvent("generate", "start", step=0, total=variations,
                           message=f"generating {variations} x {duration:g} s with '{name}' ({voc_name} vocoder)"))
    for i, (s, path) in enumerate(zip(seeds, paths)):
        cancel.raise_if_cancelled("generation")
        rs = RenderSettings(duration=duration, seed=s, temperature=temperature, top_k=top_k, top_p=top_p,
                            density=density)
        mono = _render_groups(groups, rs, dev, on_event, cancel)
        if channels == "stereo":
            def second(rs: RenderSettings = rs) -> np.ndarray:
                alt = RenderSettings(**{**asdict(rs), "seed": rs.seed + DUAL_SEED_OFFSET})
                return _render_groups(groups, alt, dev, on_event, cancel)
            audio = _stereo(mono, stereo_method, s, second)
        elif channels == "binaural":
            audio = _binaural(mono, azimuth, elevation)
        else:
            audio = mono[None]
        params = {"duration": duration, "seed": s, "temperature": temperature, "top_k": top_k, "top_p": top_p,
                  "density": density, "channels": channels, "stereo_method": stereo_method if channels == "stereo"
                  else None, "azimuth": azimuth if channels == "binaural" else None,
                  "elevation": elevation if channels == "binaural" else None, "format": format,
                  "sample_rate": sample_rate, "bit_depth": bit_depth, "loudness_lufs": loudness_lufs,
                  "variation": i + 1, "variations": variations, "device": str(dev), "blend": blend_info}
        metadata = {"model": name, "model_sha256": model_sha, "model_kind": bundle.kind, "parameters": params,
                    "seed": s, "vocoder": voc_name, "vocoder_reason": voc_reason, "blend_method": blend_method,
                    "sda_version": _sda_version(), "comment": f"sda {name} seed {s}"}
        written = export_audio(audio, SAMPLE_RATE, path, settings_out, metadata)
        sidecar = written.with_name(written.name + ".json")
        entry = history.record(name, model_sha, params, s, written, sidecar, vocoder=voc_name,
                               vocoder_reason=voc_reason, duration=duration, sample_rate=sample_rate,
                               format=settings_out.format)
        results.append(GenerationResult(path=written, sidecar=sidecar, seed=s, duration=duration, model=name,
                                        model_sha256=model_sha, vocoder=voc_name, vocoder_reason=voc_reason,
                                        blend_method=blend_method, history_id=getattr(entry, "id", None),
                                        parameters=params))
        on_event(ProgressEvent("generate", "progress", step=i + 1, total=variations,
                               message=f"wrote {written.name}", data={"path": str(written)}))
    on_event(ProgressEvent("generate", "done", step=variations, total=variations,
                           message=f"generated {variations} file(s)", data={"paths": [str(r.path) for r in results]}))
    return results


def _sda_version() -> str:
    from sda_engine import __version__

    return __version__


def _lineage(bundle: Any) -> str | None:
    return (bundle.metadata.get("lineage") or {}).get("id")


def _blend_groups(bundle: Any, name: str, blend: Sequence[tuple[str | Path, float]] | None, home: SdaHome,
                  dev: torch.device, vocoder: Any) -> tuple[list[Group], str | None, list[dict[str, Any]] | None]:
    """Groups of models: one group decodes one latent path (mixed log-mels) and is vocoded once with the
    group's vocoder; several groups are mixed as audio (each model with its own vocoder)."""
    from sda_models.model_file import load_model

    if not blend:
        return [Group([(bundle, 1.0)], vocoder)], None, None
    others = []
    for other, weight in blend:
        if weight < 0:
            raise SdaError(f"blend weight {weight} for '{other}' is negative", hint="use weights from 0 to 1")
        path, oname = _resolve_model(other, home)
        others.append((load_model(path, dev), float(weight), oname, path))
    rest = 1.0 - sum(o[1] for o in others)
    primary_w = rest if rest > 0 else 1.0
    compatible = all(b.kind == bundle.kind and b.autoencoder.config.latent_dim == bundle.autoencoder.config.latent_dim
                     and _lineage(b) is not None and _lineage(b) == _lineage(bundle) for b, _, _, _ in others)
    info = [{"model": name, "weight": primary_w}] + [{"model": n, "weight": w} for _, w, n, _ in others]
    if compatible:
        return [Group([(bundle, primary_w)] + [(b, w) for b, w, _, _ in others], vocoder)], "latent", info
    groups = [Group([(bundle, primary_w)], vocoder)]
    for b, w, oname, path in others:
        groups.append(Group([(b, w)], _select_vocoder("auto", b, oname, path, home, dev)[0]))
    return groups, "mix", info


@dataclass
class Group:
    """Models decoded from one latent path, and the vocoder that renders their mixed log-mel."""

    members: list[tuple[Any, float]]
    vocoder: Any


def _render_groups(groups: list[Group], rs: RenderSettings, dev: torch.device,
                   on_event: ProgressCallback, cancel: CancelToken) -> np.ndarray:
    if len(groups) == 1:
        return render_mono(groups[0].members, groups[0].vocoder, rs, dev, on_event, cancel)[0]
    total = sum(sum(w for _, w in g.members) for g in groups)
    mix = None
    for g in groups:
        audio = render_mono(g.members, g.vocoder, rs, dev, on_event, cancel)[0]
        rms = float(np.sqrt(np.mean(audio**2))) or 1.0
        part = audio / rms * (sum(w for _, w in g.members) / total)  # loudness-matched mix by weight
        mix = part if mix is None else mix + part
    assert mix is not None
    peak = float(np.max(np.abs(mix))) or 1.0
    return (mix / peak * 0.9).astype(np.float32)
