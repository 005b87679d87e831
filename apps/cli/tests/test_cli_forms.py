"""``sda train --form`` / ``sda models show`` / ``sda generate --form``: one-shots end to end through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from sda_cli.main import app

runner = CliRunner()
SR = 44100


def _hits(folder: Path, n: int = 5) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i in range(n):
        t = np.arange(int(SR * (0.4 + 0.1 * i))) / SR
        x = rng.standard_normal(t.size) * np.exp(-t / (0.04 + 0.02 * i))
        sf.write(folder / f"hit{i}.wav", (0.5 * x / np.abs(x).max()).astype(np.float32), SR)
    return folder


def test_train_shows_form_and_generate_writes_a_pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sda_engine.generate.oneshots as oneshots

    monkeypatch.setattr(oneshots, "MAX_STREAMS", 1)  # one stream per hit keeps the test quick
    data = _hits(tmp_path / "hits")
    trained = runner.invoke(app, ["train", str(data), "-m", "kit", "--kind", "vae", "--size", "tiny", "--steps", "2",
                                  "--no-controls", "--device", "cpu", "--form", "oneshot"])
    assert trained.exit_code == 0, trained.output
    assert "form: oneshot set" in trained.output.replace("\n", " ")

    shown = runner.invoke(app, ["models", "show", "kit", "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["form"] == "oneshot"
    text = runner.invoke(app, ["models", "show", "kit"])
    assert "form: oneshot" in text.output

    out = tmp_path / "pack"
    made = runner.invoke(app, ["generate", "kit", "-n", "2", "-o", f"{out}/", "--channels", "mono",
                               "--device", "cpu"])
    assert made.exit_code == 0, made.output
    assert sorted(p.name for p in out.glob("*.wav")) == ["kit_001.wav", "kit_002.wav"]
    assert "form: one-shots, each one of your own hits reshaped towards a neighbour" in made.output.replace("\n", " ")
    assert made.output.count(" towards hit") == 2  # each file says which two of the user's hits it comes from
    side = json.loads((out / "kit_001.wav.json").read_text())["metadata"]
    assert side["notes"]["form"]["form"] == "oneshot" and side["request"]["render"]["form"] == "auto"

    bad = runner.invoke(app, ["train", str(data), "-m", "kit2", "--form", "loop"])
    assert bad.exit_code != 0 and "unknown form" in bad.output


def test_generate_between_two_sounds_writes_morphs_and_refuses_a_lone_amount(tmp_path: Path) -> None:
    data = _hits(tmp_path / "hits")
    trained = runner.invoke(app, ["train", str(data), "-m", "kit", "--kind", "rvq", "--size", "tiny", "--steps", "2",
                                  "--no-controls", "--device", "cpu", "--form", "oneshot"])
    assert trained.exit_code == 0, trained.output
    a, b = data / "hit0.wav", data / "hit4.wav"
    out = tmp_path / "morphs"
    made = runner.invoke(app, ["generate", "kit", "--between", str(a), str(b), "-n", "3", "-o", f"{out}/",
                               "--channels", "mono", "--device", "cpu"])
    assert made.exit_code == 0, made.output
    assert sorted(p.name for p in out.glob("*.wav")) == ["kit_001.wav", "kit_002.wav", "kit_003.wav"]
    flat = made.output.replace("\n", " ")
    assert "amount 0.5" in flat and "morph: hit0.wav -> hit4.wav" in flat
    side = json.loads((out / "kit_002.wav.json").read_text())["metadata"]
    assert side["notes"]["morph"]["amount"] == 0.5 and side["notes"]["morph"]["between"][1] == str(b.resolve())
    assert side["notes"]["morph"]["detail"] == "blend"  # the default: both sounds' own detail

    one = runner.invoke(app, ["generate", "kit", "--between", str(a), str(b), "--amount", "0.25", "-o",
                              str(tmp_path / "one.wav"), "--channels", "mono", "--device", "cpu", "--detail", "none"])
    assert one.exit_code == 0, one.output
    assert (tmp_path / "one.wav").exists()
    assert json.loads((tmp_path / "one.wav.json").read_text())["metadata"]["notes"]["morph"]["detail"] == "none"
    odd = runner.invoke(app, ["generate", "kit", "--between", str(a), str(b), "--detail", "some"])
    assert odd.exit_code != 0 and "unknown detail 'some'" in odd.output

    lone = runner.invoke(app, ["generate", "kit", "--amount", "0.3"])
    assert lone.exit_code != 0 and "--between" in lone.output
    far = runner.invoke(app, ["generate", "kit", "--between", str(a), str(b), "--amount", "2"])
    assert far.exit_code != 0 and "outside 0..1" in far.output
    missing = runner.invoke(app, ["generate", "kit", "--between", str(a), str(tmp_path / "nope.wav"), "-o",
                                  str(tmp_path / "x.wav")])
    assert missing.exit_code != 0 and "nope.wav" in missing.output
