"""The workspace's shape: one-way dependencies and a light sda-audio."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["sda_base", "sda_audio", "sda_models", "sda_control", "sda_engine", "sda_cli", "sda_gradio"]
SOURCES = {
    "sda_base": ROOT / "packages/sda-base/src/sda_base",
    "sda_audio": ROOT / "packages/sda-audio/src/sda_audio",
    "sda_models": ROOT / "packages/sda-models/src/sda_models",
    "sda_control": ROOT / "packages/sda-control/src/sda_control",
    "sda_engine": ROOT / "packages/sda-engine/src/sda_engine",
    "sda_cli": ROOT / "apps/cli/src/sda_cli",
    "sda_gradio": ROOT / "apps/gradio/src/sda_gradio",
}
LIBRARIES = {"sda_base", "sda_audio", "sda_models", "sda_control", "sda_engine"}
UI_STACKS = {"rich", "typer", "gradio", "tqdm"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", ORDER)
def test_dependencies_point_one_way(package: str) -> None:
    allowed_upstream = set(ORDER[: ORDER.index(package) + 1])
    forbidden = set(ORDER) - allowed_upstream
    offenders = []
    for path in SOURCES[package].rglob("*.py"):
        bad = _imports(path) & forbidden
        if path.name == "cmd_gui.py":  # `sda gui` starts the sibling app (the optional extra sda-cli[gui])
            bad.discard("sda_gradio")
        if package in LIBRARIES:
            bad |= _imports(path) & UI_STACKS
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "imports against the dependency direction:\n" + "\n".join(offenders)


def test_sda_audio_imports_without_ui_stacks() -> None:
    code = "import sys, sda_audio; print(','.join(sorted(m for m in ('typer','rich','gradio') if m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_sda_audio_declares_no_ui_dependencies() -> None:
    meta = tomllib.loads((ROOT / "packages/sda-audio/pyproject.toml").read_text())
    deps = " ".join(meta["project"]["dependencies"]).lower()
    for stack in ("gradio", "typer", "rich", "sda-models"):
        assert stack not in deps


def test_torch_and_torchaudio_pinned_together() -> None:
    lock = (ROOT / "uv.lock").read_text()
    versions = {}
    for name in ("torch", "torchaudio"):
        marker = f'name = "{name}"\nversion = "'
        start = lock.index(marker) + len(marker)
        versions[name] = lock[start: lock.index('"', start)]
    assert versions["torch"].rsplit(".", 1)[0] == versions["torchaudio"].rsplit(".", 1)[0], versions
