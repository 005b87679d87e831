"""Which form a generation takes: the request's ``form``, or (``auto``) the form the model's material had.

A model trained since forms were detected carries ``metadata["form"]`` (:mod:`sda_engine.train.forms`): the
set's form and what the one-shot and phrase checks compare with. A model without it is generated as a texture,
as sda always did, so its output does not change.
"""

from __future__ import annotations

from typing import Any

from sda_audio.errors import SdaError
from sda_audio.oneshot_checks import OneShotReference
from sda_audio.room_tone import RoomTone
from sda_engine.generate.request import GenerationRequest

DEFAULT_REFERENCE = OneShotReference(tail_db=-40.0, min_length=0.1, max_length=2.0, files=0)
"""What a one-shot is held to when the model has no reference (its material was not one-shots)."""


def model_form_section(metadata: dict[str, Any] | None) -> dict[str, Any] | None:
    """The model's ``form`` section (``None`` for a model trained before forms were detected)."""
    section = (metadata or {}).get("form")
    return section if isinstance(section, dict) and section.get("form") in ("oneshot", "phrase", "texture") else None


def resolve_form(request: GenerationRequest, metadata: dict[str, Any] | None, model_name: str = "the model"
                 ) -> tuple[str, str]:
    """``(form, source)``: the form to generate and where it came from (``request``, ``model``, ``default``).

    Raises:
        SdaError: a phrase asked of a model whose material was textures (continuous sound has no strokes to
            place in time).
    """
    section = model_form_section(metadata)
    if request.form != "auto":
        form, source = request.form, "request"
    elif section is not None:
        form, source = str(section["form"]), "model"
    else:
        form, source = "texture", "default"
    if form == "phrase" and source == "request" and section is not None and section["form"] == "texture" \
            and not section.get("forced"):
        raise SdaError(f"'{model_name}' was trained on textures (continuous sound: {section.get('message')}); "
                       "it has no separate strokes to place in a phrase",
                       hint="generate a texture (form auto or texture), or train on one-shots or phrases")
    return form, source


def oneshot_reference_of(metadata: dict[str, Any] | None) -> tuple[OneShotReference, bool]:
    """The model's stored one-shot reference and ``True``, or :data:`DEFAULT_REFERENCE` and ``False``."""
    section = model_form_section(metadata) or {}
    ref = section.get("oneshot_reference")
    if isinstance(ref, dict):
        try:
            return OneShotReference(tail_db=float(ref["tail_db"]), min_length=float(ref["min_length"]),
                                    max_length=float(ref["max_length"]), files=int(ref.get("files") or 0)), True
        except (KeyError, TypeError, ValueError):
            pass
    return DEFAULT_REFERENCE, False


def timing_of(metadata: dict[str, Any] | None) -> dict[str, Any]:
    """The material's stored timing (``{}`` when none)."""
    section = model_form_section(metadata) or {}
    timing = section.get("timing")
    return timing if isinstance(timing, dict) else {}


def room_tone_of(metadata: dict[str, Any] | None) -> RoomTone | None:
    """The material's stored room tone (``None`` for a model trained before it was measured: its strokes sit on
    digital silence, as before)."""
    return RoomTone.from_dict((model_form_section(metadata) or {}).get("room_tone"))
