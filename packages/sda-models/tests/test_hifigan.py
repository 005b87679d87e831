"""Per-model HiFi-GAN V2: generator, discriminators, losses, warm-up training, exact resume, tensor round trip."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from sda_audio.errors import SdaError
from sda_models.mel import log_mel
from sda_models.vocoders.hifigan import TINY_HIFIGAN, HifiGanConfig, HifiGanGenerator, HifiGanVocoder
from sda_models.vocoders.hifigan_discriminators import (
    TINY_DISCRIMINATORS,
    MultiPeriodDiscriminator,
    MultiScaleDiscriminator,
)
from sda_models.vocoders.hifigan_losses import DiscriminatorAugment, MultiResolutionSTFTLoss
from sda_models.vocoders.hifigan_training import HifiGanTrainer, HifiGanTrainingConfig

SR = 44100


def _clip(frames: int = 16) -> torch.Tensor:
    """A decaying three-partial tone ``(1, frames * 512)``."""
    t = torch.arange(frames * 512) / SR
    tone = sum(a * torch.sin(2 * math.pi * f * t) for a, f in ((0.3, 220.0), (0.15, 440.0), (0.08, 660.0)))
    return (tone * torch.exp(-2.0 * t))[None].float()


def _tiny_training(**overrides) -> HifiGanTrainingConfig:
    return HifiGanTrainingConfig(generator=TINY_HIFIGAN, discriminators=TINY_DISCRIMINATORS, **overrides)


def test_default_generator_is_v2_adapted_to_hop_512() -> None:
    config = HifiGanConfig()
    assert config.hop_length == 512 and config.upsample_initial_channel == 128
    assert config.resblock_dilation_sizes == ((1, 3, 5),) * 3
    assert HifiGanConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    gen = HifiGanGenerator(config)
    n_params = sum(p.numel() for p in gen.parameters())
    assert 0.5e6 < n_params < 1.5e6  # V2 is the ~0.9M-parameter HiFi-GAN


def test_vocoder_output_length_and_tensor_round_trip() -> None:
    torch.manual_seed(0)
    vocoder = HifiGanVocoder(HifiGanGenerator(TINY_HIFIGAN), device="cpu", chunk_frames=12, overlap_frames=4)
    mel = torch.randn(128, 30) - 5
    audio = vocoder.synthesize(mel)
    assert audio.dtype == np.float32 and audio.shape == (30 * 512,)
    assert np.abs(audio).max() < 1.0 and np.abs(audio).max() > 0

    tensors = {f"vocoder.{k}": v for k, v in vocoder.generator_tensors().items()}
    assert all(v.device.type == "cpu" and v.is_contiguous() for v in tensors.values())
    rebuilt = HifiGanVocoder.from_tensors(tensors, json.loads(json.dumps(vocoder.config_dict())), device="cpu",
                                          chunk_frames=12, overlap_frames=4)
    np.testing.assert_array_equal(rebuilt.synthesize(mel), audio)
    with torch.no_grad():
        whole = vocoder.generator(mel[None]).reshape(-1).numpy()
    np.testing.assert_allclose(audio, whole, atol=1e-4)  # chunking is transparent


def test_mismatched_tensors_are_a_clear_error() -> None:
    tensors = HifiGanVocoder(HifiGanGenerator(TINY_HIFIGAN), device="cpu").generator_tensors()
    with pytest.raises(SdaError, match="do not match"):
        HifiGanVocoder.from_tensors(tensors, HifiGanConfig().to_dict(), device="cpu")
    with pytest.raises(SdaError, match="config is invalid"):
        HifiGanVocoder.from_tensors(tensors, {"bogus": 1}, device="cpu")


def test_discriminators_shapes_and_features() -> None:
    torch.manual_seed(0)
    wave = torch.randn(2, 1, 3001)  # not a multiple of any period
    mpd, msd = MultiPeriodDiscriminator(TINY_DISCRIMINATORS), MultiScaleDiscriminator(TINY_DISCRIMINATORS)
    logits, feats = mpd(wave)
    assert len(logits) == 5 and all(lg.shape[0] == 2 for lg in logits)
    assert all(len(f) == len(TINY_DISCRIMINATORS.mpd_channels) + 1 for f in feats)
    logits, feats = msd(wave)
    assert len(logits) == 3 and len(feats[0]) == len(TINY_DISCRIMINATORS.msd_channels) + 1
    # the first scale is spectrally normalised (power-iteration vectors in its state), the others weight-normed
    assert any(k.endswith("._u") for k in msd.discriminators[0].state_dict())
    assert not any(k.endswith("._u") for k in msd.discriminators[1].state_dict())


def test_augmentation_is_seeded_shared_and_differentiable() -> None:
    a, b = DiscriminatorAugment(seed=5), DiscriminatorAugment(seed=5)
    pa, pb = a.sample(3, 4096), b.sample(3, 4096)
    assert torch.equal(pa.gain, pb.gain) and pa.shift == pb.shift and torch.equal(pa.noise, pb.noise)
    real = torch.randn(3, 4096)
    fake = real.clone().requires_grad_(True)
    out_real, out_fake = DiscriminatorAugment.apply(real, pa), DiscriminatorAugment.apply(fake, pa)
    assert torch.equal(out_real, out_fake.detach())  # identical transform for real and generated audio
    assert not torch.allclose(out_real, real)
    out_fake.sum().backward()
    assert fake.grad is not None and torch.isfinite(fake.grad).all()


def test_stft_loss_is_zero_for_identical_and_positive_otherwise() -> None:
    loss = MultiResolutionSTFTLoss()
    x = _clip(8)
    assert loss(x, x).item() == pytest.approx(0.0, abs=1e-6)
    assert loss(x * 0.5, x).item() > 0.1


def test_warmup_reduces_mel_l1_on_one_clip() -> None:
    wave = _clip(8)
    mel = log_mel(wave)
    assert mel.shape == (1, 128, 8)
    trainer = HifiGanTrainer(_tiny_training(warmup_steps=10_000, learning_rate=5e-3), device="cpu")
    first = trainer.step(wave, mel)
    assert first["adversarial"] == 0.0 and "stft" in first
    history = [trainer.step(wave, mel)["mel_l1"] for _ in range(40)]
    assert all(math.isfinite(h) for h in history)
    assert min(history[-10:]) < 0.6 * first["mel_l1"]  # measured: about 0.4 of the start
    audio = trainer.to_vocoder("cpu").synthesize(mel[0])
    assert audio.shape == (8 * 512,)


def test_adversarial_steps_and_exact_resume(tmp_path: Path) -> None:
    wave = torch.cat([_clip(4), 0.5 * _clip(4).flip(-1)])
    mel = log_mel(wave)
    config = _tiny_training(warmup_steps=1, seed=3)
    trainer = HifiGanTrainer(config, device="cpu")
    for _ in range(2):
        metrics = trainer.step(wave, mel)
    assert metrics["adversarial"] == 1.0
    assert all(math.isfinite(metrics[k]) for k in ("loss_d", "adv", "fm", "loss_g", "mel_l1"))

    tensors, meta = trainer.state_dict()
    save_file(tensors, str(tmp_path / "vocoder_state.safetensors"))
    (tmp_path / "vocoder_state.json").write_text(json.dumps(meta))
    expected = [trainer.step(wave, mel) for _ in range(2)]

    resumed = HifiGanTrainer(config, device="cpu")
    resumed.load_state_dict(load_file(str(tmp_path / "vocoder_state.safetensors")),
                            json.loads((tmp_path / "vocoder_state.json").read_text()))
    assert resumed.step_count == 2
    got = [resumed.step(wave, mel) for _ in range(2)]
    assert got == expected
    for key, value in trainer.generator_tensors().items():
        assert torch.equal(resumed.generator_tensors()[key], value), key

    other = HifiGanTrainer(_tiny_training(warmup_steps=5, seed=3), device="cpu")
    with pytest.raises(SdaError, match="different training settings"):
        other.load_state_dict(tensors, meta)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU")
def test_training_step_and_vocoder_on_cuda() -> None:
    wave = _clip(8)
    mel = log_mel(wave)
    trainer = HifiGanTrainer(_tiny_training(warmup_steps=1), device="cuda")
    for _ in range(2):
        metrics = trainer.step(wave, mel)
    assert metrics["adversarial"] == 1.0 and math.isfinite(metrics["loss_g"])
    cpu = trainer.to_vocoder("cpu").synthesize(mel[0])
    gpu = trainer.to_vocoder("cuda").synthesize(mel[0])
    np.testing.assert_allclose(gpu, cpu, atol=1e-3)
