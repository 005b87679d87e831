"""The mel autoencoder: preset x kind smoke matrix, overfitting one clip, VAE collapse checks, round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from sda_models.autoencoder import build_autoencoder
from sda_models.configs import PRESET_NAMES, AutoencoderConfig, preset_config
from sda_models.gaussian import (
    GaussianBottleneck,
    collapse_report,
    free_bits_kl,
    gaussian_kl,
    kl_weight_at,
)
from sda_models.losses import autoencoder_loss, multiresolution_spectral_loss
from sda_models.mel import LogMel
from sda_models.normalization import MelStats
from sda_models.training import eval_step, make_optimizer, train_step


def _clip_mel() -> torch.Tensor:
    """One second of a gliding, pulsing tone with noise bursts, as a normalised log-mel (1, 128, 86)."""
    sr = 44100
    t = np.arange(sr) / sr
    rng = np.random.default_rng(0)
    tone = 0.3 * np.sin(2 * np.pi * 220 * t * (1 + t)) * (0.5 + 0.5 * np.sin(2 * np.pi * 2 * t))
    noise = 0.05 * rng.standard_normal(t.size) * (np.sin(2 * np.pi * 4 * t) > 0.7)
    mel = LogMel()(torch.from_numpy((tone + noise).astype(np.float32))[None])
    return MelStats.from_mels([mel[0]]).normalize(mel)


@pytest.mark.parametrize("name", PRESET_NAMES)
@pytest.mark.parametrize("kind", ["vae", "rvq"])
def test_every_preset_and_kind_builds_and_runs(name: str, kind: str) -> None:
    cfg = preset_config(name, kind, n_files=12).autoencoder
    model = build_autoencoder(cfg)
    x = torch.randn(2, 128, 13)  # not a multiple of the downsampling: padded and trimmed
    out = model(x)
    assert out.recon.shape == x.shape
    total, metrics = autoencoder_loss(out, x, cfg, step=10)
    assert math.isfinite(float(total.detach())) and "total" in metrics
    total.backward()
    latent = model.encode(x)
    assert latent.shape == (2, cfg.latent_dim, 4)
    assert model.decode(latent).shape == (2, 128, 16)
    if kind == "rvq":
        codes = model.encode_codes(x)
        assert codes.shape == (2, cfg.rvq_levels, 4)
        assert model.decode_codes(codes).shape == (2, 128, 16)
        assert len(model.health()) == cfg.rvq_levels
    else:
        assert "kl" in metrics
        with pytest.raises(TypeError):
            model.encode_codes(x)


@pytest.mark.parametrize("kind", ["vae", "rvq"])
def test_tiny_model_overfits_one_clip(kind: str) -> None:
    x = _clip_mel()
    preset = preset_config("tiny", kind, n_files=5)
    cfg = preset.autoencoder
    model = build_autoencoder(cfg, seed=0)
    optimizer = make_optimizer(model, preset.training.replace(lr=3e-3))
    before = eval_step(model, x, cfg, 0)["l1"]
    for step in range(200):
        metrics = train_step(model, optimizer, x, cfg, step, generator=torch.Generator().manual_seed(step))
    assert all(math.isfinite(v) for v in metrics.values())
    after = eval_step(model, x, cfg, 200)["l1"]
    assert before > 0.8  # a unit-variance target: an untrained model is off by about 1
    assert after < 0.15, f"{kind} did not overfit: L1 {before:.3f} -> {after:.3f}"
    if kind == "vae":
        report = model.collapse(x)
        assert not report["collapsed"] and report["active_dims"] == cfg.latent_dim
    else:
        assert all(level["utilisation"] > 0.3 for level in model.health())


def test_collapse_detector() -> None:
    collapsed = collapse_report(torch.zeros(16))
    assert collapsed == {"active_dims": 0, "total_dims": 16, "mean_kl_active": 0.0, "collapsed": True}
    healthy = collapse_report(torch.tensor([2.0, 1.5, 0.9, 0.001]))
    assert healthy["active_dims"] == 3 and not healthy["collapsed"]
    assert healthy["mean_kl_active"] == pytest.approx((2.0 + 1.5 + 0.9) / 3)
    weak = collapse_report(torch.tensor([0.3, 0.4, 0.5, 0.0]))
    assert weak["active_dims"] == 3 and weak["collapsed"]


def test_untrained_collapsed_encoder_is_flagged() -> None:
    cfg = AutoencoderConfig(kind="vae", channels=(16, 16, 16), latent_dim=4, res_blocks=0)
    model = build_autoencoder(cfg)
    with torch.no_grad():  # an encoder whose posterior is exactly the prior: mean 0, logvar 0
        last = model.encoder.net[-1]
        last.weight.zero_()
        last.bias.zero_()
    assert model.collapse(torch.randn(2, 128, 16))["collapsed"]


def test_kl_warmup_free_bits_and_gaussian_kl() -> None:
    assert kl_weight_at(0, 0.01, 100) == 0.0
    assert kl_weight_at(50, 0.01, 100) == pytest.approx(0.005)
    assert kl_weight_at(500, 0.01, 100) == pytest.approx(0.01)
    assert kl_weight_at(3, 0.01, 0) == pytest.approx(0.01)
    mean, logvar = torch.tensor([1.0]), torch.tensor([math.log(2.0)])
    assert float(gaussian_kl(mean, logvar)) == pytest.approx(0.5 * (1 + 2 - 1 - math.log(2.0)))
    kl = torch.tensor([0.1, 2.0], requires_grad=True)
    free = free_bits_kl(kl, free_bits=0.5)
    assert float(free.detach()) == pytest.approx(2.5)
    free.backward()
    assert kl.grad.tolist() == [0.0, 1.0]  # no pressure below the free-bits floor


def test_reparameterisation_is_seeded() -> None:
    bottleneck = GaussianBottleneck(3)
    h = torch.randn(2, 6, 5)
    bottleneck.train()
    a, _ = bottleneck(h, generator=torch.Generator().manual_seed(7))
    b, _ = bottleneck(h, generator=torch.Generator().manual_seed(7))
    c, _ = bottleneck(h, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    bottleneck.eval()
    mean, _ = bottleneck(h)
    assert torch.equal(mean, h[:, :3])


def test_spectral_loss_sees_time_structure() -> None:
    target = torch.zeros(1, 128, 32)
    target[..., ::4] = 1.0  # onsets every 4 frames
    smeared = torch.full_like(target, 0.25)  # same mean, no onsets
    assert multiresolution_spectral_loss(target, target) == 0
    assert float(multiresolution_spectral_loss(smeared, target)) > 0.3


def test_build_is_seeded_and_leaves_global_rng_alone() -> None:
    cfg = AutoencoderConfig(kind="rvq", channels=(16, 16, 16), latent_dim=8, rvq_levels=2, codebook_size=16)
    state = torch.random.get_rng_state()
    a, b = build_autoencoder(cfg, seed=3), build_autoencoder(cfg, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(pa, pb), name
    c = build_autoencoder(cfg, seed=4)
    assert not torch.equal(a.encoder.net[0].weight, c.encoder.net[0].weight)


@pytest.mark.parametrize("kind", ["vae", "rvq"])
def test_state_round_trips_through_safetensors(kind: str, tmp_path) -> None:
    cfg = AutoencoderConfig(kind=kind, channels=(16, 24, 32), latent_dim=8, res_blocks=1, norm="weight",
                            activation="silu", rvq_levels=3, codebook_size=16, codebook_dim=4, dropout=0.1)
    model = build_autoencoder(cfg)
    optimizer = make_optimizer(model, preset_config("tiny", kind).training)
    x = torch.randn(2, 128, 24)
    for step in range(3):
        train_step(model, optimizer, x, cfg, step)
    path = tmp_path / "ae.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    clone = build_autoencoder(cfg, seed=123)
    clone.load_state_dict(load_file(str(path)), strict=True)
    model.eval()
    clone.eval()
    with torch.no_grad():
        assert torch.equal(model.decode(model.encode(x)), clone.decode(clone.encode(x)))
    if kind == "rvq":
        assert clone.health() == model.health()
        with torch.no_grad():
            codes = model.encode_codes(x)
            assert torch.equal(codes, clone.encode_codes(x))
            torch.testing.assert_close(model.decode_codes(codes), model.decode(model.encode(x)))


@pytest.mark.parametrize("kind", ["vae", "rvq"])
def test_train_step_under_bfloat16_autocast(kind: str) -> None:
    cfg = AutoencoderConfig(kind=kind, channels=(16, 16, 16), latent_dim=8, res_blocks=1, rvq_levels=2,
                            codebook_size=16)
    model = build_autoencoder(cfg)
    optimizer = make_optimizer(model, preset_config("tiny", kind).training)
    metrics = train_step(model, optimizer, torch.randn(2, 128, 16), cfg, 5, amp_dtype=torch.bfloat16)
    assert all(math.isfinite(v) for v in metrics.values()) and "skipped" not in metrics
    for p in model.parameters():
        assert p.dtype == torch.float32


def test_real_recording_through_front_end_and_autoencoder(shared_datasets) -> None:
    import soundfile as sf

    files = sorted((shared_datasets / "drums").glob("*.flac"))
    if not files:
        pytest.skip("no drum recordings in the shared datasets")
    audio, sr = sf.read(str(files[0]), frames=2 * 44100, dtype="float32", always_2d=True)
    assert sr == 44100
    mel = LogMel()(torch.from_numpy(audio.mean(axis=1))[None])
    assert mel.shape == (1, 128, audio.shape[0] // 512)
    assert float(mel.min()) >= math.log(1e-5) - 1e-6 and float(mel.max()) < math.log(2048.0)
    stats = MelStats.from_mels([mel[0]])
    model = build_autoencoder(preset_config("tiny", "rvq", n_files=len(files)).autoencoder)
    model.eval()
    with torch.no_grad():
        recon = stats.denormalize(model.decode_codes(model.encode_codes(stats.normalize(mel))))
    assert recon.shape[-1] >= mel.shape[-1] and torch.isfinite(recon).all()
