"""What to generate: one frozen, JSON-serialisable :class:`GenerationRequest` for every face of sda.

The CLI, the GUI, presets (stored as partial overrides of it), history entries and the sidecar JSON all
speak this one type, and this module is the one place that holds the defaults. A request has five parts:

- ``render``: duration, seed, variations, vocoder, dynamics;
- ``sampling``: temperature, top_k, top_p;
- ``control``: the musical sliders (``controls``: name -> -1..1, density among them) and model blending;
- ``spatial``: channels (mono / stereo / binaural), stereo method, binaural direction;
- ``export``: format, sample rate, bit depth, loudness, peak ceiling, MP3 bit rate.

Field names are unique across parts, so a flat mapping (``{"temperature": 0.9}``) and a nested one
(``{"sampling": {"temperature": 0.9}}``) mean the same thing. :meth:`GenerationRequest.from_dict` also reads
presets and history rows written before this type existed (their keys are migrated, see
:func:`migrate_legacy`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sda_audio.errors import SdaError

log = logging.getLogger(__name__)

MAX_SECONDS = 600.0
MAX_VARIATIONS = 100
CHANNELS = ("mono", "stereo", "binaural")
STEREO_METHODS = ("decorrelate", "mid_side", "dual")
VOCODERS = ("auto", "corpus", "hifigan", "bigvgan")
FORMS = ("auto", "oneshot", "phrase", "texture")
DETAILS = ("auto", "blend", "anchor", "none")
"""How much of the user's recordings' own fine detail a generation carries (:attr:`RenderPart.detail`)."""
"""Generation forms: ``auto`` = the model's (detected at training), one-shots, phrases of strokes, textures."""
CONTROL_MODES = ("auto", "searched", "latent", "assist")
"""How the moved sliders are realised: ``auto`` = as fitted per control; ``searched`` = a search in the model's
own space (:mod:`sda_control.search`); ``latent`` = the fitted latent directions; ``assist`` = DSP assists."""


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise SdaError(f"{name} must be a number, not {value!r}")
    return float(value)


def _whole(value: Any, name: str) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SdaError(f"{name} must be a whole number, not {value!r}")
    return value


def _choice(value: Any, name: str, allowed: tuple[Any, ...]) -> Any:
    if value not in allowed:
        raise SdaError(f"unknown {name} {value!r}", hint="use " + ", ".join(str(a) for a in allowed))
    return value


@dataclass(frozen=True)
class RenderPart:
    """How much sound, from which seed, through which vocoder.

    ``dynamics``: 0 = the decoded loudness as it is, 1 = mapped onto the training audio's frame-loudness
    distribution (see :mod:`sda_models.loudness_match`).
    ``form``: ``auto`` (the model's form), ``oneshot`` (single events: a sample pack), ``phrase`` (events in
    time with silence between) or ``texture`` (a continuous stream, sda's original output).
    ``bpm``: the pulse a phrase's onsets lock to (0 = the material's tempo, or 120).
    ``detail``: the fine detail of the user's recordings the model blurs, put back (:data:`DETAILS`): ``auto``
    (textures and stream strokes: from the training frames nearest in the latent,
    :mod:`~sda_engine.generate.detail_bank`; one-shot variations: the anchor hit's own; morphs: both sounds'
    blended at the amount, :mod:`~sda_engine.generate.morph`), ``blend`` / ``anchor`` (a morph's or variation's
    sources: both at the amount / the first's throughout; otherwise as ``auto``) or ``none`` (the model's own
    rendering alone).
    """

    duration: float = 20.0
    seed: int = 0
    variations: int = 1
    vocoder: str = "auto"
    dynamics: float = 1.0
    form: str = "auto"
    bpm: float = 0.0
    detail: str = "auto"

    def __post_init__(self) -> None:
        duration = _number(self.duration, "duration")
        if not 0 < duration <= MAX_SECONDS:
            raise SdaError(f"cannot generate {self.duration} s of audio",
                           hint=f"choose a duration from 0.1 to {MAX_SECONDS:g} seconds")
        object.__setattr__(self, "duration", duration)
        object.__setattr__(self, "seed", _whole(self.seed, "seed"))
        variations = _whole(self.variations, "variations")
        if not 1 <= variations <= MAX_VARIATIONS:
            raise SdaError(f"cannot make {variations} variations", hint=f"choose 1 to {MAX_VARIATIONS}")
        object.__setattr__(self, "variations", variations)
        _choice(self.vocoder, "vocoder", VOCODERS)
        dynamics = _number(self.dynamics, "dynamics")
        if not 0.0 <= dynamics <= 1.0:
            raise SdaError(f"dynamics {dynamics} is outside 0..1", hint="0 = as decoded, 1 = like the training audio")
        object.__setattr__(self, "dynamics", dynamics)
        _choice(self.form, "form", FORMS)
        _choice(self.detail, "detail", DETAILS)
        bpm = _number(self.bpm, "bpm")
        if bpm != 0.0 and not 20.0 <= bpm <= 400.0:
            raise SdaError(f"cannot use {bpm:g} BPM", hint="choose 20 to 400 BPM, or 0 for the material's tempo")
        object.__setattr__(self, "bpm", bpm)


