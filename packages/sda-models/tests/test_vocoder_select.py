"""Vocoder selection (VOC-05): per-model HiFi-GAN > local BigVGAN > corpus resynthesis, with clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sda_audio.errors import SdaError
from sda_models.vocoders import CorpusIndex, CorpusVocoder, Vocoder, select_vocoder
from sda_models.vocoders import select as select_module
from sda_models.vocoders.hifigan import TINY_HIFIGAN, HifiGanGenerator, HifiGanVocoder, generator_tensors


class _FakeBigVGAN(Vocoder):
    name = "bigvgan"

    def __init__(self, path: Path) -> None:
        self.path = path

    def synthesize(self, log_mel: torch.Tensor) -> np.ndarray:
        return np.zeros(log_mel.shape[1] * self.hop_length, np.float32)


@pytest.fixture(autouse=True)
def _no_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make sure a BigVGAN copy in the developer's real HF cache cannot leak into these tests."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf_cache"))
    monkeypatch.delenv("SDA_BIGVGAN_WEIGHTS", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf_cache"))


@pytest.fixture(scope="module")
def corpus_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    t = np.arange(22528) / 44100
    files = [(0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32) for f in (220.0, 330.0, 495.0)]
    return CorpusIndex.build(files).save(tmp_path_factory.mktemp("lib") / "corpus.safetensors")


@pytest.fixture(scope="module")
def hifigan_section() -> tuple[dict[str, torch.Tensor], dict]:
    torch.manual_seed(0)
    gen = HifiGanGenerator(TINY_HIFIGAN)
    return {f"vocoder.{k}": v for k, v in generator_tensors(gen).items()}, TINY_HIFIGAN.to_dict()


@pytest.fixture
def fake_bigvgan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A local weights folder (found by the real resolver) and a loader that does not need 490 MB."""
    folder = tmp_path / "bigvgan"
    folder.mkdir()
    (folder / "bigvgan_generator.pt").write_bytes(b"not loaded in this test")
    monkeypatch.setattr(select_module, "load_bigvgan", lambda path, device: _FakeBigVGAN(path))
    return folder


def test_auto_prefers_the_models_own_hifigan(hifigan_section, corpus_path, fake_bigvgan) -> None:
    tensors, config = hifigan_section
    vocoder, choice = select_vocoder("auto", bundle_vocoder_tensors=tensors, bundle_vocoder_config=config,
                                     corpus_index_path=corpus_path, bigvgan_weights=fake_bigvgan, device="cpu")
    assert isinstance(vocoder, HifiGanVocoder)
    assert choice.name == "hifigan" and "HiFi-GAN" in choice.reason
    assert vocoder.synthesize(torch.full((128, 3), -5.0)).shape == (3 * 512,)


def test_auto_uses_local_bigvgan_without_a_hifigan(corpus_path, fake_bigvgan) -> None:
    vocoder, choice = select_vocoder("auto", corpus_index_path=corpus_path, bigvgan_weights=fake_bigvgan,
                                     device="cpu")
    assert isinstance(vocoder, _FakeBigVGAN)
    assert vocoder.path == fake_bigvgan / "bigvgan_generator.pt"
    assert choice.name == "bigvgan" and "no per-model HiFi-GAN" in choice.reason


def test_auto_uses_bigvgan_from_a_path_the_app_passes(corpus_path, fake_bigvgan, monkeypatch) -> None:
    _vocoder, choice = select_vocoder("auto", corpus_index_path=corpus_path, bigvgan_weights=fake_bigvgan,
                                      device="cpu")
    assert choice.name == "bigvgan"
    monkeypatch.setenv("SDA_BIGVGAN_WEIGHTS", str(fake_bigvgan))  # the app's variable: not read down here
    _vocoder, choice = select_vocoder("auto", corpus_index_path=corpus_path, device="cpu")
    assert choice.name != "bigvgan"


