"""The one rule for the names people give datasets, models and presets.

A name becomes a file or folder name (``models/NAME.sda``, ``datasets/NAME/``), a command-line argument and a
label in the GUI, so it must be safe as all three on Linux, macOS and Windows:

- 1 to :data:`MAX_CHARS` characters (and at most :data:`MAX_BYTES` bytes of UTF-8: file names are limited in
  bytes), printable (letters of any script, digits, punctuation, inner spaces; no control or invisible
  formatting characters, no newlines or tabs, no non-breaking or other unusual spaces);
- no path separators or characters Windows refuses in file names (``/ \\ : * ? " < > |``), no ``..``;
- not starting with ``.`` (hidden files) or ``-`` (read as an option on a command line), not ending with ``.``;
- no spaces at either end: such a name is refused rather than silently trimmed, and the message shows the
  trimmed suggestion;
- not a reserved Windows device name (``CON``, ``NUL``, ``COM1``, ...), not ending in ``.sda``.

:func:`validate_name` returns the name in Unicode NFC form (what macOS and Linux would otherwise store in two
different ways).
"""

from __future__ import annotations

import re
import unicodedata

from sda_audio.errors import SdaError

MAX_CHARS = 80
MAX_BYTES = 160
FORBIDDEN_CHARS = '/\\:*?"<>|'
_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)
RULE = (f"use 1-{MAX_CHARS} printable characters (letters, digits, spaces inside, '-', '_', '.'), "
        "not starting with '.' or '-', without '/', '\\', '..' or control characters")


class InvalidNameError(SdaError, ValueError):
    """A dataset, model or preset name that breaks the naming rule (the message says which part)."""


def validate_name(name: object, what: str = "model") -> str:
    """Check a dataset/model/preset name against the one rule; return it (NFC-normalised) or raise.

    Args:
        name: the name as typed.
        what: ``"model"``, ``"dataset"``, ``"preset"``, ...: used in the message.

    Raises:
        InvalidNameError: naming the problem, with the rule (and for padded names the trimmed suggestion)
            as the hint.
    """
    if not isinstance(name, str):
        raise InvalidNameError(f"a {what} name must be text, got {type(name).__name__}", hint=RULE)
    problem = _problem(name)
    if problem is not None:
        shown = name if len(name) <= MAX_CHARS + 20 else name[:MAX_CHARS] + "..."
        hint = RULE
        if problem.startswith("has spaces") and _problem(name.strip()) is None:
            hint = f"did you mean {name.strip()!r}?"
        raise InvalidNameError(f"{shown!r} is not a usable {what} name: it {problem}", hint=hint)
    return unicodedata.normalize("NFC", name)


def _problem(name: str) -> str | None:
    """What is wrong with ``name`` (a phrase following "it"), or ``None``."""
    if not name or not name.strip():
        return "is empty"
    bad = next((ch for ch in name if not ch.isprintable()), None)
    if bad is not None:
        label = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab"}.get(bad)
        return f"contains {label or f'the invisible or control character U+{ord(bad):04X}'}"
    if name != name.strip():
        return "has spaces at its start or end"
    separator = next((ch for ch in name if ch in FORBIDDEN_CHARS), None)
    if separator is not None:
        return f"contains {separator!r} (path separators and characters Windows refuses are not allowed)"
    if ".." in name:
        return "contains '..'"
    if name[0] in ".-":
        return f"starts with {name[0]!r}"
    if name.endswith("."):
        return "ends with '.'"
    if name.lower().endswith(".sda"):
        return "ends with '.sda' (give the name without the extension)"
    if _RESERVED.match(name):
        return "is a reserved device name on Windows"
    if len(name) > MAX_CHARS or len(unicodedata.normalize("NFC", name).encode("utf-8")) > MAX_BYTES:
        return f"is too long ({len(name)} characters; at most {MAX_CHARS}, {MAX_BYTES} bytes)"
    return None


__all__ = ["FORBIDDEN_CHARS", "MAX_BYTES", "MAX_CHARS", "RULE", "InvalidNameError", "validate_name"]
