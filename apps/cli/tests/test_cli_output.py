"""Output for scripts (issue 24): off a terminal, tables are tab-separated rows with every value whole, ``--help``
never cuts an option name, and a full disk is one clear line naming the file."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sda_cli.errors import handle_errors
from sda_cli.main import app

FIXTURE = Path(__file__).resolve().parents[3] / "packages/sda-models/tests/fixtures/tiny_v1.sda"
LONG = "a-very-long-model-name-that-a-rich-table-would-cut-at-eighty-columns-x"
runner = CliRunner()  # its stdout is not a terminal, as in `sda models list | grep NAME`
NARROW = {"COLUMNS": "80", "TERMINAL_WIDTH": None}


def test_tables_off_a_terminal_are_tab_separated_and_whole() -> None:
    assert runner.invoke(app, ["models", "import", str(FIXTURE), "--name", LONG, "--tag", "t" * 60]).exit_code == 0
    for args in (["models", "list"], ["models", "search", "eighty"]):
        result = runner.invoke(app, args, env=NARROW)
        assert result.exit_code == 0, result.output
        header, *rows = result.output.splitlines()
        assert header.split("\t")[:3] == ["name", "kind", "dataset"]
        assert [row.split("\t")[0] for row in rows] == [LONG]  # `| grep NAME` and `| cut -f1` work
        assert "t" * 60 in rows[0] and "…" not in result.output
    listed = json.loads(runner.invoke(app, ["models", "list", "--json"], env=NARROW).output)
    assert [m["name"] for m in listed] == [LONG]


def test_presets_list_is_whole_off_a_terminal() -> None:
    name = "p" * 75
    assert runner.invoke(app, ["presets", "save", name, "--set", "seed=3", "--set", "duration=12"]).exit_code == 0
    result = runner.invoke(app, ["presets", "list"], env=NARROW)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1].split("\t") == [name, "global", '{"seed": 3, "duration": 12.0}']


@pytest.mark.parametrize("args, options", [
    (["train", "--help"], ["--checkpoint-every", "--regularise-controls", "--commitment-weight", "--json-events",
                           "--from-scratch", "--base"]),
    (["base", "train", "--help"], ["--minutes", "--steps", "--batch-size", "--size"]),
    (["controls", "choose", "--help"], ["--json-events"]),
    (["generate", "--help"], ["--bigvgan-weights", "--stereo-method"]),
    (["--help"], ["--version"]),
])
def test_help_never_cuts_an_option_name(args: list[str], options: list[str]) -> None:
    result = runner.invoke(app, args, env=NARROW)
    assert result.exit_code == 0, result.output
    for option in options:
        assert option in result.output, option
    option_lines = [line for line in result.output.splitlines() if "--" in line]
    assert not any("-…" in line or "…" in line.split()[1:2] for line in option_lines), result.output


def _failing(exc: BaseException):
    @handle_errors
    def command() -> None:
        raise exc

    return command


@pytest.mark.parametrize("exc", [
    OSError(errno.ENOSPC, "No space left on device", "/music/out.wav"),
    RuntimeError("Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "
                 "\"No space left on device\" })"),
])
def test_a_full_disk_is_one_clear_line(exc: BaseException) -> None:
    probe = typer.Typer()
    probe.command()(_failing(exc))
    result = runner.invoke(probe, [])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "the disk is full" in lines[0] and "unexpected" not in lines[0], result.output
    if isinstance(exc, OSError):
        assert "/music/out.wav" in lines[0]


def test_the_bigvgan_environment_variable_is_read_at_the_cli_edge(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from sda_cli.environment import bigvgan_weights

    monkeypatch.delenv("SDA_BIGVGAN_WEIGHTS", raising=False)
    assert bigvgan_weights() is None
    monkeypatch.setenv("SDA_BIGVGAN_WEIGHTS", str(tmp_path / "env"))
    assert bigvgan_weights() == tmp_path / "env"
    assert bigvgan_weights(tmp_path / "flag") == tmp_path / "flag"  # --bigvgan-weights wins
    status = runner.invoke(app, ["vocoder", "status", "--json"])
    assert status.exit_code == 0, status.output
    bigvgan = json.loads(status.output)["bigvgan"]
    assert not bigvgan["available"] and str(tmp_path / "env") in bigvgan["why"]  # the path reached the library
