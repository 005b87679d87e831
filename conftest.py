"""Fixtures shared by every package's tests and the end-to-end tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
SHARED_DATASETS = Path(os.environ.get("SDA_SHARED_DATASETS", ROOT.parent / "shared" / "datasets"))


def shared_dataset(name: str) -> Path:
    """Path to one of the real CC0 recording sets in ../shared/datasets, or skip the test."""
    folder = SHARED_DATASETS / name
    if not folder.is_dir():
        pytest.skip(f"real recordings not available: {folder} is missing (see shared/datasets/README.md)")
    return folder


def pytest_configure(config: pytest.Config) -> None:
    """One torch thread per test process: tiny ops on 2 cores run many times faster without
    thread hand-offs (measured here), and tests must not depend on the thread count."""
    try:
        import torch
    except ImportError:  # a package installed without torch (none today) still gets its tests run
        return
    torch.set_num_threads(1)


@pytest.fixture
def shared_datasets() -> Path:
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"real recordings not available: {SHARED_DATASETS} is missing")
    return SHARED_DATASETS


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never write into the user's real sda library."""
    monkeypatch.setenv("SDA_HOME", str(tmp_path_factory.mktemp("sda_home")))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
