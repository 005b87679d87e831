"""Issue 28: each control's realisation is chosen by a sweep through the generator (the product path), not by the
fit's proxy check, and the choice is stored with its evidence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sda_audio.errors import SdaError
from sda_control.fit import ControlFitConfig
from sda_engine.store.home import SdaHome
from sda_engine.train import TrainOptions, plan, run
from sda_engine.train.budget import SWEEP_SECONDS, split_budget
from sda_engine.train.control_choice import MODES, SweepChoiceOptions
from sda_engine.train.controls import choose_model_controls, fit_model_controls
from sda_models.model_file import read_metadata

SR = 44100
SMALL_SWEEP = SweepChoiceOptions(positions=3, seeds=(0,), duration=1.0)


def _dataset(folder: Path) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(4)
    for i in range(6):
        t = np.arange(int(SR * (1.4 + 0.2 * i))) / SR
        x = 0.3 * np.sin(2 * np.pi * 150 * (i + 1) * t) * (0.6 + 0.4 * np.sin(2 * np.pi * (i + 1) * t))
        sf.write(folder / f"take{i}.wav", (x + 0.02 * rng.standard_normal(t.size)).astype(np.float32), SR)
    return folder


def test_the_sweep_chooses_a_model_realisation_only_where_it_meets_the_targets(tmp_path: Path) -> None:
    home = SdaHome(tmp_path / "home")
    options = TrainOptions(name="m", dataset=str(_dataset(tmp_path / "ds")), size="tiny", augment=False,
                           batch_size=4, steps=30, prior_steps=20, base="none", preview_every=1000, controls=False)
    run(plan(options, home), home=home)
    fast = ControlFitConfig(window_seconds=0.6, max_windows_per_file=2, augmented_copies=0, check_windows=1,
                            check_gl_iters=4, search_steps=2)
    fit_model_controls("m", home, config=fast)
    path, realisation = choose_model_controls("m", home, options=SMALL_SWEEP)
    control = read_metadata(path)["configs"]["control"]
    assert control["chosen_by"] == "generated sweep" and control["realisation"] == realisation
    assert realisation["density"] == "steered" and set(control["proposed_realisation"]) == set(realisation)
    modes = control["sweep"]["modes"]
    assert set(modes) == set(MODES) and control["sweep"]["positions"] == 3
    for name, how in realisation.items():
        if name == "density":
            continue
        passing = [m for m in MODES if modes[m][name]["passes"]]
        assert (how in passing) if passing else how == "assisted", (name, how, passing)
        for m in MODES:  # what "passes" means: the targets, measured through the generator
            s = modes[m][name]
            assert s["passes"] == (s["rho"] >= 0.9 and s["effect"] >= 1.0 and s["crosstalk"] <= 0.5)
    with pytest.raises(SdaError, match="library"):
        choose_model_controls(tmp_path / "nowhere.sda", home)


def test_a_budget_of_five_minutes_or_more_plans_the_sweep() -> None:
    base = TrainOptions(name="m", dataset=".", size="tiny")
    from sda_engine.train.planner import _request

    files = [Path(f"/x/take{i}.wav") for i in range(6)]
    short = _request(base.replace(max_minutes=2.0), None, files, "tiny", "", "cpu")
    long = _request(base.replace(max_minutes=10.0), None, files, "tiny", "", "cpu")
    steps = _request(base.replace(steps=10), None, files, "tiny", "", "cpu")
    assert not short.chooses_controls_by_sweep and long.chooses_controls_by_sweep
    assert not steps.chooses_controls_by_sweep
    control = dict(split_budget(long))["control"]
    assert control >= SWEEP_SECONDS and dict(split_budget(short))["control"] < SWEEP_SECONDS
