"""``sda train --processes N``: re-launched under torchrun (2 CPU processes, gloo), one model written; N < 1 and a
resume with another number of processes than the checkpoint's are refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 44100


def _dataset(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2)
    for i in range(6):
        t = np.arange(int(SR * (1.0 + 0.1 * i))) / SR
        x = 0.3 * np.sin(2 * np.pi * 110 * (1 + i % 3) * t) + 0.01 * rng.standard_normal(t.size)
        sf.write(folder / f"take{i}.wav", x.astype(np.float32), SR, subtype="PCM_16")
    return folder


def _sda(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SDA_HOME": str(home), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    env.pop("SDA_DEVICE", None)
    return subprocess.run([sys.executable, "-m", "sda_cli", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_train_in_two_processes(tmp_path: Path) -> None:
    data, home = _dataset(tmp_path / "ds"), tmp_path / "home"
    common = ["--size", "tiny", "--device", "cpu", "--steps", "4", "--prior-steps", "2", "--checkpoint-every", "2",
              "--no-controls"]
    refused = _sda(home, "train", str(data), "-m", "duo", *common, "--processes", "0")
    assert refused.returncode != 0 and "--processes" in refused.stderr

    done = _sda(home, "train", str(data), "-m", "duo", *common, "--processes", "2")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "in each of 2 processes" in done.stdout + done.stderr  # the plan line
    assert done.stdout.count("trained duo") == 1  # rank 0 alone reports
    assert sorted(p.name for p in (home / "models").glob("*.sda")) == ["duo.sda"]
    ckpt = max((home / "checkpoints" / "duo").glob("prior-*.json"))
    assert json.loads(ckpt.read_text())["world_size"] == 2

    again = _sda(home, "train", str(data), "-m", "duo", *common, "--resume")
    assert again.returncode != 0 and "made by 2 training process" in again.stderr, again.stderr
