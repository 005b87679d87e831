"""Training orchestration: refusal of bad data, exact resume, kill -9 resume, cancel -> resume -> generate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sda_audio.errors import Cancelled, SdaError
from sda_audio.progress import CancelToken, ProgressEvent
from sda_engine.store.home import SdaHome
from sda_engine.train import TrainOptions, TrainResult, plan, run
from sda_engine.train.checkpoints import CheckpointManager
from sda_engine.train.sizes import choose_size

SR = 44100
FAST = dict(size="tiny", augment=False, batch_size=2, preview_every=1000, controls=False)


def _train(dataset: Path, name: str, *, home: SdaHome | Path, on_event=None, cancel=None, **options) -> TrainResult:
    """``sda train``: plan the options, then run the request."""
    def events(event: ProgressEvent) -> None:
        if on_event is not None:
            on_event(event)

    opts = TrainOptions(name=name, dataset=str(dataset), **options)
    return run(plan(opts, home, events), events, cancel, home)


def generate(model: str, duration: float | None = None, *, home, output=None, device: str = "auto", **fields):
    """``sda generate`` in one call: open ``model``, generate the defaults with ``fields`` on top, write."""
    from sda_engine.generate.pipeline import generate_files
    from sda_engine.generate.request import GenerationRequest
    from sda_engine.generate.session import ModelSession

    request = GenerationRequest().replace(duration=duration, **fields)
    return generate_files(ModelSession.open(model, device, home), request, output)


def _dataset(folder: Path, n: int = 6, seconds: float = 1.6) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        t = np.arange(int(SR * (seconds + 0.2 * i))) / SR
        env = 0.5 + 0.5 * np.sin(2 * np.pi * (1 + i) * t)
        x = 0.3 * np.sin(2 * np.pi * 110 * (i + 1) * t) * env + 0.01 * rng.standard_normal(t.size)
        sf.write(folder / f"take{i}.wav", x.astype(np.float32), SR)
    return folder


def test_auto_size_follows_device_and_dataset() -> None:
    assert choose_size(8, 60.0, "cpu")[0] == "tiny"
    assert choose_size(80, 900.0, "cpu")[0] == "small"
    assert choose_size(8, 60.0, "cuda")[0] == "full"


def test_a_dataset_with_errors_is_refused_with_the_report(tmp_path: Path) -> None:
    folder = _dataset(tmp_path / "ds", n=2)
    with pytest.raises(SdaError) as err:
        _train(folder, "bad", kind="vae", home=tmp_path / "home", steps=2, **FAST)
    assert "usable file" in str(err.value) and "ds" in str(err.value)


def test_missing_checkpoint_to_resume_is_a_clear_error(tmp_path: Path) -> None:
    folder = _dataset(tmp_path / "ds")
    with pytest.raises(SdaError, match="no checkpoint to resume"):
        _train(folder, "nothing", kind="vae", home=tmp_path / "home", resume=True, **FAST)


@pytest.mark.parametrize("kind", ["vae", "rvq"])
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path: Path, kind: str) -> None:
    folder = _dataset(tmp_path / "ds")
    home = SdaHome(tmp_path / "home")
    args = dict(kind=kind, home=home, steps=8, prior_steps=4, eval_every=4, checkpoint_every=4, seed=3, **FAST)
    straight = _train(folder, "straight", **args)

    token = CancelToken()

    def stop_at_4(event: ProgressEvent) -> None:
        if event.job == "train.autoencoder" and event.kind == "metrics" and event.step == 4:
            token.cancel()

    with pytest.raises(Cancelled):
        _train(folder, "split", on_event=stop_at_4, cancel=token, **args)
    assert not home.model_path("split").exists()
    resumed = _train(folder, "split", resume=True, **args)
    assert resumed.stages["autoencoder"]["resumed_from"] == 4
    a, b = straight.losses("autoencoder"), resumed.losses("autoencoder")
    assert len(a) == len(b) == 8
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(straight.losses("prior"), resumed.losses("prior"), rtol=1e-5, atol=1e-6)
    assert [e["val_loss"] for e in straight.evals] == pytest.approx([e["val_loss"] for e in resumed.evals], rel=1e-5)
    assert resumed.model_path is not None and resumed.model_path.is_file()


_CHILD = """
import sys
from sda_engine.train import TrainOptions, plan, run
options = TrainOptions(name="killed", dataset=sys.argv[1], kind="vae", size="tiny", augment=False, batch_size=2,
                       preview_every=1000, steps=40, eval_every=2, checkpoint_every=2, resume=len(sys.argv) > 3)
