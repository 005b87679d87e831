"""The writer on its own: exclusive file creation, unique history names, one seed in the sidecar."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from sda_audio.errors import SdaError
from sda_engine.generate.request import GenerationRequest
from sda_engine.generate.sketch import RenderedAudio
from sda_engine.store.generation_writer import GenerationResult, write_generation
from sda_engine.store.history import History
from sda_engine.store.home import SdaHome
from sda_models.mel import MelConfig

SR = MelConfig().sampling_rate


@dataclass
class Model:
    """What the writer needs of a model session."""

    home: SdaHome
    name: str = "tone"
    sha256: str = "0" * 64
    kind: str = "vae"
    device: torch.device = torch.device("cpu")


def _audio(freq: float, seed: int) -> RenderedAudio:
    t = np.arange(SR // 2) / SR
    return RenderedAudio(samples=(0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)[None], sample_rate=SR,
                         seed=seed, vocoder="corpus", vocoder_reason="a test", channels="mono")


def _request(seed: int) -> GenerationRequest:
    return GenerationRequest().replace(seed=seed, duration=0.5, channels="mono", sample_rate=SR)


def _race(model: Model, path: Path, unique: bool) -> list[GenerationResult | SdaError]:
    """Two writers of different sounds released at once onto one name."""
    start = threading.Barrier(2)
    outcome: list[GenerationResult | SdaError] = [SdaError("not run"), SdaError("not run")]

    def write(i: int) -> None:
        audio = _audio(220.0 * (i + 1), seed=i)
        start.wait()
        try:
            outcome[i] = write_generation(audio, _request(i), path, model, unique=unique)
        except SdaError as exc:
            outcome[i] = exc

    threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcome


def _is_own(result: GenerationResult, model: Model) -> bool:
    """The file, its sidecar and its history row are all of the generation that returned ``result``."""
    entry = History(model.home).show(result.history_id)
    data, _ = sf.read(result.path, dtype="float32")
    sidecar = json.loads(result.sidecar.read_text())["metadata"]
    return (entry.audio_path == result.path.resolve() and entry.seed == result.seed
            and sidecar["request"]["render"]["seed"] == result.seed
            and np.allclose(data, _audio(220.0 * (result.seed + 1), result.seed).samples[0], atol=1e-4))


@pytest.mark.parametrize("attempt", range(3))
def test_two_writers_racing_for_one_name_one_wins(tmp_path: Path, attempt: int) -> None:
    model = Model(SdaHome(tmp_path / "home"))
    outcome = _race(model, tmp_path / "race.wav", unique=False)
    won = [r for r in outcome if isinstance(r, GenerationResult)]
    lost = [r for r in outcome if isinstance(r, SdaError)]
    assert len(won) == 1 and len(lost) == 1 and lost[0].action == "overwrite"
    assert _is_own(won[0], model)
    assert [e.audio_path for e in History(model.home).list()] == [won[0].path.resolve()]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["race.wav", "race.wav.json"]


def test_names_sda_picks_step_on_instead_of_clashing(tmp_path: Path) -> None:
    model = Model(SdaHome(tmp_path / "home"))
    outcome = _race(model, tmp_path / "auto.wav", unique=True)
    assert all(isinstance(r, GenerationResult) for r in outcome)
    results = [r for r in outcome if isinstance(r, GenerationResult)]
    assert sorted(r.path.name for r in results) == ["auto-2.wav", "auto.wav"]
    assert all(_is_own(r, model) for r in results)


def test_overwrite_replaces_and_a_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    import sda_engine.store.generation_writer as writer

    model = Model(SdaHome(tmp_path / "home"))
    path = tmp_path / "x.wav"
    write_generation(_audio(220.0, 0), _request(0), path, model)
    with pytest.raises(SdaError, match="already there"):
        write_generation(_audio(440.0, 1), _request(1), path, model)
    again = write_generation(_audio(440.0, 1), _request(1), path, model, overwrite=True)
    assert again.path == path and _is_own(again, model)

    def broken(*args, **kwargs):
        raise SdaError("the disk is full; nothing was written")

    monkeypatch.setattr(writer, "export_audio", broken)
    with pytest.raises(SdaError, match="disk is full"):
        write_generation(_audio(220.0, 0), _request(0), tmp_path / "y.wav", model)
    assert not (tmp_path / "y.wav").exists() and not (tmp_path / "y.wav.json").exists()


def test_the_sidecar_holds_the_seed_once(tmp_path: Path) -> None:
    model = Model(SdaHome(tmp_path / "home"))
    result = write_generation(_audio(220.0, 7), _request(0).replace(variations=3), tmp_path / "s.wav", model,
                              extra={"variation": 2, "variations": 3})
    side = json.loads(result.sidecar.read_text())
    meta = side["metadata"]
    assert meta["request"]["render"] == {**_request(7).to_dict()["render"], "variations": 1}
    assert "seed" not in meta and "seed" not in meta["parameters"] and meta["comment"] == "sda tone"
    assert side["tags"]["comment"] == "sda tone"
    assert {k: meta["parameters"][k] for k in ("variation", "variations", "device", "blend")} == {
        "variation": 2, "variations": 3, "device": "cpu", "blend": None}
    entry = History(model.home).show(result.history_id)
    assert entry.request() == result.request == _request(7)
    assert entry.params["run"] == {"variation": 2, "variations": 3, "device": "cpu", "blend": None}