def test_auto_falls_back_to_corpus_offline(corpus_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    vocoder, choice = select_vocoder("auto", corpus_index_path=corpus_path, device="cpu")
    assert isinstance(vocoder, CorpusVocoder)
    assert choice.name == "corpus"
    assert choice.reason == ("no per-model HiFi-GAN trained and no BigVGAN weights found offline; "
                             "using corpus resynthesis from 3 training files")
    assert vocoder.synthesize(torch.full((128, 4), -4.0)).shape == (4 * 512,)


def test_explicit_choices_that_are_unavailable_say_how_to_fix(tmp_path: Path, corpus_path) -> None:
    with pytest.raises(SdaError, match="train the model's own vocoder") as err:
        select_vocoder("hifigan", corpus_index_path=corpus_path, device="cpu")
    assert err.value.action == "train_vocoder"
    with pytest.raises(SdaError, match="download the BigVGAN weights") as err:
        select_vocoder("bigvgan", corpus_index_path=corpus_path, device="cpu")
    assert err.value.action == "get_bigvgan"
    with pytest.raises(SdaError, match="corpus index"):
        select_vocoder("corpus", corpus_index_path=tmp_path / "none.safetensors", device="cpu")
    with pytest.raises(SdaError, match="BigVGAN weights not found"):
        select_vocoder("bigvgan", bigvgan_weights=tmp_path / "nowhere", device="cpu")
    with pytest.raises(SdaError, match="unknown vocoder"):
        select_vocoder("wavenet", device="cpu")


def test_auto_with_nothing_available_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SdaError, match="no vocoder is available") as err:
        select_vocoder("auto", corpus_index_path=tmp_path / "corpus.safetensors", device="cpu")
    assert "BigVGAN weights" in str(err.value) and "own vocoder" in str(err.value)
    assert err.value.action == "get_bigvgan" and "`sda" not in str(err.value)


def test_explicit_choices_when_available(hifigan_section, corpus_path, fake_bigvgan) -> None:
    tensors, config = hifigan_section
    kwargs = dict(bundle_vocoder_tensors=tensors, bundle_vocoder_config=config, corpus_index_path=corpus_path,
                  bigvgan_weights=fake_bigvgan, device="cpu")
    for name, cls in (("corpus", CorpusVocoder), ("bigvgan", _FakeBigVGAN), ("hifigan", HifiGanVocoder)):
        vocoder, choice = select_vocoder(name, **kwargs)
        assert isinstance(vocoder, cls) and choice.name == name and "as requested" in choice.reason


def test_damaged_corpus_index_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "corpus.safetensors"
    bad.write_bytes(b"\x00" * 16)
    with pytest.raises(SdaError, match="corpus.safetensors"):
        select_vocoder("corpus", corpus_index_path=bad, device="cpu")


def _check(beats: bool) -> dict:
    return {"mel_l1": 0.5 if not beats else 0.05, "mrstft": 2.0 if not beats else 0.9, "floor_mel_l1": 0.1,
            "floor_mrstft": 1.1, "clips": 4, "source": "validation", "beats_floor": beats}


def test_auto_passes_over_a_hifigan_below_the_floor(hifigan_section, corpus_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tensors, config = hifigan_section
    vocoder, choice = select_vocoder("auto", bundle_vocoder_tensors=tensors, bundle_vocoder_config=config,
                                     corpus_index_path=corpus_path, device="cpu",
                                     bundle_vocoder_validation=_check(False))
    assert isinstance(vocoder, CorpusVocoder) and choice.name == "corpus"
    assert "does not yet beat the Griffin-Lim floor" in choice.reason
    assert "mel L1 0.500 vs 0.100" in choice.reason and "training the vocoder further" in choice.reason
    # asked for by name, it is still used
    vocoder, choice = select_vocoder("hifigan", bundle_vocoder_tensors=tensors, bundle_vocoder_config=config,
                                     corpus_index_path=corpus_path, device="cpu",
                                     bundle_vocoder_validation=_check(False))
    assert isinstance(vocoder, HifiGanVocoder)


def test_auto_uses_a_hifigan_that_beats_the_floor_and_says_by_how_much(hifigan_section, corpus_path) -> None:
    tensors, config = hifigan_section
    vocoder, choice = select_vocoder("auto", bundle_vocoder_tensors=tensors, bundle_vocoder_config=config,
                                     corpus_index_path=corpus_path, device="cpu",
                                     bundle_vocoder_validation=_check(True))
    assert isinstance(vocoder, HifiGanVocoder)
    assert "mel L1 0.050 vs 0.100, MR-STFT 0.900 vs 1.100" in choice.reason
