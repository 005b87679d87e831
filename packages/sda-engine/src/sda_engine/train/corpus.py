"""The corpus-index step of training: the training files indexed for the corpus vocoder (job
``train.corpus_index``), and the corpus vocoder over that index that renders cheap previews while training."""

from __future__ import annotations

import logging
from pathlib import Path

from sda_audio.errors import Cancelled, SdaError
from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent
from sda_engine.store.home import SdaHome
from sda_models.vocoders.corpus import CorpusVocoder
from sda_models.vocoders.corpus_index import CorpusIndex

log = logging.getLogger(__name__)

CORPUS_JOB = "train.corpus_index"


def build_corpus_index(home: SdaHome, name: str, files: list[Path], on_event: ProgressCallback,
                       cancel: CancelToken | None) -> Path | None:
    """Index the training files for the corpus vocoder at ``corpus/<name>.corpus.safetensors``.

    Events: job ``train.corpus_index``, ``step``/``total`` counting files. An index that cannot be built is a
    ``warning`` (and ``None``), never a lost model.
    """
    path = home.corpus_index_path(name)
    try:
        index = CorpusIndex.build(files, on_event=on_event, cancel=cancel, job=CORPUS_JOB)
    except SdaError as exc:
        if isinstance(exc, Cancelled):
            raise
        on_event(ProgressEvent(CORPUS_JOB, "warning", message=f"no corpus index: {exc}"))
        return None
    index.save(path)
    return path


def corpus_vocoder(index_path: Path | None) -> CorpusVocoder | None:
    """A corpus vocoder over the index (cheap previews), or ``None``."""
    if index_path is None or not index_path.is_file():
        return None
    return CorpusVocoder(CorpusIndex.load(index_path))
