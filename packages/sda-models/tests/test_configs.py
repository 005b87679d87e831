"""Configs: JSON round trips, strict loading, validation, presets and codebook sizing."""

from __future__ import annotations

import json

import pytest

from sda_models.configs import (
    PRESET_NAMES,
    AutoencoderConfig,
    ConfigError,
    PresetConfig,
    PriorConfig,
    TrainingConfig,
    codebook_size_for,
    preset_config,
)


@pytest.mark.parametrize("cls", [AutoencoderConfig, PriorConfig, TrainingConfig])
def test_json_round_trip(cls) -> None:
    cfg = cls()
    text = json.dumps(cfg.to_dict())
    assert cls.from_dict(json.loads(text)) == cfg


def test_unknown_keys_are_an_error() -> None:
    data = AutoencoderConfig().to_dict()
    data["latent_dims"] = 8
    with pytest.raises(ConfigError, match="latent_dims"):
        AutoencoderConfig.from_dict(data)


@pytest.mark.parametrize("changes", [
    {"kind": "gan"}, {"rvq_levels": 1}, {"rvq_levels": 5}, {"downsample": 3},
    {"downsample": 8}, {"codebook_size": 1}, {"dropout": 1.0}, {"kernel_size": 4}, {"ema_decay": 1.0},
])
def test_invalid_autoencoder_values(changes: dict) -> None:
    with pytest.raises(ConfigError):
        AutoencoderConfig(**changes)


def test_rvq_levels_two_to_four_accepted_and_message_is_actionable() -> None:
    for levels in (2, 3, 4):
        assert AutoencoderConfig(kind="rvq", rvq_levels=levels).rvq_levels == levels
    with pytest.raises(ConfigError, match="between 2 and 4"):
        AutoencoderConfig(kind="rvq", rvq_levels=6)


@pytest.mark.parametrize(("n_files", "size"), [(5, 64), (20, 64), (21, 128), (100, 128), (101, 256), (500, 256)])
def test_codebook_size_scales_with_dataset(n_files: int, size: int) -> None:
    assert codebook_size_for(n_files) == size
    assert preset_config("small", "rvq", n_files).autoencoder.codebook_size == size
    assert codebook_size_for(n_files, override=96) == 96


@pytest.mark.parametrize("name", PRESET_NAMES)
@pytest.mark.parametrize("kind", ["vae", "rvq"])
def test_presets_round_trip_and_scale(name: str, kind: str) -> None:
    preset = preset_config(name, kind, n_files=30)
    assert preset.autoencoder.kind == kind
    assert (preset.prior is not None) == (kind == "rvq")
    if preset.prior is not None:
        assert preset.prior.levels == preset.autoencoder.rvq_levels
        assert preset.prior.codebook_size == preset.autoencoder.codebook_size == 128
    assert PresetConfig.from_dict(json.loads(json.dumps(preset.to_dict()))) == preset


def test_presets_grow_from_tiny_to_full() -> None:
    sizes = [preset_config(n, "vae").autoencoder.channels[-1] for n in PRESET_NAMES]
    assert sizes == sorted(sizes) and len(set(sizes)) == 3
    with pytest.raises(ConfigError, match="unknown preset"):
        preset_config("huge", "vae")


def test_rvq_overrides_reach_autoencoder_and_prior() -> None:
    from sda_models.configs import ConfigError, preset_config

    cfg = preset_config("tiny", "rvq", n_files=8, rvq_levels=3, codebook_dim=16, commitment_weight=0.5,
                        codebook_size=32)
    assert (cfg.autoencoder.rvq_levels, cfg.autoencoder.codebook_dim) == (3, 16)
    assert (cfg.autoencoder.commitment_weight, cfg.autoencoder.codebook_size) == (0.5, 32)
    assert (cfg.prior.levels, cfg.prior.codebook_size) == (3, 32)
    import pytest

    with pytest.raises(ConfigError, match="levels"):
        preset_config("tiny", "rvq", rvq_levels=5)
