"""Forms: detected at training (metadata["form"]), one-shots and phrases at generation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sda_audio.errors import SdaError
from sda_audio.events import detect_events
from sda_audio.progress import ProgressEvent
from sda_engine.generate.forms import resolve_form
from sda_engine.generate.oneshot_variations import DEFAULT_VARIATIONS, HitPool, draw
from sda_engine.generate.phrases import schedule
from sda_engine.generate.pipeline import generate_files
from sda_engine.generate.request import GenerationRequest
from sda_engine.generate.session import ModelSession
from sda_engine.store.home import SdaHome
from sda_engine.train.forms import detect_training_form
from sda_models.mel import MelConfig
from sda_models.model_file import read_metadata

SR = MelConfig().sampling_rate


def _hits(folder: Path, n: int = 6) -> list[Path]:
    """Decaying noise bursts of different lengths and colours: one-shots."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        length = 0.3 + 0.15 * i
        t = np.arange(int(SR * (length + 0.2))) / SR
        env = np.exp(-t / (0.05 + 0.03 * i))
        x = rng.standard_normal(t.size) * env + 0.5 * np.sin(2 * np.pi * (80 + 40 * i) * t) * env
        path = folder / f"hit{i}.wav"
        sf.write(path, (0.5 * x / np.abs(x).max()).astype(np.float32), SR)
        paths.append(path)
    return paths


def _drone(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(SR * 2.0)) / SR
    paths = []
    for i in range(3):
        x = 0.3 * np.sin(2 * np.pi * 110 * (i + 1) * t) * (0.8 + 0.2 * np.sin(2 * np.pi * 0.5 * t))
        sf.write(folder / f"drone{i}.wav", x.astype(np.float32), SR)
        paths.append(folder / f"drone{i}.wav")
    return paths


@pytest.fixture(scope="module")
def hits_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[SdaHome, str, list[ProgressEvent]]:
    from sda_engine.train import TrainOptions, plan, run

    root = tmp_path_factory.mktemp("forms")
    _hits(root / "ds")
    home = SdaHome(root / "home")
    events: list[ProgressEvent] = []
    options = TrainOptions(name="hits", dataset=str(root / "ds"), kind="vae", size="tiny", controls=False, steps=2,
                           eval_every=2, checkpoint_every=2, batch_size=2, augment=False, preview_every=1000)
    run(plan(options, home), on_event=events.append, home=home)
    return home, "hits", events


def test_training_detects_and_stores_the_form(hits_model: tuple[SdaHome, str, list[ProgressEvent]]) -> None:
    home, name, events = hits_model
    meta = read_metadata(home.model_path(name))
    form = meta["form"]
    assert form["form"] == "oneshot" and form["counts"]["oneshot"] == 6 and not form["mixed"]
    ref = form["oneshot_reference"]
    assert 0.2 < ref["min_length"] < ref["max_length"] < 1.5 and ref["tail_db"] < -20
    assert len(form["timing"]["lengths"]) == 6
    tone = form["room_tone"]  # the quiet floor the strokes will sit on: the hits decay far under their peak
    assert tone["files"] == 6 and tone["level_db"] < -30 and len(tone["band_db"]) == len(tone["band_hz"])
    assert any(e.kind == "info" and e.message.startswith("form: oneshot set") for e in events)
    json.dumps(form)  # JSON-safe


def test_forced_form_and_texture_sets(tmp_path: Path) -> None:
    hits = _hits(tmp_path / "h", 3)
    forced = detect_training_form(hits, "phrase")
    assert forced["form"] == "phrase" and forced["detected"] == "oneshot" and forced["forced"]
    assert "as asked" in forced["message"] and forced["phrase_reference"] is not None
    drones = detect_training_form(_drone(tmp_path / "d"))
    assert drones["form"] == "texture" and drones["oneshot_reference"] is None
    with pytest.raises(SdaError):
        detect_training_form(hits, "loop")


