"""Atomic file writes: write to a temporary file beside the target, fsync, then rename.

A crash or a full disk leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sda_audio.errors import SdaError


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it onto ``target``.

    The temporary file keeps the target's extension (or ``suffix``) so format sniffing by
    extension (e.g. soundfile) still works. On any exception the temporary file is removed
    and the target is left untouched.
    """
    target = Path(target)
    folder = target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SdaError(f"cannot create folder ({exc.strerror})", path=folder,
                       hint="choose a folder you can write to") from exc
    ext = suffix if suffix is not None else target.suffix
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{ext}", dir=folder)
    except OSError as exc:
        raise SdaError(f"cannot write here ({exc.strerror})", path=target,
                       hint="check the folder exists and is writable") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a user's files get the usual permissions
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if is_disk_full(exc):
            raise disk_full_error(target) from exc
        raise SdaError(f"could not write the file ({exc.strerror or exc})", path=target,
                       hint="check the folder is writable and has free space") from exc
    except SdaError:
        tmp.unlink(missing_ok=True)
        raise
    except Exception as exc:  # writers outside Python's I/O (safetensors, libsndfile) report ENOSPC as text
        tmp.unlink(missing_ok=True)
        if is_disk_full(exc):
            raise disk_full_error(target) from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


_DISK_FULL_TEXT = ("no space left on device", "storagefull", "os error 28", "code: 28,", "disk quota exceeded",
                   "filesystemquotaexceeded", "os error 122")


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) means the disk or the user's quota is full.

    Python's ``OSError`` carries ``errno`` ENOSPC/EDQUOT; safetensors raises ``SafetensorError("Error while
    serializing: IoError(Os { code: 28, kind: StorageFull, message: \"No space left on device\" })")`` and
    other native writers similar text, so the message is read too.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
            return True
        text = str(current).lower()
        if any(marker in text for marker in _DISK_FULL_TEXT):
            return True
        current = current.__cause__ or current.__context__
    return False


def disk_full_error(target: str | Path) -> SdaError:
    """The message for a write that failed because the disk is full (nothing was written)."""
    target = Path(target)
    return SdaError(f"the disk is full; nothing was written (the folder {target.parent} has no space left)",
                    path=target, hint="free some space on that disk, or choose another location, and try again")


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def atomic_write_bytes(target: str | Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    atomic_write_bytes(target, text.encode("utf-8"))


def atomic_write_json(target: str | Path, obj: Any) -> None:
    """Write ``obj`` as pretty JSON to ``target`` atomically."""
    atomic_write_text(target, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
