"""Morphs between two of the user's sounds: the ends are the sounds themselves (with their own detail) or the
model's renditions (without), the middle lies between them,
the one-shot form is trimmed at the end of its decay, and bad input is refused naming the file."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch

from sda_audio.errors import SdaError
from sda_engine.generate.encoding import encode_audio
from sda_engine.generate.morph import Morph, check_amount, morph_amounts, morph_files, render_morph
from sda_engine.generate.oneshots import FADE
from sda_engine.generate.renderer import Renderer
from sda_engine.generate.request import GenerationRequest
from sda_engine.generate.session import ModelSession
from sda_engine.store.history import History
from sda_engine.store.home import SdaHome
from sda_models.mel import LogMel, MelConfig

MEL = MelConfig()
SR = MEL.sampling_rate
GOLDEN = Path(__file__).resolve().parents[3] / "tests" / "golden" / "make_fixtures.py"
REQUEST = GenerationRequest().replace(channels="mono", vocoder="corpus")


def _golden() -> Any:
    spec = importlib.util.spec_from_file_location("sda_golden_fixtures_for_morph", GOLDEN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pluck(path: Path, f0: float, length: float, decay: float, noise: float, lead: float = 0.0) -> Path:
    """A decaying tone (``noise`` share of noise), ``lead`` seconds of silence before it, 0.2 s after."""
    rng = np.random.default_rng(int(f0))
    t = np.arange(int(SR * length)) / SR
    env = np.exp(-t / decay)
    x = ((np.sin(2 * np.pi * f0 * t) + 0.5 * np.sin(4 * np.pi * f0 * t)) * (1 - noise)
         + noise * rng.standard_normal(t.size)) * env
    x = np.concatenate([np.zeros(int(lead * SR)), x, np.zeros(int(0.2 * SR))])
    sf.write(path, (0.6 * x / np.abs(x).max()).astype(np.float32), SR)
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SdaHome, Path, Path]:
    root = tmp_path_factory.mktemp("morph")
    models = _golden().install_models(root / "models")
    a = _pluck(root / "low.wav", 110.0, 0.4, 0.06, 0.0)
    b = _pluck(root / "bright.wav", 660.0, 0.9, 0.18, 0.7)
    return models, SdaHome(root / "home"), a, b


def _session(setup: tuple[Path, SdaHome, Path, Path], kind: str) -> ModelSession:
    models, home, _, _ = setup
    return ModelSession.open(models / f"golden_{kind}.sda", "cpu", home)


def _logmel(samples: np.ndarray) -> torch.Tensor:
    mono = torch.from_numpy(np.asarray(samples, dtype=np.float32).reshape(-1))
    return LogMel(MEL)(mono[None])[0]


def _distance(x: np.ndarray, y: np.ndarray) -> float:
    """Mean absolute log-mel difference over the frames both have."""
    mx, my = _logmel(x), _logmel(y)
    n = min(mx.shape[-1], my.shape[-1])
    return float((mx[:, :n] - my[:, :n]).abs().mean())


def _reconstruction(session: ModelSession, path: Path) -> np.ndarray:
    """The model's rendition of the whole file (what ``sda reconstruct`` makes of it, loudness as decoded)."""
    samples, rate = sf.read(str(path), dtype="float32")
    sketch = encode_audio(session, samples, rate)
    return Renderer(session, REQUEST.replace(dynamics=0.0)).render(sketch).samples[0]


def test_amounts_are_spread_from_0_to_1_and_bad_amounts_are_refused() -> None:
    assert morph_amounts(None, 1) == [0.5]
    assert morph_amounts(None, 5) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert morph_amounts(0.3, 1) == [0.3]
    for bad in (-0.1, 1.5, float("nan"), "half"):
        with pytest.raises(SdaError, match="0..1|from 0 to 1"):
            check_amount(bad)  # type: ignore[arg-type]
    with pytest.raises(SdaError, match="equal files"):
        morph_amounts(0.5, 3)


