"""Low-level checks of a ``.sda`` file before any tensor is read.

A ``.sda`` file is one safetensors file: an 8-byte little-endian header length, a JSON header (tensor names,
dtypes, shapes, byte offsets, and ``__metadata__``: a dict of strings whose key ``sda`` holds sda's JSON
metadata), then the raw tensor bytes. Everything here is plain byte and JSON parsing - no code is ever
executed - and every inconsistency (header larger than the file, offsets outside the data, shapes that do not
match their byte size, unknown dtypes, invalid JSON) becomes a :class:`ModelFileError` naming the file,
before the file is handed to safetensors.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sda_audio.errors import SdaError

FORMAT_VERSION = 2
"""The ``.sda`` format this sda writes. Older versions are migrated on load; newer ones are refused."""

METADATA_KEY = "sda"
MAX_HEADER_BYTES = 32 * 1024 * 1024
MAX_DIMS = 8
DTYPE_SIZES = {"BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "F16": 2, "BF16": 2, "I32": 4, "F32": 4, "I64": 8,
               "F64": 8}

REEXPORT_HINT = "the file is damaged or not an sda model; re-export it, re-train, or download it again"


class ModelFileError(SdaError):
    """A ``.sda`` file that cannot be read: truncated, corrupted, hostile, or not an sda model at all."""

    def __init__(self, message: str, *, path: str | Path | None = None, hint: str | None = REEXPORT_HINT,
                 unexpected: bool = False) -> None:
        super().__init__(message, path=path, hint=hint)
        self.unexpected = unexpected
        """True when the error came from the loader's last-resort guard rather than a specific check."""


class NewerFormatError(ModelFileError):
    """The file was written by a newer sda whose format this one does not know."""


@dataclass(frozen=True)
class TensorEntry:
    """One tensor as declared in the header; ``start``/``end`` are offsets into the data section."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int


@dataclass(frozen=True)
class RawHeader:
    """The validated safetensors header of a file."""

    path: Path
    header_bytes: int
    file_size: int
    metadata: dict[str, str]
    tensors: dict[str, TensorEntry]


def _fail(path: Path, message: str) -> ModelFileError:
    return ModelFileError(message, path=path)


def parse_json(text: str | bytes, path: Path, what: str) -> Any:
    """``json.loads`` that turns every failure (syntax, encoding, nesting depth) into a ModelFileError."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise _fail(path, f"{what} is not valid JSON ({type(exc).__name__}: {str(exc)[:120]})") from exc


def read_header(path: str | Path) -> RawHeader:
    """Read and validate the safetensors header of ``path`` without reading any tensor data."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(0)
            if size < 8:
                raise _fail(path, f"the file is only {size} bytes long, too short for a model file")
            (n,) = struct.unpack("<Q", handle.read(8))
            if n < 2 or n > size - 8:
                raise _fail(path, f"the header claims {n} bytes but the file holds {size - 8} after the "
                                  "length field (truncated or not a model file)")
            if n > MAX_HEADER_BYTES:
                raise _fail(path, f"the header is absurdly large ({n} bytes)")
            raw = handle.read(n)
    except FileNotFoundError as exc:
        raise ModelFileError("model file not found", path=path, hint="check the path or list your models") from exc
    except IsADirectoryError as exc:
        raise ModelFileError("is a folder, not a model file", path=path, hint="give the .sda file") from exc
    except OSError as exc:
        raise ModelFileError(f"cannot read the file ({exc.strerror or exc})", path=path,
                             hint="check it exists and is readable") from exc
    if len(raw) != n:
        raise _fail(path, "the file ended inside its header (truncated)")
    header = parse_json(raw, path, "the safetensors header")
    if not isinstance(header, dict):
        raise _fail(path, f"the header is a JSON {type(header).__name__}, not an object")
    data_size = size - 8 - n
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise _fail(path, "the header metadata is not a mapping of strings")
    tensors = {name: _entry(path, name, spec, data_size) for name, spec in header.items()}
    _check_layout(path, tensors, data_size)
    return RawHeader(path=path, header_bytes=n, file_size=size, metadata=metadata, tensors=tensors)


def _entry(path: Path, name: str, spec: Any, data_size: int) -> TensorEntry:
    if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data_offsets"}:
        raise _fail(path, f"tensor '{name[:80]}' has a malformed header entry")
    dtype, shape, offsets = spec["dtype"], spec["shape"], spec["data_offsets"]
    if dtype not in DTYPE_SIZES:
        raise _fail(path, f"tensor '{name[:80]}' has an unsupported dtype {str(dtype)[:20]!r}")
    if (not isinstance(shape, list) or len(shape) > MAX_DIMS
            or not all(type(d) is int and 0 <= d < 2**40 for d in shape)):
        raise _fail(path, f"tensor '{name[:80]}' has an invalid shape {str(shape)[:60]}")
    if (not isinstance(offsets, list) or len(offsets) != 2 or not all(type(o) is int for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= data_size):
        raise _fail(path, f"tensor '{name[:80]}' points outside the file's data (truncated or corrupted)")
    nbytes = math.prod(shape) * DTYPE_SIZES[dtype]
    if nbytes != offsets[1] - offsets[0]:
        raise _fail(path, f"tensor '{name[:80]}' declares shape {shape} ({nbytes} bytes) but holds "
                          f"{offsets[1] - offsets[0]} bytes")
    return TensorEntry(name=name, dtype=dtype, shape=tuple(shape), start=offsets[0], end=offsets[1])


def _check_layout(path: Path, tensors: dict[str, TensorEntry], data_size: int) -> None:
    """Tensors must tile the data section exactly (no gaps, no overlaps, nothing after the last one)."""
    position = 0
    for entry in sorted(tensors.values(), key=lambda e: (e.start, e.end)):
        if entry.start != position:
            raise _fail(path, f"tensor '{entry.name[:80]}' overlaps another or leaves a gap in the data")
        position = entry.end
    if position != data_size:
        raise _fail(path, f"the data section holds {data_size} bytes but the tensors cover {position} "
                          "(truncated, or garbage appended)")


def sda_metadata(header: RawHeader) -> dict[str, Any]:
    """The parsed ``sda`` metadata object of a file, with its ``format_version`` checked."""
    text = header.metadata.get(METADATA_KEY)
    if text is None:
        raise ModelFileError("no sda metadata in the file (a safetensors file, but not an sda model)",
                             path=header.path, hint="give a .sda file exported by sda")
    meta = parse_json(text, header.path, "the sda metadata")
    if not isinstance(meta, dict):
        raise _fail(header.path, f"the sda metadata is a JSON {type(meta).__name__}, not an object")
    version = meta.get("format_version")
    if type(version) is not int or version < 1:
        raise _fail(header.path, f"the sda metadata has no valid format_version (got {str(version)[:20]!r})")
    if version > FORMAT_VERSION:
        raise NewerFormatError(f"made by a newer sda (format {version}); this sda reads formats up to "
                               f"{FORMAT_VERSION}", path=header.path, hint="upgrade sda to open it")
    return meta
