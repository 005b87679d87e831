"""The code-grid editor on a tiny RVQ model: encode, swap, blend, regenerate, undo/redo, entries, health."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from sda_audio.errors import SdaError
from sda_control.codes import (
    CodeGrid,
    audio_to_codes,
    blend_grids,
    check_model,
    codebook_usage,
    codes_to_mel,
    encode_file,
    entry_grid,
    frame_at,
    frame_range,
    health_report,
    level_labels,
    load_grid,
    model_ref,
    plots,
    redo,
    regenerate_region,
    require_rvq,
    save_grid,
    set_code,
    swap_region,
    undo,
)
from sda_control.codes.embedding import mix_codes, quantise, summed_embedding
from sda_control.codes.health import UsageCounts
from sda_models.autoencoder import build_autoencoder
from sda_models.configs import AutoencoderConfig, PriorConfig
from sda_models.model_file import ModelBundle
from sda_models.normalization import MelStats
from sda_models.prior import CodePrior

SR = 44100
LEVELS, SIZE = 3, 16


def _tone(seconds: float, freq: float, sr: int = SR, channels: int = 1, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    x = 0.3 * np.sin(2 * np.pi * freq * t * (1 + 0.5 * t)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    x = (x + 0.02 * rng.standard_normal(t.size)).astype(np.float32)
    return np.stack([x, 0.5 * x]) if channels == 2 else x


def tiny_bundle(kind: str = "rvq") -> ModelBundle:
    """A tiny untrained model whose codebooks were k-means initialised on real-looking mels."""
    from sda_models.mel import LogMel

    cfg = AutoencoderConfig(kind=kind, channels=(16, 16, 16), latent_dim=8, res_blocks=1, kernel_size=3,
                            rvq_levels=LEVELS, codebook_size=SIZE, codebook_dim=8, kmeans_iters=3)
    ae = build_autoencoder(cfg, seed=0)
    mels = [LogMel()(torch.from_numpy(_tone(1.0, f, seed=i))[None]) for i, f in enumerate((110, 330, 990))]
    stats = MelStats.from_mels([m[0] for m in mels])
    if kind == "rvq":
        with torch.no_grad():  # one training-mode pass: k-means initialises the codebooks from real encodings
            ae.train()(stats.normalize(torch.cat(mels)))
    prior = None
    if kind == "rvq":
        prior = CodePrior(PriorConfig(levels=LEVELS, codebook_size=SIZE, d_model=32, n_layers=1, n_heads=2,
                                      dropout=0.0, context_frames=16))
        prior.eval()
    return ModelBundle(metadata={"dataset": {"files": []}}, autoencoder=ae.eval(), stats=stats, prior=prior)


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return tiny_bundle()


@pytest.fixture(scope="module")
def grids(bundle: ModelBundle, tmp_path_factory: pytest.TempPathFactory) -> tuple[CodeGrid, CodeGrid]:
    folder = tmp_path_factory.mktemp("audio")
    sf.write(folder / "a.wav", _tone(2.0, 220, sr=22050, channels=2).T, 22050)  # another rate, stereo
    sf.write(folder / "b.flac", _tone(2.5, 660, seed=1), SR)
    ref = model_ref(bundle, "tiny", "ab" * 32, "tiny.sda")
    return encode_file(bundle, ref, folder / "a.wav"), encode_file(bundle, ref, folder / "b.flac")


def test_encode_any_file_into_a_labelled_grid(grids: tuple[CodeGrid, CodeGrid], bundle: ModelBundle) -> None:
    a, b = grids
    assert a.levels == LEVELS and a.labels == ["Structure", "Timbre", "Detail"]
    assert a.frames == pytest.approx(2.0 / a.frame_seconds, abs=2) and b.frames > a.frames
    assert a.source["sample_rate"] == 22050 and a.source["channels"] == 2 and len(a.source["sha256"]) == 64
    assert int(a.codes.min()) >= 0 and int(a.codes.max()) < SIZE
    assert len(set(a.codes[0].tolist())) > 1  # the codes follow the sound
    mel = codes_to_mel(bundle, a.codes)
    assert mel.shape == (128, a.frames * 4) and torch.isfinite(mel).all()
    short = audio_to_codes(bundle, np.zeros(100, np.float32), SR)  # shorter than one frame: padded
    assert short.shape == (LEVELS, 1)
    assert level_labels(2) == ["Structure", "Detail"] and level_labels(4)[1:3] == ["Timbre 1", "Timbre 2"]


def test_vae_has_no_codes() -> None:
    vae = tiny_bundle("vae")
    with pytest.raises(SdaError, match="VAE: it has no codes"):
        require_rvq(vae, "soft")
    with pytest.raises(SdaError, match="no codes"):
        audio_to_codes(vae, _tone(0.5, 200), SR, "soft")
    with pytest.raises(SdaError, match="no codes"):
        codebook_usage(vae, "soft")


def test_grid_refuses_another_model(grids: tuple[CodeGrid, CodeGrid], bundle: ModelBundle) -> None:
    a, _ = grids
    check_model(a, bundle, "tiny", "ab" * 32)
    with pytest.raises(SdaError, match="another version"):
        check_model(a, bundle, "tiny", "cd" * 32)


def test_swapped_region_equals_the_source_codes(grids: tuple[CodeGrid, CodeGrid], bundle: ModelBundle) -> None:
    a, b = grids
    rvq = bundle.autoencoder.rvq
    lo, hi = frame_range(a, 0.5, 1.2)
    out = swap_region(a, b, rvq, lo, hi, seam=3)
    assert torch.equal(out.codes[:, lo:hi], b.codes[:, lo:hi])
    assert torch.equal(out.codes[:, :lo - 3], a.codes[:, :lo - 3]) and torch.equal(out.codes[:, hi + 3:],
                                                                                   a.codes[:, hi + 3:])
    assert torch.equal(a.codes, grids[0].codes)  # the input grid is left alone
    only = swap_region(a, b, rvq, lo, hi, levels=[0], seam=0)
    assert torch.equal(only.codes[0, lo:hi], b.codes[0, lo:hi])
    assert torch.equal(only.codes[1:], a.codes[1:]) and torch.equal(only.codes[:, :lo], a.codes[:, :lo])
    with pytest.raises(SdaError, match="levels"):
        swap_region(a, b, rvq, lo, hi, levels=[5])


def test_seam_frames_lie_between_the_two_sounds(bundle: ModelBundle) -> None:
    rvq = bundle.autoencoder.rvq
    a = torch.zeros(LEVELS, 8, dtype=torch.long)
    b = torch.full((LEVELS, 8), 5, dtype=torch.long)
    ea, eb = summed_embedding(rvq, a), summed_embedding(rvq, b)
    ramp = torch.linspace(0, 1, 8)
    mixed = summed_embedding(rvq, mix_codes(rvq, a, b, ramp))
    # each mixed column is nearer its target point on the line than either end would be
    target = (1 - ramp)[:, None] * ea + ramp[:, None] * eb
    err = (mixed - target).norm(dim=1)
    ends = torch.minimum((ea - target).norm(dim=1), (eb - target).norm(dim=1))
    assert torch.equal(mix_codes(rvq, a, b, 0.0), a) and torch.equal(mix_codes(rvq, a, b, 1.0), b)
    assert bool((err[1:-1] <= ends[1:-1] + 1e-5).all())
    assert quantise(rvq, ea).shape == (LEVELS, 8)


def test_blend_moves_from_a_to_b(grids: tuple[CodeGrid, CodeGrid], bundle: ModelBundle) -> None:
    a, b = grids
    rvq = bundle.autoencoder.rvq
    assert torch.equal(blend_grids(a, b, rvq, 0.0).codes, a.codes)
    assert torch.equal(blend_grids(a, b, rvq, 1.0).codes, b.codes[:, : a.frames])
    half = blend_grids(a, b, rvq, 0.5)
    assert half.frames == a.frames and half.edits == [] and "blend" in half.source
    dist = [float((summed_embedding(rvq, blend_grids(a, b, rvq, x).codes) - summed_embedding(rvq, a.codes)).norm())
            for x in (0.0, 0.5, 1.0)]
    assert dist[0] == 0 < dist[1] < dist[2] * 1.2
    with pytest.raises(SdaError, match="outside 0..1"):
        blend_grids(a, b, rvq, 1.5)


def test_regenerate_changes_only_the_masked_cells(grids: tuple[CodeGrid, CodeGrid], bundle: ModelBundle) -> None:
    a, _ = grids
    lo, hi = frame_range(a, 0.4, 1.0)
    out, info = regenerate_region(a, bundle.prior, lo, hi, levels=[1, 2], temperature=1.0, seed=3, candidates=4)
    assert torch.equal(out.codes[:, :lo], a.codes[:, :lo]) and torch.equal(out.codes[:, hi:], a.codes[:, hi:])
    assert torch.equal(out.codes[0], a.codes[0])  # Structure kept
    assert not torch.equal(out.codes[1:, lo:hi], a.codes[1:, lo:hi])
    assert info.candidates == 4 and info.chosen == int(np.argmax(info.scores)) and info.right_frames == 8
    again, _ = regenerate_region(a, bundle.prior, lo, hi, levels=[1, 2], temperature=1.0, seed=3, candidates=4)
    assert torch.equal(again.codes, out.codes)  # same seed, same codes
    end, info_end = regenerate_region(a, bundle.prior, a.frames - 5, a.frames, seed=1, candidates=2)
    assert info_end.right_frames == 0 and torch.equal(end.codes[:, :-5], a.codes[:, :-5])
    no_prior = ModelBundle(metadata={}, autoencoder=bundle.autoencoder, stats=bundle.stats, prior=None)
    with pytest.raises(SdaError, match="no prior"):
        regenerate_region(a, no_prior.prior, lo, hi)


def test_right_context_choice_prefers_candidates_that_lead_into_it(grids: tuple[CodeGrid, CodeGrid],
                                                                    bundle: ModelBundle) -> None:
    from sda_control.codes.masked import _right_context_scores

    a, _ = grids
    stop = 20
    good = a.codes[:, :stop].unsqueeze(0)  # the real codes lead into the real right context
    filled = torch.cat([good, torch.randint(0, SIZE, (3, LEVELS, stop), generator=torch.Generator().manual_seed(0))])
    scores = _right_context_scores(bundle.prior, filled, a.codes, stop, 6)
    assert len(scores) == 4 and all(np.isfinite(scores))


def test_undo_after_any_edits_restores_the_original_bit_exactly(grids: tuple[CodeGrid, CodeGrid],
                                                                bundle: ModelBundle, tmp_path: Path) -> None:
    a, b = grids
    rvq, prior = bundle.autoencoder.rvq, bundle.prior
    path = save_grid(a.copy(), tmp_path / "a.sdacodes")
    original = a.codes.clone()
    rng = np.random.default_rng(0)
    snapshots = [original.clone()]
    for step in range(12):
        grid = load_grid(path)  # every edit is a separate "command"
        kind = ["set", "swap", "regen"][step % 3]
        lo = int(rng.integers(0, grid.frames - 6))
        hi = lo + int(rng.integers(1, 6))
        if kind == "set":
            grid = set_code(grid, int(rng.integers(0, LEVELS)), lo, int(rng.integers(0, SIZE)))
        elif kind == "swap":
            grid = swap_region(grid, b, rvq, lo, hi, levels=[int(rng.integers(0, LEVELS))])
        else:
            grid = regenerate_region(grid, prior, lo, hi, seed=step, candidates=2)[0]
        save_grid(grid, path)
        snapshots.append(grid.codes.clone())
    for expected in reversed(snapshots[:-1]):
        grid, _ = undo(load_grid(path))
        save_grid(grid, path)
        assert torch.equal(grid.codes, expected)
    assert torch.equal(load_grid(path).codes, original)
    with pytest.raises(SdaError, match="nothing to undo"):
        undo(load_grid(path))
    for expected in snapshots[1:4]:
        grid, _ = redo(load_grid(path))
        save_grid(grid, path)
        assert torch.equal(grid.codes, expected)
    branched = set_code(load_grid(path), 0, 0, 1)  # a new edit drops the undone ones
    assert branched.position == len(branched.edits) == 4
    with pytest.raises(SdaError, match="nothing to redo"):
        redo(branched)


def test_times_map_to_frames(grids: tuple[CodeGrid, CodeGrid]) -> None:
    a, _ = grids
    assert frame_at(a, 0.0) == 0 and frame_at(a, a.seconds - 1e-6) == a.frames - 1
    lo, hi = frame_range(a, 0.5, 1.0)
    assert lo == round(0.5 / a.frame_seconds) and hi == round(1.0 / a.frame_seconds)
    for bad in ((1.0, 0.5), (-1.0, 0.5), (a.seconds + 1, a.seconds + 2)):
        with pytest.raises(SdaError):
            frame_range(a, *bad)
    with pytest.raises(SdaError, match="outside the grid"):
        frame_at(a, a.seconds + 0.5)
    with pytest.raises(SdaError, match="does not exist"):
        set_code(a, 0, 0, SIZE)


def test_entry_is_held_over_its_typical_context(bundle: ModelBundle) -> None:
    rvq = bundle.autoencoder.rvq
    corpus = [torch.tensor([[1, 1, 2, 1], [4, 4, 4, 5], [0, 1, 2, 3]])]
    held = entry_grid(rvq, 1, 4, 10, corpus)
    assert held.codes.shape == (LEVELS, 10) and held.context == [1]
    assert bool((held.codes[1] == 4).all()) and bool((held.codes[0] == 1).all())
    assert int(held.codes[2, 0]) == int(rvq.quantizers[2].embed.norm(dim=1).argmin())
    unseen = entry_grid(rvq, 2, 7, 5, corpus)
    assert "counters" in unseen.how and len(unseen.context) == 2
    with pytest.raises(SdaError, match="does not exist"):
        entry_grid(rvq, 0, SIZE, 5)


def test_health_labels(bundle: ModelBundle, tmp_path: Path) -> None:
    def report(rows: list[list[int]]):
        return health_report(UsageCounts(torch.tensor(rows), "test", 1, []), "m")

    spread = [[50] * 16, [40] * 12 + [0] * 4]
    assert report(spread).status == "green" and report(spread).verdict.startswith("healthy")
    half = [[50] * 16, [40] * 6 + [0] * 10]
    assert report(half).status == "yellow" and "smaller codebook" in report(half).verdict
    dead = [[800] + [0] * 15, [50] * 16]
    assert report(dead).status == "red" and "collapsed" in report(dead).verdict
    usage = codebook_usage(bundle, "tiny")  # no training files: the quantiser's counters
    assert usage.counts.shape == (LEVELS, SIZE) and "counters" in usage.source
    sf.write(tmp_path / "x.wav", _tone(1.0, 300), SR)
    from_files = codebook_usage(bundle, "tiny", [tmp_path / "x.wav"])
    assert int(from_files.counts[0].sum()) == from_files.corpus[0].shape[1] and from_files.files == 1


def test_pictures_are_pngs(grids: tuple[CodeGrid, CodeGrid], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    a, _ = grids
    grid_png = plots.grid_png(set_code(a, 0, 2, 3), tmp_path / "g.png")
    usage_png = plots.usage_png(torch.randint(0, 5, (3, 16)), tmp_path / "u.png", "title", "yellow")
    for path in (grid_png, usage_png):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