@pytest.mark.parametrize("kind", ["vae", "rvq"])
def test_without_detail_the_ends_are_the_models_renditions_and_the_middle_lies_between(setup, kind: str) -> None:
    session = _session(setup, kind)
    _, _, a, b = setup
    morph = Morph.prepare(session, a, b, detail="none")
    rec_a, rec_b = _reconstruction(session, a), _reconstruction(session, b)
    m0, mid, m1 = (morph.render(x, REQUEST).samples[0] for x in (0.0, 0.5, 1.0))
    # compared over the span all three share, before the shortest one's trim and fade (a faded tail against a
    # decay that goes on is a large log-mel difference that says nothing about the blend)
    head = min(m.shape[-1] for m in (m0, mid, m1)) - int(2 * FADE * SR)

    def dist(x: np.ndarray, y: np.ndarray) -> float:
        return _distance(x[:head], y[:head])

    assert dist(m0, rec_a) < dist(m0, rec_b)
    assert dist(m1, rec_b) < dist(m1, rec_a)
    # the middle lies between the ends: nearer to each rendition than the other end is
    assert dist(mid, rec_a) < dist(m1, rec_a)
    assert dist(mid, rec_b) < dist(m0, rec_b)
    # the length is the interpolation of both sounds' lengths (a texture model keeps it exactly)
    assert m0.shape[-1] < mid.shape[-1] < m1.shape[-1]
    assert mid.shape[-1] == morph.length(0.5) == round((morph.a.samples + morph.b.samples) / 2)


def _file(path: Path, start: float) -> np.ndarray:
    samples, _ = sf.read(str(path), dtype="float32")
    return samples[int(round(start * SR)):]


@pytest.mark.parametrize("kind", ["vae", "rvq"])
def test_with_their_detail_the_ends_are_the_sounds_themselves(setup, kind: str) -> None:
    """The default: each source's own detail (what the model misses of it) is blended at the amount, so amount 0
    is A itself, far nearer to it than the model's rendition; ``anchor`` keeps A's detail at every amount."""
    session = _session(setup, kind)
    _, _, a, b = setup
    morph = Morph.prepare(session, a, b)
    assert morph.detail == "blend" and morph.uses_detail
    file_a, file_b = _file(a, morph.a.offset), _file(b, morph.b.offset)
    rec_a = _reconstruction(session, a)
    m0, mid, m1 = (morph.render(x, REQUEST) for x in (0.0, 0.5, 1.0))
    assert m0.notes["morph"]["detail"] == "blend"
    head = min(m.samples.shape[-1] for m in (m0, mid, m1)) - int(2 * FADE * SR)

    def dist(x: np.ndarray, y: np.ndarray) -> float:
        return _distance(x[:head], y[:head])

    assert dist(m0.samples[0], file_a) < 0.5 * dist(rec_a, file_a)
    assert dist(m0.samples[0], file_a) < 0.5 * dist(m0.samples[0], file_b)
    assert dist(m1.samples[0], file_b) < 0.5 * dist(m1.samples[0], file_a)
    assert dist(mid.samples[0], file_a) < dist(m1.samples[0], file_a)
    assert dist(mid.samples[0], file_b) < dist(m0.samples[0], file_b)
    # the anchor's detail: A's own fine structure at every amount, so its amount 1 is nearer A than B's is
    anchored = Morph.prepare(session, a, b, detail="anchor").render(1.0, REQUEST)
    assert anchored.notes["morph"]["detail"] == "anchor"
    assert dist(anchored.samples[0], file_a) < dist(m1.samples[0], file_a)
    with pytest.raises(ValueError, match="detail must be one of"):
        Morph.prepare(session, a, b, detail="some")


def test_both_sounds_are_onset_aligned(setup, tmp_path: Path) -> None:
    session = _session(setup, "vae")
    _, _, a, b = setup
    late = _pluck(tmp_path / "late.wav", 110.0, 0.4, 0.06, 0.0, lead=0.3)
    early, shifted = Morph.prepare(session, a, b), Morph.prepare(session, late, b)
    assert early.a.offset == 0.0 and 0.28 < shifted.a.offset < 0.3
    assert abs(shifted.a.samples - early.a.samples) < 0.03 * SR  # sound ends are found on analysis frames
    # the same sound with silence before it encodes to (nearly) the same latent: compared where both have frames,
    # against the distance to the other sound's latent
    za, zs, zb = early.a.latent, shifted.a.latent, early.b.latent
    n = min(za.shape[-1], zs.shape[-1], zb.shape[-1])
    assert float((za[..., :n] - zs[..., :n]).abs().mean()) < 0.25 * float((za[..., :n] - zb[..., :n]).abs().mean())


def test_a_morph_is_deterministic_and_draws_no_seed(setup) -> None:
    session = _session(setup, "rvq")
    _, _, a, b = setup
    first = render_morph(session, a, b, 0.4, REQUEST.replace(seed=3))
    again = render_morph(session, a, b, 0.4, REQUEST.replace(seed=3))
    other_seed = render_morph(session, a, b, 0.4, REQUEST.replace(seed=9))
    assert np.array_equal(first.samples, again.samples) and np.array_equal(first.samples, other_seed.samples)
    assert first.seed is None and first.notes["morph"]["amount"] == 0.4
    assert "summed quantised embeddings" in first.notes["morph"]["method"]


