"""decode(encode(x)) through a grid file stays close to x on real recordings (a briefly trained tiny model)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sda_control.codes import (
    audio_to_mel,
    codes_to_mel,
    encode_file,
    load_grid,
    mel_distance,
    model_ref,
    save_grid,
)
from sda_models.autoencoder import build_autoencoder
from sda_models.configs import preset_config
from sda_models.model_file import ModelBundle
from sda_models.normalization import MelStats
from sda_models.training import make_optimizer, train_step

STEPS = 100
FILES = ("loop_amen.flac", "loop_compus.flac", "loop_tabla.flac", "loop_industrial.flac")


def _train(files: list[Path]) -> tuple[ModelBundle, list[torch.Tensor]]:
    from sda_audio.io import read_audio

    clips = [read_audio(f) for f in files]
    placeholder = ModelBundle(metadata={}, autoencoder=build_autoencoder(preset_config("tiny", "rvq").autoencoder),
                              stats=MelStats(torch.zeros(128), torch.ones(128)))
    mels = [audio_to_mel(placeholder, c.samples, c.sample_rate) for c in clips]
    stats = MelStats.from_mels(mels)
    preset = preset_config("tiny", "rvq", codebook_size=32)
    ae = build_autoencoder(preset.autoencoder, seed=0)
    optimizer = make_optimizer(ae, preset.training.replace(lr=3e-3))
    norm = [stats.normalize(m[None])[0] for m in mels]
    gen = torch.Generator().manual_seed(0)
    for step in range(STEPS):
        batch = []
        for _ in range(8):
            m = norm[int(torch.randint(0, len(norm), (1,), generator=gen))]
            start = int(torch.randint(0, m.shape[1] - 64, (1,), generator=gen))
            batch.append(m[:, start:start + 64])
        train_step(ae, optimizer, torch.stack(batch), preset.autoencoder, step,
                   generator=torch.Generator().manual_seed(step))
    return ModelBundle(metadata={}, autoencoder=ae.eval(), stats=stats), mels


def test_grid_round_trip_matches_the_models_reconstruction(shared_datasets: Path, tmp_path: Path) -> None:
    folder = shared_datasets / "loops"
    files = [folder / name for name in FILES]
    bundle, mels = _train(files)
    ref = model_ref(bundle, "brief", "00" * 32)
    through_grid, model_recon, to_mean, to_others = [], [], [], []
    for i, (path, mel) in enumerate(zip(files, mels)):
        grid_path = save_grid(encode_file(bundle, ref, path), tmp_path / f"{path.stem}.sdacodes")
        decoded = codes_to_mel(bundle, load_grid(grid_path).codes)[:, : mel.shape[1]]
        with torch.no_grad():
            recon = bundle.stats.denormalize(bundle.autoencoder(bundle.stats.normalize(mel[None])).recon)[0]
        through_grid.append(mel_distance(mel, decoded))
        model_recon.append(mel_distance(mel, recon))
        to_mean.append(mel_distance(mel, mel.mean(dim=1, keepdim=True).expand_as(mel)))
        to_others.append(min(mel_distance(other, decoded) for j, other in enumerate(mels) if j != i))
    print(f"\nmel L1 (nats) after {STEPS} steps: through the grid file {[round(x, 3) for x in through_grid]}, "
          f"model reconstruction {[round(x, 3) for x in model_recon]}, each file's mean spectrum "
          f"{[round(x, 3) for x in to_mean]}, nearest other file {[round(x, 3) for x in to_others]}")
    for grid_d, recon_d, other_d in zip(through_grid, model_recon, to_others):
        assert grid_d == pytest.approx(recon_d, abs=1e-4)  # the grid file loses nothing
        assert grid_d < 0.6 * other_d  # it is this sound, not another
    assert sum(through_grid) < sum(to_mean)  # closer than the file's own average spectrum
