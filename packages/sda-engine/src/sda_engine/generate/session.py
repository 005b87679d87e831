"""A loaded model kept warm between calls: :class:`ModelSession`.

``ModelSession.open(name_or_path, device)`` resolves a library name or a ``.sda`` path, loads the weights and
hashes the file once. For as long as it lives it keeps what generating from that model needs and is costly to
make again:

- the vocoders, chosen once per choice (:meth:`ModelSession.vocoder`), and the corpus index they need (found
  beside the model or in the library, or rebuilt from the training files: :meth:`ModelSession.corpus_index`);
- the models it is blended with (:meth:`ModelSession.partner`), opened on the same device.

It does nothing else. :class:`~sda_engine.generate.renderer.Renderer` turns a request and a sketch into audio,
:func:`~sda_engine.store.generation_writer.write_generation` writes the file, its sidecar and its history
entry, and :mod:`sda_engine.generate.pipeline` composes them for ``sda generate`` and the GUI.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from sda_audio.errors import Cancelled, SdaError
from sda_audio.files import file_sha256
from sda_engine.store.home import SdaHome, validate_name
from sda_engine.store.library import ModelLibrary
from sda_models.device import resolve_device
from sda_models.mel import MelConfig
from sda_models.model_file import ModelBundle, load_model
from sda_models.vocoders.base import Vocoder
from sda_models.vocoders.corpus_index import CorpusIndex, corpus_index_path_for
from sda_models.vocoders.select import select_vocoder

log = logging.getLogger(__name__)
T = TypeVar("T")

MEL = MelConfig()
_UNSET = object()  # the corpus index before it is first looked for


def resolve_model(model: str | Path, home: SdaHome) -> tuple[Path, str]:
    """``(path, name)`` of a library name or a ``.sda`` path."""
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
    """One loaded model, its vocoders and the models blended with it. Build it with :meth:`open`.

    Attributes:
        bundle: the loaded model (:class:`~sda_models.model_file.ModelBundle`).
        path / name / sha256: its file, its name (library name or file stem), the file's SHA-256.
        device: where it runs; home: the sda home (library, history, corpus indexes).
        bigvgan_weights: a local BigVGAN checkpoint (or its folder) for the ``bigvgan`` and ``auto`` vocoders;
            ``None`` looks where :mod:`sda_models.vocoders.bigvgan_weights` looks by default.

    It is not thread-safe: a GUI lends one to one caller at a time.
    """

    def __init__(self, bundle: ModelBundle, path: Path, name: str, sha256: str, device: torch.device,
                 home: SdaHome, bigvgan_weights: Path | None = None) -> None:
        self.bundle, self.path, self.name, self.sha256 = bundle, path, name, sha256
        self.device, self.home, self.bigvgan_weights = device, home, bigvgan_weights
        self._vocoders: dict[str, tuple[Vocoder, str, str]] = {}
        self._partners: dict[str, ModelSession] = {}
        self._corpus_index: object = _UNSET
        self._loaded_index: object = _UNSET
        self._derived: dict[str, Any] = {}

    @classmethod
    def open(cls, model: str | Path, device: str | torch.device = "auto", home: SdaHome | str | Path | None = None,
             bigvgan_weights: str | Path | None = None) -> ModelSession:
        """Load ``model`` (a library name or a ``.sda`` path) onto ``device`` (``auto``, ``cpu``, ``cuda``,
        ``mps``; ``SDA_DEVICE`` overrides ``auto``)."""
        home = home if isinstance(home, SdaHome) else SdaHome(home)
        dev = device if isinstance(device, torch.device) else resolve_device(device)
        path, name = resolve_model(model, home)
        weights = Path(bigvgan_weights).expanduser() if bigvgan_weights is not None else None
        return cls(load_model(path, dev), path, name, file_sha256(path), dev, home, weights)

    def use_bundle(self, bundle: ModelBundle) -> None:
        """Render with ``bundle`` from now on (e.g. the same model with its controls realised another way).
        Vocoders and blend partners are kept; what was derived from the old bundle (:meth:`derived`) is not."""
        self.bundle = bundle
        self._derived.clear()

    # -- what the model is -----------------------------------------------------------------------
    @property
    def kind(self) -> str:
        """``"rvq"`` (codes + prior) or ``"vae"`` (continuous latents)."""
        return str(self.bundle.autoencoder.config.kind)

    @property
    def sample_rate(self) -> int:
        """The rate of everything the model renders (:class:`~sda_models.mel.MelConfig`'s)."""
        return MEL.sampling_rate

    @property
    def frame_seconds(self) -> float:
        """Seconds per latent frame (one column of a code grid)."""
        return self.bundle.autoencoder.config.downsample * MEL.hop_length / MEL.sampling_rate

    # -- what it keeps warm ----------------------------------------------------------------------
    def vocoder(self, choice: str = "auto") -> tuple[Vocoder, str, str]:
        """``(vocoder, name, reason)`` for ``choice`` (``auto``, ``hifigan``, ``bigvgan``, ``corpus``), chosen
        once per session and kept."""
        if choice not in self._vocoders:
            voc_meta = self.bundle.metadata.get("vocoder") or {}
            vocoder, why = select_vocoder(choice, bundle_vocoder_tensors=self.bundle.vocoder_tensors,
                                          bundle_vocoder_config=voc_meta.get("config"),
                                          corpus_index_path=self.corpus_index(), bigvgan_weights=self.bigvgan_weights,
                                          device=self.device, bundle_vocoder_validation=voc_meta.get("validation"))
            self._vocoders[choice] = (vocoder, why.name, why.reason)
        return self._vocoders[choice]

    def partner(self, model: str | Path) -> ModelSession:
        """A session for a model blended with this one (opened once, on this device)."""
        key = str(model)
        if key not in self._partners:
            self._partners[key] = ModelSession.open(model, self.device, self.home, self.bigvgan_weights)
        return self._partners[key]

    def loaded_corpus_index(self) -> CorpusIndex | None:
        """The model's corpus index, read once per session and shared with its corpus vocoder when that is
        loaded (``None`` without one). Raises what :meth:`CorpusIndex.load` raises for an unreadable index."""
        if self._loaded_index is _UNSET:
            from sda_models.vocoders.corpus import CorpusVocoder

            loaded = next((v.index for v, _, _ in self._vocoders.values() if isinstance(v, CorpusVocoder)), None)
            if loaded is None:
                path = self.corpus_index()
                loaded = CorpusIndex.load(path) if path is not None else None
            self._loaded_index = loaded
        return self._loaded_index  # type: ignore[return-value]

    def training_audio(self, index: CorpusIndex, file_index: int) -> np.ndarray | None:
        """File ``file_index`` of the corpus ``index`` as mono float32 at the model's rate, or ``None`` when it is
        empty or silent (nothing to vary or learn detail from)."""
        from sda_audio.resample import resample

        rate = index.mel_config.sampling_rate
        mono = index.file_audio(file_index)
        if rate != self.sample_rate:
            mono = np.asarray(resample(mono[None], rate, self.sample_rate), dtype=np.float32)[0]
        return mono if mono.size and np.any(np.abs(mono) > 1e-6) else None

    def derived(self, key: str, make: Callable[[], T]) -> T:
        """A value derived from this model (a hit pool, a detail bank), made on first use and kept for the
        session (until :meth:`use_bundle`)."""
        if key not in self._derived:
            self._derived[key] = make()
        return self._derived[key]

    def corpus_index(self) -> Path | None:
        """The corpus index in the library, beside the model file or named in its metadata; rebuilt from the
        training files when they are still on disk (a model imported without its index). Looked for once."""
        if self._corpus_index is _UNSET:
            self._corpus_index = self._find_corpus_index()
        return self._corpus_index  # type: ignore[return-value]

    def _find_corpus_index(self) -> Path | None:
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
        log.info("rebuilding the corpus index of %s from its %d training files", self.name, len(files))
        try:  # as training builds it (sda_engine.train.finishing.build_corpus_index), without its events
            index = CorpusIndex.build(files)
        except Cancelled:
            raise
        except SdaError as exc:
            log.warning("no corpus index for %s: %s", self.name, exc)
            return None
        return index.save(library_path)


def _valid_name(name: str) -> bool:
    try:
        validate_name(name)
    except SdaError:
        return False
    return True
