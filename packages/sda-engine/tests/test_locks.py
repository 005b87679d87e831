"""Per-model locks: one job at a time trains a model; the lock goes with its holder, even a killed one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sda_audio.errors import SdaError
from sda_engine.store.home import SdaHome
from sda_engine.store.locks import lock_path, model_lock
from sda_engine.train import TrainOptions, plan, run

SR = 44100


def test_a_second_holder_is_refused_with_the_pid_and_the_lock_is_released(tmp_path: Path) -> None:
    home = SdaHome(tmp_path / "home")
    with model_lock(home, "twin"):
        with pytest.raises(SdaError, match=rf"model 'twin' is being trained by another job \(pid {os.getpid()}\)"):
            with model_lock(home, "twin"):
                pass
        with model_lock(home, "other"):  # another name is free
            pass
    with model_lock(home, "twin", job="given its own vocoder"):  # released on leaving the block
        with pytest.raises(SdaError, match="being given its own vocoder"):
            with model_lock(home, "twin"):
                pass
    assert lock_path(home, "twin").parent == home.root / "locks"


_HOLDER = """
import sys, time
from sda_engine.store.home import SdaHome
from sda_engine.store.locks import model_lock
with model_lock(SdaHome(sys.argv[1]), "twin"):
    print("locked", flush=True)
    time.sleep(600)
"""


def test_a_killed_holder_leaves_no_lock_behind(tmp_path: Path) -> None:
    home = SdaHome(tmp_path / "home")
    child = subprocess.Popen([sys.executable, "-c", _HOLDER, str(home.root)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        with pytest.raises(SdaError, match=rf"\(pid {child.pid}\)"):
            with model_lock(home, "twin"):
                pass
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    with model_lock(home, "twin"):  # the OS dropped the dead holder's lock
        pass


def _dataset(folder: Path, n: int = 6) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        t = np.arange(int(SR * (1.6 + 0.2 * i))) / SR
        x = 0.3 * np.sin(2 * np.pi * 110 * (i + 1) * t) + 0.01 * rng.standard_normal(t.size)
        sf.write(folder / f"take{i}.wav", x.astype(np.float32), SR)
    return folder


def test_two_trainings_of_one_name_started_together_let_exactly_one_proceed(tmp_path: Path) -> None:
    folder = _dataset(tmp_path / "ds")
    home = SdaHome(tmp_path / "home")
    options = TrainOptions(name="twin", dataset=str(folder), kind="vae", size="tiny", steps=2, eval_every=2,
                           checkpoint_every=2, batch_size=2, augment=False, preview_every=1000, controls=False)
    together = threading.Barrier(2)
    results: list[object] = []
    errors: list[SdaError] = []

    def train() -> None:
        request = plan(options, home)  # both plan: the name is still free
        together.wait()
        try:
            results.append(run(request, home=home))
        except SdaError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=train) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert len(results) == 1 and len(errors) == 1, (results, errors)
    assert f"model 'twin' is being trained by another job (pid {os.getpid()})" in str(errors[0])
    assert home.model_path("twin").is_file()
    # the winner released the lock: a third run is refused only because the name is now taken
    with pytest.raises(SdaError, match="already exists"):
        run(plan(options, home), home=home)
