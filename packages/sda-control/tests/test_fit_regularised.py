"""The fit of an attribute-regularised model tries each regularised latent axis against the regression."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch

from sda_control import CONTROL_NAMES, ControlMap
from sda_control import fit as fit_module
from sda_control.fit import ControlFitConfig, _better, _regularised_axes, fit_controls
from sda_models.autoencoder import build_autoencoder
from sda_models.configs import AutoencoderConfig
from sda_models.mel import LogMel
from sda_models.model_file import ModelBundle
from sda_models.normalization import MelStats

SR = 44100
FAST = ControlFitConfig(window_seconds=0.6, max_windows_per_file=3, augmented_copies=1, check_windows=2,
                        check_gl_iters=2)
TIED = ("brightness", "warmth", "rhythmic")


def _files(folder: Path, n: int = 5) -> list[Path]:
    t = np.arange(int(1.4 * SR)) / SR
    paths = []
    for i in range(n):
        gate = (np.sin(2 * np.pi * (1.5 + i) * t) > -0.3).astype(np.float64)
        tone = sum(np.sin(2 * np.pi * 220.0 * h * t) / h ** 0.5 for h in range(1, 2 + 6 * i))
        path = folder / f"tone{i}.wav"
        sf.write(path, (0.2 * tone / np.abs(tone).max() * gate).astype(np.float32), SR)
        paths.append(path)
    return paths


def _bundle(files: list[Path], attributes: tuple[str, ...] = TIED, weight: float = 1.0) -> ModelBundle:
    cfg = AutoencoderConfig(kind="vae", channels=(16, 16, 16), latent_dim=8, res_blocks=0, attributes=attributes,
                            attribute_weight=weight)
    mel = LogMel()
    mels = [mel(torch.from_numpy(sf.read(f, dtype="float32")[0])[None])[0] for f in files]
    return ModelBundle(metadata={"name": "tiny"}, autoencoder=build_autoencoder(cfg).eval(),
                       stats=MelStats.from_mels(mels))


def test_axis_candidate_is_signed_scaled_and_ranged() -> None:
    rng = np.random.default_rng(0)
    n, d = 40, 6
    desc = rng.standard_normal(n)
    z = rng.standard_normal((n, d))
    z[:, 2] = -3.0 * desc + 0.1 * rng.standard_normal(n)  # dim 2 follows warmth, but reversed
    y = np.zeros((n, 8))
    y[:, 1] = desc  # warmth is the second descriptor
    frames = np.repeat(z, 3, axis=0) + 0.05 * rng.standard_normal((3 * n, d))
    bundle = SimpleNamespace(autoencoder=SimpleNamespace(config=SimpleNamespace(regularised={2: "warmth"})))
    axes = _regularised_axes(bundle, z, frames, y, np.arange(n) % 5, FAST)
    assert set(axes) == {"warmth"}
    ax = axes["warmth"]
    assert ax["dim"] == 2 and ax["cv_r2"] > 0.9
    assert ax["readouts"][2] < 0 and np.count_nonzero(ax["readouts"]) == 1  # signed to raise warmth
    assert float(ax["readouts"] @ ax["directions"]) == pytest.approx(1.0)
    assert ax["clamp_lo"] <= ax["range_lo"] < ax["range_hi"] <= ax["clamp_hi"]
    none = SimpleNamespace(autoencoder=SimpleNamespace(config=AutoencoderConfig(attributes=("warmth",))))
    assert _regularised_axes(none, z, frames, y, np.arange(n) % 5, FAST) == {}  # weight 0: not regularised


def test_better_prefers_passing_then_stronger_and_cleaner() -> None:
    def c(effect: float, crosstalk: float = 0.1, agreement: float = 1.0, passed: str = "no") -> dict:
        return {"effect": effect, "crosstalk": crosstalk, "agreement": agreement, "passed": passed}

    assert _better(c(0.6, passed="yes"), c(2.0), FAST)
    assert not _better(c(2.0), c(0.6, passed="yes"), FAST)
    assert _better(c(0.4), c(0.2), FAST)
    assert not _better(c(0.4, crosstalk=2.0), c(0.2), FAST)  # four times over the limit: 0.1 < 0.2
    assert not _better(c(0.3), c(0.3), FAST)  # a tie keeps the regression


def test_fit_checks_every_regularised_axis_and_records_the_choice(tmp_path: Path) -> None:
    files = _files(tmp_path)
    bundle = _bundle(files)
    tensors, config, report = fit_controls(bundle, files, config=FAST)
    assert config["regularised"] == {"brightness": 0, "warmth": 1, "rhythmic": 2}
    for dim, name in enumerate(TIED):
        how = config["direction"][name]
        assert how in ("regression", "regularised axis")
        check = config["check"][name]
        assert ("regression_effect" if how == "regularised axis" else "axis_effect") in check
        assert any(note.startswith(f"{name}: latent dim {dim} was regularised; kept the") for note in report.notes)
    assert {config["direction"][n] for n in CONTROL_NAMES if n not in TIED} == {"regression"}


def test_a_kept_axis_moves_only_its_dim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = _files(tmp_path)
    monkeypatch.setattr(fit_module, "_better", lambda axis, regression, cfg: True)
    tensors, config, _ = fit_controls(_bundle(files, attributes=("warmth",)), files, config=FAST)
    assert config["direction"]["warmth"] == "regularised axis" and config["regularised"] == {"warmth": 0}
    k = CONTROL_NAMES.index("warmth")
    assert torch.count_nonzero(tensors["directions"][k]) == 1 and float(tensors["directions"][k][0]) != 0.0
    assert float(tensors["readouts"][k] @ tensors["directions"][k]) == pytest.approx(1.0, rel=1e-5)
    assert "regression_effect" in config["check"]["warmth"]
    cmap = ControlMap("vae", tensors, config, mode="latent")
    z = torch.zeros(1, 8, 5) + tensors["latent_mean"][None, :, None]
    moved = cmap.shift_latent(z, {"warmth": 0.5}) - z
    assert float(moved[:, 1:].abs().max()) == 0.0 and float(moved[:, 0].abs().min()) > 0.0
