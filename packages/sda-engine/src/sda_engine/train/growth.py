"""The start of *growing* a model (INCR-01): the existing library model whose training continues on new files.

Its old files are replayed together with the new ones (INCR-02), its weights and normalisation statistics
are the starting point, and its configs fix the shapes of the grown model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sda_audio.dataset import file_sha256
from sda_audio.errors import SdaError
from sda_engine.store.home import SdaHome
from sda_models.configs import PresetConfig
from sda_models.model_file import load_model


@dataclass
class GrowingBase:
    """An existing model to continue training (INCR-01).

    Attributes:
        kind, autoencoder, stats, prior: from the model file.
        files: the files it was trained on (replayed with the new ones against forgetting, INCR-02).
        metadata: its metadata; sha256: its file digest (the new model records it as parent).
    """

    kind: str
    autoencoder: Any
    stats: Any
    prior: Any
    files: list[str]
    metadata: dict[str, Any]
    sha256: str

    @property
    def lineage(self) -> str | None:
        """The lineage id the grown model shares with this one (``None``: it has none yet)."""
        return (self.metadata.get("lineage") or {}).get("id")


def load_growth_base(home: SdaHome, name: str) -> GrowingBase:
    """The library model ``name`` (to grow), loaded on the CPU. Its training files must still exist."""
    path = home.model_path(name)
    if not path.is_file():
        raise SdaError(f"there is no model named '{name}' to add files to", path=path,
                       hint="train it first, or check the name against the models in the library")
    bundle = load_model(path, "cpu")
    files = list(bundle.metadata.get("dataset", {}).get("files", []))
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise SdaError("a file the model was trained on is gone, so it cannot be replayed while growing",
                       path=missing[0], hint="restore the original dataset folder, then add the files again",
                       action="grow")
    return GrowingBase(kind=bundle.kind, autoencoder=bundle.autoencoder, stats=bundle.stats, prior=bundle.prior,
                       files=files, metadata=bundle.metadata, sha256=file_sha256(path))


def configs_like(cfg: PresetConfig, base: GrowingBase) -> PresetConfig:
    """The size's configs with the existing model's autoencoder/prior configs (shapes must match)."""
    prior = base.prior.config if base.prior is not None else cfg.prior
    return dataclasses.replace(cfg, kind=base.kind, autoencoder=base.autoencoder.config, prior=prior)
