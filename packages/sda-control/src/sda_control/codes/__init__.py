"""The code-grid editor (CODE-01..09): an RVQ model's codes for a sound as an editable grid.

The same functions serve the CLI (``sda codes ...``) and the browser app. They work on an ``sda_models``
``ModelBundle`` (and the RVQ quantiser or code prior in it); opening a model by name and rendering audio are the
engine's, which passes these functions what they need (``sda_engine.generate.encoding``).

- :mod:`~sda_control.codes.grid`: :class:`CodeGrid` (codes ``(levels, frames)``, model, source, edit log).
- :mod:`~sda_control.codes.gridfile`: the ``.sdacodes`` file (safetensors + JSON), :func:`load_grid`,
  :func:`save_grid`, :class:`GridFileError`.
- :mod:`~sda_control.codes.model`: :func:`encode_file`, :func:`audio_to_codes`, :func:`codes_to_mel`,
  :func:`require_rvq` (a VAE has no codes), :func:`model_ref`, :func:`check_model` (a grid's model against a
  bundle, its name and sha256), :func:`model_to_open` (what to open for a grid).
- :mod:`~sda_control.codes.edits`: :func:`set_code`, :func:`swap_region`, :func:`blend_grids`,
  :func:`undo`, :func:`redo`; :mod:`~sda_control.codes.masked`: :func:`regenerate_region`.
- :mod:`~sda_control.codes.audition`: :func:`entry_grid`; :mod:`~sda_control.codes.health`:
  :func:`codebook_usage`, :func:`health_report`; :mod:`~sda_control.codes.plots`: PNG pictures.
"""

from sda_control.codes import plots
from sda_control.codes.audition import EntryGrid, entry_grid
from sda_control.codes.edits import (
    blend_grids,
    check_levels,
    frame_at,
    frame_range,
    redo,
    set_code,
    swap_region,
    undo,
)
from sda_control.codes.grid import CodeGrid, Edit, ModelRef, level_labels
from sda_control.codes.gridfile import EXTENSION, GridFileError, load_grid, save_grid
from sda_control.codes.health import HealthReport, codebook_usage, health_report
from sda_control.codes.masked import RegenerationInfo, regenerate_region
from sda_control.codes.model import (
    audio_to_codes,
    audio_to_mel,
    check_model,
    codes_to_mel,
    encode_file,
    frame_seconds,
    mel_distance,
    model_ref,
    model_to_open,
    require_rvq,
)

__all__ = [
    "EXTENSION", "CodeGrid", "Edit", "EntryGrid", "GridFileError", "HealthReport", "ModelRef",
    "RegenerationInfo", "audio_to_codes", "audio_to_mel", "blend_grids", "check_levels", "check_model",
    "codebook_usage", "codes_to_mel", "encode_file", "entry_grid", "frame_at", "frame_range",
    "frame_seconds", "health_report", "level_labels", "load_grid", "mel_distance", "model_ref", "model_to_open",
    "plots", "redo", "regenerate_region", "require_rvq", "save_grid", "set_code", "swap_region",
    "undo",
]