def test_the_oneshot_form_is_trimmed_at_the_end_of_the_decay(setup) -> None:
    session = _session(setup, "vae")
    _, _, a, b = setup
    morph = Morph.prepare(session, a, b)
    audio = morph.render(0.5, REQUEST.replace(form="oneshot"))
    form = audio.notes["form"]
    assert form["form"] == "oneshot" and set(form["checks"]) and form["source"] == "request"
    assert audio.notes["morph"]["trimmed"]
    length = audio.samples.shape[-1]
    assert 0.1 * SR < length <= morph.length(0.5) + 0.5 * SR
    assert np.abs(audio.samples[0, -int(0.5 * FADE * SR):]).max() < 0.2 * np.abs(audio.samples).max()  # faded
    texture = morph.render(0.5, REQUEST)  # the golden models have no form: a texture keeps its length
    assert "form" not in texture.notes and not texture.notes["morph"]["trimmed"]
    with pytest.raises(SdaError, match="one sound"):
        morph.render(0.5, REQUEST.replace(form="phrase"))


def test_missing_silent_and_unreadable_files_are_refused_naming_them(setup, tmp_path: Path) -> None:
    session = _session(setup, "vae")
    _, _, a, _ = setup
    missing = tmp_path / "nope.wav"
    with pytest.raises(SdaError, match="does not exist") as err:
        Morph.prepare(session, a, missing)
    assert err.value.path == missing
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(SR, dtype=np.float32), SR)
    with pytest.raises(SdaError, match="silent") as err:
        Morph.prepare(session, silent, a)
    assert err.value.path is not None and err.value.path.name == "silent.wav"
    junk = tmp_path / "junk.wav"
    junk.write_text("not audio")
    with pytest.raises(SdaError) as err:
        Morph.prepare(session, a, junk)
    assert err.value.path is not None and err.value.path.name == "junk.wav"


def test_morph_files_writes_a_numbered_pack_recorded_in_sidecars_and_history(setup, tmp_path: Path) -> None:
    session = _session(setup, "vae")
    _, home, a, b = setup
    out = tmp_path / "pack"
    results = morph_files(session, a, b, f"{out}/", REQUEST.replace(variations=3))
    assert [r.path.name for r in results] == [f"golden_vae_{i:03d}.wav" for i in (1, 2, 3)]
    amounts = []
    for r in results:
        meta = json.loads(r.sidecar.read_text())["metadata"]
        assert meta["notes"]["morph"]["between"] == [str(a.resolve()), str(b.resolve())]
        assert meta["parameters"]["morph"]["between"] == [str(a.resolve()), str(b.resolve())]
        amounts.append(meta["notes"]["morph"]["amount"])
        assert meta["request"]["render"]["dynamics"] == 0.0
    assert amounts == [0.0, 0.5, 1.0]
    recorded = {e.audio_path.name for e in History(home).list(model="golden_vae")}
    assert {r.path.name for r in results} <= recorded
    with pytest.raises(SdaError) as err:  # never overwritten without asking
        morph_files(session, a, b, out, REQUEST, amounts=[0.5])
    assert err.value.action == "overwrite"
    again = morph_files(session, a, b, out, REQUEST, amounts=[0.5], overwrite=True)
    assert again[0].path == results[0].path
    with pytest.raises(SdaError, match="outside 0..1"):
        morph_files(session, a, b, tmp_path / "bad", REQUEST, amounts=[1.2])
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())


def test_detail_is_added_over_the_common_frames_and_never_below_the_floor() -> None:
    from sda_engine.generate.rendering import MEL_FLOOR, add_detail
    from sda_engine.generate.sketch import Sketch

    mel = torch.full((4, 6), -2.0)
    detail = torch.tensor([[1.0, -20.0, 0.5]]).expand(4, 3)
    out = add_detail(mel, detail)
    assert torch.equal(out[:, 0], torch.full((4,), -1.0)) and torch.equal(out[:, 2], torch.full((4,), -1.5))
    assert torch.equal(out[:, 1], torch.full((4,), MEL_FLOOR))  # a detail below silence is silence
    assert torch.equal(out[:, 3:], mel[:, 3:]) and torch.equal(mel, torch.full((4, 6), -2.0))  # the rest, untouched
    with pytest.raises(ValueError, match="detail must be"):
        Sketch("latents", 10, latent=torch.zeros(1, 2, 3), detail=torch.zeros(1, 4, 3))
