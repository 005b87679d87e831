"""``sda generate`` (and ``sda history ab``) never replace a file without ``--overwrite``; the BigVGAN weights
path goes to the vocoder as an argument."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from sda_cli.main import app
from sda_models.mel import MelConfig

SR = MelConfig().sampling_rate
runner = CliRunner()


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny RVQ model file with a prior, whose 'training files' are on disk (for the corpus vocoder)."""
    from sda_models.autoencoder import build_autoencoder
    from sda_models.configs import AutoencoderConfig, PriorConfig
    from sda_models.mel import LogMel
    from sda_models.model_file import ModelBundle, save_model
    from sda_models.normalization import MelStats
    from sda_models.prior import CodePrior

    root = tmp_path_factory.mktemp("gen")
    files = []
    for i, freq in enumerate((110.0, 440.0)):
        t = np.arange(int(1.5 * SR)) / SR
        files.append(root / f"take{i}.wav")
        sf.write(files[-1], (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), SR)
    cfg = AutoencoderConfig(kind="rvq", channels=(16, 16, 16), latent_dim=8, res_blocks=1, kernel_size=3,
                            rvq_levels=2, codebook_size=16, codebook_dim=8, kmeans_iters=3)
    ae = build_autoencoder(cfg, seed=0)
    mels = [LogMel()(torch.from_numpy(sf.read(f, dtype="float32")[0])[None]) for f in files]
    stats = MelStats.from_mels([m[0] for m in mels])
    with torch.no_grad():
        ae.train()(stats.normalize(torch.cat(mels)))
    prior = CodePrior(PriorConfig(levels=2, codebook_size=16, d_model=32, n_layers=1, n_heads=2, dropout=0.0,
                                  context_frames=16))
    path = root / "tiny.sda"
    save_model(path, ModelBundle(metadata={"dataset": {"files": [str(f) for f in files]}}, autoencoder=ae.eval(),
                                 stats=stats, prior=prior.eval()))
    return path


def _generate(model: Path, *args: object) -> object:
    return runner.invoke(app, ["generate", str(model), "--duration", "0.5", "--channels", "mono",
                               *[str(a) for a in args]])


def _history_id(output: str) -> int:
    return int(output.split("history #")[1].split(")")[0])


def test_an_existing_file_needs_overwrite(model: Path, tmp_path: Path) -> None:
    out = tmp_path / "take.wav"
    first = _generate(model, "--seed", 1, "-o", out)
    assert first.exit_code == 0, first.output
    before, sidecar_before = out.read_bytes(), (tmp_path / "take.wav.json").read_text()
    refused = _generate(model, "--seed", 2, "-o", out)
    assert refused.exit_code == 1 and "already there" in refused.output and "--overwrite" in refused.output
    assert out.read_bytes() == before and (tmp_path / "take.wav.json").read_text() == sidecar_before
    replaced = _generate(model, "--seed", 2, "-o", out, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert out.read_bytes() != before
    meta = json.loads((tmp_path / "take.wav.json").read_text())["metadata"]
    assert meta["request"]["render"]["seed"] == 2 and "seed" not in meta and "seed" not in meta["parameters"]
    orphan = tmp_path / "orphan.wav"
    orphan.with_name("orphan.wav.json").write_text("{}")  # a sidecar alone is refused too
    assert _generate(model, "-o", orphan).exit_code == 1 and not orphan.exists()
    # without -o, sda picks fresh names in the history folder: running twice is fine
    assert _generate(model).exit_code == 0 and _generate(model).exit_code == 0


def test_history_ab_copies_need_overwrite(model: Path, tmp_path: Path) -> None:
    ids = []
    for seed in (3, 4):
        made = _generate(model, "--seed", seed, "-o", tmp_path / f"s{seed}.wav")
        assert made.exit_code == 0, made.output
        ids.append(_history_id(made.output))
    args = ["history", "ab", *map(str, ids), "--out", str(tmp_path / "ab"), "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    copy = Path(json.loads(first.output)["a_matched"]["path"])
    stamp = copy.stat().st_mtime_ns
    again = runner.invoke(app, args)
    assert again.exit_code == 1 and "--overwrite" in again.output and copy.stat().st_mtime_ns == stamp
    assert runner.invoke(app, [*args, "--overwrite"]).exit_code == 0


def test_bigvgan_weights_are_an_argument_not_an_environment_variable(model: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SDA_BIGVGAN_WEIGHTS", raising=False)
    missing = tmp_path / "nowhere" / "bigvgan_generator.pt"
    result = _generate(model, "--vocoder", "bigvgan", "--bigvgan-weights", missing, "-o", tmp_path / "b.wav")
    assert result.exit_code == 1 and "nowhere" in result.output  # the path reached the vocoder selection
    assert "SDA_BIGVGAN_WEIGHTS" not in os.environ  # and nothing was put into the environment
