"""Attribute-regularised training (``regularise_controls``): planned, reported, resumed exactly, stored, fitted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sda_audio.errors import Cancelled
from sda_audio.progress import CancelToken, ProgressEvent
from sda_engine.store.home import SdaHome
from sda_engine.train import TrainOptions, TrainResult, plan, run
from sda_engine.train.request import TrainRequest
from sda_models.configs import REGULARISABLE_ATTRIBUTES
from sda_models.model_file import load_model

SR = 44100
FAST = dict(size="tiny", augment=False, batch_size=4, preview_every=1000)


def _train(dataset: Path, name: str, *, home: SdaHome, on_event=None, cancel=None, **options) -> TrainResult:
    """``sda train``: plan the options, then run the request."""
    def events(event: ProgressEvent) -> None:
        if on_event is not None:
            on_event(event)

    return run(plan(TrainOptions(name=name, dataset=str(dataset), **options), home, events), events, cancel, home)


def _dataset(folder: Path, n: int = 6, seconds: float = 1.6) -> Path:
    """Tones that differ in brightness (partials), warmth (pitch) and rhythm (tremolo rate and depth)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    t = np.arange(int(SR * seconds)) / SR
    for i in range(n):
        env = 1.0 - 0.15 * i * (0.5 + 0.5 * np.sin(2 * np.pi * (2 + i) * t))
        tone = sum(np.sin(2 * np.pi * 110 * (1 + i % 3) * h * t) / h for h in range(1, 2 + 3 * i))
        x = 0.3 * tone / np.abs(tone).max() * env + 0.01 * rng.standard_normal(t.size)
        sf.write(folder / f"take{i}.wav", x.astype(np.float32), SR)
    return folder


def test_plan_puts_the_attributes_in_the_autoencoder_config(tmp_path: Path) -> None:
    folder = _dataset(tmp_path / "ds")
    plain = plan(TrainOptions(dataset=str(folder), kind="vae", size="tiny", device="cpu"))
    assert not plain.regularise_controls and plain.autoencoder.regularised == {}
    req = plan(TrainOptions(dataset=str(folder), kind="rvq", size="tiny", device="cpu", regularise_controls=True))
    assert req.regularise_controls
    assert req.autoencoder.regularised == dict(enumerate(REGULARISABLE_ATTRIBUTES))
    assert req.autoencoder.attribute_weight > 0
    back = TrainRequest.from_dict(req.to_dict())
    assert back == req and back.regularise_controls


def test_regularised_run_resumes_exactly_and_its_fit_considers_the_axes(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from sda_control import fit

    fast_fit = fit.ControlFitConfig(window_seconds=0.6, max_windows_per_file=2, augmented_copies=0, check_windows=2,
                                    check_gl_iters=2)
    monkeypatch.setattr(fit, "ControlFitConfig", lambda: fast_fit)  # the train.control stage fits with defaults
    folder = _dataset(tmp_path / "ds")
    home = SdaHome(tmp_path / "home")
    args = dict(kind="vae", home=home, steps=8, eval_every=4, checkpoint_every=4, seed=1, regularise_controls=True,
                **FAST)
    straight = _train(folder, "straight", controls=False, **args)
    attr = [h["attr"] for h in straight.history if h["stage"] == "autoencoder"]
    assert len(attr) == 8 and all(0.0 <= a <= 2.0 for a in attr)
    assert all("val_attr" in e for e in straight.evals)

    token = CancelToken()

    def stop_at_4(event: ProgressEvent) -> None:
        if event.job == "train.autoencoder" and event.kind == "metrics" and event.step == 4:
            token.cancel()

    with pytest.raises(Cancelled):
        _train(folder, "split", on_event=stop_at_4, cancel=token, controls=True, **args)
    # resuming takes its settings from the checkpoint: the option need not be given again
    resumed = _train(folder, "split", resume=True, **{**args, "regularise_controls": False})
    assert resumed.request is not None and resumed.request.regularise_controls
    assert resumed.stages["autoencoder"]["resumed_from"] == 4
    np.testing.assert_allclose(straight.losses("autoencoder"), resumed.losses("autoencoder"), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(attr, [h["attr"] for h in resumed.history if h["stage"] == "autoencoder"],
                               rtol=1e-5, atol=1e-6)

    bundle = load_model(resumed.model_path)
    assert bundle.autoencoder.config.regularised == dict(enumerate(REGULARISABLE_ATTRIBUTES))
    control = bundle.control_config
    assert control["regularised"] == {name: k for k, name in enumerate(REGULARISABLE_ATTRIBUTES)}
    for name in REGULARISABLE_ATTRIBUTES:
        assert control["direction"][name] in ("regression", "regularised axis")


def test_a_plain_run_reports_no_attribute_loss(tmp_path: Path) -> None:
    folder = _dataset(tmp_path / "ds")
    result = _train(folder, "plain", kind="vae", home=SdaHome(tmp_path / "home"), steps=2, eval_every=2,
                    controls=False, **FAST)
    assert all("attr" not in h for h in result.history) and all("val_attr" not in e for e in result.evals)
