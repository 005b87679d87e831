"""Generations in words: what a musician reads in the History tab instead of settings keys and JSON.

``entry_words`` says what one history entry is (seed, model, the controls that moved with musical words, its
form and length, and whether it came from the code editor); ``ab_words`` says how B differs from A
("B is brighter: brightness 0 → 0.85").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sda_gradio.ui import md_escape

# control -> (word when raised, word when lowered)
CONTROL_WORDS: dict[str, tuple[str, str]] = {
    "brightness": ("brighter", "darker"),
    "warmth": ("warmer", "colder"),
    "roughness": ("rougher", "smoother"),
    "tension": ("tenser", "more relaxed"),
    "rhythmic": ("more rhythmic", "less rhythmic"),
    "pulse": ("with a stronger pulse", "with a weaker pulse"),
    "density": ("denser", "sparser"),
    "reverb": ("more reverberant", "drier"),
}
# flat request field -> how a musician calls it
SETTING_NAMES: dict[str, str] = {
    "duration": "length (s)", "vocoder": "vocoder", "dynamics": "dynamics", "form": "form", "bpm": "tempo (BPM)",
    "temperature": "temperature (wildness)", "top_k": "top-k", "top_p": "top-p", "channels": "channels",
    "stereo_method": "stereo method", "azimuth": "direction (°)", "elevation": "elevation (°)", "format": "format",
    "sample_rate": "sample rate (Hz)", "bit_depth": "bit depth", "loudness_lufs": "loudness (LUFS)",
    "peak_dbfs": "peak ceiling (dBFS)", "mp3_bitrate": "MP3 bit rate",
}
KINDS = {"generation": "generation", "code_grid": "from the code editor",
         "codebook_entry": "one code heard on its own (code editor)"}


def number(value: Any) -> str:
    """``0.85`` -> ``0.85``, ``1.0`` -> ``1``, ``None`` -> ``not set``."""
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def control_word(name: str, value: float) -> str:
    """``brightness, 0.6`` -> ``brighter +0.6``; ``density, -0.3`` -> ``sparser -0.3``."""
    up, down = CONTROL_WORDS.get(name, (f"{name} up", f"{name} down"))
    return f"{up if value > 0 else down} {value:+.2g}"


def controls_words(controls: dict[str, float]) -> str:
    moved = {k: float(v) for k, v in (controls or {}).items() if float(v) != 0.0}
    if not moved:
        return "no control moved (the model's own character)"
    return ", ".join(control_word(k, v) for k, v in sorted(moved.items(), key=lambda kv: -abs(kv[1])))


def _sidecar_parameters(entry: Any) -> dict[str, Any]:
    path = getattr(entry, "sidecar_path", None)
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    meta = data.get("metadata", data) if isinstance(data, dict) else {}
    params = meta.get("parameters") if isinstance(meta, dict) else None
    return params if isinstance(params, dict) else {}


def entry_kind(entry: Any) -> str:
    """``generation``, ``code_grid`` (a decoded code grid) or ``codebook_entry`` (one code heard alone)."""
    params = _sidecar_parameters(entry)
    for kind in ("code_grid", "codebook_entry"):
        if kind in params or kind in (entry.params or {}):
            return kind
    return "generation"


@dataclass(frozen=True)
class EntryWords:
    """One history entry in words."""

    id: int
    kind: str
    model: str
    seed: int | None
    controls: dict[str, float]
    flat: dict[str, Any]

    @property
    def kind_text(self) -> str:
        return KINDS.get(self.kind, self.kind)

    @property
    def seed_text(self) -> str:
        if self.kind != "generation":
            return "no seed (not sampled)"
        return f"seed {self.seed}" if self.seed is not None else "seed unknown"

    @property
    def form_text(self) -> str:
        f = self.flat
        parts = [f"{float(f.get('duration') or 0):.3g} s", str(f.get("channels") or "?"),
                 str(f.get("format") or "?").upper()]
        form = f.get("form")
        if form and form != "auto":
            parts.append(f"form {form}")
        if f.get("bpm"):
            parts.append(f"{number(f['bpm'])} BPM")
        return " ".join(parts[:3]) + ("" if len(parts) == 3 else ", " + ", ".join(parts[3:]))

    def caption(self) -> str:
        """One line for a thumbnail: ``#3 demo · seed 7 · brighter +0.6``."""
        what = self.seed_text if self.kind == "generation" else self.kind_text
        text = f"#{self.id} {self.model} · {what}"
        if self.kind == "generation" and self.controls:
            text += " · " + controls_words(self.controls)
        return text

    def markdown(self) -> str:
        """The settings as a short list of words (no keys, no JSON)."""
        seed = (str(self.seed) if self.seed is not None else "unknown") if self.kind == "generation" \
            else "none (not sampled)"
        rows = [("What", self.kind_text), ("Model", self.model), ("Seed", seed), ("Sound", self.form_text),
                ("Controls", controls_words(self.controls) if self.kind == "generation"
                 else "none (the codes were edited by hand)")]
        f = self.flat
        rows += [("Temperature (wildness)", number(f.get("temperature"))), ("Vocoder", number(f.get("vocoder")))]
        if f.get("blend"):
            rows.append(("Blended with", ", ".join(f"{m} ({w:.2g})" for m, w in _pairs(f["blend"]))))
        if f.get("loudness_lufs") is not None:
            rows.append(("Loudness", f"{number(f['loudness_lufs'])} LUFS"))
        return "\n".join(f"- **{k}**: {md_escape(v)}" for k, v in rows)


