"""GenerationRequest: one set of defaults, JSON round trips, validation, legacy preset/history rows."""

from __future__ import annotations

import json

import pytest

from sda_audio.errors import SdaError
from sda_engine.generate.request import FIELDS, GenerationRequest, migrate_legacy


def test_defaults_live_in_one_place() -> None:
    req = GenerationRequest()
    assert (req.duration, req.seed, req.channels, req.format, req.sample_rate, req.bit_depth) == (
        20.0, 0, "stereo", "wav", 48000, 24)
    assert req.overrides() == {}


def test_nested_and_flat_dicts_round_trip() -> None:
    req = GenerationRequest().replace(duration=8, temperature=0.7, channels="binaural", azimuth=-40,
                                      controls={"warmth": 0.5, "brightness": -0.25}, blend=[("rain", 0.3)])
    nested = json.loads(req.to_json())
    assert set(nested) == {"render", "sampling", "control", "spatial", "export"}
    assert GenerationRequest.from_dict(nested) == req
    assert GenerationRequest.from_dict(req.to_flat()) == req
    assert req.overrides() == {"duration": 8.0, "temperature": 0.7, "channels": "binaural", "azimuth": -40.0,
                               "controls": {"brightness": -0.25, "warmth": 0.5}, "blend": [["rain", 0.3]]}
    assert GenerationRequest.from_dict(req.overrides()) == req
    assert req.control.control_values == {"brightness": -0.25, "warmth": 0.5}


def test_field_names_are_unique_across_parts() -> None:
    assert len(FIELDS) == len(set(FIELDS))


@pytest.mark.parametrize("changes,needle", [
    ({"duration": 0}, "seconds"), ({"duration": 601}, "seconds"), ({"seed": 1.5}, "whole number"),
    ({"channels": "quad"}, "channel layout"), ({"format": "aac"}, "format"), ({"top_p": 0}, "top_p"),
    ({"format": "mp3", "sample_rate": 96000}, "MP3"), ({"controls": {"brightness": 2}}, "outside"),
    ({"variations": 0}, "variations"), ({"temperature": "hot"}, "number"), ({"colour": 1}, "unknown"),
    ({"density": 5}, "density"), ({"vocoder": "wavenet"}, "vocoder"),
])
def test_bad_values_are_clear_errors(changes: dict, needle: str) -> None:
    with pytest.raises(SdaError, match=needle):
        GenerationRequest().replace(**changes)


def test_controls_by_name_and_density_scale() -> None:
    from sda_engine.generate.request import density_control, density_factor

    req = GenerationRequest().replace(brightness=0.5, density=-1)
    assert req.control.control_values == {"brightness": 0.5, "density": -1.0}
    assert req.replace(warmth=0.2).control.control_values == {"brightness": 0.5, "density": -1.0, "warmth": 0.2}
    assert req.replace(brightness=0).control.control_values == {"density": -1.0}  # 0 = the model's own
    assert GenerationRequest.from_dict({"reverb": 0.3}).control.control_values == {"reverb": 0.3}
    assert (density_factor(-1), density_factor(0), density_factor(1)) == (0.1, 1.0, 2.0)
    for factor in (0.1, 0.5, 1.0, 1.5, 2.0):
        assert abs(density_factor(density_control(factor)) - factor) < 1e-9
    with pytest.raises(SdaError, match="unknown musical control"):
        GenerationRequest().replace(controls={"sparkle": 0.5})


def test_replace_ignores_unset_options_and_keeps_the_rest() -> None:
    req = GenerationRequest().replace(seed=4)
    assert req.replace(seed=None, duration=None) == req


def test_old_presets_are_migrated() -> None:
    old = {"channels": 1, "count": 3, "sliders": {"warmth": 0.2}, "stereo_width": 1.2, "seed": 5}
    req = GenerationRequest.from_dict(old)
    assert (req.channels, req.variations, req.control.control_values, req.seed) == ("mono", 3, {"warmth": 0.2}, 5)
    assert GenerationRequest.from_dict({"spatial": "binaural", "channels": 2}).channels == "binaural"


def test_old_history_rows_are_migrated() -> None:
    row = {"duration": 8.0, "seed": 3, "temperature": 1.0, "top_k": 0, "top_p": 1.0, "density": 1.0,
           "channels": "stereo", "stereo_method": None, "azimuth": None, "elevation": None, "format": "wav",
           "sample_rate": 48000, "bit_depth": 24, "loudness_lufs": None, "variation": 2, "variations": 4,
           "device": "cpu", "blend": [{"model": "main", "weight": 0.7}, {"model": "rain", "weight": 0.3}]}
    req = GenerationRequest.from_dict(row, legacy=True)
    assert req.control.control_values == {}  # the old density 1 is the density control's 0
    assert GenerationRequest.from_dict({**row, "density": 0.1}, legacy=True).control.control_values == {"density": -1.0}
    assert req.seed == 3 and req.variations == 4 and req.control.blend == (("rain", 0.3),)
    assert req.stereo_method == "decorrelate"  # None in a mono-era row: the default stands
    assert "variation" not in migrate_legacy(row)
