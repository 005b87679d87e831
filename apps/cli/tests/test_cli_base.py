"""``sda base corpus OUT``: a quick corpus end to end, its refusals, and ``--json-events`` for scripts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sda_cli.main import app
from sda_engine.base import midi

runner = CliRunner()
HAVE_FLUIDSYNTH = shutil.which("fluidsynth") is not None and midi.SOUNDFONT.is_file()


def _objects(text: str) -> list[dict[str, Any]]:
    """The JSON objects printed one after another (the events one a line, then the indented result)."""
    decoder, at = json.JSONDecoder(), 0
    found: list[dict[str, Any]] = []
    while (at := text.find("{", at)) >= 0:
        obj, at = decoder.raw_decode(text, at)
        found.append(obj)
    return found


@pytest.mark.skipif(not HAVE_FLUIDSYNTH, reason=f"needs the fluidsynth program and the soundfont {midi.SOUNDFONT} "
                                                "(sudo apt-get install fluidsynth fluid-soundfont-gm)")
def test_quick_corpus_then_a_rerun_keeps_every_file(tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    made = runner.invoke(app, ["base", "corpus", str(out), "--quick"])
    assert made.exit_code == 0, made.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and manifest["files_count"] == len(list(out.rglob("*.flac"))) > 10
    flat = made.output.replace("\n", " ")
    assert f"{manifest['files_count']} files" in flat and f"({manifest['files_count']} rendered, 0 already" in flat
    again = runner.invoke(app, ["base", "corpus", str(out), "--quick"])
    assert again.exit_code == 0, again.output
    assert f"(0 rendered, {manifest['files_count']} already there" in again.output.replace("\n", " ")


def test_json_events_print_one_object_a_line_and_the_result(tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    made = runner.invoke(app, ["base", "corpus", str(out), "--quick", "--sources", "synth", "--json-events",
                               "--limit", "3"])
    assert made.exit_code == 0, made.output
    assert all(json.loads(line)["job"] == "base.corpus" for line in made.stdout.splitlines()[:5])
    *events, result = _objects(made.stdout)
    assert [e["kind"] for e in events] == ["start", "progress", "progress", "progress", "done"]
    assert all(e["job"] == "base.corpus" for e in events)
    assert result["files"] == result["rendered"] == 3 and result["files_by_source"] == {"sda_synth": 3}
    rest = runner.invoke(app, ["base", "corpus", str(out), "--quick", "--sources", " synth, ", "--json-events"])
    assert rest.exit_code == 0, rest.output
    final = _objects(rest.stdout)[-1]
    assert (final["rendered"], final["skipped"]) == (4, 3)
    assert json.loads((out / "manifest.json").read_text())["complete"]


@pytest.mark.parametrize("sources", ["birdsong", "gm,birdsong", ",", ""])
def test_unknown_sources_are_refused(tmp_path: Path, sources: str) -> None:
    made = runner.invoke(app, ["base", "corpus", str(tmp_path / "c"), "--sources", sources])
    assert made.exit_code != 0
    assert "unknown --sources" in made.output and "gm, drums, synth" in made.output
    assert "Traceback" not in made.output and not (tmp_path / "c").exists()


@pytest.mark.parametrize("minutes", ["0", "-5"])
def test_non_positive_minutes_are_refused(tmp_path: Path, minutes: str) -> None:
    made = runner.invoke(app, ["base", "corpus", str(tmp_path / "c"), "--minutes", minutes])
    assert made.exit_code != 0 and "--minutes must be positive" in made.output
    assert not (tmp_path / "c").exists()


def test_missing_fluidsynth_is_one_line_naming_the_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(midi.shutil, "which", lambda name: None)
    made = runner.invoke(app, ["base", "corpus", str(tmp_path / "c"), "--quick"])
    assert made.exit_code != 0 and "Traceback" not in made.output
    assert "apt-get install fluidsynth fluid-soundfont-gm" in made.output.replace("\n", " ")
    assert not (tmp_path / "c").exists()