@dataclass(frozen=True)
class SamplingPart:
    """How adventurous sampling is: temperature, top-k (0 = off), nucleus top-p (1 = off)."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0

    def __post_init__(self) -> None:
        temperature = _number(self.temperature, "temperature")
        if not 0.0 <= temperature <= 5.0:
            raise SdaError(f"temperature {temperature} is outside 0..5", hint="1 = as learned; lower = safer")
        object.__setattr__(self, "temperature", temperature)
        top_k = _whole(self.top_k, "top_k")
        if top_k < 0:
            raise SdaError(f"top_k {top_k} is negative", hint="0 = off, or a positive number of codes")
        object.__setattr__(self, "top_k", top_k)
        top_p = _number(self.top_p, "top_p")
        if not 0.0 < top_p <= 1.0:
            raise SdaError(f"top_p {top_p} is outside (0, 1]", hint="1 = off; 0.9 keeps the likeliest 90%")
        object.__setattr__(self, "top_p", top_p)


@dataclass(frozen=True)
class ControlPart:
    """What the sound does: the musical sliders and blending with other models.

    ``controls``: slider values, name -> -1..1 (0 = the model's own character; kept sorted): the eight
    musical controls (``brightness`` ... ``density``, ``reverb``) and the unlabelled ``exploreN`` axes. A
    flat key named like a control (``density=0.5``) sets that slider.
    ``blend``: ``((model, weight), ...)`` other models blended with the main one.
    ``control_mode``: how the moved sliders are realised (:data:`CONTROL_MODES`; density is always steered).
    """

    controls: tuple[tuple[str, float], ...] = ()
    blend: tuple[tuple[str, float], ...] = ()
    control_mode: str = "auto"

    def __post_init__(self) -> None:
        controls = tuple((name, value) for name, value in _pairs(self.controls, "controls", -1.0, 1.0) if value != 0.0)
        unknown = [name for name, _ in controls if not _is_control_name(name)]
        if unknown:
            raise SdaError(f"unknown musical control(s): {', '.join(unknown)}",
                           hint=f"the controls are {', '.join(_control_names())} (and explore1, explore2, ...)")
        object.__setattr__(self, "controls", controls)
        object.__setattr__(self, "blend", _pairs(self.blend, "blend", 0.0, math.inf, keep_order=True))
        _choice(self.control_mode, "control mode", CONTROL_MODES)

    @property
    def control_values(self) -> dict[str, float]:
        """The sliders that are moved (not at 0), as a dict."""
        return dict(self.controls)

    def value(self, name: str) -> float:
        """One slider's value (0 when it is not set)."""
        return dict(self.controls).get(name, 0.0)


def _control_names() -> tuple[str, ...]:
    # imported here: ``sda_control`` pulls in torch (seconds, measured with -X importtime), and a request must
    # stay cheap to build (the CLI parses its options before it loads a model)
    from sda_control.names import CONTROL_NAMES

    return tuple(CONTROL_NAMES)


def _is_control_name(name: str) -> bool:
    return name in _control_names() or (name.startswith("explore") and name[7:].isdigit())


def density_factor(value: float) -> float:
    """The density control (-1..1) as a rate factor: 0.1 at -1 (sparse), 1 at 0, 2 at +1 (dense)."""
    return 10.0 ** value if value < 0 else 2.0 ** value


def density_control(factor: float) -> float:
    """The inverse of :func:`density_factor` (how an old 0.1..2 density setting reads today)."""
    factor = min(max(float(factor), 0.1), 2.0)
    return math.log10(factor) if factor < 1 else math.log2(factor)


def _pairs(value: Any, name: str, low: float, high: float, keep_order: bool = False
           ) -> tuple[tuple[str, float], ...]:
    items = value.items() if isinstance(value, Mapping) else value
    try:
        pairs = [(str(k), _number(v, f"{name} value for {k!r}")) for k, v in items]
    except (TypeError, ValueError):
        raise SdaError(f"{name} must map names to numbers, not {value!r}") from None
    for key, number in pairs:
        if not low <= number <= high:
            raise SdaError(f"{name} value {number} for {key!r} is outside {low:g}..{high:g}")
    return tuple(pairs) if keep_order else tuple(sorted(pairs))


@dataclass(frozen=True)
class SpatialPart:
    """Where the sound sits: mono, stereo (by ``stereo_method``) or binaural (``azimuth``/``elevation``°)."""

    channels: str = "stereo"
    stereo_method: str = "decorrelate"
    azimuth: float = 30.0
    elevation: float = 0.0

    def __post_init__(self) -> None:
        _choice(self.channels, "channel layout", CHANNELS)
        _choice(self.stereo_method, "stereo method", STEREO_METHODS)
        azimuth = _number(self.azimuth, "azimuth")
        if not -180.0 <= azimuth <= 360.0:
            raise SdaError(f"azimuth {azimuth} is outside -180..360 degrees")
        elevation = _number(self.elevation, "elevation")
        if not -90.0 <= elevation <= 90.0:
            raise SdaError(f"elevation {elevation} is outside -90..90 degrees")
        object.__setattr__(self, "azimuth", azimuth)
        object.__setattr__(self, "elevation", elevation)


@dataclass(frozen=True)
class ExportPart:
    """The file: format, rate, bit depth (32 = float), loudness target (LUFS, None = peak-normalised),
    true-peak-style ceiling and MP3 bit rate."""

    format: str = "wav"
    sample_rate: int = 48000
    bit_depth: int = 24
    loudness_lufs: float | None = None
    peak_dbfs: float = -1.0
    mp3_bitrate: int = 320

    def __post_init__(self) -> None:
        object.__setattr__(self, "sample_rate", _whole(self.sample_rate, "sample_rate"))
        object.__setattr__(self, "bit_depth", _whole(self.bit_depth, "bit_depth"))
        object.__setattr__(self, "mp3_bitrate", _whole(self.mp3_bitrate, "mp3_bitrate"))
        if self.loudness_lufs is not None:
            lufs = _number(self.loudness_lufs, "loudness")
            if not -60.0 <= lufs <= 0.0:
                raise SdaError(f"loudness {lufs} LUFS is outside -60..0",
                               hint="e.g. -14 for streaming, -23 for broadcast")
            object.__setattr__(self, "loudness_lufs", lufs)
        object.__setattr__(self, "peak_dbfs", _number(self.peak_dbfs, "peak_dbfs"))
        object.__setattr__(self, "format", self.settings("stereo").format)  # validates the combination

    def settings(self, channels: str) -> Any:
        """The :class:`sda_audio.export.ExportSettings` for ``channels`` (``mono`` or ``stereo``)."""
        # imported here: sda_audio.export imports pyloudnorm and scipy (seconds, measured with -X importtime)
        from sda_audio.export import ExportSettings

        return ExportSettings(format=self.format, sample_rate=self.sample_rate, bit_depth=self.bit_depth,
                              channels=channels, loudness_lufs=self.loudness_lufs, peak_dbfs=self.peak_dbfs,
                              mp3_bitrate=self.mp3_bitrate)

    @property
    def extension(self) -> str:
        return self.format


PARTS: dict[str, type] = {"render": RenderPart, "sampling": SamplingPart, "control": ControlPart,
                          "spatial": SpatialPart, "export": ExportPart}
FIELD_PART: dict[str, str] = {f.name: part for part, cls in PARTS.items() for f in dataclasses.fields(cls)}
"""Flat field name -> the part that holds it (names are unique across parts)."""
FIELDS: tuple[str, ...] = tuple(FIELD_PART)


@dataclass(frozen=True)
class GenerationRequest:
    """Everything that shapes one generation, with sda's defaults. Immutable; :meth:`replace` makes a
    changed copy (validated: a bad value raises :class:`~sda_audio.errors.SdaError`)."""

    render: RenderPart = field(default_factory=RenderPart)
    sampling: SamplingPart = field(default_factory=SamplingPart)
    control: ControlPart = field(default_factory=ControlPart)
    spatial: SpatialPart = field(default_factory=SpatialPart)
    export: ExportPart = field(default_factory=ExportPart)

    # -- flat access -----------------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        part = FIELD_PART.get(name)
        if part is None:
            raise AttributeError(name)
        return getattr(object.__getattribute__(self, part), name)

    def replace(self, **changes: Any) -> GenerationRequest:
        """A copy with flat fields changed, e.g. ``req.replace(duration=8, channels="mono")``.

        ``None`` values are ignored (an unset CLI option), except for ``loudness_lufs``, where ``None`` means
        "no loudness target" and can only be set through :meth:`from_dict`.
        """
        changes = fold_controls({k: v for k, v in changes.items() if v is not None},
                                 dict(self.control.controls))
        unknown = sorted(set(changes) - set(FIELD_PART))
        if unknown:
            raise SdaError(f"unknown generation setting(s): {', '.join(unknown)}",
                           hint=f"known settings: {', '.join(FIELDS)} and the musical controls")
        by_part: dict[str, dict[str, Any]] = {}
        for key, value in changes.items():
            by_part.setdefault(FIELD_PART[key], {})[key] = value
        return dataclasses.replace(self, **{part: dataclasses.replace(getattr(self, part), **values)
                                            for part, values in by_part.items()})

    def with_seed(self, seed: int) -> GenerationRequest:
        """This request for one variation: ``seed`` and ``variations=1`` (what a history entry stores)."""
        return self.replace(seed=seed, variations=1)

    # -- JSON ------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Nested, JSON-safe: ``{"render": {...}, "sampling": {...}, ...}``."""
        out: dict[str, dict[str, Any]] = {}
        for part in PARTS:
            values = dataclasses.asdict(getattr(self, part))
            if part == "render" and values["detail"] == "auto":  # the default is left out, as control_mode's
                del values["detail"]
            if part == "control":
                values["controls"] = dict(self.control.controls)
                values["blend"] = [[name, weight] for name, weight in self.control.blend]
                if values["control_mode"] == "auto":  # the default is left out: older sidecars read the same
                    del values["control_mode"]
            out[part] = values
        return out

    def to_flat(self) -> dict[str, Any]:
        """Flat ``field -> value`` (the shape presets store)."""
        return {key: value for part in self.to_dict().values() for key, value in part.items()}

    def overrides(self, base: GenerationRequest | None = None) -> dict[str, Any]:
        """The flat fields where this request differs from ``base`` (default: sda's defaults)."""
        base_flat = (base or GenerationRequest()).to_flat()
        return {k: v for k, v in self.to_flat().items() if base_flat.get(k) != v}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base: GenerationRequest | None = None,
                  legacy: bool = False) -> GenerationRequest:
        """Read a nested or flat mapping on top of ``base`` (default: sda's defaults). Unknown keys are an
        error. ``legacy=True`` reads a preset or history row stored by an older sda (see
        :func:`migrate_legacy`: its ``density`` was a 0.1..2 factor)."""
        if not isinstance(data, Mapping):
            raise SdaError(f"generation settings must be a mapping, not {type(data).__name__}")
        flat: dict[str, Any] = {}
        for key, value in data.items():
            if key == "run":  # a history row's run details (variation, device, ...): not a setting
                continue
            if key in PARTS and isinstance(value, Mapping):
                flat.update(value)
            elif key in PARTS and key != "spatial":  # an old preset's "spatial" was a word ("binaural")
                raise SdaError(f"the {key!r} part of the generation settings must be a mapping")
            else:
                flat[key] = value
        request = base or cls()
        flat = migrate_legacy(flat, legacy)
        flat = fold_controls(flat, dict(request.control.controls))
        unknown = sorted(set(flat) - set(FIELD_PART))
        if unknown:
            raise SdaError(f"unknown generation setting(s): {', '.join(unknown)}",
                           hint=f"known settings: {', '.join(FIELDS)} and the musical controls")
        by_part: dict[str, dict[str, Any]] = {}
        for key, value in flat.items():
            by_part.setdefault(FIELD_PART[key], {})[key] = value
        return dataclasses.replace(request, **{part: dataclasses.replace(getattr(request, part), **values)
                                               for part, values in by_part.items()})


