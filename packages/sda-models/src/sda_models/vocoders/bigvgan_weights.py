"""Finding, downloading and safely loading the pretrained BigVGAN-v2 generator weights.

Order of resolution: an explicit local path (the ``local_path`` argument: the CLI passes its
``--bigvgan-weights`` or, read at the app edge, the ``SDA_BIGVGAN_WEIGHTS`` environment variable; this module
reads no environment variable of sda's own) → the Hugging Face cache → a download on first use
(``hf_hub_download`` of ``bigvgan_generator.pt`` + ``config.json`` from ``nvidia/bigvgan_v2_44khz_128band_512x``,
reported as ``ProgressEvent(job="download")``). Offline without a cached copy is a clear :class:`SdaError`.

Loading never unpickles arbitrary objects: ``.pt`` files go through ``torch.load(weights_only=True)``, and a
safetensors copy can be cached so later loads skip the pickle format entirely. Names and shapes are checked
against the architecture before ``load_state_dict(strict=True)``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sda_audio.atomic import atomic_path
from sda_audio.errors import SdaError
from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events
from sda_models.vocoders.bigvgan import (
    BIGVGAN_V2_44K_128BAND_512X,
    HF_REPO_ID,
    BigVGANConfig,
    BigVGANGenerator,
    expected_shapes,
)

logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "bigvgan_generator.pt"
CONFIG_FILE = "config.json"
DEFAULT_REVISION = "main"
ENV_WEIGHTS = "SDA_BIGVGAN_WEIGHTS"  # read by the apps at their edge (sda_cli.environment), never here
# Git-LFS object of bigvgan_generator.pt on the hub (unchanged from the 2024-07-15 upload to main @ 95a9d1d):
PINNED_CHECKPOINT_SHA256 = "d9fe7ec6bd0b44ed9d66973d5012d8181c1570b01e5c72df51973e241dccd357"
PINNED_CHECKPOINT_SIZE = 489_041_291
DOWNLOAD_HINT = (
    "download the weights once while online, or point sda at a local copy "
    f"(the {ENV_WEIGHTS} environment variable) of bigvgan_generator.pt or the folder holding it and config.json"
)


@dataclass(frozen=True)
class BigVGANWeights:
    """Where the generator weights (and, when known, the config) live, and how they were found."""

    checkpoint: Path
    config: Path | None
    source: str  # "local" | "cache" | "download"


def _offline() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def _local_weights(path: Path) -> BigVGANWeights:
    if path.is_dir():
        for name in (CHECKPOINT_FILE, Path(CHECKPOINT_FILE).with_suffix(".safetensors").name):
            if (path / name).is_file():
                config = path / CONFIG_FILE
                return BigVGANWeights(path / name, config if config.is_file() else None, "local")
        raise SdaError(f"no {CHECKPOINT_FILE} in this folder", path=path, hint=DOWNLOAD_HINT, action="get_bigvgan")
    if path.is_file():
        config = path.parent / CONFIG_FILE
        return BigVGANWeights(path, config if config.is_file() else None, "local")
    raise SdaError("BigVGAN weights not found", path=path, hint=DOWNLOAD_HINT, action="get_bigvgan")


class _EventProgress:
    """A tqdm stand-in for ``hf_hub_download(tqdm_class=...)`` that emits ``download`` progress events."""

    on_event: ProgressCallback = ignore_events
    filename: str = ""
    cancel: CancelToken | None = None

    def __init__(self, *args: Any, total: int | None = None, initial: int = 0, desc: str = "", **kwargs: Any) -> None:
        self.total = total
        self.n = initial
        self._last = -1
        # Xet downloads drive two bars per file; the network-transfer one duplicates the file-bytes one.
        self._silent = "downloading bytes" in str(desc).lower()
        self._emit()

    def _emit(self) -> None:
        if self._silent:
            return
        if self.total:  # at most one event per percent (plus the final one)
            percent = int(100 * self.n / self.total)
            if percent == self._last and self.n != self.total:
                return
            self._last = percent
        self.on_event(ProgressEvent(job="download", kind="progress", step=int(self.n), total=self.total,
                                    message=f"downloading {self.filename}",
                                    data={"filename": self.filename, "unit": "bytes"}))

    def update(self, n: int | float = 1) -> None:
        if self.cancel is not None:
            self.cancel.raise_if_cancelled(f"the download of {self.filename}")
        self.n += int(n)
        self._emit()

    def __enter__(self) -> _EventProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        pass

    def refresh(self, *args: Any, **kwargs: Any) -> None:
        pass

    def set_postfix_str(self, *args: Any, **kwargs: Any) -> None:
        pass

    def set_description(self, *args: Any, **kwargs: Any) -> None:
        pass


def _progress_class(filename: str, on_event: ProgressCallback, cancel: CancelToken | None) -> type:
    return type("_FileProgress", (_EventProgress,),
                {"filename": filename, "on_event": staticmethod(on_event), "cancel": cancel})


def resolve_bigvgan_weights(
    local_path: str | Path | None = None,
    *,
    repo_id: str = HF_REPO_ID,
    revision: str = DEFAULT_REVISION,
    cache_dir: str | Path | None = None,
    endpoint: str | None = None,
    allow_download: bool = True,
    on_event: ProgressCallback = ignore_events,
    cancel: CancelToken | None = None,
) -> BigVGANWeights:
    """Find the BigVGAN weights locally or in the HF cache, else download them (when allowed and online).

    ``endpoint`` defaults to ``$HF_ENDPOINT`` (read at call time); ``cache_dir`` to the HF hub cache.
    """
    if local_path is not None:  # the app passes --bigvgan-weights / $SDA_BIGVGAN_WEIGHTS (read at its edge)
        return _local_weights(Path(local_path).expanduser())

    from huggingface_hub import try_to_load_from_cache

    cached = {name: try_to_load_from_cache(repo_id, name, cache_dir=cache_dir, revision=revision)
              for name in (CHECKPOINT_FILE, CONFIG_FILE)}
    checkpoint, config = cached[CHECKPOINT_FILE], cached[CONFIG_FILE]
    if isinstance(checkpoint, str) and isinstance(config, str):
        return BigVGANWeights(Path(checkpoint), Path(config), "cache")
    if not allow_download or _offline():
        raise SdaError(f"the BigVGAN vocoder weights ({repo_id}/{CHECKPOINT_FILE}, about 490 MB) are not "
                       "downloaded and downloading is off (offline mode)", hint=DOWNLOAD_HINT, action="get_bigvgan")
    return _download(repo_id, revision, cache_dir, endpoint, on_event, cancel)


def _download(repo_id: str, revision: str, cache_dir: str | Path | None, endpoint: str | None,
              on_event: ProgressCallback, cancel: CancelToken | None) -> BigVGANWeights:
    from huggingface_hub import hf_hub_download

    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or None
    on_event(ProgressEvent(job="download", kind="start", message=f"downloading the BigVGAN vocoder from {repo_id}"))
    paths: dict[str, Path] = {}
    for name in (CONFIG_FILE, CHECKPOINT_FILE):
        if cancel is not None:
            cancel.raise_if_cancelled("the BigVGAN download")
        try:
            paths[name] = Path(hf_hub_download(repo_id, name, revision=revision, cache_dir=cache_dir,
                                               endpoint=endpoint, tqdm_class=_progress_class(name, on_event, cancel)))
        except SdaError:
            raise  # e.g. Cancelled from the progress callback
        except Exception as exc:  # noqa: BLE001 - HTTP, connection and disk errors all become one clear message
            detail = " ".join(str(exc).split())  # one line for the CLI
            raise SdaError(f"could not download {repo_id}/{name}: {detail}",
                           hint="check the network connection and try again, or " + DOWNLOAD_HINT, action="get_bigvgan") from exc
    # The hub cache names each LFS blob by its sha256, so the pin costs nothing to check.
    blob = Path(os.path.realpath(paths[CHECKPOINT_FILE])).name
    if repo_id == HF_REPO_ID and blob != PINNED_CHECKPOINT_SHA256:
        note = (f"the downloaded {CHECKPOINT_FILE} (blob {blob[:12]}) is not the pinned release "
                f"{PINNED_CHECKPOINT_SHA256[:12]}; it will be used if its architecture matches")
        logger.warning(note)
        on_event(ProgressEvent(job="download", kind="warning", message=note))
    on_event(ProgressEvent(job="download", kind="done", message="BigVGAN vocoder downloaded",
                           data={"checkpoint": str(paths[CHECKPOINT_FILE])}))
    return BigVGANWeights(paths[CHECKPOINT_FILE], paths[CONFIG_FILE], "download")


# --------------------------------------------------------------------------- loading


def read_bigvgan_config(weights: BigVGANWeights) -> BigVGANConfig:
    """The config stored beside the weights, or the pinned v2 44 kHz 512x config when there is none."""
    if weights.config is None:
        return BIGVGAN_V2_44K_128BAND_512X
    try:
        data = json.loads(weights.config.read_text(encoding="utf-8"))
        return BigVGANConfig.from_dict(data)
    except (OSError, ValueError, TypeError) as exc:
        raise SdaError(f"unreadable BigVGAN config ({exc})", path=weights.config,
                       hint="delete it so it is downloaded again, or point at a valid config.json") from exc


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file or of a ``.pt`` checkpoint (``weights_only``; ``{"generator": ...}`` unwrapped)."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        raw = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any decoder failure becomes one clear message
        raise SdaError(f"cannot read the BigVGAN checkpoint ({type(exc).__name__}: {exc})", path=path,
                       hint="the file may be truncated or not a BigVGAN generator; download it again") from exc
    if isinstance(raw, dict) and isinstance(raw.get("generator"), dict):
        raw = raw["generator"]
    if not isinstance(raw, dict) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise SdaError("not a BigVGAN generator state dict", path=path,
                       hint="expected bigvgan_generator.pt with a 'generator' entry")
    return dict(raw)


def check_state_dict(state: dict[str, torch.Tensor], config: BigVGANConfig, path: Path | None = None) -> None:
    """Raise :class:`SdaError` unless ``state`` has exactly the names and shapes of a ``config`` generator."""
    expected = expected_shapes(config)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(state[k].shape) != expected[k])
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        if wrong:
            k = wrong[0]
            parts.append(f"{len(wrong)} with wrong shapes (e.g. {k}: {tuple(state[k].shape)} != {expected[k]})")
        raise SdaError("the BigVGAN checkpoint does not match the expected architecture: " + "; ".join(parts),
                       path=path, hint=f"use the generator of {HF_REPO_ID} (bigvgan_generator.pt)")


def safetensors_copy_path(checkpoint: Path, folder: Path) -> Path:
    """Where the safetensors copy of a ``.pt`` checkpoint is cached (keyed by its path, size and mtime)."""
    st = checkpoint.resolve().stat()
    key = hashlib.sha256(f"{checkpoint.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    return folder / f"{checkpoint.stem}-{key}.safetensors"


def _default_safetensors_dir() -> Path | None:
    home = os.environ.get("SDA_HOME")
    return Path(home) / "cache" / "vocoders" if home else None


def load_bigvgan_generator(weights: BigVGANWeights, *, safetensors_dir: Path | None = None) -> BigVGANGenerator:
    """Build the generator on the CPU and load the weights with ``strict=True`` (eval mode).

    A ``.pt`` checkpoint is converted once to a safetensors copy in ``safetensors_dir`` (default
    ``$SDA_HOME/cache/vocoders`` when ``SDA_HOME`` is set) and later loads read that copy.
    """
    config = read_bigvgan_config(weights)
    source = weights.checkpoint
    folder = safetensors_dir if safetensors_dir is not None else _default_safetensors_dir()
    copy = safetensors_copy_path(source, folder) if folder is not None and source.suffix != ".safetensors" else None
    if copy is not None and copy.is_file():
        state, source = read_state_dict(copy), copy
    else:
        state = read_state_dict(source)
    check_state_dict(state, config, source)
    with torch.device("meta"):  # no throw-away random init of ~122M weights
        model = BigVGANGenerator(config)
    model.load_state_dict(state, strict=True, assign=True)
    if copy is not None and not copy.is_file():
        try:
            from safetensors.torch import save_file

            with atomic_path(copy) as tmp:
                save_file({k: v.contiguous() for k, v in state.items()}, str(tmp),
                          metadata={"source": str(weights.checkpoint), "config": json.dumps(config.to_dict())})
        except SdaError as exc:  # a cache we cannot write is not fatal
            logger.warning("could not cache a safetensors copy of the BigVGAN weights: %s", exc)
    return model.eval()