def test_request_form_field() -> None:
    req = GenerationRequest()
    assert req.form == "auto" and req.bpm == 0.0
    assert req.replace(form="oneshot").to_dict()["render"]["form"] == "oneshot"
    with pytest.raises(SdaError):
        req.replace(form="loop")
    with pytest.raises(SdaError):
        req.replace(bpm=5)
    texture_meta = {"form": {"form": "texture", "message": "texture set", "forced": False}}
    assert resolve_form(req, texture_meta) == ("texture", "model")
    assert resolve_form(req, {}) == ("texture", "default")
    with pytest.raises(SdaError, match="textures"):
        resolve_form(req.replace(form="phrase"), texture_meta, "drone")


def test_oneshots_are_numbered_single_events(hits_model: tuple[SdaHome, str, list[ProgressEvent]],
                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sda_engine.generate.oneshots as oneshots

    monkeypatch.setattr(oneshots, "MAX_STREAMS", 2)  # a 2-step model rarely passes: keep the retries short
    home, name, _ = hits_model
    session = ModelSession.open(name, "cpu", home)
    req = GenerationRequest().replace(variations=2, seed=4, channels="mono")
    results = generate_files(session, req, tmp_path / "pack/")
    assert [r.path.name for r in results] == ["hits_001.wav", "hits_002.wav"]
    dataset = read_metadata(home.model_path(name))["dataset"]
    held = {Path(f).name for f in dataset["val_files"]}
    trained = {Path(f).name for f in dataset["files"]} - held
    assert held and len(trained) >= 2
    for r in results:
        side = json.loads(r.sidecar.read_text())["metadata"]
        note = side["notes"]["form"]
        assert note["form"] == "oneshot" and note["source"] == "model"
        assert set(note["checks"]) == {"attack", "second_onset", "tail", "length"}
        assert note["passed"] == all(c["passed"] for c in note["checks"].values())
        assert note["passed"] or "message" in note
        # a variation carries its anchor hit's own detail, so it ends in that hit's own room
        assert note["silence"].startswith("the room of the sounds it was made from")
        # a variation between two of the model's own training hits (held-out files are not drawn)
        assert note["method"] == "variation" and len(set(note["between"])) == 2 and note["detail"] == "anchor"
        assert set(note["between"]) <= trained
        assert DEFAULT_VARIATIONS.amounts[0] <= note["amount"] <= DEFAULT_VARIATIONS.amounts[1]
        x, sr = sf.read(r.path)
        assert x.shape[0] / sr < 2.5  # a hit, not a 20 s stream
    again = generate_files(session, req.replace(variations=1), tmp_path / "again/")
    a, _ = sf.read(results[0].path)
    b, _ = sf.read(again[0].path)
    np.testing.assert_array_equal(a, b)


def test_oneshots_without_the_hits_are_cut_from_streams(hits_model: tuple[SdaHome, str, list[ProgressEvent]],
                                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sda_engine.generate.oneshots as oneshots

    monkeypatch.setattr(oneshots, "MAX_STREAMS", 1)
    monkeypatch.setattr(HitPool, "of", classmethod(lambda cls, session, oneshots_only=False: None))  # no hits to vary (an old model)
    home, name, _ = hits_model
    session = ModelSession.open(name, "cpu", home)
    [result] = generate_files(session, GenerationRequest().replace(seed=4, channels="mono"), tmp_path / "pack/")
    note = json.loads(result.sidecar.read_text())["metadata"]["notes"]["form"]
    assert note["method"] == "stream" and "stream_seed" in note and "between" not in note


def test_variation_draws_are_seeded_and_in_range() -> None:
    draws = [draw(6, seed, 0) for seed in range(40)]
    assert draws[:5] == [draw(6, seed, 0) for seed in range(5)]  # the same seed, the same hits and amount
    assert all(a != b and 0 <= a < 6 and 0 <= b < 6 for a, b, _ in draws)
    lo, hi = DEFAULT_VARIATIONS.amounts
    assert all(lo <= x <= hi for _, _, x in draws)
    assert len({(a, b) for a, b, _ in draws}) > 10  # seeds spread over the pairs
    assert draw(6, 3, 0) != draw(6, 3, 1)  # a redraw is another draw


def test_phrase_sits_on_the_material_floor_between_strokes(hits_model: tuple[SdaHome, str, list[ProgressEvent]],
                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sda_engine.generate.phrases as phrases

    monkeypatch.setattr(phrases, "POOL_STREAMS", 1)
    home, name, _ = hits_model
    session = ModelSession.open(name, "cpu", home)
    req = GenerationRequest().replace(form="phrase", duration=4, seed=1, channels="mono", pulse=1.0, bpm=120)
    result = generate_files(session, req, tmp_path / "phrase.wav")[0]
    note = result.notes["form"]
    assert note["form"] == "phrase" and set(note["steered"]) == {"density", "pulse", "rhythmic"}
    assert note["strokes"] == "variation" and note["strokes_in_pool"] >= 1  # strokes varied from the real hits
    assert all(v["how"] == "steered" for v in note["steered"].values())
    x, sr = sf.read(result.path)
    assert abs(x.shape[0] / sr - 4.0) < 0.05
    m = detect_events(x, sr)
    tone = read_metadata(home.model_path(name))["form"]["room_tone"]["level_db"]
    assert note["silence"].startswith("the material's room tone")
    # between the strokes the level falls to the material's own floor (within 6 dB), never to digital zeros
    assert abs((m.floor_db - m.peak_db) - tone) < 6.0
    assert float(np.mean(x == 0.0)) < 0.001


def test_schedule_follows_density_and_pulse() -> None:
    timing: dict = {}
    counts = [len(schedule(30.0, d, -1.0, timing, 0.0, 3)[0]) for d in (-1.0, 0.0, 1.0)]
    assert counts[0] < counts[1] < counts[2]
    locked, plan = schedule(30.0, 0.0, 1.0, timing, 100.0, 3)
    iois = np.diff(locked)
    assert iois.std() / iois.mean() < 0.05 and plan["lock"] == 1.0
    free = np.diff(schedule(30.0, 0.0, -1.0, timing, 100.0, 3)[0])
    assert free.std() / free.mean() > 0.4


def test_phrase_strokes_are_levelled_before_the_accents() -> None:
    from sda_audio.oneshot_checks import OneShotReference
    from sda_engine.generate.oneshots import Candidate, measure
    from sda_engine.generate.phrases import MAX_LIFT_DB, place

    t = np.arange(int(0.2 * SR)) / SR
    hit = (np.sin(2 * np.pi * 200 * t) * np.exp(-t / 0.03)).astype(np.float32)[None]
    reference = OneShotReference(files=2, max_length=0.3, min_length=0.1, tail_db=-40.0)
    pool = []
    for level in (1.0, 0.3, 0.001):  # 0 dB, -10.5 dB and -60 dB (lifted by at most MAX_LIFT_DB)
        events, report = measure(hit[0] * level, SR, reference)
        pool.append(Candidate(samples=hit * level, report=report, events=events, stream_seed=0, start=0.0, end=0.2))
    onsets = np.arange(0.0, 6.0, 0.25)
    out = place(pool, onsets, 6.0, SR, 1, 0.0, {"accents": {"p10": 0.0}}, seed=0)
    peaks = [float(np.abs(out[0, int(o * SR):int((o + 0.2) * SR)]).max()) for o in onsets]
    levels = np.array([20 * np.log10(p) for p in peaks])
    # the -10.5 dB stroke comes up to the loudest (then an accent of at most 1 dB); the -60 dB one only by the
    # lift's limit; nothing is left at -10.5 dB
    loud = (levels > -1.5) & (levels < 0.05)
    lifted = (levels > -60.0 + MAX_LIFT_DB - 1.5) & (levels < -60.0 + MAX_LIFT_DB + 0.05)
    assert np.all(loud | lifted) and loud.sum() >= 2 * lifted.sum() > 0, levels.round(2)


def test_only_files_held_out_whole_are_left_out_of_the_variations() -> None:
    from sda_engine.generate.oneshot_variations import held_out_names as _held_out

    files = ["/d/a.wav", "/d/b.wav", "/d/c.wav"]
    assert _held_out({"files": files, "val_files": ["/d/c.wav"], "split": "files"}) == {"c.wav"}
    # small sets validate on each file's tail: every file's head was trained on
    assert _held_out({"files": files, "val_files": files, "split": "tail-windows"}) == set()
    assert _held_out({"files": files, "val_files": files}) == set()  # no split recorded, every file named
    assert _held_out({"files": files, "val_files": ["/d/a.wav"]}) == {"a.wav"}


def test_brightness_chooses_the_brighter_hits() -> None:
    from types import SimpleNamespace

    from sda_engine.generate.oneshot_variations import HitPool

    rng = np.random.default_rng(0)
    t = np.arange(int(0.4 * SR)) / SR
    env = np.exp(-t / 0.08)
    hits = []
    for cutoff in (300, 600, 1200, 5000, 9000, 14000):  # dark to bright: noise low-passed at rising cutoffs
        spec = np.fft.rfft(rng.standard_normal(t.size))
        spec[np.fft.rfftfreq(t.size, 1 / SR) > cutoff] = 0
        hits.append((np.fft.irfft(spec, t.size) * env).astype(np.float32))
    pool = HitPool(SimpleNamespace(sample_rate=SR), [f"h{i}" for i in range(6)], hits)  # type: ignore[arg-type]
    assert pool.weights({}) is None and pool.weights({"brightness": 0.0}) is None  # nothing moved: uniform
    bright, dark = pool.weights({"brightness": 1.0}), pool.weights({"brightness": -1.0})
    assert bright is not None and dark is not None
    assert bright[3:].sum() > 0.8 and dark[:3].sum() > 0.8
    anchors = [draw(6, seed, 0, weights=bright)[0] for seed in range(30)]
    assert np.mean([a >= 3 for a in anchors]) > 0.7


def test_the_second_hit_is_drawn_among_the_anchors_neighbours() -> None:
    """A new dark hit is a dark hit moved towards another dark one, not a dark-bright hybrid."""
    from types import SimpleNamespace

    rng = np.random.default_rng(1)
    t = np.arange(int(0.4 * SR)) / SR
    env = np.exp(-t / 0.08)
    hits = []
    for cutoff in (300, 350, 400, 9000, 10000, 11000):  # two families: three dark hits, three bright ones
        spec = np.fft.rfft(rng.standard_normal(t.size))
        spec[np.fft.rfftfreq(t.size, 1 / SR) > cutoff] = 0
        hits.append((np.fft.irfft(spec, t.size) * env).astype(np.float32))
    pool = HitPool(SimpleNamespace(sample_rate=SR), [f"h{i}" for i in range(6)], hits)  # type: ignore[arg-type]
    assert pool.affinity(None) is None
    near = pool.affinity(DEFAULT_VARIATIONS.neighbour_width)
    assert near is not None and near.shape == (6, 6) and np.all(np.diag(near) == 0)
    pairs = [draw(6, seed, 0, affinity=near)[:2] for seed in range(60)]
    same_family = np.mean([(a < 3) == (b < 3) for a, b in pairs])
    uniform = np.mean([(a < 3) == (b < 3) for a, b, _ in (draw(6, seed, 0) for seed in range(60))])
    assert same_family > 0.7 and same_family > uniform + 0.25
    assert len({a for a, _ in pairs}) == 6 and all(a != b for a, b in pairs)  # every hit is an anchor


def test_a_moved_brightness_is_searched_among_the_hits(hits_model: tuple[SdaHome, str, list[ProgressEvent]],
                                                       tmp_path: Path) -> None:
    home, name, _ = hits_model  # trained without controls: choosing hits needs none
    session = ModelSession.open(name, "cpu", home)
    req = GenerationRequest().replace(seed=4, channels="mono", brightness=0.8)
    [result] = generate_files(session, req, tmp_path / "bright/")
    notes = json.loads(result.sidecar.read_text())["metadata"]["notes"]
    assert notes["controls"] == {"brightness": "searched"}
    assert notes["form"]["method"] == "variation" and notes["form"]["chosen_for"] == {"brightness": 0.8}
