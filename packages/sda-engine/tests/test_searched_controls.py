"""Searched controls through the renderer: the sidecar note and determinism (their cost next to a plain render
is measured by benchmarks/controls.py, not here)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from sda_engine.generate.renderer import Renderer
from sda_engine.generate.request import GenerationRequest
from sda_engine.generate.session import ModelSession
from sda_engine.store.home import SdaHome

FIXTURES = Path(__file__).resolve().parents[3] / "tests" / "golden" / "fixtures"


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> ModelSession:
    if not (FIXTURES / "golden_vae.sda").exists():
        pytest.skip("the golden fixture models are absent")
    folder = tmp_path_factory.mktemp("models")
    shutil.copyfile(FIXTURES / "golden_vae.sda", folder / "m.sda")  # a small trained VAE with fitted controls
    shutil.copyfile(FIXTURES / "golden_dataset.corpus.safetensors", folder / "m.corpus.safetensors")
    return ModelSession.open(folder / "m.sda", "cpu", SdaHome(tmp_path_factory.mktemp("home")))


def _render(session: ModelSession, **fields: object) -> tuple[np.ndarray, dict]:
    renderer = Renderer(session, GenerationRequest().replace(duration=4.0, channels="mono", seed=0, vocoder="corpus",
                                                             **fields))
    out = renderer.render(renderer.sample(0))
    return out.samples[0], out.notes


def test_searched_mode_writes_searched_and_is_deterministic(session: ModelSession) -> None:
    plain, notes = _render(session)
    assert "controls" not in notes
    a, notes_a = _render(session, brightness=0.8, warmth=-0.5, control_mode="searched")
    b, _ = _render(session, brightness=0.8, warmth=-0.5, control_mode="searched")
    assert notes_a["controls"] == {"brightness": "searched", "warmth": "searched"}
    assert np.array_equal(a, b) and not np.array_equal(a, plain)
    _, notes_auto = _render(session, brightness=0.8)
    assert notes_auto["controls"]["brightness"] == "assisted"  # as fitted (this model's check chose the assist)


def test_the_default_mode_stays_out_of_the_request_dict() -> None:
    assert "control_mode" not in GenerationRequest().to_dict()["control"]
    request = GenerationRequest().replace(control_mode="searched")
    assert request.to_dict()["control"]["control_mode"] == "searched"
    assert GenerationRequest.from_dict(request.to_dict()).control.control_mode == "searched"
    assert request.overrides() == {"control_mode": "searched"}
