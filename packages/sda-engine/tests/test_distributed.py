"""Training in two CPU processes (DDP on gloo, as under ``torchrun --nproc-per-node 2``): one model written by rank
0, the same tensors from two identical runs, and a run cancelled at an autoencoder and at a prior checkpoint and
resumed (with two processes) lands on the same tensors as the uninterrupted one; a single process may not resume
it."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch

from sda_audio.errors import SdaError

SR = 44100
OPTIONS: dict[str, Any] = dict(kind="rvq", size="tiny", device="cpu", steps=6, prior_steps=6, seed=3,
                               checkpoint_every=2, controls=False)
STOPS = [("train.autoencoder", 4), ("train.prior", 2)]


def _dataset(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for i in range(6):
        t = np.arange(int(SR * (1.0 + 0.15 * i))) / SR
        env = 0.55 + 0.45 * np.sin(2 * np.pi * (1.5 + i) * t)
        x = 0.3 * np.sin(2 * np.pi * 110 * (1 + i % 3) * t) * env + 0.01 * rng.standard_normal(t.size)
        sf.write(folder / f"take{i}.wav", x.astype(np.float32), SR, subtype="PCM_16")
    return folder


def tensor_hashes(path: Path) -> dict[str, str]:
    """``name -> sha256`` of every tensor of a model file."""
    from safetensors import safe_open

    out = {}
    with safe_open(str(path), framework="pt") as f:
        for name in sorted(f.keys()):
            t = f.get_tensor(name).contiguous()
            out[name] = hashlib.sha256(t.reshape(-1).view(torch.uint8).numpy().tobytes()).hexdigest()
    return out


def _train(dataset: Path, home: Path, name: str, *, resume: bool = False,
           stop_at: tuple[str, int] | None = None, events: list[dict[str, Any]] | None = None) -> bool:
    """Train (or resume) through the engine; True when cancelled at ``stop_at``'s checkpoint."""
    from sda_audio.errors import Cancelled
    from sda_audio.progress import CancelToken, ProgressEvent
    from sda_engine import TrainOptions, plan_training, run_training

    token = CancelToken()

    def on_event(event: ProgressEvent) -> None:
        if events is not None:
            events.append({"job": event.job, "kind": event.kind, "step": event.step})
        if stop_at is not None and (event.job, event.kind, event.step) == (stop_at[0], "checkpoint", stop_at[1]):
            token.cancel()

    try:
        options = TrainOptions(name=name, dataset=str(dataset), resume=resume, **OPTIONS)
        run_training(plan_training(options, home, on_event), on_event, token, home)
    except Cancelled:
        return True
    return False


def main(dataset: str, root: str) -> None:
    """One rank (started by torchrun, which sets RANK / WORLD_SIZE): the runs of the test, each in its own sda
    home under ``root``; the engine joins the process group itself."""
    from sda_engine.train import distributed

    data, out = Path(dataset), Path(root)
    report: dict[str, Any] = {}
    events: list[dict[str, Any]] = []
    try:
        report["straight"] = _train(data, out / "a", "m", events=events)
        report["events"] = len(events)
        report["again"] = _train(data, out / "b", "m")
        report["cancelled"] = [_train(data, out / "c", "m", resume=i > 0, stop_at=stop) for i, stop in enumerate(STOPS)]
        report["resumed"] = _train(data, out / "c", "m", resume=True)
        report["left"] = _train(data, out / "d", "m", stop_at=STOPS[0])
        (out / f"rank{distributed.rank()}.json").write_text(json.dumps(report))
    finally:
        distributed.teardown()


def test_two_processes_same_tensors_and_exact_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("SDA_DEVICE", raising=False)
    dataset = _dataset(tmp_path / "ds")
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           __file__, str(dataset), str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]

    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for report in reports:
        assert report["straight"] is False and report["again"] is False and report["resumed"] is False
        assert report["cancelled"] == [True, True] and report["left"] is True
    assert reports[0]["events"] > 0 and reports[1]["events"] == 0  # progress is rank 0's to tell

    models = {h: tmp_path / h / "models" / "m.sda" for h in "abc"}
    assert all(p.is_file() for p in models.values())
    assert sorted(p.name for p in (tmp_path / "a" / "models").iterdir() if p.suffix == ".sda") == ["m.sda"]
    straight = tensor_hashes(models["a"])
    assert tensor_hashes(models["b"]) == straight  # two identical 2-process runs
    assert tensor_hashes(models["c"]) == straight  # cancelled twice, resumed with 2 processes

    # the cancelled run's checkpoint holds both ranks' states; one process may not resume it
    ckpt = json.loads(next((tmp_path / "d" / "checkpoints" / "m").glob("autoencoder-*.json")).read_text())
    assert ckpt["world_size"] == 2 and set(ckpt["ranks"]) == {"0", "1"}
    with pytest.raises(SdaError, match="2 training process"):
        _train(dataset, tmp_path / "d", "m", resume=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
