"""Generation: determinism, click-free seams, variations, sidecars/history, blending, bad input, and the
three parts (session, renderer, writer) each on its own."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from sda_audio.errors import SdaError
from sda_engine.generate.encoding import encode_audio, sketch_from_codes
from sda_engine.generate.pipeline import generate_files
from sda_engine.generate.renderer import Renderer
from sda_engine.generate.request import GenerationRequest
from sda_engine.generate.session import ModelSession
from sda_engine.generate.stitching import (
    crossfade_concat,
    equal_power_fades,
    max_seam_jump,
    smooth_latent_path,
    typical_jump,
)
from sda_engine.store.generation_writer import GenerationResult
from sda_engine.store.home import SdaHome
from sda_models.mel import MelConfig

SR = MelConfig().sampling_rate


def generate(model: str | Path, duration: float | None = None, *, home: SdaHome, output: Path | None = None,
             request: GenerationRequest | None = None, **fields) -> list[GenerationResult]:
    """Open ``model`` and generate ``request`` with ``fields`` on top (what ``sda generate`` does)."""
    req = (request or GenerationRequest()).replace(duration=duration, **fields)
    return generate_files(ModelSession.open(model, "cpu", home), req, output)


@pytest.fixture(scope="module")
def vae_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[SdaHome, str]:
    from sda_engine.train import TrainOptions, plan, run

    root = tmp_path_factory.mktemp("gen")
    folder = root / "ds"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        t = np.arange(int(SR * (1.6 + 0.2 * i))) / SR
        x = 0.3 * np.sin(2 * np.pi * 110 * (i + 1) * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
        sf.write(folder / f"take{i}.wav", (x + 0.01 * rng.standard_normal(t.size)).astype(np.float32), SR)
    home = SdaHome(root / "home")
    options = TrainOptions(name="tex", dataset=str(folder), kind="vae", size="tiny", controls=False, steps=3,
                           eval_every=3, checkpoint_every=3, batch_size=2, augment=False, preview_every=1000)
    run(plan(options, home), home=home)
    return home, "tex"


def test_equal_power_fades_keep_power_constant() -> None:
    out, inn = equal_power_fades(257)
    np.testing.assert_allclose(out**2 + inn**2, 1.0, atol=1e-6)
    assert out[0] > 0.99 and inn[-1] > 0.99


def test_crossfade_of_uncorrelated_noise_keeps_its_level() -> None:
    rng = np.random.default_rng(0)
    chunks = [rng.standard_normal(44100).astype(np.float32) * 0.1 for _ in range(3)]
    joined, seams = crossfade_concat(chunks, 4096)
    assert joined.shape[0] == 3 * 44100 - 2 * 4096 and len(seams) == 2
    for s in seams:
        seam_rms = np.sqrt(np.mean(joined[s - 1024:s + 1024] ** 2))
        assert 0.08 < seam_rms < 0.12


def test_crossfade_of_out_of_phase_tones_has_no_click() -> None:
    t = np.arange(44100) / SR
    a = 0.5 * np.sin(2 * np.pi * 220 * t).astype(np.float32)
    b = 0.5 * np.sin(2 * np.pi * 220 * t + 2.0).astype(np.float32)  # a hard cut would jump
    joined, seams = crossfade_concat([a, b], 2048)
    assert max_seam_jump(joined, seams, radius=1100) <= 1.2 * typical_jump(a, 1.0)
    hard = np.concatenate([a, b])
    assert max_seam_jump(hard, [44100]) > 2 * typical_jump(a, 1.0)


def test_smooth_latent_path_moves_gradually() -> None:
    path = smooth_latent_path(8, 400, torch.Generator().manual_seed(0), anchor_every=20)
    assert path.shape == (8, 400)
    steps = (path[:, 1:] - path[:, :-1]).abs().max()
    assert float(steps) < 0.5 * float(path.std())  # no frame-to-frame jumps
    assert 0.5 < float(path.std()) < 1.5  # but it does travel


def test_same_seed_same_audio_other_seed_other_audio(vae_model: tuple[SdaHome, str], tmp_path: Path) -> None:
    home, name = vae_model
    a = generate(name, 1.0, seed=7, home=home, output=tmp_path / "a.wav")[0]
    b = generate(name, 1.0, seed=7, home=home, output=tmp_path / "b.wav")[0]
    c = generate(name, 1.0, seed=8, home=home, output=tmp_path / "c.wav")[0]
    xa, xb, xc = (sf.read(r.path)[0] for r in (a, b, c))
    assert np.array_equal(xa, xb)
    assert not np.array_equal(xa, xc)


def test_long_output_has_no_clicks_at_chunk_seams(vae_model: tuple[SdaHome, str]) -> None:
    home, name = vae_model
    request = GenerationRequest().replace(duration=7.0, seed=1, channels="mono")  # > one vocoder chunk (~5.9 s)
    renderer = Renderer(ModelSession.open(name, "cpu", home), request)
    rendered = renderer.render(renderer.sample())
    audio, seams = rendered.samples[0], rendered.seams
    assert audio.shape == (7 * SR,) and seams
    assert max_seam_jump(audio, seams, radius=256) <= max(1.5 * typical_jump(audio, 0.9999), 1e-3)


def test_variations_sidecars_and_history(vae_model: tuple[SdaHome, str], tmp_path: Path) -> None:
    from sda_engine.store.history import History

    home, name = vae_model
    out = generate(name, 0.5, seed=3, variations=2, home=home, output=tmp_path / "v", channels="stereo",
                   stereo_method="dual", sample_rate=48000, bit_depth=16)
    assert [r.path.name for r in out] == ["tex_s3-v01.wav", "tex_s3-v02.wav"]
    assert [r.seed for r in out] == [3, 4]
    audio, sr = sf.read(out[0].path)
    assert sr == 48000 and audio.shape[1] == 2 and not np.allclose(audio[:, 0], audio[:, 1])
    side = json.loads(out[0].sidecar.read_text())
    text = json.dumps(side)
    for needle in (out[0].model_sha256, "tex", '"seed"', "corpus", "sda_version", "stereo_method"):
        assert needle in text
    entries = History(home).list(model=name)
    assert {r.history_id for r in out} <= {e.id for e in entries}


def test_blending_related_models_uses_latents_and_unrelated_models_mix(
        vae_model: tuple[SdaHome, str], tmp_path: Path) -> None:
    from sda_models.model_file import load_model, save_model

    home, name = vae_model
    latent = generate(name, 0.5, home=home, output=tmp_path / "l.wav", blend=[(name, 0.5)])[0]
    assert latent.blend_method == "latent"
    stranger = load_model(home.model_path(name), "cpu")
    stranger.metadata = {**stranger.metadata, "lineage": {"id": "another-family"}}
    save_model(tmp_path / "stranger.sda", stranger)
    mixed = generate(name, 0.5, home=home, output=tmp_path / "m.wav", blend=[(tmp_path / "stranger.sda", 0.3)])[0]
    assert mixed.blend_method == "mix"
    assert json.loads(mixed.sidecar.read_text())


@pytest.mark.parametrize("duration", [0, -1, 601])
def test_impossible_durations_are_refused(vae_model: tuple[SdaHome, str], duration: float) -> None:
    home, name = vae_model
    with pytest.raises(SdaError, match="seconds"):
        generate(name, duration, home=home)


def test_missing_model_and_unwritable_output_are_clear_errors(vae_model: tuple[SdaHome, str],
                                                              tmp_path: Path) -> None:
    home, name = vae_model
    with pytest.raises(SdaError, match="no model named"):
        generate("does-not-exist", 1.0, home=home)
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(SdaError, match="folder"):
        generate(name, 0.5, home=home, output=blocker / "sub" / "x.wav")


@pytest.mark.parametrize("channels,method", [("stereo", "decorrelate"), ("stereo", "mid_side"), ("binaural", "")])
def test_spatial_layouts(vae_model: tuple[SdaHome, str], tmp_path: Path, channels: str, method: str) -> None:
    home, name = vae_model
    out = generate(name, 0.5, home=home, output=tmp_path / "s.wav", channels=channels,
                   stereo_method=method or "decorrelate")[0]
    audio, _ = sf.read(out.path)
    assert audio.ndim == 2 and audio.shape[1] == 2 and not np.allclose(audio[:, 0], audio[:, 1])


def test_lower_density_leaves_more_quiet_frames(vae_model: tuple[SdaHome, str]) -> None:
    home, name = vae_model
    session = ModelSession.open(name, "cpu", home)
    request = GenerationRequest().replace(duration=3.0, seed=2)
    renderer = Renderer(session, request)
    sketch = renderer.sample()
    full = renderer.mel(sketch)
    sparse = Renderer(session, request.replace(density=-0.5)).mel(sketch)  # a rate factor of about 0.3
    loud_full, loud_sparse = full.mean(dim=0), sparse.mean(dim=0)
    quiet = loud_full.max() - 2.0  # frames well below the loudest
    assert int((loud_sparse < quiet).sum()) > int((loud_full < quiet).sum())
    assert torch.all(loud_sparse <= loud_full + 1e-5)


def test_one_session_generates_three_times_loading_weights_once(vae_model: tuple[SdaHome, str], tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import sda_engine.generate.session as session_module
    from sda_audio.progress import ProgressEvent

    calls = {"load": 0, "vocoder": 0, "hash": 0}

    def counting(name: str, original):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return original(*args, **kwargs)
        return wrapper

    for what, attribute in (("load", "load_model"), ("vocoder", "select_vocoder"), ("hash", "file_sha256")):
        monkeypatch.setattr(session_module, attribute, counting(what, getattr(session_module, attribute)))
    home, name = vae_model
    session = ModelSession.open(name, "cpu", home)
    events: list[ProgressEvent] = []
    request = GenerationRequest().replace(duration=0.5, channels="mono")
    paths = [generate_files(session, request.replace(seed=s), tmp_path / f"{s}.wav", on_event=events.append)[0].path
             for s in (1, 2, 3)]
    assert calls == {"load": 1, "vocoder": 1, "hash": 1}
    assert all(p.is_file() for p in paths)
    jobs = {e.job for e in events}
    assert {"generate", "generate.sample", "generate.vocode"} <= jobs
    assert all(e.total and 0 <= e.step <= e.total for e in events if e.kind in ("progress", "done"))
    # the warm session gives what a cold generate() gives for the same request
    cold = generate(name, request=request.replace(seed=2), home=home, output=tmp_path / "cold.wav")[0]
    assert np.array_equal(sf.read(cold.path)[0], sf.read(paths[1])[0])


def test_sketches_come_back_and_render_again(vae_model: tuple[SdaHome, str]) -> None:
    home, name = vae_model
    session = ModelSession.open(name, "cpu", home)
    request = GenerationRequest().replace(duration=1.0, seed=5, channels="mono")
    renderer = Renderer(session, request)
    sketch = renderer.sample()
    assert sketch.kind == "latents" and sketch.seed == 5 and sketch.samples == SR
    a = renderer.render(sketch).samples
    b = renderer.render(sketch).samples
    assert np.array_equal(a, b) and a.shape == (1, SR)
    encoded = encode_audio(session, a[0], SR)
    assert encoded.kind == "latents" and encoded.seed is None and encoded.samples == SR
    again = Renderer(session, request.replace(channels="stereo", stereo_method="dual")).render(encoded)
    assert again.samples.shape == (2, SR) and "stereo_method" in again.notes and again.seed is None


def test_density_is_steered_without_a_fit_and_other_controls_need_one(vae_model: tuple[SdaHome, str],
                                                                       tmp_path: Path) -> None:
    home, name = vae_model
    session = ModelSession.open(name, "cpu", home)
    sparse = generate_files(session, GenerationRequest().replace(duration=0.5, density=-0.8, channels="mono"),
                            tmp_path / "sparse.wav")[0]
    assert sparse.notes["controls"] == {"density": "steered"}
    side = json.loads(sparse.sidecar.read_text())["metadata"]
    assert side["notes"]["controls"] == {"density": "steered"} and side["request"]["control"]["controls"] == {
        "density": -0.8}
    with pytest.raises(SdaError, match="no fitted controls.*brightness"):
        generate_files(session, GenerationRequest().replace(duration=0.5, brightness=0.5), tmp_path / "b.wav")
    assert not (tmp_path / "b.wav").exists()  # refused before any work, nothing left behind


def test_a_vae_session_refuses_code_grids(vae_model: tuple[SdaHome, str]) -> None:
    home, name = vae_model
    session = ModelSession.open(name, "cpu", home)
    with pytest.raises(SdaError, match="VAE model: it has no codes"):
        sketch_from_codes(session, torch.zeros(4, 10, dtype=torch.long))


def test_parallel_chunk_vocoding_equals_sequential(vae_model: tuple[SdaHome, str]) -> None:
    from sda_engine.generate import rendering

    home, name = vae_model
    session = ModelSession.open(name, "cpu", home)
    vocoder = session.vocoder("corpus")[0]
    assert vocoder.thread_safe
    renderer = Renderer(session, GenerationRequest().replace(duration=13.0, seed=2, channels="mono"))  # 3 chunks
    mel = renderer.mel(renderer.sample())
    events: list = []
    sequential, seams = rendering.vocode_chunks(vocoder, mel)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        parallel, seams2 = rendering.vocode_chunks(vocoder, mel, on_event=events.append)
    finally:
        torch.set_num_threads(threads)
    assert torch.get_num_threads() == threads and len(seams) == 2 and seams == seams2
    np.testing.assert_array_equal(sequential, parallel)
    assert [e.step for e in events if e.kind == "progress"] == [1, 2, 3]


def test_the_seed_is_stored_once_and_the_history_gives_the_request_back(vae_model: tuple[SdaHome, str],
                                                                        tmp_path: Path) -> None:
    from sda_engine.store.history import History
    from sda_engine.store.presets import PresetStore

    home, name = vae_model
    out = generate(name, 0.5, home=home, output=tmp_path / "once.wav", seed=21, variations=2, channels="mono",
                   temperature=0.9, density=-0.3)
    second = out[1]
    meta = json.loads(second.sidecar.read_text())["metadata"]
    assert meta["request"]["render"]["seed"] == 22 and meta["request"]["render"]["variations"] == 1
    assert "seed" not in meta and "seed" not in meta["parameters"] and "22" not in meta["comment"]
    assert meta["parameters"]["temperature"] == 0.9 and meta["parameters"]["variation"] == 2
    assert GenerationRequest.from_dict(meta["request"]) == second.request
    entry = History(home).show(second.history_id)
    assert entry.seed == 22 and entry.audio_path == second.path.resolve()
    assert entry.request() == second.request and entry.params["run"]["variation"] == 2
    preset = PresetStore(home).save("again", entry.request().to_flat())  # sda presets save --from-history
    assert preset.request() == second.request
    again = generate(name, home=home, output=tmp_path / "again.wav", request=preset.request())[0]
    assert np.array_equal(sf.read(again.path)[0], sf.read(second.path)[0])


def test_an_existing_file_is_refused_without_overwrite(vae_model: tuple[SdaHome, str], tmp_path: Path) -> None:
    from sda_engine.store.history import History

    home, name = vae_model
    session = ModelSession.open(name, "cpu", home)
    request = GenerationRequest().replace(duration=0.5, channels="mono")
    first = generate_files(session, request, tmp_path / "take.wav")[0]
    before = first.path.read_bytes()
    rows = len(History(home).list(limit=None))
    with pytest.raises(SdaError, match="already there") as refused:
        generate_files(session, request.replace(seed=9), tmp_path / "take.wav")
    assert refused.value.action == "overwrite" and first.path.read_bytes() == before
    assert len(History(home).list(limit=None)) == rows
    (tmp_path / "lonely.wav.json").write_text("{}")  # a sidecar without its audio is refused too
    with pytest.raises(SdaError, match="already there"):
        generate_files(session, request, tmp_path / "lonely.wav")
    replaced = generate_files(session, request.replace(seed=9), tmp_path / "take.wav", overwrite=True)[0]
    assert replaced.path == first.path and replaced.path.read_bytes() != before
    assert json.loads(replaced.sidecar.read_text())["metadata"]["request"]["render"]["seed"] == 9
    fresh = generate_files(session, request)[0]  # a name sda picks in the history folder: never refused
    assert fresh.path.parent.parent == home.history_dir
