"""Per-model HiFi-GAN training: exact resume, cancel/Ctrl-C checkpoints, time budget across resumes, and the
trained vocoder used by generation."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from sda_audio.errors import Cancelled, SdaError
from sda_audio.progress import CancelToken, ProgressEvent
from sda_engine.store.home import SdaHome
from sda_engine.train import TrainOptions, VocoderPlan, plan, run, train_vocoder, vocoder_checkpoint_dir
from sda_engine.train.checkpoints import CheckpointManager
from sda_models.vocoders.hifigan import TINY_HIFIGAN
from sda_models.vocoders.hifigan_discriminators import TINY_DISCRIMINATORS
from sda_models.vocoders.hifigan_training import HifiGanTrainingConfig

SR = 44100
# warm-up of 3 steps: a 6-step run crosses into the adversarial objective after the resume point
TINY = HifiGanTrainingConfig(generator=TINY_HIFIGAN, discriminators=TINY_DISCRIMINATORS, warmup_steps=3)
VOC = dict(minutes=10.0, device="cpu", seed=5, config=TINY, batch_size=2, log_every=1)
LOSSES = ("loss_g", "mel_l1", "stft", "loss_d", "adv", "fm")


def _train_vocoder(model: str, *, minutes: float | None, max_steps: int | None = None, batch_size: int = 4,
                   log_every: int = 10, **kwargs) -> Path:
    """``sda train-vocoder``: the budget and the batch shape go in a :class:`VocoderPlan`."""
    vocoder_plan = VocoderPlan(minutes=minutes, max_steps=max_steps, batch_size=batch_size, log_every=log_every)
    return train_vocoder(model, vocoder_plan, **kwargs)


def generate(model: str, duration: float | None = None, *, home, output=None, device: str = "auto", **fields):
    """``sda generate`` in one call: open ``model``, generate the defaults with ``fields`` on top, write."""
    from sda_engine.generate.pipeline import generate_files
    from sda_engine.generate.request import GenerationRequest
    from sda_engine.generate.session import ModelSession

    request = GenerationRequest().replace(duration=duration, **fields)
    return generate_files(ModelSession.open(model, device, home), request, output)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> SdaHome:
    """A tiny VAE model 'voc', trained with ``vocoder_minutes`` > 0 (the ``sda train`` vocoder path)."""
    root = tmp_path_factory.mktemp("voc")
    folder = root / "ds"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        t = np.arange(int(SR * (1.2 + 0.2 * i))) / SR
        x = 0.3 * np.sin(2 * np.pi * 110 * (i + 1) * t) + 0.01 * rng.standard_normal(t.size)
        sf.write(folder / f"take{i}.wav", x.astype(np.float32), SR)
    h = SdaHome(root / "home")
    events: list[ProgressEvent] = []
    options = TrainOptions(name="voc", dataset=str(folder), kind="vae", size="tiny", controls=False, augment=False,
                           batch_size=2, preview_every=1000, steps=2, eval_every=2, checkpoint_every=2,
                           vocoder_minutes=0.0005)
    result = run(plan(options, h, events.append), events.append, home=h)
    assert result.vocoder == "hifigan"
    assert any(e.job == "train.vocoder" and e.kind == "done" for e in events)
    return h


def _per_step(events: list[ProgressEvent]) -> dict[int, dict[str, float]]:
    return {e.step: {k: e.metrics[k] for k in LOSSES if k in e.metrics}
            for e in events if e.job == "train.vocoder" and e.kind == "progress"}


def _vocoder_tensors(home: SdaHome) -> dict[str, torch.Tensor]:
    from sda_models.model_file import load_model

    bundle = load_model(home.model_path("voc"), "cpu")
    assert bundle.vocoder_tensors, "the model file has no vocoder.* section"
    return dict(bundle.vocoder_tensors)


def test_train_model_stores_a_vocoder(home: SdaHome) -> None:
    from sda_models.model_file import read_metadata

    meta = read_metadata(home.model_path("voc"))["vocoder"]
    assert meta["kind"] == "hifigan" and meta["steps"] >= 1 and meta["loss_curve"]
    assert _vocoder_tensors(home)
    check = meta["validation"]  # a few steps of training cannot beat the Griffin-Lim floor
    assert check["beats_floor"] is False and check["clips"] >= 1
    assert check["mel_l1"] > check["floor_mel_l1"] > 0 and check["mrstft"] > check["floor_mrstft"] > 0


def test_auto_passes_over_a_vocoder_below_the_floor(home: SdaHome) -> None:

    [result] = generate("voc", duration=1.0, output=home.root / "auto.wav", home=home, seed=1)
    assert result.vocoder == "corpus" and "does not yet beat the Griffin-Lim floor" in result.vocoder_reason


def test_cancel_then_resume_gives_the_same_losses_as_a_straight_run(home: SdaHome) -> None:
    straight: list[ProgressEvent] = []
    _train_vocoder("voc", max_steps=6, home=home, on_event=straight.append, **VOC)
    a = _per_step(straight)
    assert sorted(a) == [1, 2, 3, 4, 5, 6] and "loss_d" in a[6] and "loss_d" not in a[2]
    progress = [e for e in straight if e.kind == "progress" and e.job == "train.vocoder"]
    assert progress[0].total == 6 and {"eta_seconds", "steps_per_second", "loss", "lr"} <= set(progress[0].metrics)
    assert [e.kind for e in straight if e.job == "train.vocoder"][0] == "start"
    straight_weights = _vocoder_tensors(home)

    token = CancelToken()
    first: list[ProgressEvent] = []

    def stop_at_3(event: ProgressEvent) -> None:
        first.append(event)
        if event.kind == "progress" and event.step == 3:
            token.cancel()

    with pytest.raises(Cancelled, match="step 3"):
        _train_vocoder("voc", max_steps=6, home=home, on_event=stop_at_3, cancel=token, **VOC)
    saved = [e for e in first if e.kind == "checkpoint"]
    assert saved and saved[-1].step == 3 and Path(saved[-1].data["path"]).is_file()
    latest = CheckpointManager(vocoder_checkpoint_dir(home, "voc")).load_latest()
    assert latest is not None and latest.step == 3 and latest.meta["elapsed_seconds"] > 0
    assert {"rng.torch_cpu", "rng.sampler"} <= set(latest.tensors)

    second: list[ProgressEvent] = []
    # a resumed run keeps the seed it was started with (the CLI's default --seed differs)
    _train_vocoder("voc", max_steps=6, home=home, on_event=second.append, resume=True, **{**VOC, "seed": 0})
    assert any(e.kind == "info" and "resuming" in e.message for e in second)
    b = {**_per_step(first), **_per_step(second)}
    assert sorted(b) == [1, 2, 3, 4, 5, 6]
    for step in range(1, 7):
        assert set(a[step]) == set(b[step])
        for key in a[step]:
            assert b[step][key] == pytest.approx(a[step][key], rel=1e-5, abs=1e-7), (step, key)
    resumed_weights = _vocoder_tensors(home)
    assert set(resumed_weights) == set(straight_weights)
    for key, value in straight_weights.items():
        torch.testing.assert_close(resumed_weights[key], value, rtol=1e-5, atol=1e-6)


def test_ctrl_c_saves_a_checkpoint_and_cancels(home: SdaHome) -> None:
    def press_ctrl_c(event: ProgressEvent) -> None:
        if event.kind == "progress" and event.step == 2:
            os.kill(os.getpid(), signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(Cancelled, match="step 2"):
        _train_vocoder("voc", max_steps=6, home=home, on_event=press_ctrl_c, **VOC)
    latest = CheckpointManager(vocoder_checkpoint_dir(home, "voc")).load_latest()
    assert latest is not None and latest.step == 2
    assert signal.getsignal(signal.SIGINT) is before  # the caller's handler is back (SIG_IGN under nohup)


def test_the_time_budget_counts_across_resumes(home: SdaHome) -> None:
    token = CancelToken()

    def stop_at_2(event: ProgressEvent) -> None:
        if event.kind == "progress" and event.step == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        _train_vocoder("voc", max_steps=6, home=home, on_event=stop_at_2, cancel=token, **VOC)
    spent = CheckpointManager(vocoder_checkpoint_dir(home, "voc")).load_latest().meta["elapsed_seconds"]
    events: list[ProgressEvent] = []
    budget = {**VOC, "minutes": spent / 60.0 * 0.9}  # already spent: no further step
    _train_vocoder("voc", max_steps=6, home=home, on_event=events.append, resume=True, **budget)
    done = [e for e in events if e.kind == "done" and e.job == "train.vocoder"][-1]
    assert done.step == 2 and done.data["stop_reason"] == "time budget reached"
    assert not [e for e in events if e.kind == "progress" and e.job == "train.vocoder"]


def test_resume_without_a_checkpoint_is_a_clear_error(home: SdaHome) -> None:
    CheckpointManager(vocoder_checkpoint_dir(home, "voc")).clear()
    with pytest.raises(SdaError, match="no vocoder checkpoint to resume") as err:
        _train_vocoder("voc", max_steps=2, home=home, resume=True, **VOC)
    assert err.value.action == "restart" and "from scratch" in str(err.value) and "--" not in str(err.value)


def test_resume_with_other_settings_is_refused(home: SdaHome) -> None:
    token = CancelToken()

    def stop_at_1(event: ProgressEvent) -> None:
        if event.kind == "progress":
            token.cancel()

    with pytest.raises(Cancelled):
        _train_vocoder("voc", max_steps=4, home=home, on_event=stop_at_1, cancel=token, **VOC)
    other = {**VOC, "config": HifiGanTrainingConfig(generator=TINY_HIFIGAN, discriminators=TINY_DISCRIMINATORS,
                                                    warmup_steps=1)}
    with pytest.raises(SdaError, match="different training settings"):
        _train_vocoder("voc", max_steps=4, home=home, resume=True, **other)


def test_generation_uses_the_trained_vocoder(home: SdaHome, tmp_path: Path) -> None:
    from sda_models.model_file import read_metadata

    with pytest.raises(SdaError, match="no limit"):
        _train_vocoder("voc", home=home, **{**VOC, "minutes": None})
    _train_vocoder("voc", max_steps=2, home=home, **{**VOC, "minutes": None})  # steps alone, no time limit
    meta = read_metadata(home.model_path("voc"))["vocoder"]
    assert meta["steps"] == 2 and meta["training"]["warmup_steps"] == 3 and len(meta["loss_curve"]) == 2
    out = generate("voc", 0.5, seed=1, home=home, vocoder="hifigan", device="cpu", output=tmp_path / "h.wav")[0]
    assert out.vocoder == "hifigan"
    audio, sr = sf.read(out.path)
    assert sr == 48000 and np.isfinite(audio).all() and np.abs(audio).max() > 0


def test_vocoder_segments_are_random_parts_of_the_sampled_windows() -> None:
    from sda_engine.train.vocoder_stage import crop_segments

    windows = torch.arange(4 * 100, dtype=torch.float32).reshape(4, 100)
    crops = crop_segments(windows, 30, torch.Generator().manual_seed(1))
    assert crops.shape == (4, 30)
    starts = [int(c[0].item()) - 100 * i for i, c in enumerate(crops)]
    for i, (crop, start) in enumerate(zip(crops, starts, strict=True)):
        assert 0 <= start <= 70
        assert torch.equal(crop, windows[i, start:start + 30])  # a contiguous part of its own window
    many = crop_segments(windows.repeat(50, 1), 30, torch.Generator().manual_seed(2))
    offsets = {int(row[0].item()) % 100 for row in many}
    assert max(offsets) > 60 and min(offsets) < 10  # tails are reached, not only the starts
    again = crop_segments(windows, 30, torch.Generator().manual_seed(1))
    assert torch.equal(again, crops)  # the seed decides
    assert torch.equal(crop_segments(windows, 100, torch.Generator()), windows)


def test_a_vocoder_checkpoint_of_the_two_loop_era_resumes(home: SdaHome) -> None:
    """Vocoder checkpoints written before the one training loop kept history/finished at the top level."""
    import json

    from sda_models.model_file import read_metadata

    token = CancelToken()

    def stop_at_2(event: ProgressEvent) -> None:
        if event.job == "train.vocoder" and event.kind == "progress" and event.step == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        _train_vocoder("voc", max_steps=4, home=home, on_event=stop_at_2, cancel=token, **VOC)
    latest = CheckpointManager(vocoder_checkpoint_dir(home, "voc")).latest_path()
    meta = json.loads(latest.read_text())
    loop = meta.pop("loop")
    meta.update(history=loop["history"], finished=False)
    latest.write_text(json.dumps(meta))
    events: list[ProgressEvent] = []
    _train_vocoder("voc", max_steps=4, home=home, on_event=events.append, resume=True, **VOC)
    assert [e.step for e in events if e.job == "train.vocoder" and e.kind == "progress"] == [3, 4]
    curve = read_metadata(home.model_path("voc"))["vocoder"]["loss_curve"]
    assert [p["step"] for p in curve] == [1, 2, 3, 4]
