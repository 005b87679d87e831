"""The searched controls: a gradient search through a (tiny, untrained) decoder moves the asked stand-in."""

from __future__ import annotations

import time

import pytest
import torch

from sda_control.control_map import CONTROL_NAMES, ControlMap
from sda_control.mel_descriptors import STANDIN_NAMES, describe_mel
from sda_control.search import SearchOptions, SearchSpace, choose_candidate, project_codes, search_latent
from sda_models.autoencoder import MelAutoencoder, build_autoencoder
from sda_models.configs import AutoencoderConfig
from sda_models.mel import LogMel, MelConfig
from sda_models.normalization import MelStats

D = 8


def _model(kind: str = "vae") -> tuple[MelAutoencoder, MelStats]:
    if kind == "rvq":
        cfg = AutoencoderConfig(kind="rvq", channels=(16, 16, 16), latent_dim=D, res_blocks=0, rvq_levels=2,
                                codebook_size=16)
    else:
        cfg = AutoencoderConfig(kind="vae", channels=(16, 16, 16), latent_dim=D, res_blocks=0)
    ae = build_autoencoder(cfg, seed=3).eval()
    for p in ae.parameters():
        p.requires_grad_(False)
    t = torch.arange(2 * 44100) / 44100
    wave = (0.2 * torch.sin(2 * torch.pi * 330 * t) * (0.6 + 0.4 * torch.sin(2 * torch.pi * 3 * t)))[None]
    mel = LogMel(MelConfig())(wave)
    stats = MelStats.from_mels([mel[0]])
    if ae.rvq is not None:
        with torch.no_grad():
            ae.rvq(ae.encoder(stats.normalize(mel)))
    return ae, stats


_SPREAD: dict[str, torch.Tensor] = {}


def _standin_std() -> torch.Tensor:
    """The stand-ins' spread over decoded random latents: the tiny model's own "data-sigma"."""
    if "vae" not in _SPREAD:
        ae, stats = _model()
        with torch.no_grad():
            z = torch.randn(12, D, 64, generator=torch.Generator().manual_seed(5))
            values = describe_mel(stats.denormalize(ae.decode(z)))
        _SPREAD["vae"] = torch.stack([values[k] for k in STANDIN_NAMES]).std(dim=1).float()
    return _SPREAD["vae"]


def _tensors(clamp: float = 50.0) -> dict[str, torch.Tensor]:
    n = len(CONTROL_NAMES)
    eye = torch.eye(n, D)
    return {"latent_mean": torch.zeros(D), "directions": eye, "readouts": eye, "range_lo": -torch.ones(n),
            "range_hi": torch.ones(n), "clamp_lo": -clamp * torch.ones(n), "clamp_hi": clamp * torch.ones(n),
            "descriptor_mean": torch.zeros(n), "descriptor_std": torch.ones(n), "standin_std": _standin_std()}


def _latent(frames: int = 64) -> torch.Tensor:
    return torch.randn(1, D, frames, generator=torch.Generator().manual_seed(0))


def test_brightness_moves_its_stand_in_more_than_the_others() -> None:
    ae, stats = _model()
    decode = lambda z: stats.denormalize(ae.decode(z))  # noqa: E731
    space = SearchSpace.from_tensors(_tensors())
    z = _latent()
    up = search_latent(decode, z, {"brightness": 1.0}, space)
    down = search_latent(decode, z, {"brightness": -1.0}, space)
    effect = up.moved["brightness"] - down.moved["brightness"]
    others = max(abs(up.moved[n] - down.moved[n]) for n in CONTROL_NAMES if n != "brightness")
    assert effect >= 0.75, (up.moved, down.moved)
    assert others <= 0.5 * effect, (up.moved, down.moved)
    assert up.loss[-1] < up.loss[0] and down.loss[-1] < down.loss[0]
    assert up.targets == {"brightness": pytest.approx(1.0)}  # half the fitted range (+-1), within 0.75..1.5


