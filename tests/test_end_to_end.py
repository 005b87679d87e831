"""The first vertical slice from the command line: demo data -> train (cancel, resume) -> generate ->
export -> library -> preset -> history, on the CPU with the tiny model size, as a person would run it."""

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

SDA = [sys.executable, "-m", "sda_cli.main"]


def sda(*args: str, env: dict[str, str], timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([*SDA, *args], env=env, capture_output=True, text=True, timeout=timeout)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    if check:
        assert result.returncode == 0, f"sda {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("e2e")
    env = dict(os.environ, SDA_HOME=str(root / "home"), SDA_DEVICE="cpu", HF_HUB_OFFLINE="1",
               OMP_NUM_THREADS="1", COLUMNS="120")
    sda("demo-data", str(root / "demo"), env=env)
    return root, env


TRAIN = ["--size", "tiny", "--steps", "40", "--prior-steps", "40", "--checkpoint-every", "10", "--seed", "3"]


def test_train_cancel_resume_generate_library_presets_history(workspace) -> None:
    root, env = workspace
    demo = root / "demo"

    # 1. Train and interrupt with Ctrl-C once the first checkpoint is on disk.
    proc = subprocess.Popen([*SDA, "train", str(demo), "--model", "e2e", *TRAIN, "--json-events"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("{") and json.loads(line).get("kind") == "checkpoint":
            break
        assert time.monotonic() < deadline, "no checkpoint within 10 minutes"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stderr
    assert "cancel" in stderr.lower()
    assert "Traceback" not in stderr

    # 2. Resume to the end; the model lands in the library.
    sda("train", str(demo), "--model", "e2e", *TRAIN, "--resume", env=env)
    listed = json.loads(sda("models", "list", "--json", env=env).stdout)
    assert [m["name"] for m in listed] == ["e2e"]
    assert listed[0]["kind"] == "rvq" and listed[0]["has_prior"]

    # 3. Generate 48 kHz / 24-bit stereo, twice with the same seed: identical audio.
    out = root / "out"
    for name in ("a.wav", "b.wav"):
        sda("generate", "e2e", "--duration", "3", "--seed", "7", "--channels", "stereo", "-o", str(out / name),
            env=env)
    info = sf.info(out / "a.wav")
    assert (info.samplerate, info.subtype, info.channels) == (48000, "PCM_24", 2)
    assert info.duration == pytest.approx(3.0, abs=0.05)
    a, _ = sf.read(out / "a.wav")
    b, _ = sf.read(out / "b.wav")
    np.testing.assert_array_equal(a, b)
    assert np.sqrt(np.mean(a**2)) > 1e-3, "generated audio is (near) silent"
    sidecar = json.loads((out / "a.wav.json").read_text())
    assert "e2e" in json.dumps(sidecar) and "corpus" in json.dumps(sidecar)

    # 4. A preset and a different seed, then history and A/B.
    sda("presets", "save", "short", "--set", "duration=2", "--set", "seed=11", env=env)
    sda("generate", "e2e", "--preset", "short", "--format", "flac", "-o", str(out / "c.flac"), env=env)
    assert sf.info(out / "c.flac").duration == pytest.approx(2.0, abs=0.05)
    history = json.loads(sda("history", "list", "--json", env=env).stdout)
    assert len(history) == 3
    ids = sorted(entry["id"] for entry in history)
    ab = json.loads(sda("history", "ab", str(ids[0]), str(ids[2]), "--json", env=env).stdout)
    assert ab["param_differences"]
    assert Path(ab["a_matched"]["path"]).is_file()

    # 4b. A preset saved from a history entry recalls that exact sound; a preset saved the way the GUI saves
    # its settings (overrides of a GenerationRequest) sounds the same as the CLI given the same values.
    [first] = [e for e in history if e["audio_path"].endswith("a.wav")]
    sda("presets", "save", "again", "--from-history", str(first["id"]), env=env)
    sda("generate", "e2e", "--preset", "again", "-o", str(out / "again.wav"), env=env)
    np.testing.assert_array_equal(sf.read(out / "again.wav")[0], a)
    from sda_engine.generate.request import GenerationRequest
    from sda_engine.store.home import SdaHome
    from sda_engine.store.presets import PresetStore

    gui = GenerationRequest().replace(duration=1.5, seed=5, temperature=0.8, channels="mono", format="flac")
    PresetStore(SdaHome(env["SDA_HOME"])).save("from-gui", gui.overrides())
    sda("generate", "e2e", "--preset", "from-gui", "-o", str(out / "gui.flac"), env=env)
    sda("generate", "e2e", "--duration", "1.5", "--seed", "5", "--temperature", "0.8", "--channels", "mono",
        "--format", "flac", "-o", str(out / "cli.flac"), env=env)
    np.testing.assert_array_equal(sf.read(out / "gui.flac")[0], sf.read(out / "cli.flac")[0])

    # 5. Export the model, delete it, import it back.
    exported = root / "e2e-copy.sda"
    sda("models", "export", "e2e", str(exported), env=env)
    sda("models", "delete", "e2e", "--yes", env=env)
    assert json.loads(sda("models", "list", "--json", env=env).stdout) == []
    sda("models", "import", str(exported), "--name", "e2e", env=env)
    sda("generate", "e2e", "--duration", "1", "-o", str(out / "d.wav"), env=env)


def test_bad_input_gets_one_line_errors(workspace, tmp_path: Path) -> None:
    root, env = workspace
    missing = sda("generate", "no-such-model", "--duration", "2", env=env, check=False)
    assert missing.returncode != 0 and "no-such-model" in missing.stderr

    broken = tmp_path / "broken"
    broken.mkdir()
    for path in sorted((root / "demo").glob("*.wav"))[:5]:
        (broken / path.name).write_bytes(path.read_bytes())
    (broken / "notes.wav").write_text("not audio")
    refused = sda("train", str(broken), "--model", "x", "--preset", "tiny", env=env, check=False)
    assert refused.returncode != 0 and "notes.wav" in refused.stderr + refused.stdout

    model = root / "home" / "models"
    if any(model.glob("*.sda")):
        name = sorted(model.glob("*.sda"))[0].stem
        too_long = sda("generate", name, "--duration", "4000", env=env, check=False)
        assert too_long.returncode != 0 and "duration" in too_long.stderr
        blocker = tmp_path / "file"
        blocker.write_text("x")
        unwritable = sda("generate", name, "--duration", "1", "-o", str(blocker / "x.wav"), env=env, check=False)
        assert unwritable.returncode != 0 and "error" in unwritable.stderr
