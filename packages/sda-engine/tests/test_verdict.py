"""The end-of-training sentence on synthetic validation curves, and the curve a resume draws again."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from sda_engine import SdaHome, TrainResult, stored_training_curve, training_verdict


def _evals(values: list[float], stage: str = "autoencoder", every: int = 10) -> list[dict[str, float | str]]:
    return [{"stage": stage, "step": float(every * (i + 1)), "train_loss": v, "val_loss": v}
            for i, v in enumerate(values)]


def _result(values: list[float], minutes: float) -> TrainResult:
    return TrainResult(name="x", model_path=None, kind="vae", size="tiny", device="cpu",
                       stages={"autoencoder": {"minutes": minutes}}, evals=_evals(values))


def test_a_curve_still_falling_fast_asks_for_more_minutes() -> None:
    falling = [2.0 * math.exp(-0.15 * i) + 0.1 for i in range(12)]  # far from its floor after 10 minutes
    text = training_verdict(_result(falling, minutes=10.0))
    assert text.startswith("Still improving: another ") and "would likely help" in text
    minutes = int(re.search(r"another (\d+) minutes", text).group(1))
    assert 5 <= minutes <= 100
    assert "from 2.1 to" in text and "lower than at the start" in text


def test_a_flat_curve_has_converged() -> None:
    flat = [2.0 * math.exp(-1.0 * i) + 0.5 for i in range(15)]  # at its floor for the last third
    text = training_verdict(_result(flat, minutes=6.0))
    assert text.startswith("Converged: more time is unlikely to help.")
    assert "2.5 to 0.5" in text and "80% lower" in text


def test_a_curve_that_turned_up_has_converged_and_says_so() -> None:
    text = training_verdict(_evals([1.0, 0.6, 0.5, 0.55, 0.6, 0.7]))
    assert text.startswith("Converged") and "get worse" in text


def test_more_minutes_for_a_steeper_recent_fall() -> None:
    def wanted(rate: float) -> int:
        text = training_verdict(_result([3.0 * math.exp(-rate * i) + 0.1 for i in range(9)], minutes=4.0))
        return int(re.search(r"another (\d+) minutes", text).group(1))

    assert wanted(0.25) > wanted(0.05) or wanted(0.05) >= 1


def test_plain_lists_and_too_little_data() -> None:
    assert training_verdict([3.0, 2.0, 1.5, 1.2, 1.0, 0.9]).startswith("Still improving: more time")
    assert training_verdict([]).startswith("Too few validation checks")
    assert training_verdict([{"step": 1, "val_loss": float("nan")}]).startswith("Too few")
    worse = training_verdict([1.0, 1.0, 1.0])
    assert worse.startswith("Converged") and "did not come down" in worse


def test_the_stage_still_improving_is_the_one_reported() -> None:
    evals = _evals([2.0, 1.0, 0.99, 0.99, 0.99, 0.99]) + _evals([5.0, 4.0, 3.0, 2.0, 1.5, 1.0], stage="prior")
    result = TrainResult(name="x", model_path=None, kind="rvq", size="tiny", device="cpu",
                         stages={"autoencoder": {"minutes": 2.0}, "prior": {"minutes": 3.0}}, evals=evals)
    text = training_verdict(result)
    assert text.startswith("Still improving") and "(prior)" in text


def test_the_stored_curve_of_a_prior_checkpoint_holds_both_stages(tmp_path: Path) -> None:
    home = SdaHome(tmp_path / "home")
    folder = home.checkpoint_dir("m")
    folder.mkdir(parents=True)
    done = {"steps": 2, "stop_reason": "finished", "history": [{"step": 1.0, "loss": 3.0}, {"step": 2.0, "loss": 2.0}],
            "evals": [{"step": 2.0, "train_loss": 2.5, "val_loss": 2.2}]}
    meta = {"step": 1, "stage": "prior", "done_stages": {"autoencoder": done},
            "loop": {"history": [{"step": 1.0, "loss": 5.0}], "evals": []}}
    (folder / "prior-00000001.json").write_text(json.dumps(meta))
    (folder / "autoencoder-00000002.json").write_text(json.dumps({"stage": "autoencoder", "loop": {}}))
    curve = stored_training_curve("m", home)
    assert [(p["stage"], p["step"], p["series"], p["loss"]) for p in curve] == [
        ("autoencoder", 1, "train", 3.0), ("autoencoder", 2, "train", 2.0), ("autoencoder", 2, "validation", 2.2),
        ("prior", 1, "train", 5.0)]
    assert stored_training_curve("nothing", home) == []
