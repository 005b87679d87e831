"""``sda train`` / ``sda train-vocoder``: the event tree, real step counts in the progress view, ``--size`` and
its deprecated ``--preset`` spelling, and hints that the CLI turns into its own flags."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from rich.console import Console
from typer.testing import CliRunner

from sda_audio.progress import ProgressEvent
from sda_cli.main import app
from sda_cli.progress_view import RichEventView

runner = CliRunner()
SR = 44100


def _dataset(folder: Path, n: int = 6) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        t = np.arange(int(SR * (1.6 + 0.2 * i))) / SR
        x = 0.3 * np.sin(2 * np.pi * 110 * (i + 1) * t) + 0.01 * rng.standard_normal(t.size)
        sf.write(folder / f"take{i}.wav", x.astype(np.float32), SR)
    return folder


def _events(output: str) -> list[ProgressEvent]:
    out = []
    for line in output.splitlines():
        if not line.startswith('{"job"'):
            continue
        row: dict[str, Any] = json.loads(line)
        if "job" in row:
            row["metrics"] = {k: v for k, v in row["metrics"].items() if v is not None}
            out.append(ProgressEvent(**row))
    return out


def _check_sub_jobs(events: list[ProgressEvent], expected: set[str]) -> None:
    """Every sub-job starts, makes progress with one meaning of step/total, and ends; losses ride along."""
    sub = {e.job for e in events if e.job.startswith("train.")}
    assert sub == expected
    for job in sub:
        kinds = [e.kind for e in events if e.job == job]
        assert kinds[0] == "start" and "done" in kinds, (job, kinds)
        progress = [e for e in events if e.job == job and e.kind == "progress"]
        assert progress, job
        for e in progress:
            assert e.total is not None and e.total > 1 and 0 < e.step <= e.total, (job, e.step, e.total)
            if job in ("train.autoencoder", "train.prior", "train.vocoder"):  # optimisation stages
                assert "loss" in e.metrics, (job, e.metrics)
    for e in events:
        if e.kind == "metrics":
            assert {"loss", "val_loss"} <= set(e.metrics), (e.job, e.metrics)


def _bars(events: list[ProgressEvent]) -> dict[str, tuple[float, float | None]]:
    """Feed the events to the Rich view the CLI uses; ``job -> (completed, total)`` of each bar at the end."""
    view = RichEventView(Console(file=io.StringIO(), width=120))
    with view:
        for event in events:
            view(event)
    return {job: (view.progress.tasks[task].completed, view.progress.tasks[task].total)
            for job, task in view.tasks.items()}


def test_train_and_train_vocoder_show_real_step_counts(tmp_path: Path) -> None:
    folder = _dataset(tmp_path / "ds")
    trained = runner.invoke(app, ["train", str(folder), "--model", "tree", "--size", "tiny", "--steps", "4",
                                  "--prior-steps", "3", "--checkpoint-every", "2", "--device", "cpu", "--json-events"])
    assert trained.exit_code == 0, trained.output
    events = _events(trained.output)
    run = [e for e in events if e.job == "train"]
    assert run[0].kind == "start" and run[0].total == 4 and run[0].data["stages"] == [
        "corpus_index", "autoencoder", "prior", "control"]
    assert [(e.step, e.total) for e in run if e.kind == "progress"] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert run[-1].kind == "done" and run[-1].step == 4
    _check_sub_jobs(events, {"train.corpus_index", "train.autoencoder", "train.prior", "train.control"})
    assert {e.total for e in events if e.job == "train.corpus_index" and e.kind == "progress"} == {6}  # files
    assert {e.total for e in events if e.job == "train.autoencoder" and e.kind == "progress"} == {4}  # steps
    bars = _bars(events)
    assert bars["train.autoencoder"] == (4, 4)  # not 1/1
    assert bars["train.prior"] == (3, 3) and bars["train.corpus_index"] == (6, 6) and bars["train"] == (4, 4)
    lines = trained.stdout.splitlines()
    result = json.loads("\n".join(lines[lines.index("{"):]))["result"]
    assert result["size"] == "tiny" and result["request"]["size"] == "tiny"

    vocoder = runner.invoke(app, ["train-vocoder", "tree", "--max-steps", "2", "--device", "cpu", "--json-events"])
    assert vocoder.exit_code == 0, vocoder.output
    events = _events(vocoder.output)
    run = [e for e in events if e.job == "train"]
    assert run[0].kind == "start" and run[0].data["stages"] == ["vocoder"] and run[-1].kind == "done"
    _check_sub_jobs(events, {"train.vocoder"})
    assert _bars(events)["train.vocoder"] == (2, 2)


def test_preset_is_a_hidden_alias_of_size(monkeypatch: Any, tmp_path: Path) -> None:
    import sda_engine
    from sda_audio.errors import SdaError

    seen: dict[str, Any] = {}

    def fake_plan(options: Any, *args: Any, **kwargs: Any) -> Any:
        seen.update(options.to_dict())
        raise SdaError("stopped here")

    monkeypatch.setattr(sda_engine, "plan_training", fake_plan)
    folder = _dataset(tmp_path / "ds", n=1)
    old = runner.invoke(app, ["train", str(folder), "--model", "m", "--preset", "tiny"])
    assert old.exit_code == 1 and "stopped here" in old.output and seen["size"] == "tiny"
    new = runner.invoke(app, ["train", str(folder), "--model", "m", "--size", "small"])
    assert new.exit_code == 1 and seen["size"] == "small"
    clash = runner.invoke(app, ["train", str(folder), "--model", "m", "--size", "small", "--preset", "tiny"])
    assert clash.exit_code == 1 and "disagree" in clash.output
    shown = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert "--size" in shown.output and "--preset" not in shown.output


def test_engine_hints_become_cli_flags(tmp_path: Path) -> None:
    folder = _dataset(tmp_path / "ds")
    nothing = runner.invoke(app, ["train", str(folder), "--model", "none", "--size", "tiny", "--resume"])
    assert nothing.exit_code == 1 and "no checkpoint to resume" in nothing.output
    assert "run the command without --resume" in nothing.output
    from sda_engine.store.home import SdaHome

    taken = SdaHome().model_path("taken")
    taken.parent.mkdir(parents=True, exist_ok=True)
    taken.write_bytes(b"")
    exists = runner.invoke(app, ["train", str(folder), "--model", "taken", "--size", "tiny"])
    assert exists.exit_code == 1 and "already exists" in exists.output and "add --overwrite" in exists.output
