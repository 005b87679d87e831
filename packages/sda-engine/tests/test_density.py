"""The density control's realisation: events compressed (dense) or whole events silenced (sparse)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from sda_engine.generate import rendering
from sda_engine.generate.rendering import (
    MEL_FLOOR,
    compress_events,
    density_gate,
    density_speed,
    event_onsets,
    silence_gaps,
    sparse_share,
)
from sda_engine.store.home import SdaHome

SR = rendering.SAMPLE_RATE
FPS = SR / rendering.HOP  # mel frames per second


def _strokes(seconds: float = 6.0, period: float = 0.25, decay: float = 0.08, seed: int = 0) -> torch.Tensor:
    """A log-mel ``(128, T)`` of struck events every ``period`` s, each decaying exponentially, over a floor."""
    n = int(seconds * FPS)
    t = torch.arange(n) / FPS
    gen = torch.Generator().manual_seed(seed)
    since = torch.remainder(t, period)
    level = -since / decay  # nats: each stroke starts at 0 and decays
    shape = -0.02 * torch.arange(128, dtype=torch.float32)[:, None]  # a tilted spectrum
    mel = level[None] + shape + 0.05 * torch.randn(128, n, generator=gen)
    return mel.clamp(min=MEL_FLOOR)


def _silent(mel: torch.Tensor) -> torch.Tensor:
    return mel.max(dim=0).values <= MEL_FLOOR + 1e-4


def test_the_mapping_is_neutral_at_zero_and_grows_with_the_value() -> None:
    assert density_speed(0.0) == 1.0 and density_speed(-1.0) == 1.0 and density_speed(1.0) == 2.0
    assert sparse_share(0.0) == 0.0 and sparse_share(0.5) == 0.0
    speeds = [density_speed(v) for v in (0.0, 0.33, 0.67, 1.0)]
    shares = [sparse_share(v) for v in (0.0, -0.33, -0.67, -1.0)]
    assert speeds == sorted(speeds) and len(set(speeds)) == 4
    assert shares == sorted(shares) and len(set(shares)) == 4
    assert abs(shares[1] - 0.5 * shares[2]) < 0.01  # -0.33 lies halfway between 0 and -0.67


def test_the_onset_finder_finds_every_stroke() -> None:
    onsets = event_onsets(_strokes(period=0.25))
    assert abs(len(onsets) - 24) <= 1
    assert np.all(np.diff(onsets.numpy()) >= int(0.2 * FPS))


def test_compressing_plays_more_events_per_second_and_keeps_their_level() -> None:
    mel = _strokes(seconds=8.0, period=0.4)
    frames = int(4.0 * FPS)
    plain, dense = compress_events(mel, 1.0, frames), compress_events(mel, 2.0, frames)
    assert plain.shape == dense.shape == (128, frames)
    torch.testing.assert_close(plain, mel[:, :frames])
    assert len(event_onsets(dense)) >= 1.8 * len(event_onsets(plain))
    assert abs(float(dense.max()) - float(plain.max())) < 0.2  # the strokes stay as loud
    # a sketch without extra frames (encoded, edited) cannot be compressed beyond its length
    short = compress_events(mel[:, : int(1.2 * frames)], 2.0, frames)
    assert short.shape == (128, frames) and len(event_onsets(short)) < len(event_onsets(dense))


def test_the_gate_silences_the_share_asked_for_and_never_adds_sound() -> None:
    mel = _strokes()
    assert torch.equal(density_gate(mel, 0.0, seed=1), mel)
    for share in (0.2, 0.4, 0.6):
        gated = density_gate(mel, share, seed=1)
        assert torch.all(gated <= mel + 1e-6)
        silent = float(_silent(gated).float().mean())
        assert share - 0.05 <= silent <= share + 0.1  # whole events (0.25 s of 6 s) plus fades


def test_a_larger_share_silences_a_superset_of_events() -> None:
    mel = _strokes(period=0.3)
    masks = [_silent(density_gate(mel, share, seed=4)) for share in (0.2, 0.4, 0.6)]
    assert bool(torch.all(masks[1] | ~masks[0])) and bool(torch.all(masks[2] | ~masks[1]))
    assert int(masks[0].sum()) < int(masks[1].sum()) < int(masks[2].sum())


def test_the_gate_is_a_function_of_its_seed() -> None:
    mel = _strokes()
    a, b = density_gate(mel, 0.4, seed=7), density_gate(mel, 0.4, seed=7)
    assert torch.equal(a, b)
    assert not torch.equal(_silent(a), _silent(density_gate(mel, 0.4, seed=8)))


def test_gaps_open_at_onsets_and_silences_come_in_runs() -> None:
    mel = _strokes(period=0.25)
    gated = density_gate(mel, 0.5, seed=3)
    silent = _silent(gated).numpy()
    onsets = set(event_onsets(mel).tolist())
    reopen = [i for i in range(1, len(silent)) if silent[i - 1] and not silent[i]]
    assert reopen and all(any(abs(i - o) <= 1 for o in onsets) for i in reopen)  # sound resumes on a stroke
    # the gaps are runs of strokes, not every other stroke: fewer gaps than silenced strokes
    gaps = sum(1 for i in range(len(silent)) if silent[i] and (i == 0 or not silent[i - 1]))
    assert gaps < 0.5 * 0.5 * 24


def test_a_drone_is_cut_into_pieces_and_fades_back_in_without_a_step() -> None:
    n = int(4.0 * FPS)
    mel = torch.full((128, n), -2.0) + 0.01 * torch.randn(128, n, generator=torch.Generator().manual_seed(0))
    gated = density_gate(mel, 0.4, seed=0)
    silent = _silent(gated)
    assert 0.3 <= float(silent.float().mean()) <= 0.5
    loud = gated.mean(dim=0)
    steps = torch.relu(torch.diff(loud))
    assert float(steps.max()) < 0.5 * (float(loud.max()) - MEL_FLOOR)  # no jump from silence to full level


def test_silence_gaps_zeroes_only_the_gaps() -> None:
    n = 40
    mel = torch.zeros(128, n)
    mel[:, 10:20] = MEL_FLOOR
    audio = np.ones(n * rendering.HOP, dtype=np.float32)
    out = silence_gaps(audio, mel)
    assert np.all(out[11 * rendering.HOP: 19 * rendering.HOP] == 0.0)
    assert np.all(out[: 9 * rendering.HOP] == 1.0) and np.all(out[21 * rendering.HOP:] == 1.0)
    assert silence_gaps(audio, torch.zeros(128, n)) is audio


@pytest.fixture(scope="module")
def vae_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[SdaHome, str]:
    from sda_engine.train import TrainOptions, plan, run

    root = tmp_path_factory.mktemp("density")
    folder = root / "ds"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        t = np.arange(int(SR * 1.6)) / SR
        hits = np.exp(-np.remainder(t, 0.3) / 0.05)
        x = 0.3 * np.sin(2 * np.pi * 150 * (i + 1) * t) * hits
        sf.write(folder / f"take{i}.wav", (x + 0.003 * rng.standard_normal(t.size)).astype(np.float32), SR)
    home = SdaHome(root / "home")
    options = TrainOptions(name="hits", dataset=str(folder), kind="vae", size="tiny", controls=False, steps=2,
                           eval_every=2, checkpoint_every=2, batch_size=2, augment=False, preview_every=1000)
    run(plan(options, home), home=home)
    return home, "hits"


def test_a_model_renders_sparse_with_silent_gaps_and_dense_from_a_longer_sketch(
        vae_model: tuple[SdaHome, str], tmp_path: Path) -> None:
    from sda_engine.generate.renderer import Renderer
    from sda_engine.generate.request import GenerationRequest
    from sda_engine.generate.session import ModelSession

    home, name = vae_model
    session = ModelSession.open(name, "cpu", home)
    base = Renderer(session, GenerationRequest().replace(duration=2.0, seed=5, channels="mono"))
    plain = base.sample()
    dense_renderer = Renderer(session, base.request.replace(density=1.0))
    dense = dense_renderer.sample()
    assert dense.samples == plain.samples and dense.frames >= 2 * plain.frames - 2  # twice the sequence
    assert dense_renderer.mel(dense).shape == base.mel(plain).shape
    sparse = Renderer(session, base.request.replace(density=-1.0))
    rendered = sparse.render(sparse.sample())
    a = rendered.samples[0]
    b = sparse.render(sparse.sample()).samples[0]
    assert rendered.notes["controls"] == {"density": "steered"}
    assert rendered.notes["density_gaps"].startswith("assisted")  # the post-vocoder part is labelled
    np.testing.assert_array_equal(a, b)  # same request + seed = same audio
    hop = rendering.HOP
    frames = a[: a.shape[0] // hop * hop].reshape(-1, hop)
    silent = float((np.abs(frames).max(axis=1) == 0.0).mean())
    assert sparse_share(-1.0) - 0.15 <= silent <= sparse_share(-1.0) + 0.1
    dense_notes = dense_renderer.render(dense).notes
    assert dense_notes["controls"] == {"density": "steered"} and "density_gaps" not in dense_notes
    assert math.isfinite(float(np.abs(a).max())) and float(np.abs(a).max()) > 0
