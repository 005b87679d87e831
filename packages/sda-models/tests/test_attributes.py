"""Attribute-regularised training: the pairwise sign loss, the mel attributes, the config and the step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sda_audio.descriptors import describe
from sda_models.attributes import ATTRIBUTES, attribute_loss, mel_attributes, pairwise_sign_loss
from sda_models.autoencoder import build_autoencoder
from sda_models.configs import AutoencoderConfig, ConfigError, preset_config
from sda_models.device import cpu_generator
from sda_models.mel import LogMel
from sda_models.training import make_optimizer, train_step

SR = 44100


def test_sign_loss_is_low_when_ordered_and_high_when_reversed() -> None:
    a = torch.linspace(0.0, 1.0, 8)
    z = 100.0 * a
    assert float(pairwise_sign_loss(z, a)) < 0.01
    assert float(pairwise_sign_loss(-z, a)) > 1.99
    unrelated = float(pairwise_sign_loss(torch.zeros(8), a))
    assert abs(unrelated - 1.0) < 1e-6  # tanh(0) = 0 against +-1 on every pair
    # monotone but not linear is just as good: only the order matters
    assert float(pairwise_sign_loss(10.0 * a**3 + 5.0, a)) < float(pairwise_sign_loss(0.1 * a, a))


def test_sign_loss_handles_ties_and_tiny_batches() -> None:
    a = torch.tensor([1.0, 1.0, 2.0])
    z = torch.tensor([0.0, 0.0, 50.0])
    assert float(pairwise_sign_loss(z, a)) < 1e-6  # tied attributes want tied latents
    assert float(pairwise_sign_loss(torch.ones(1), torch.ones(1))) == 0.0
    with pytest.raises(ValueError):
        pairwise_sign_loss(torch.ones(3), torch.ones(4))


def test_attribute_loss_uses_time_means_of_the_first_dims() -> None:
    a = torch.stack([torch.linspace(0, 1, 6), torch.linspace(1, 0, 6)], dim=1)  # (B, 2)
    latent = torch.zeros(6, 5, 7)
    latent[:, 0] = 100 * a[:, 0, None]
    latent[:, 1] = 100 * a[:, 1, None]
    latent[:, 2:] = torch.randn(6, 3, 7, generator=cpu_generator(0))  # unregularised dims are ignored
    assert float(attribute_loss(latent, a)) < 0.01
    latent[:, 1] = -latent[:, 1]
    assert float(attribute_loss(latent, a)) > 0.99  # one dim right (0), one reversed (2)
    with pytest.raises(ValueError):
        attribute_loss(torch.zeros(6, 1, 7), a)


@pytest.mark.parametrize("kind", ["vae", "rvq"])
def test_gradient_reaches_the_encoder_only(kind: str) -> None:
    cfg = preset_config("tiny", kind).autoencoder
    model = build_autoencoder(cfg, seed=0)
    x = torch.randn(4, cfg.n_mels, 16, generator=cpu_generator(1))
    attrs = torch.rand(4, 3, generator=cpu_generator(2), requires_grad=True)
    out = model(x, generator=cpu_generator(3))
    attribute_loss(out.stats["latent"], attrs).backward()
    enc = [p.grad for p in model.encoder.parameters() if p.requires_grad]
    dec = [p.grad for p in model.decoder.parameters()]
    assert any(g is not None and float(g.abs().sum()) > 0 for g in enc)
    assert all(g is None or float(g.abs().sum()) == 0 for g in dec)
    assert attrs.grad is None or float(attrs.grad.abs().sum()) == 0  # sign() passes no gradient


def _noise(seconds: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(int(seconds * SR)).astype(np.float32)


def _lowpass(x: np.ndarray, cutoff: float) -> np.ndarray:
    spec = np.fft.rfft(x)
    spec[np.fft.rfftfreq(len(x), 1 / SR) > cutoff] = 0
    return np.fft.irfft(spec, len(x)).astype(np.float32)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def test_mel_attributes_rank_windows_like_the_descriptors() -> None:
    seconds = 64 * 512 / SR
    t = np.arange(int(seconds * SR)) / SR
    clips = {
        "brightness": [_lowpass(_noise(seconds, i), c) for i, c in enumerate((600, 1500, 3000, 6000, 12000))],
        "warmth": [_lowpass(_noise(seconds, i), c) + 0.5 * _noise(seconds, 10 + i) * (c / 4000)
                   for i, c in enumerate((800, 1500, 2500, 4000, 6000))],
        "rhythmic": [(_noise(seconds, i) * (1 + d * np.sin(2 * np.pi * 4 * t))).astype(np.float32)
                     for i, d in enumerate((0.0, 0.2, 0.4, 0.6, 0.9))],
    }
    mel = LogMel()
    for k, name in enumerate(ATTRIBUTES):
        waves = torch.from_numpy(np.stack(clips[name]))
        ours = mel_attributes(mel(waves), ATTRIBUTES)[:, k].numpy()
        ref = np.array([describe(c, SR)[name] for c in clips[name]])
        assert _spearman(ours, ref) > 0.85, (name, ours, ref)
        assert len(set(np.sign(np.diff(ref)))) == 1, (name, ref)  # the signals really are ordered


def test_mel_attributes_refuse_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown attribute"):
        mel_attributes(torch.zeros(1, 128, 8), ("pulse",))


def test_config_round_trips_and_validates_attributes() -> None:
    cfg = AutoencoderConfig(latent_dim=4, attributes=("brightness", "warmth"), attribute_weight=0.5)
    back = AutoencoderConfig.from_dict(cfg.to_dict())
    assert back == cfg and back.attributes == ("brightness", "warmth")
    assert back.regularised == {0: "brightness", 1: "warmth"}
    assert AutoencoderConfig(attributes=("brightness",)).regularised == {}  # weight 0: off
    old = cfg.to_dict()
    for key in ("attributes", "attribute_weight", "attribute_delta"):
        old.pop(key)  # a config written before the option existed
    assert AutoencoderConfig.from_dict(old).regularised == {}
    with pytest.raises(ConfigError, match="unknown regularised attribute"):
        AutoencoderConfig(attributes=("pulse",))
    with pytest.raises(ConfigError, match="twice"):
        AutoencoderConfig(attributes=("warmth", "warmth"))
    with pytest.raises(ConfigError, match="latent dims"):
        AutoencoderConfig(latent_dim=2, attributes=ATTRIBUTES)


@pytest.mark.parametrize("kind", ["vae", "rvq"])
def test_train_step_reports_and_lowers_the_attribute_loss(kind: str) -> None:
    torch.manual_seed(0)
    cfg = preset_config("tiny", kind).autoencoder.replace(attributes=("brightness",), attribute_weight=1.0)
    training = preset_config("tiny", kind).training
    model = build_autoencoder(cfg, seed=0)
    opt = make_optimizer(model, training)
    mel = LogMel()
    seconds = 16 * 512 / SR
    waves = torch.from_numpy(np.stack([_lowpass(_noise(seconds, i), 300 * 1.6**i) for i in range(8)]))
    log_mel = mel(waves)
    x = (log_mel - log_mel.mean()) / log_mel.std()
    attrs = mel_attributes(log_mel, cfg.attributes)
    plain = train_step(build_autoencoder(cfg, seed=0), opt, x, cfg, 1)
    assert "attr" not in plain
    first = train_step(model, opt, x, cfg, 1, attributes=attrs, generator=cpu_generator(0))
    for step in range(2, 25):
        last = train_step(model, opt, x, cfg, step, attributes=attrs, generator=cpu_generator(step))
    assert first["attr"] > 0.3
    assert last["attr"] < 0.5 * first["attr"]
