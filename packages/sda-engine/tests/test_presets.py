"""Tests for presets: save/list/show/rename/delete, validation, model scoping."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from sda_audio.errors import SdaError
from sda_engine.generate.request import GenerationRequest
from sda_engine.store.home import SdaHome
from sda_engine.store.library import ModelLibrary
from sda_engine.store.presets import ALLOWED_KEYS, PresetStore, validate_params


def fake_sda(path: Path) -> Path:
    meta = {"format_version": 2, "kind": "rvq", "dataset": {"name": "d"}, "parts": {}}
    save_file({"autoencoder.w": np.zeros((2, 2), np.float32)}, str(path), metadata={"sda": json.dumps(meta)})
    return path


@pytest.fixture
def home(tmp_path) -> SdaHome:
    home = SdaHome(tmp_path / "home")
    lib = ModelLibrary(home)
    lib.add_model(fake_sda(tmp_path / "a.sda"), "drums")
    lib.add_model(fake_sda(tmp_path / "b.sda"), "pads")
    return home


PARAMS = {"duration": 8.0, "seed": 7, "temperature": 0.9, "top_k": 50, "top_p": 0.95, "format": "wav",
          "sample_rate": 48000, "bit_depth": 24, "channels": "stereo", "vocoder": "auto",
          "controls": {"brightness": 0.4, "explore1": -1.0}}


def test_save_show_roundtrip(home):
    store = PresetStore(home)
    p = store.save("bright", PARAMS)
    assert p.model_name is None and p.scope == "global" and p.params == PARAMS
    assert store.show("bright").params == PARAMS
    assert store.show("bright").request() == GenerationRequest.from_dict(PARAMS)
    json.dumps(store.show("bright").to_dict())


def test_presets_are_partial_overrides_of_a_request(home):
    store = PresetStore(home)
    store.save("short", {"duration": 2, "seed": 11})
    base = GenerationRequest().replace(channels="mono", temperature=0.5)
    req = store.show("short").request(base)
    assert (req.duration, req.seed, req.channels, req.temperature) == (2.0, 11, "mono", 0.5)


def test_old_presets_are_migrated_on_save_and_on_read(home):
    store = PresetStore(home)
    old = {"channels": 2, "sliders": {"warmth": 0.3}, "count": 2, "spatial": "binaural"}
    assert store.save("old", old).params == {"channels": "binaural", "controls": {"warmth": 0.3}, "variations": 2}
    with home.catalog.transaction() as conn:  # a row written by an older sda
        conn.execute("UPDATE presets SET params_json = ? WHERE name = 'old'",
                     (json.dumps({"channels": 1, "sliders": {"warmth": 0.3}, "density": 0.1}),))
    assert store.show("old").params == {"channels": "mono", "controls": {"warmth": 0.3, "density": -1.0}}


def test_model_specific_wins_over_global(home):
    store = PresetStore(home)
    store.save("soft", {"temperature": 1.0})
    store.save("soft", {"temperature": 0.5}, model="drums")
    assert store.show("soft").params == {"temperature": 1.0}
    assert store.show("soft", model="drums").params == {"temperature": 0.5}
    assert store.show("soft", model="pads").params == {"temperature": 1.0}  # falls back to global
    names = [(p.name, p.model_name) for p in store.list(model="drums")]
    assert names == [("soft", None), ("soft", "drums")]
    assert [(p.name, p.model_name) for p in store.list(model="pads")] == [("soft", None)]
    assert len(store.list()) == 2


def test_duplicate_needs_overwrite(home):
    store = PresetStore(home)
    store.save("x", {"seed": 1})
    with pytest.raises(SdaError, match="already exists"):
        store.save("x", {"seed": 2})
    assert store.save("x", {"seed": 2}, overwrite=True).params == {"seed": 2}
    assert len(store.list()) == 1


def test_validation_lists_allowed_keys():
    with pytest.raises(SdaError, match="unknown preset setting.*colour") as info:
        validate_params({"colour": 1, "seed": 1})
    for key in ("temperature", "controls", "duration"):
        assert key in str(info.value)
    with pytest.raises(SdaError, match="seed must be a whole number"):
        validate_params({"seed": 1.5})
    with pytest.raises(SdaError, match="temperature must be a number"):
        validate_params({"temperature": "hot"})
    with pytest.raises(SdaError, match="must be a number"):
        validate_params({"duration": True})
    with pytest.raises(SdaError, match="controls"):
        validate_params({"controls": {"a": "x"}})
    assert validate_params({"sliders": {"warmth": 1}, "seed": None}) == {"controls": {"warmth": 1.0}}
    assert validate_params({"brightness": 0.5, "density": -0.5}) == {"controls": {"brightness": 0.5, "density": -0.5}}
    with pytest.raises(SdaError, match="unknown musical control"):
        validate_params({"controls": {"sparkle": 0.5}})
    assert "controls" in ALLOWED_KEYS


def test_preset_names_may_have_spaces(home):
    store = PresetStore(home)
    assert store.save("Warm pad", {"seed": 1}).name == "Warm pad"
    for bad in ("", "  x", "a\nb", "x" * 81):
        with pytest.raises(SdaError, match="not a usable preset name"):
            store.save(bad, {"seed": 1})


def test_unknown_model_rejected(home):
    with pytest.raises(SdaError, match="no model named 'ghost'"):
        PresetStore(home).save("p", {"seed": 1}, model="ghost")


def test_rename_and_delete(home):
    store = PresetStore(home)
    store.save("a", {"seed": 1})
    store.save("b", {"seed": 2})
    store.save("a", {"seed": 3}, model="pads")
    with pytest.raises(SdaError, match="already exists"):
        store.rename("a", "b")
    assert store.rename("a", "c").params == {"seed": 1}
    assert store.show("a", model="pads").params == {"seed": 3}  # the model's preset untouched
    with pytest.raises(SdaError, match="no preset named 'a'"):
        store.show("a")
    store.delete("a", model="pads")
    with pytest.raises(SdaError, match="no preset named"):
        store.delete("a", model="pads")
    assert sorted(p.name for p in store.list()) == ["b", "c"]


def test_params_for_merges_overrides(home):
    store = PresetStore(home)
    store.save("base", {"seed": 1, "controls": {"warmth": 0.1, "reverb": 0.2}})
    merged = store.params_for("base", overrides={"seed": 9, "controls": {"reverb": 0.9}})
    assert merged == {"seed": 9, "controls": {"warmth": 0.1, "reverb": 0.9}}


def test_presets_follow_model_delete(home):
    store = PresetStore(home)
    store.save("p", {"seed": 1}, model="drums")
    ModelLibrary(home).delete("drums")
    assert store.list() == []
