"""The eight musical controls, their descriptors and value validation."""

from __future__ import annotations

import math
from typing import Any

from sda_audio.errors import SdaError

CONTROL_NAMES = ("brightness", "warmth", "roughness", "tension", "rhythmic", "pulse", "density", "reverb")
# the control named "reverb" is measured by the descriptor "reverberance"; the others share their name
_DESCRIPTOR = {"reverb": "reverberance"}
REALISATIONS = ("searched", "latent", "steered", "assisted", "off")


def descriptor_of(control: str) -> str:
    """The sda-audio descriptor that measures ``control``."""
    return _DESCRIPTOR.get(control, control)


def validate_controls(values: dict[str, Any] | None) -> dict[str, float]:
    """Known names, each a finite number in -1..1; returns ``{name: float}`` (zeros kept).

    Raises:
        SdaError: an unknown name or a value out of range (the message names it).
    """
    out: dict[str, float] = {}
    for name, raw in (values or {}).items():
        if name not in CONTROL_NAMES:
            raise SdaError(f"unknown control {name!r}", hint=f"the controls are {', '.join(CONTROL_NAMES)}")
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise SdaError(f"control {name} must be a number from -1 to 1, got {raw!r}") from None
        if not math.isfinite(value) or not -1.0 <= value <= 1.0:
            raise SdaError(f"control {name} must be from -1 to 1, got {raw!r}",
                           hint="0 is the model's own character; -1 and +1 are the ends of the range")
        out[name] = value
    return out