def test_same_input_same_output_and_nothing_moved_is_the_start() -> None:
    ae, stats = _model()
    decode = lambda z: stats.denormalize(ae.decode(z))  # noqa: E731
    space = SearchSpace.from_tensors(_tensors())
    z = _latent()
    a = search_latent(decode, z, {"brightness": 0.7}, space).latent
    b = search_latent(decode, z, {"brightness": 0.7}, space).latent
    assert torch.equal(a, b) and not torch.equal(a, z)
    assert search_latent(decode, z, {"brightness": 0.0}, space).latent is z


def test_the_latent_stays_inside_the_clamps_and_the_trust_radius() -> None:
    ae, stats = _model()
    decode = lambda z: stats.denormalize(ae.decode(z))  # noqa: E731
    tensors = _tensors(clamp=2.5)
    z = _latent().clamp(-2.5, 2.5)
    options = SearchOptions(radius=1.0)
    found = search_latent(decode, z, {"brightness": 1.0, "roughness": -1.0},
                          SearchSpace.from_tensors(tensors, options), options).latent
    assert float(found.abs().max()) <= 2.5 + 1e-4
    spread = z.std(dim=-1, keepdim=True)
    assert bool(((found - z).abs() <= 1.0 * spread + 1e-4).all())


def test_the_search_costs_at_most_twice_a_plain_decode_and_vocode_budget() -> None:
    """Bounded cost: a long latent is measured on crops, so the search time does not grow with length."""
    ae, stats = _model()
    decode = lambda z: stats.denormalize(ae.decode(z))  # noqa: E731
    space = SearchSpace.from_tensors(_tensors())
    options = SearchOptions(max_frames=128, crop_frames=64)
    times = []
    for frames in (128, 1024):
        t0 = time.perf_counter()
        search_latent(decode, _latent(frames), {"brightness": 1.0}, space, options)
        times.append(time.perf_counter() - t0)
    assert times[1] < 4 * times[0] + 0.5, times


def test_rvq_projection_and_the_candidate_chooser() -> None:
    ae, stats = _model("rvq")
    decode = lambda z: stats.denormalize(ae.decode(z))  # noqa: E731
    space = SearchSpace.from_tensors(_tensors())
    rvq = ae.rvq
    assert rvq is not None
    with torch.no_grad():
        z = rvq.decode_codes(torch.randint(0, 16, (1, 2, 48), generator=torch.Generator().manual_seed(1)))
    found = search_latent(decode, z, {"brightness": 1.0}, space).latent
    projected = project_codes(rvq, found)
    with torch.no_grad():  # the projection is a sum of codebook entries, one per level
        assert torch.equal(projected, rvq.decode_codes(rvq.encode_codes(found)))
    assert projected.shape == found.shape and not torch.equal(projected, found)
    label, chosen, score = choose_candidate(decode, z, [("start", z), ("searched", found)], {"brightness": 1.0},
                                            space)
    assert label == "searched" and chosen is found and score >= 0.0


def test_the_control_map_realises_searched_controls() -> None:
    cmap = ControlMap("vae", _tensors(), {"realisation": dict.fromkeys(CONTROL_NAMES, "latent")}, mode="searched")
    assert cmap.realisation({"brightness": 1.0})["brightness"] == "searched"
    assert cmap.searched({"brightness": 1.0, "warmth": 0.0}) == {"brightness": 1.0}
    z = _latent()
    assert torch.equal(cmap.shift_latent(z, {"brightness": 1.0}), z)  # searched controls are not shifted
    ae, stats = _model()
    out = cmap.search_latent(z, {"brightness": 1.0}, lambda v: stats.denormalize(ae.decode(v)))
    assert out.shape == z.shape and not torch.equal(out, z)
    auto = ControlMap("vae", _tensors(), {"realisation": {**dict.fromkeys(CONTROL_NAMES, "latent"),
                                                          "warmth": "searched"}})
    assert auto.realisation({"warmth": 0.5, "brightness": 0.5}) == {
        **dict.fromkeys(CONTROL_NAMES, "off"), "warmth": "searched", "brightness": "latent"}
