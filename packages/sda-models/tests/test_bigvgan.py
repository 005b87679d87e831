"""BigVGAN-v2 generator: official parameter manifest, anti-aliasing parts, safe loading, chunked inference."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from sda_audio.errors import SdaError
from sda_models.vocoders.bigvgan import (
    BIGVGAN_V2_44K_128BAND_512X,
    TINY_BIGVGAN,
    Activation1d,
    BigVGANConfig,
    BigVGANGenerator,
    expected_shapes,
    kaiser_sinc_filter1d,
)
from sda_models.vocoders.bigvgan_vocoder import BigVGANVocoder
from sda_models.vocoders.bigvgan_weights import (
    BigVGANWeights,
    load_bigvgan_generator,
    resolve_bigvgan_weights,
)
from sda_models.vocoders.chunking import chunk_spans, render_chunked

FIXTURES = Path(__file__).parent / "fixtures"

# The generator part of the published config.json of nvidia/bigvgan_v2_44khz_128band_512x.
OFFICIAL_CONFIG_JSON = {
    "resblock": "1", "num_gpus": 0, "batch_size": 32, "learning_rate": 0.0001,
    "upsample_rates": [8, 4, 2, 2, 2, 2], "upsample_kernel_sizes": [16, 8, 4, 4, 4, 4],
    "upsample_initial_channel": 1536, "resblock_kernel_sizes": [3, 7, 11],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
    "use_tanh_at_final": False, "use_bias_at_final": False, "activation": "snakebeta", "snake_logscale": True,
    "num_mels": 128, "n_fft": 2048, "hop_size": 512, "win_size": 2048, "sampling_rate": 44100,
    "fmin": 0, "fmax": None,
}

# Smaller still than TINY_BIGVGAN, so CPU tests stay fast on a loaded machine.
MICRO = BigVGANConfig(upsample_rates=(8, 8, 8), upsample_kernel_sizes=(16, 16, 16), upsample_initial_channel=16,
                      resblock_kernel_sizes=(3,), resblock_dilation_sizes=((1, 2),))


def _random_generator(config: BigVGANConfig, seed: int = 0) -> BigVGANGenerator:
    """Random weights large enough that the output is far from silence (the default init is near-silent)."""
    torch.manual_seed(seed)
    gen = BigVGANGenerator(config).eval()
    with torch.no_grad():
        for name, param in gen.named_parameters():
            if name.endswith("weight_g"):
                param.fill_(0.6)
            elif name.endswith("bias") or name.endswith(".alpha") or name.endswith(".beta"):
                param.normal_(0.0, 0.1)
    return gen


def _mel(frames: int, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(128, frames, generator=gen) * 1.5 - 5.0


def test_state_dict_matches_official_manifest() -> None:
    manifest = json.loads((FIXTURES / "bigvgan_v2_44khz_128band_512x_manifest.json").read_text())
    official = {name: tuple(shape) for name, shape in manifest["shapes"].items()}
    ours = expected_shapes(BIGVGAN_V2_44K_128BAND_512X)
    assert sorted(set(official) - set(ours)) == []
    assert sorted(set(ours) - set(official)) == []
    assert {k: v for k, v in ours.items() if official[k] != v} == {}
    assert len(ours) == 783
    assert "conv_post.bias" not in ours  # use_bias_at_final false
    assert ours["ups.0.0.weight_g"] == (1536, 1, 1) and ours["ups.5.0.weight_v"] == (48, 24, 4)
    assert 122_000_000 < sum(math.prod(s) for s in ours.values()) < 122_400_000


def test_official_config_json_gives_the_pinned_config() -> None:
    config = BigVGANConfig.from_dict(OFFICIAL_CONFIG_JSON)
    assert config == BIGVGAN_V2_44K_128BAND_512X
    assert config.hop_length == 512
    assert BigVGANConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError):
        BigVGANConfig.from_dict({**OFFICIAL_CONFIG_JSON, "activation": "snake"})


def test_kaiser_filter_and_activation_are_anti_aliased() -> None:
    taps = kaiser_sinc_filter1d(0.25, 0.3, 12)
    assert taps.shape == (1, 1, 12)
    assert taps.sum().item() == pytest.approx(1.0, abs=1e-6)
    assert torch.allclose(taps.flip(-1), taps)  # linear phase
    act = Activation1d(1)
    with torch.no_grad():
        act.act.beta.fill_(20.0)  # exp(20): the periodic term vanishes, so the block is ~identity
    t = torch.arange(4096, dtype=torch.float32)
    sine = torch.sin(2 * math.pi * 0.02 * t).view(1, 1, -1)
    out = act(sine)
    assert out.shape == sine.shape
    assert (out - sine)[..., 64:-64].abs().max().item() < 1e-2


def test_tiny_generator_output_length_and_range() -> None:
    gen = _random_generator(TINY_BIGVGAN)
    with torch.no_grad():
        wave = gen(_mel(6)[None])
    assert wave.shape == (1, 1, 6 * 512)
    assert wave.abs().max().item() <= 1.0 and wave.std().item() > 1e-3


def test_chunk_spans_cover_everything() -> None:
    spans = chunk_spans(100, 32, 8)
    assert spans[0][0] == 0 and spans[-1][1] == 100
    assert all(b[0] == a[1] - 8 for a, b in zip(spans, spans[1:], strict=False))
    assert chunk_spans(10, 32, 8) == [(0, 10)]


def test_chunked_equals_unchunked() -> None:
    gen = _random_generator(MICRO)
    mel = _mel(40)
    with torch.no_grad():
        full = gen(mel[None]).reshape(-1)
    chunked = render_chunked(gen, mel, 512, torch.device("cpu"), chunk=16, overlap=6, context=6)
    assert chunked.shape == full.shape
    assert full.std().item() > 1e-2
    assert (chunked - full).abs().max().item() < 1e-3


def _save_checkpoint(folder: Path, gen: BigVGANGenerator, extra: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bigvgan_generator.pt"
    torch.save({"generator": gen.state_dict(), **(extra or {})}, path)
    (folder / "config.json").write_text(json.dumps({"resblock": "1", "activation": "snakebeta",
                                                    **gen.config.to_dict()}))
    return path


def test_local_checkpoint_loads_strictly_and_caches_safetensors(tmp_path: Path) -> None:
    gen = _random_generator(MICRO, seed=3)
    _save_checkpoint(tmp_path / "weights", gen)
    cache = tmp_path / "st"
    weights = resolve_bigvgan_weights(tmp_path / "weights")
    assert weights.source == "local" and weights.config is not None
    loaded = load_bigvgan_generator(weights, safetensors_dir=cache)
    copies = list(cache.glob("*.safetensors"))
    assert len(copies) == 1
    again = load_bigvgan_generator(weights, safetensors_dir=cache)  # now from the safetensors copy
    mel = _mel(5)
    with torch.no_grad():
        ref = gen(mel[None])
        assert torch.equal(loaded(mel[None]), ref)
        assert torch.equal(again(mel[None]), ref)
    vocoder = BigVGANVocoder(loaded, device="cpu", chunk_frames=16, overlap_frames=6)
    audio = vocoder.synthesize(mel)
    assert audio.dtype == np.float32 and audio.shape == (5 * 512,)
    np.testing.assert_allclose(audio, ref.reshape(-1).numpy(), atol=1e-5)


def test_a_local_path_points_at_weights_and_the_environment_is_the_apps_business(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _save_checkpoint(tmp_path, _random_generator(MICRO))
    weights = resolve_bigvgan_weights(path)
    assert weights.checkpoint == path and weights.source == "local"
    # SDA_BIGVGAN_WEIGHTS is read once at the app edge (the CLI) and passed down; this library never reads it
    monkeypatch.setenv("SDA_BIGVGAN_WEIGHTS", str(path))
    with pytest.raises(SdaError):
        resolve_bigvgan_weights(cache_dir=tmp_path / "hf", allow_download=False)


def test_mismatched_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    gen = _random_generator(MICRO)
    state = gen.state_dict()
    state.pop("conv_pre.bias")
    state["conv_post.weight_v"] = torch.zeros(1, 3, 7)
    path = tmp_path / "bigvgan_generator.pt"
    torch.save({"generator": state}, path)
    (tmp_path / "config.json").write_text(json.dumps(MICRO.to_dict()))
    with pytest.raises(SdaError, match="missing.*conv_pre.bias.*wrong shapes.*conv_post.weight_v"):
        load_bigvgan_generator(BigVGANWeights(path, tmp_path / "config.json", "local"), safetensors_dir=tmp_path)


class _NotATensor:
    pass


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    path = _save_checkpoint(tmp_path, _random_generator(MICRO), extra={"payload": _NotATensor()})
    with pytest.raises(SdaError, match="cannot read the BigVGAN checkpoint"):
        load_bigvgan_generator(BigVGANWeights(path, tmp_path / "config.json", "local"), safetensors_dir=tmp_path)


def test_offline_without_cache_says_how_to_get_the_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SDA_BIGVGAN_WEIGHTS", raising=False)
    with pytest.raises(SdaError) as info:
        resolve_bigvgan_weights(cache_dir=tmp_path / "hf")
    text = str(info.value)
    assert "download the weights once while online" in text and "SDA_BIGVGAN_WEIGHTS" in text
    assert info.value.action == "get_bigvgan" and "--" not in text  # the front end names its own flags


def test_missing_local_path_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(SdaError, match="nothing-here"):
        resolve_bigvgan_weights(tmp_path / "nothing-here.pt")


def test_vocoder_refuses_other_bigvgan_variants() -> None:
    other = BigVGANConfig(num_mels=100, upsample_rates=(8, 8, 4), upsample_kernel_sizes=(16, 16, 8),
                          upsample_initial_channel=16, resblock_kernel_sizes=(3,), resblock_dilation_sizes=((1,),),
                          sampling_rate=24000)
    with pytest.raises(SdaError, match="100 bands, hop 256, 24000 Hz"):
        BigVGANVocoder(BigVGANGenerator(other), device="cpu")


def test_vocoder_rejects_wrong_mel_shape() -> None:
    vocoder = BigVGANVocoder(_random_generator(MICRO), device="cpu")
    with pytest.raises(SdaError, match="128"):
        vocoder.synthesize(torch.zeros(80, 10))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU")
def test_cuda_matches_cpu() -> None:
    gen = _random_generator(MICRO)
    mel = _mel(40)
    cpu = BigVGANVocoder(gen, device="cpu", chunk_frames=16, overlap_frames=6).synthesize(mel)
    gpu = BigVGANVocoder(_random_generator(MICRO), device="cuda", chunk_frames=16, overlap_frames=6).synthesize(mel)
    np.testing.assert_allclose(gpu, cpu, atol=1e-3)


@pytest.mark.mps
@pytest.mark.skipif(not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()),
                    reason="needs Apple MPS")
def test_mps_matches_cpu() -> None:
    mel = _mel(40)
    cpu = BigVGANVocoder(_random_generator(MICRO), device="cpu", chunk_frames=16, overlap_frames=6).synthesize(mel)
    mps = BigVGANVocoder(_random_generator(MICRO), device="mps", chunk_frames=16, overlap_frames=6).synthesize(mel)
    np.testing.assert_allclose(mps, cpu, atol=1e-3)