run(plan(options, sys.argv[2]), home=sys.argv[2])
"""


def test_kill_9_loses_at_most_the_steps_since_the_last_checkpoint(tmp_path: Path) -> None:
    folder = _dataset(tmp_path / "ds")
    home = tmp_path / "home"
    manager = CheckpointManager(SdaHome(home).checkpoint_dir("killed"))
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(folder), str(home)], env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            latest = manager.latest_path()
            if latest is not None and json.loads(latest.read_text())["step"] >= 4:
                break
            assert child.poll() is None, "training finished or crashed before it could be killed"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    last = manager.load_latest()
    assert last is not None and last.step >= 4
    result = _train(folder, "killed", kind="vae", home=home, resume=True, steps=40, eval_every=2,
                    checkpoint_every=2, **FAST)
    assert result.stages["autoencoder"]["resumed_from"] == last.step
    assert len(result.losses("autoencoder")) == 40
    assert [h["loss"] for h in last.meta["loop"]["history"]] == result.losses("autoencoder")[: last.step]


def test_rvq_train_cancel_resume_generate_export(tmp_path: Path) -> None:

    folder = _dataset(tmp_path / "ds")
    home = SdaHome(tmp_path / "home")
    token = CancelToken()
    events: list[ProgressEvent] = []

    def cancel_in_prior(event: ProgressEvent) -> None:
        events.append(event)
        if event.job == "train.prior" and event.kind == "metrics" and event.step == 2:
            token.cancel()

    # from scratch: the loudness check below is about the engine's density steering on a 3-step model, whose
    # sound a base would change (the base's own path: test_base_training.py)
    args = dict(kind="rvq", home=home, steps=3, prior_steps=4, eval_every=2, checkpoint_every=2,
                **{**FAST, "preview_every": 2, "controls": True, "base": "none"})
    with pytest.raises(Cancelled):
        _train(folder, "loop", on_event=cancel_in_prior, cancel=token, **args)
    kinds = {e.kind for e in events}
    assert {"start", "progress", "metrics", "checkpoint"} <= kinds
    health = [e.data["codebook_health"] for e in events if e.kind == "metrics" and "codebook_health" in e.data]
    assert health and {"level", "utilisation", "perplexity", "dead_codes"} <= set(health[0][0])
    progress = [e for e in events if e.kind == "progress" and e.job == "train.autoencoder"]
    assert {"loss", "lr", "eta_seconds"} <= set(progress[0].metrics)
    previews = [Path(e.data["path"]) for e in events if e.kind == "preview"]
    assert previews and all(p.is_file() and p.parent == home.previews_dir / "loop" for p in previews)
    assert "step0000002" in previews[0].name and sf.info(previews[0]).samplerate == SR

    result = _train(folder, "loop", resume=True, **args)
    assert result.stages["prior"]["resumed_from"] == 2
    assert len(result.losses("autoencoder")) == 3 and len(result.losses("prior")) == 4
    assert result.model_path == home.model_path("loop") and result.corpus_index is not None

    out = generate("loop", 1.5, seed=4, home=home, output=tmp_path / "out" / "take.flac", format="flac",
                   sample_rate=48000, bit_depth=24)
    assert len(out) == 1
    audio, sr = sf.read(out[0].path)
    assert sr == 48000 and abs(len(audio) - 1.5 * 48000) <= 2 and np.abs(audio).max() > 1e-4
    side = json.loads(out[0].sidecar.read_text())
    assert json.dumps(side).count(out[0].model_sha256) >= 1 and "corpus" in json.dumps(side)

    # the control stage ran after the prior (once, on resume too) and its section is in the model file
    assert [e.message for e in events if e.job == "train" and e.kind == "start"][0]
    assert result.stages["control"]["realisation"]
    moved = generate("loop", 1.0, seed=4, home=home, output=tmp_path / "out" / "bright.wav", brightness=0.8,
                     warmth=-0.5)[0]
    assert set(moved.notes["controls"]) == {"brightness", "warmth"}
    assert set(moved.notes["controls"].values()) <= {"latent", "steered", "assisted"}
    # density above 0 on an RVQ model plays a longer sketch faster, at the same loudness
    plain = generate("loop", 1.0, seed=4, home=home, output=tmp_path / "out" / "plain.wav", channels="mono",
                     bit_depth=32)[0]
    dense = generate("loop", 1.0, seed=4, home=home, output=tmp_path / "out" / "dense.wav", channels="mono",
                     bit_depth=32, density=1.0)[0]
    assert dense.notes["controls"] == {"density": "steered"}
    a, b = sf.read(plain.path)[0], sf.read(dense.path)[0]
    assert not np.allclose(a, b) and abs(np.sqrt(np.mean(a**2)) / np.sqrt(np.mean(b**2)) - 1) < 0.25


def test_growing_replays_old_files_and_reports_reconstruction(tmp_path: Path) -> None:
    from sda_models.model_file import read_metadata

    folder = _dataset(tmp_path / "ds")
    home = SdaHome(tmp_path / "home")
    first = _train(folder, "grow", kind="vae", home=home, steps=2, eval_every=2, checkpoint_every=2, **FAST)
    lineage = read_metadata(first.model_path)["lineage"]["id"]
    with pytest.raises(SdaError, match="already exists"):
        _train(folder, "grow", kind="vae", home=home, steps=2, **FAST)
    new = _dataset(tmp_path / "new", n=5, seconds=2.0)
    grown = _train(folder, "grow", kind="vae", home=home, add=tuple(str(p) for p in sorted(new.iterdir())), steps=2,
                   eval_every=2, checkpoint_every=2, **FAST)
    assert grown.recon_before is not None and grown.recon_after is not None
    assert np.isfinite(grown.recon_before) and np.isfinite(grown.recon_after)
    meta = read_metadata(grown.model_path)
    assert meta["dataset"]["n_files"] == 11  # the 6 old files are replayed with the 5 new ones
    assert meta["lineage"]["id"] == lineage and meta["lineage"]["parent_sha256"]


def test_train_vocoder_adds_a_hifigan_the_generator_uses(tmp_path: Path) -> None:
    from sda_engine.train import VocoderPlan, train_vocoder

    folder = _dataset(tmp_path / "ds")
    home = SdaHome(tmp_path / "home")
    _train(folder, "voc", kind="vae", home=home, steps=2, eval_every=2, checkpoint_every=2, **FAST)
    events: list[ProgressEvent] = []
    path = train_vocoder("voc", VocoderPlan(minutes=5, max_steps=2), home=home, on_event=events.append)
    assert any(e.job == "train.vocoder" and e.kind == "done" for e in events)
    out = generate("voc", 0.5, home=home, vocoder="hifigan", output=tmp_path / "h.wav")[0]
    assert out.vocoder == "hifigan" and path.is_file()
    # two steps of training leave it below the Griffin-Lim floor, so auto passes it over and says why
    auto = generate("voc", 0.5, home=home, output=tmp_path / "a.wav")[0]
    assert auto.vocoder == "corpus" and "Griffin-Lim floor" in auto.vocoder_reason


def test_ctrl_c_saves_a_checkpoint_and_cancels_cleanly(tmp_path: Path) -> None:
    folder = _dataset(tmp_path / "ds")
    home = SdaHome(tmp_path / "home")

    def press_ctrl_c(event: ProgressEvent) -> None:
        if event.job == "train.autoencoder" and event.kind == "metrics" and event.step == 2:
            os.kill(os.getpid(), signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(Cancelled, match="step 2"):
        _train(folder, "ctrlc", kind="vae", home=home, steps=6, eval_every=2, checkpoint_every=100,
               on_event=press_ctrl_c, **FAST)
    latest = CheckpointManager(home.checkpoint_dir("ctrlc")).load_latest()
    assert latest is not None and latest.step == 2
    assert signal.getsignal(signal.SIGINT) is before  # the caller's handler is back (SIG_IGN under nohup)


def test_max_minutes_is_a_wall_clock_budget(tmp_path: Path) -> None:
    folder = _dataset(tmp_path / "ds")
    result = _train(folder, "budget", kind="vae", home=tmp_path / "home", steps=500, eval_every=5,
                    checkpoint_every=100, max_minutes=0.002, **FAST)
    assert result.stages["autoencoder"]["stop_reason"] == "time budget reached"
    assert 1 <= result.stages["autoencoder"]["steps"] < 500 and result.model_path is not None


def test_the_time_budget_covers_the_whole_job_and_the_plan_says_how(tmp_path: Path) -> None:
    from sda_engine.train import JobClock

    folder = _dataset(tmp_path / "ds")
    req = plan(TrainOptions(dataset=str(folder), kind="rvq", size="tiny", device="cpu", max_minutes=2.0,
                            vocoder_minutes=0.5))
    split = req.budget_split
    assert list(split) == ["setup", "autoencoder", "prior", "control", "vocoder", "write"]
    assert sum(split.values()) == pytest.approx(120.0, abs=0.01) and split["vocoder"] == 30.0
    assert split["autoencoder"] == pytest.approx(1.5 * split["prior"], rel=1e-3)
    clock = JobClock(req, spent=10.0)  # resumed after 10 s: the job ends 110 s from now
    end = clock.start + 120.0
    assert clock.deadline("write") == pytest.approx(end, abs=0.5)
    # the prior shares what the fixed parts after it leave with the vocoder, in the plan's proportions
    left = end - split["control"] - split["write"] - clock.start - 10.0
    prior_share = split["prior"] / (split["prior"] + split["vocoder"])
    assert clock.deadline("prior") - clock.start - 10.0 == pytest.approx(left * prior_share, abs=0.5)
    # no minutes and no steps: the default budget decides, by time; steps alone: no budget, by steps
    default = plan(TrainOptions(dataset=str(folder), size="tiny", device="cpu"))
    assert default.max_minutes == 10.0 and sum(default.budget_split.values()) == pytest.approx(600.0, abs=0.01)
    assert default.training.schedule == "time" and default.prior_training is not None
    assert default.prior_training.schedule == "time" and default.patience == 10
    stepped = plan(TrainOptions(dataset=str(folder), size="tiny", device="cpu", steps=50, prior_steps=50))
    assert stepped.budget == () and stepped.training.schedule == "steps" and stepped.patience == 6
    mixed = plan(TrainOptions(dataset=str(folder), size="tiny", device="cpu", steps=50, max_minutes=1.0))
    assert mixed.training.schedule == "steps" and mixed.prior_training is not None
    assert mixed.prior_training.schedule == "time"  # the prior's steps were not given: its share of the time
    with pytest.raises(SdaError, match="do not fit"):
        plan(TrainOptions(dataset=str(folder), size="tiny", device="cpu", max_minutes=1.0, vocoder_minutes=1.0))

    events: list[ProgressEvent] = []
    budget = 0.25  # minutes for everything: reading, indexing, the autoencoder and writing the model
    result = _train(folder, "whole", kind="vae", home=tmp_path / "home", steps=100000, eval_every=1000,
                    checkpoint_every=1000, max_minutes=budget, on_event=events.append, **FAST)
    start = next(e for e in events if e.job == "train" and e.kind == "start")
    assert set(start.data["budget"]) == {"setup", "autoencoder", "write"}
    assert any(e.job == "train" and e.kind == "info" and "for the whole job" in e.message for e in events)
    assert result.stages["autoencoder"]["stop_reason"] == "time budget reached"
    # the job ends about on time (the last step and the writing may run over a little on a busy machine)
    assert result.seconds < budget * 60 + 25


def test_train_request_round_trips_and_reads_the_old_setup_dict(tmp_path: Path) -> None:
    from sda_engine.train.request import TrainRequest

    folder = _dataset(tmp_path / "ds")
    req = plan(TrainOptions(dataset=str(folder), kind="rvq", size="tiny", device="cpu", seed=4, steps=5,
                            max_minutes=2.0))
    assert req.size == "tiny" and req.training.max_steps == 5 and req.stages == ("corpus_index", "autoencoder", "prior", "control")
    assert TrainRequest.from_dict(json.loads(json.dumps(req.to_dict()))) == req
    old = req.to_dict()
    for key in ("version", "vocoder_minutes", "vocoder_steps"):
        old.pop(key)
    old["preset"], old["preset_reason"] = old.pop("size"), old.pop("size_reason")
    assert TrainRequest.from_checkpoint_meta({"setup": old}) == req
    with pytest.raises(SdaError, match="unknown model size"):
        req.replace(size="huge")
    with pytest.raises(SdaError, match="unknown model size"):
        plan(TrainOptions(dataset=str(folder), kind="rvq", size="huge"))
    auto = plan(TrainOptions(dataset=str(folder), kind="vae", size="auto", device="cpu"))
    assert auto.size == "tiny" and "small dataset" in auto.size_reason and auto.stages[-2:] == ("autoencoder", "control")


def test_a_checkpoint_with_the_old_setup_dict_resumes_exactly(tmp_path: Path) -> None:
    folder = _dataset(tmp_path / "ds")
    home = SdaHome(tmp_path / "home")
    args = dict(kind="vae", home=home, steps=6, eval_every=3, checkpoint_every=3, seed=2, **FAST)
    straight = _train(folder, "straight", **args)
    token = CancelToken()

    def stop_at_3(event: ProgressEvent) -> None:
        if event.job == "train.autoencoder" and event.kind == "metrics" and event.step == 3:
            token.cancel()

    with pytest.raises(Cancelled) as err:
        _train(folder, "old", on_event=stop_at_3, cancel=token, **args)
    assert err.value.action == "resume" and "--" not in str(err.value)
    latest = CheckpointManager(home.checkpoint_dir("old")).latest_path()
    meta = json.loads(latest.read_text())
    request = meta.pop("request")
    meta.pop("elapsed_seconds")
    meta["setup"] = {"files": request["files"], "old_files": request["old_files"], "preset": request["size"],
                     "preset_reason": request["size_reason"], "kind": request["kind"], "seed": request["seed"],
                     "autoencoder": request["autoencoder"], "training": request["training"], "prior": None,
                     "prior_training": None, "patience": request["patience"], "max_minutes": None,
                     "grown_from": None, "lineage": None}
    latest.write_text(json.dumps(meta))
    resumed = _train(folder, "old", resume=True, **args)
    assert resumed.size == "tiny" and resumed.request is not None and resumed.request.seed == 2
    assert resumed.stages["autoencoder"]["resumed_from"] == 3
    assert resumed.losses("autoencoder") == straight.losses("autoencoder")


def test_the_model_time_budget_counts_across_resumes(tmp_path: Path) -> None:
    folder = _dataset(tmp_path / "ds")
    home = SdaHome(tmp_path / "home")
    args = dict(kind="vae", home=home, steps=50, eval_every=2, checkpoint_every=100, max_minutes=30.0, **FAST)
    token = CancelToken()

    def stop_at_2(event: ProgressEvent) -> None:
        if event.job == "train.autoencoder" and event.kind == "metrics" and event.step == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        _train(folder, "budget", on_event=stop_at_2, cancel=token, **args)
    latest = CheckpointManager(home.checkpoint_dir("budget")).latest_path()
    meta = json.loads(latest.read_text())
    assert 0 < meta["elapsed_seconds"] < 30 * 60
    meta["elapsed_seconds"] = 30 * 60.0  # as if the earlier runs had spent the whole budget
    latest.write_text(json.dumps(meta))
    events: list[ProgressEvent] = []
    resumed = _train(folder, "budget", resume=True, on_event=events.append, **args)
    assert resumed.stages["autoencoder"]["stop_reason"] == "time budget reached"
    assert resumed.stages["autoencoder"]["steps"] == 2
    assert not [e for e in events if e.job == "train.autoencoder" and e.kind == "progress"]
