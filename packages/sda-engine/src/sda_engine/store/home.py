"""The sda home folder: where models, datasets, history and the catalogue live.

Layout (root = ``$SDA_HOME`` or ``platformdirs.user_data_dir("sda")``)::

    models/        <name>.sda model files
    datasets/      imported datasets (folders with manifest.json)
    corpus/        <name>.corpus.safetensors vocoder corpus indexes
    checkpoints/   <name>/ training checkpoints
    history/       generated audio + sidecars; history/ab/ loudness-matched A/B copies
    previews/      training previews
    catalog.sqlite3
"""

from __future__ import annotations

import logging
import os
from functools import cached_property
from pathlib import Path

import platformdirs

from sda_audio.errors import SdaError
from sda_audio.names import validate_name  # the one rule for dataset, model and preset names (re-exported)
from sda_engine.store.catalogue import Catalog

log = logging.getLogger(__name__)

SUBFOLDERS = ("models", "datasets", "corpus", "checkpoints", "history", "previews")
CATALOG_NAME = "catalog.sqlite3"
MODEL_SUFFIX = ".sda"
CORPUS_SUFFIX = ".corpus.safetensors"


def default_root() -> Path:
    """``$SDA_HOME`` if set, else the platform's user data folder for ``sda``."""
    env = os.environ.get("SDA_HOME")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("sda"))


class SdaHome:
    """The folders and catalogue of one sda installation.

    Args:
        root: the home folder; ``None`` uses ``$SDA_HOME`` or the platform user data folder.
        create: create the folders now (raises ``SdaError`` if the location is not writable).
    """

    def __init__(self, root: Path | str | None = None, create: bool = True) -> None:
        self.root = Path(root).expanduser() if root is not None else default_root()
        if create:
            self.ensure()

    def __repr__(self) -> str:
        return f"SdaHome({str(self.root)!r})"

    # folders -----------------------------------------------------------------------------------
    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def datasets_dir(self) -> Path:
        return self.root / "datasets"

    @property
    def corpus_dir(self) -> Path:
        return self.root / "corpus"

    @property
    def checkpoints_dir(self) -> Path:
        return self.root / "checkpoints"

    @property
    def history_dir(self) -> Path:
        return self.root / "history"

    @property
    def ab_dir(self) -> Path:
        return self.history_dir / "ab"

    @property
    def previews_dir(self) -> Path:
        return self.root / "previews"

    @property
    def catalog_path(self) -> Path:
        return self.root / CATALOG_NAME

    @cached_property
    def catalog(self) -> Catalog:
        """The SQLite catalogue (opened and migrated on first access)."""
        return Catalog(self.catalog_path)

    # per-name paths ----------------------------------------------------------------------------
    def model_path(self, name: str) -> Path:
        """``models/<name>.sda``."""
        return self.models_dir / f"{validate_name(name)}{MODEL_SUFFIX}"

    def corpus_index_path(self, name: str) -> Path:
        """``corpus/<name>.corpus.safetensors`` (written and read by the corpus vocoder)."""
        return self.corpus_dir / f"{validate_name(name)}{CORPUS_SUFFIX}"

    def checkpoint_dir(self, name: str) -> Path:
        """``checkpoints/<name>/`` (not created here)."""
        return self.checkpoints_dir / validate_name(name)

    def dataset_dir(self, name: str) -> Path:
        """``datasets/<name>/`` (not created here)."""
        return self.datasets_dir / validate_name(name, "dataset")

    # creation ----------------------------------------------------------------------------------
    def ensure(self) -> SdaHome:
        """Create the home and its subfolders; raise a clear ``SdaError`` if that is impossible."""
        for folder in (self.root, *(self.root / sub for sub in SUBFOLDERS)):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise SdaError(
                    f"cannot create the sda home folder ({exc.strerror or exc})", path=folder,
                    hint="set SDA_HOME to a folder you can write to",
                ) from exc
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise SdaError("the sda home folder is not writable", path=self.root,
                           hint="fix its permissions or set SDA_HOME to a folder you can write to")
        return self
