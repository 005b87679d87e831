"""The material's own detail for sampled generations: a bank of the training frames' latents and what the
decoder misses of each, matched frame by frame, bounded in memory, and switchable off."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch

from sda_engine.generate.detail_bank import DetailBank, smooth
from sda_engine.generate.pipeline import generate_files
from sda_engine.generate.request import GenerationRequest
from sda_engine.generate.session import ModelSession
from sda_engine.store.home import SdaHome

GOLDEN = Path(__file__).resolve().parents[3] / "tests" / "golden" / "make_fixtures.py"
REQUEST = GenerationRequest().replace(channels="mono", vocoder="corpus", duration=2.0, form="texture")


def _golden() -> Any:
    spec = importlib.util.spec_from_file_location("sda_golden_fixtures_for_detail", GOLDEN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> ModelSession:
    root = tmp_path_factory.mktemp("detail")
    models = _golden().install_models(root / "models")
    return ModelSession.open(models / "golden_rvq.sda", "cpu", SdaHome(root / "home"))


def test_the_bank_holds_every_training_frame_and_its_missed_detail(session: ModelSession) -> None:
    bank = session.derived("detail-bank", lambda: DetailBank.of(session))
    assert bank is not None and bank.frames > 0 and bank.files
    assert session.derived("detail-bank", lambda: None) is bank  # made once per session
    ae = session.bundle.autoencoder.config
    assert bank.latents.shape == (bank.frames, ae.latent_dim)
    assert bank.details.shape == (bank.frames, ae.n_mels, ae.downsample)
    ends = torch.nonzero(bank.next_frame < 0).flatten()
    assert len(ends) == len(bank.files) and int(ends[-1]) == bank.frames - 1  # one run per file
    # the spectral detail: each frame's mean over the mel bands taken out (not a loudness offset)
    assert float(bank.details.mean(dim=1).abs().max()) < 1e-4
    assert float(bank.details.abs().mean()) > 0.01  # and there is detail the decoder misses


def test_a_training_run_is_matched_to_itself_in_order(session: ModelSession) -> None:
    bank = DetailBank.of(session)
    assert bank is not None
    ends = torch.nonzero(bank.next_frame < 0).flatten().tolist()
    first_end = int(ends[0])
    run = bank.latents[: first_end + 1].T[None]  # the first file's latent frames, (1, D, T')
    assert bank.choose(run).tolist() == list(range(first_end + 1))
    detail = bank.detail_for(run)
    ds = session.bundle.autoencoder.config.downsample
    assert detail.shape == (bank.details.shape[1], (first_end + 1) * ds)
    raw = bank.details[: first_end + 1].permute(1, 0, 2).reshape(detail.shape[0], -1)
    assert torch.allclose(detail, smooth(raw, 8), atol=1e-5)
    with pytest.raises(ValueError, match="expected a latent"):
        bank.detail_for(torch.zeros(1, bank.latents.shape[1] + 1, 3))


def test_the_bank_is_bounded_and_reports_its_progress(session: ModelSession) -> None:
    events: list[Any] = []
    small = DetailBank.of(session, max_frames=5, on_event=events.append)
    assert small is not None and small.frames <= 5
    assert [e.kind for e in events][0] == "start" and events[-1].kind == "done"
    assert {e.job for e in events} == {"generate.detail"}


def test_smoothing_keeps_a_constant_and_softens_a_step() -> None:
    flat = torch.full((3, 20), 2.0)
    assert torch.allclose(smooth(flat, 8), flat)
    step = torch.cat([torch.zeros(1, 10), torch.ones(1, 10)], dim=1)
    soft = smooth(step, 8)
    assert soft.shape == step.shape and 0.0 < float(soft[0, 9]) < 1.0 and 0.0 < float(soft[0, 10]) < 1.0
    assert torch.equal(smooth(step, 1), step)


def test_textures_carry_the_material_detail_unless_asked_not_to(session: ModelSession, tmp_path: Path) -> None:
    with_detail = generate_files(session, REQUEST.replace(seed=3), tmp_path / "auto.wav")[0]
    without = generate_files(session, REQUEST.replace(seed=3, detail="none"), tmp_path / "none.wav")[0]
    notes_auto = json.loads(with_detail.sidecar.read_text())["metadata"]["notes"]
    notes_none = json.loads(without.sidecar.read_text())["metadata"]["notes"]
    assert "fine detail of your recordings" in notes_auto["detail"] and "detail" not in notes_none
    a, _ = sf.read(with_detail.path)
    b, _ = sf.read(without.path)
    assert a.shape == b.shape and not np.allclose(a, b)
    again = generate_files(session, REQUEST.replace(seed=3), tmp_path / "again.wav")[0]
    c, _ = sf.read(again.path)
    assert np.array_equal(a, c)  # the same seed, the same sound
