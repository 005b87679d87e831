"""``sda models`` verbs that need no training: upgrading and importing model files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from sda_cli.main import app
from sda_models.model_file import read_metadata

FIXTURE = Path(__file__).resolve().parents[3] / "packages/sda-models/tests/fixtures/tiny_v1.sda"
runner = CliRunner()


def test_upgrade_rewrites_a_v1_file_once(tmp_path: Path) -> None:
    model = tmp_path / "old.sda"
    shutil.copyfile(FIXTURE, model)
    first = runner.invoke(app, ["models", "upgrade", str(model)])
    assert first.exit_code == 0, first.output
    assert "upgraded" in first.output
    assert read_metadata(model)["format_version"] == 2
    assert (tmp_path / "old.sda.v1.bak").is_file()
    second = runner.invoke(app, ["models", "upgrade", str(model)])
    assert second.exit_code == 0 and "already" in second.output


def test_import_lists_and_rejects_garbage(tmp_path: Path) -> None:
    imported = runner.invoke(app, ["models", "import", str(FIXTURE), "--name", "old-vae"])
    assert imported.exit_code == 0, imported.output
    listed = json.loads(runner.invoke(app, ["models", "list", "--json"]).output)
    assert [(m["name"], m["kind"]) for m in listed] == [("old-vae", "vae")]
    garbage = tmp_path / "bad.sda"
    garbage.write_bytes(b"not a model")
    result = runner.invoke(app, ["models", "import", str(garbage)])
    assert result.exit_code == 1 and "bad.sda" in result.output and "Traceback" not in result.output
