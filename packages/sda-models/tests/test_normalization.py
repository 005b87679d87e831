"""Per-band mel statistics: exact inverse, running sums in float64, safetensors round trip."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from sda_models.normalization import STD_FLOOR, MelStats


def _mels(seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    offsets = torch.linspace(-11, 2, 128)[:, None]
    return [offsets + torch.randn(128, n, generator=gen) * (1 + i) for i, n in enumerate((50, 7, 300))]


def test_from_mels_matches_concatenated_statistics() -> None:
    mels = _mels()
    stats = MelStats.from_mels(iter(mels))
    cat = torch.cat(mels, dim=1).double()
    torch.testing.assert_close(stats.mean, cat.mean(dim=1).float(), atol=1e-5, rtol=1e-6)
    torch.testing.assert_close(stats.std, cat.std(dim=1, unbiased=False).float(), atol=1e-5, rtol=1e-5)
    batched = MelStats.from_mels([torch.stack([mels[0], mels[0]])])
    torch.testing.assert_close(batched.mean, MelStats.from_mels([mels[0]]).mean)


def test_normalize_then_denormalize_is_the_identity() -> None:
    stats = MelStats.from_mels(_mels())
    mel = _mels(1)[2].unsqueeze(0)
    norm = stats.normalize(mel)
    assert norm.shape == mel.shape
    assert abs(float(stats.normalize(torch.cat(_mels(), 1)).mean())) < 1e-4
    back = stats.denormalize(norm)
    assert torch.allclose(back, mel, atol=1e-5, rtol=0)
    double = MelStats(stats.mean.double(), stats.std.double())
    assert torch.equal(double.denormalize(double.normalize(mel.double())).float(), mel)


def test_constant_band_gets_a_floored_std() -> None:
    mel = torch.randn(128, 40)
    mel[5] = -11.5
    stats = MelStats.from_mels([mel])
    assert float(stats.std[5]) == pytest.approx(STD_FLOOR)
    assert torch.isfinite(stats.normalize(mel)).all()


def test_safetensors_round_trip(tmp_path) -> None:
    stats = MelStats.from_mels(_mels())
    path = tmp_path / "stats.safetensors"
    save_file(stats.to_tensors(prefix="mel_stats."), str(path))
    loaded = MelStats.from_tensors(load_file(str(path)), prefix="mel_stats.")
    assert torch.equal(loaded.mean, stats.mean) and torch.equal(loaded.std, stats.std)


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError):
        MelStats.from_mels([])
    with pytest.raises(ValueError):
        MelStats(torch.zeros(128), torch.zeros(128))
    with pytest.raises(ValueError):
        MelStats.from_tensors({"mean": torch.zeros(128)})
    stats = MelStats.from_mels(_mels())
    with pytest.raises(ValueError):
        stats.normalize(torch.zeros(1, 80, 10))
