"""Fitting the sliders on a tiny model: shapes, ranges, the control.* section in the file, a usable map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from sda_audio.descriptors import describe
from sda_control import CONTROL_NAMES, ControlMap
from sda_control.fit import ControlFitConfig, _encode, attach_controls, fit_controls
from sda_models.autoencoder import build_autoencoder
from sda_models.configs import AutoencoderConfig
from sda_models.mel import LogMel, MelConfig
from sda_models.model_file import ModelBundle, load_model, save_model
from sda_models.normalization import MelStats

SR = 44100
FAST = ControlFitConfig(window_seconds=0.6, max_windows_per_file=3, augmented_copies=1, check_windows=2,
                        check_gl_iters=2)


def _files(folder: Path, n: int = 5) -> list[Path]:
    """Harmonic tones from dark (1 partial) to bright (many partials), with pauses: brightness varies."""
    t = np.arange(int(1.4 * SR)) / SR
    gate = (np.sin(2 * np.pi * 2.5 * t) > -0.3).astype(np.float64)
    paths = []
    for i in range(n):
        harmonics = 1 + 6 * i
        tone = sum(np.sin(2 * np.pi * 220.0 * h * t) / h ** 0.5 for h in range(1, harmonics + 1))
        path = folder / f"tone{i}.wav"
        sf.write(path, (0.2 * tone / np.abs(tone).max() * gate).astype(np.float32), SR)
        paths.append(path)
    return paths


def _bundle(kind: str, files: list[Path]) -> ModelBundle:
    cfg = AutoencoderConfig(kind=kind, channels=(16, 16, 16), latent_dim=8, res_blocks=0,
                            **({"rvq_levels": 2, "codebook_size": 16} if kind == "rvq" else {}))
    ae = build_autoencoder(cfg).eval()
    mel = LogMel(MelConfig())
    mels = [mel(torch.from_numpy(sf.read(f, dtype="float32")[0])[None])[0] for f in files]
    if kind == "rvq":  # codebooks from real latents, as training would leave them
        with torch.no_grad():
            stats = MelStats.from_mels(mels)
            h = ae.encoder(stats.normalize(torch.cat(mels, dim=-1)[None]))
            ae.rvq(h)
    return ModelBundle(metadata={"name": "tiny"}, autoencoder=ae, stats=MelStats.from_mels(mels))


@pytest.mark.parametrize("kind", ["vae", "rvq"])
def test_fit_stores_a_usable_section_that_survives_the_file(tmp_path: Path, kind: str) -> None:
    files = _files(tmp_path)
    bundle = _bundle(kind, files)
    events = []
    tensors, config, report = fit_controls(bundle, files, on_event=events.append, config=FAST)
    n, d = len(CONTROL_NAMES), 8
    assert tensors["directions"].shape == (n, d) and tensors["readouts"].shape == (n, d)
    assert bool((tensors["clamp_lo"] <= tensors["range_lo"]).all() and (tensors["range_lo"] <= tensors["range_hi"]).all()
                and (tensors["range_hi"] <= tensors["clamp_hi"]).all())
    # decorrelated: direction k moves predicted descriptor k (by up to 1 sigma; less where the latents
    # barely predict it and the regularised inverse shrinks it) and the others far less
    gram = tensors["readouts"] @ tensors["directions"].T
    diag = torch.diagonal(gram)
    assert bool((diag > -1e-4).all() and (diag < 1.0 + 1e-4).all())
    assert float(diag.max()) > 0.5
    assert float((gram - torch.diag(diag)).abs().mean()) < 0.15
    assert config["small_data"] and report.notes and "5 files" in report.notes[0]
    assert set(config["realisation"].values()) <= {"latent", "assisted", "steered"}
    assert all(name in report.to_text() for name in CONTROL_NAMES)
    assert events[0].kind == "start" and events[-1].kind == "done"

    attach_controls(bundle, tensors, config)
    save_model(tmp_path / "m.sda", bundle)
    loaded = load_model(tmp_path / "m.sda")
    assert loaded.parts["control"] and loaded.control_config["realisation"] == config["realisation"]
    assert set(loaded.control_tensors) == set(tensors)
    cmap = ControlMap.from_bundle(loaded, mode="latent")
    assert cmap is not None
    z = torch.randn(1, d, 12)
    out = cmap.shift_latent(z, {"brightness": 1.0, "reverb": -1.0})
    assert out.shape == z.shape and bool(torch.isfinite(out).all()) and not torch.equal(out, z)


def test_readout_tracks_the_descriptor_it_was_fitted_on(tmp_path: Path) -> None:
    files = _files(tmp_path, n=6)
    bundle = _bundle("vae", files)
    tensors, config, _ = fit_controls(bundle, files, config=FAST)
    mel = LogMel(bundle.mel_config)
    k = CONTROL_NAMES.index("brightness")
    coords, measured = [], []
    for f in files:
        audio = sf.read(f, dtype="float32")[0]
        z = _encode(bundle, audio, mel).mean(dim=-1)
        coords.append(float((z - tensors["latent_mean"]) @ tensors["readouts"][k]))
        measured.append(describe(audio, SR)["brightness"])
    assert np.corrcoef(coords, measured)[0, 1] > 0.5, (coords, measured, config["cv_r2"])


def test_no_usable_audio_is_a_clear_error(tmp_path: Path) -> None:
    from sda_audio.errors import SdaError

    path = tmp_path / "blip.wav"
    sf.write(path, np.zeros(SR // 20, np.float32), SR)
    with pytest.raises(SdaError, match="usable windows"):
        fit_controls(_bundle("vae", _files(tmp_path, 1)), [path], config=FAST)
