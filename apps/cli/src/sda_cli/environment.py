"""The environment variables the CLI reads, in one place at the app edge; the libraries below take arguments.

``SDA_BIGVGAN_WEIGHTS``: a local BigVGAN ``bigvgan_generator.pt`` (or the folder holding it and ``config.json``),
used when ``--bigvgan-weights`` is not given. The engine and ``sda_models`` never read it: the CLI passes the
path down (``ModelSession.open(..., bigvgan_weights=...)``, ``resolve_bigvgan_weights(path)``).
"""

from __future__ import annotations

import os
from pathlib import Path

BIGVGAN_WEIGHTS_ENV = "SDA_BIGVGAN_WEIGHTS"


def bigvgan_weights(explicit: str | Path | None = None) -> Path | None:
    """``--bigvgan-weights`` when given, else ``$SDA_BIGVGAN_WEIGHTS``, else ``None`` (the Hugging Face cache)."""
    if explicit is not None and str(explicit):
        return Path(explicit).expanduser()
    value = os.environ.get(BIGVGAN_WEIGHTS_ENV, "").strip()
    return Path(value).expanduser() if value else None
