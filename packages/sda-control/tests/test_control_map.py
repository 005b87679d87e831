"""ControlMap: value validation, latent shifts along fitted directions, safe-range clamps, labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sda_audio.errors import SdaError
from sda_control import CONTROL_NAMES, ControlMap, require_control_map, validate_controls

D = 10


def _tensors() -> dict[str, torch.Tensor]:
    """Orthonormal directions: readout k == direction k, so coordinate k moves by exactly the shift."""
    q, _ = torch.linalg.qr(torch.randn(D, D, generator=torch.Generator().manual_seed(0)))
    dirs = q[:, : len(CONTROL_NAMES)].T.contiguous()
    n = len(CONTROL_NAMES)
    return {"latent_mean": torch.zeros(D), "directions": dirs, "readouts": dirs.clone(),
            "range_lo": -torch.ones(n), "range_hi": torch.ones(n), "clamp_lo": -1.5 * torch.ones(n),
            "clamp_hi": 1.5 * torch.ones(n), "descriptor_mean": torch.zeros(8), "descriptor_std": torch.ones(8),
            "explore_axes": torch.eye(D)[:3], "explore_lo": -torch.ones(3), "explore_hi": torch.ones(3)}


def _config(method: str = "latent") -> dict:
    return {"version": 1, "realisation": dict.fromkeys(CONTROL_NAMES, method)}


def test_validate_controls_names_and_ranges() -> None:
    assert validate_controls({"brightness": 0.5, "reverb": -1}) == {"brightness": 0.5, "reverb": -1.0}
    with pytest.raises(SdaError, match="unknown control 'sparkle'"):
        validate_controls({"sparkle": 0.1})
    with pytest.raises(SdaError, match="from -1 to 1"):
        validate_controls({"warmth": 1.5})
    with pytest.raises(SdaError):
        validate_controls({"warmth": float("nan")})
    with pytest.raises(SdaError, match="must be a number"):
        validate_controls({"warmth": "loud"})


def test_shift_moves_only_its_own_coordinate_and_clamps() -> None:
    t = _tensors()
    cmap = ControlMap("vae", t, _config())
    z = torch.zeros(1, D, 5)
    z[..., 2] = t["directions"][0] * 1.2  # one frame already high on brightness
    out = cmap.shift_latent(z, {"brightness": 0.5})
    coords = torch.einsum("bdt,kd->bkt", out, t["readouts"])
    assert torch.allclose(coords[0, 0, [0, 1, 3, 4]], torch.full((4,), 0.5), atol=1e-5)  # half-range 1 x 0.5
    assert float(coords[0, 0, 2]) == pytest.approx(1.5, abs=1e-5)  # 1.7 clamped to the frame range
    assert torch.allclose(coords[0, 1:], torch.zeros_like(coords[0, 1:]), atol=1e-5)  # others untouched
    assert torch.equal(cmap.shift_latent(z, {"brightness": 0.0}), z)


def test_realisation_labels_and_modes() -> None:
    cfg = _config("assisted")
    cfg["realisation"]["brightness"] = "latent"
    cmap = ControlMap("rvq", _tensors(), cfg)
    labels = cmap.realisation({"brightness": 0.3, "warmth": -0.2})
    assert labels["brightness"] == "latent" and labels["warmth"] == "assisted" and labels["reverb"] == "off"
    assert set(labels) == set(CONTROL_NAMES)
    assert cmap.with_mode("latent").realisation({"warmth": 1})["warmth"] == "latent"
    assert cmap.with_mode("assist").realisation({"brightness": 1})["brightness"] == "assisted"
    # assisted controls leave the latent alone; latent ones leave the audio alone
    z = torch.randn(1, D, 4)
    assert torch.equal(cmap.shift_latent(z, {"warmth": 1.0}), z)
    audio = np.random.default_rng(0).standard_normal(4410).astype(np.float32) * 0.1
    assert np.array_equal(cmap.assist(audio, {"brightness": 1.0}, seed=0), audio)
    assert not np.allclose(cmap.assist(audio, {"warmth": 1.0}, seed=0), audio)


def test_broken_sections_are_clear_errors() -> None:
    t = _tensors()
    del t["readouts"]
    with pytest.raises(SdaError, match="control.readouts"):
        ControlMap("vae", t, _config())
    t = _tensors()
    t["directions"] = t["directions"][:3]
    with pytest.raises(SdaError, match="control.directions"):
        ControlMap("vae", t, _config())


def test_require_control_map_without_a_section() -> None:
    class Bare:
        kind = "rvq"
        control_tensors = None
        control_config = None

    assert require_control_map(Bare(), {"brightness": 0.0}) is None
    with pytest.raises(SdaError, match="no fitted controls") as info:
        require_control_map(Bare(), {"brightness": 0.4})
    assert "fit the controls for this model first" in str(info.value) and info.value.action == "fit_controls"


def test_explore_moves_along_principal_axes() -> None:
    cmap = ControlMap("vae", _tensors(), _config())
    z = torch.zeros(1, D, 3)
    out = cmap.explore(z, {1: -1.0})
    assert torch.allclose(out[0, 1], -torch.ones(3)) and float(out[0, 0].abs().sum()) == 0.0
    with pytest.raises(SdaError):
        cmap.explore(z, {5: 0.5})