def fold_controls(flat: dict[str, Any], current: dict[str, float]) -> dict[str, Any]:
    """Flat keys named like a control (``brightness=0.5``) move into ``controls`` (on top of ``current`` and
    of a ``controls`` mapping in the same dict)."""
    named = {k: flat.pop(k) for k in list(flat) if k not in FIELD_PART and _is_control_name(k)}
    if not named:
        return flat
    merged = dict(current)
    given = flat.get("controls")
    if isinstance(given, Mapping):
        merged.update(given)
    elif given is not None:
        merged.update(dict(given))
    merged.update(named)
    flat["controls"] = merged
    return flat


LEGACY_DROPPED = ("variation", "device", "stereo_width", "crossfade")
"""Keys old presets/history rows carried that no longer shape the sound here (dropped on reading)."""


def migrate_legacy(flat: Mapping[str, Any], legacy_density: bool = False) -> dict[str, Any]:
    """Old flat keys -> request fields.

    With ``legacy_density``, a flat ``density`` is the 0.1..2 rate factor of sda before the musical controls
    and becomes the density control (:func:`density_control`); otherwise it is the control itself.

    Presets before the request type: ``channels`` as a count (1/2), ``spatial`` (``"binaural"``), ``count``
    (variations), ``sliders`` (the controls), ``blend`` as a ``{model: weight}`` mapping. History rows before it:
    the engine's keyword list plus ``variation``, ``device`` and ``blend`` as ``[{"model", "weight"}]``
    (whose first entry is the main model itself). ``None`` values (``stereo_method`` of a mono row) are left
    out so the defaults stand.
    """
    out: dict[str, Any] = {}
    for key, value in flat.items():
        if key in LEGACY_DROPPED:
            log.info("ignoring the old setting %r=%r (it no longer applies)", key, value)
            continue
        if value is None and key != "loudness_lufs":
            continue
        if key == "channels" and isinstance(value, int) and not isinstance(value, bool):
            out["channels"] = {1: "mono", 2: "stereo"}.get(value, value)
        elif key == "spatial":
            if value == "binaural":
                out["channels"] = "binaural"
        elif key == "count":
            out["variations"] = value
        elif key == "sliders":
            out["controls"] = value
        elif key == "density" and legacy_density:
            out["density"] = density_control(value)  # pyright: ignore[reportArgumentType]
        elif key == "blend" and isinstance(value, list) and value and isinstance(value[0], Mapping):
            out["blend"] = [(str(item["model"]), item["weight"]) for item in value[1:]]
        else:
            out[key] = value
    if flat.get("spatial") == "binaural":
        out["channels"] = "binaural"
    return out