def _pairs(value: Any) -> list[tuple[str, float]]:
    if isinstance(value, dict):
        return [(str(k), float(v)) for k, v in value.items()]
    out = []
    for item in value or ():
        if isinstance(item, dict):
            out.append((str(item.get("model")), float(item.get("weight", 0))))
        else:
            out.append((str(item[0]), float(item[1])))
    return out


def entry_words(entry: Any) -> EntryWords:
    """What history entry ``entry`` (a :class:`sda_engine.HistoryEntry`) is, in words."""
    try:
        request = entry.request()
        flat = request.to_flat()
        controls = dict(request.control.control_values)
        seed = entry.seed if entry.seed is not None else request.seed
    except Exception:  # a row we cannot read as a request still gets a line
        flat, controls, seed = {}, {}, entry.seed
    flat.setdefault("duration", entry.duration)
    flat.setdefault("format", entry.format)
    return EntryWords(id=entry.id, kind=entry_kind(entry), model=entry.model_name or "?", seed=seed,
                      controls=controls, flat=flat)


def ab_words(a: Any, b: Any) -> list[str]:
    """How B differs from A, one sentence each (``B is brighter: brightness 0 → 0.85``)."""
    wa, wb = entry_words(a), entry_words(b)
    lines: list[str] = []
    if wa.model != wb.model:
        lines.append(f"B comes from model '{wb.model}', A from '{wa.model}'.")
    if wa.kind != wb.kind:
        lines.append(f"A is a {wa.kind_text}, B is a {wb.kind_text}.")
    if wa.kind == wb.kind == "generation" and wa.seed != wb.seed:
        lines.append(f"Different seed (another take): A {wa.seed}, B {wb.seed}.")
    for name in sorted(set(wa.controls) | set(wb.controls)):
        va, vb = wa.controls.get(name, 0.0), wb.controls.get(name, 0.0)
        if va != vb:
            up, down = CONTROL_WORDS.get(name, (f"more {name}", f"less {name}"))
            lines.append(f"B is {up if vb > va else down}: {name} {number(va)} → {number(vb)}.")
    for key, label in SETTING_NAMES.items():
        va, vb = wa.flat.get(key), wb.flat.get(key)
        if va != vb and not (va is None and vb is None):
            lines.append(f"{label[0].upper()}{label[1:]}: A {number(va)}, B {number(vb)}.")
    if _pairs(wa.flat.get("blend")) != _pairs(wb.flat.get("blend")):
        lines.append("The blends with other models differ.")
    return lines
