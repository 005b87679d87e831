"""Project tasks. The README's test command is ``uv run nox -s tests``; CI runs exactly that.

Sessions reuse the workspace environment that ``uv sync --frozen`` builds from the committed
``uv.lock`` (torch is ~5 GB: one environment, not one per session).
"""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.default_venv_backend = "none"

FAST = "not slow and not cuda and not mps"


def _sync(session: nox.Session) -> None:
    session.run("uv", "sync", "--frozen", "--all-packages", external=True)


def _pytest(session: nox.Session, *args: str, env: dict[str, str] | None = None) -> None:
    session.run("uv", "run", "--frozen", "--no-sync", "pytest", *args, *session.posargs,
                external=True, env=env or {})


@nox.session
def tests(session: nox.Session) -> None:
    """Every package's tests plus the end-to-end tests, on the CPU."""
    _sync(session)
    _pytest(session, "-m", FAST, "-p", "no:cacheprovider", env={"SDA_DEVICE": "cpu", "CUDA_VISIBLE_DEVICES": ""})


@nox.session
def browser(session: nox.Session) -> None:
    """The browser app's tests in real Chromium (installs Debian's chromium with apt-get when it is missing)."""
    import shutil

    _sync(session)
    if shutil.which("chromium") is None:
        session.run("bash", "-c", "apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium",
                    external=True)
    _pytest(session, "apps/gradio/tests", "-p", "no:cacheprovider",
            env={"SDA_DEVICE": "cpu", "CUDA_VISIBLE_DEVICES": ""})


def _probe_ok(device: str) -> bool:
    import subprocess

    code = {"cuda": "import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)",
            "mps": "import torch,sys; sys.exit(0 if torch.backends.mps.is_available() else 1)"}[device]
    return subprocess.run(["uv", "run", "--frozen", "--no-sync", "python", "-c", code],
                          check=False).returncode == 0


def _device_session(session: nox.Session, device: str) -> None:
    _sync(session)
    if not _probe_ok(device):
        session.skip(f"no {device.upper()} device on this machine: nothing to test (SDA_DEVICE={device} would fail)")
    _pytest(session, "-m", "not slow", env={"SDA_DEVICE": device})


@nox.session
def tests_cuda(session: nox.Session) -> None:
    """The same suite with SDA_DEVICE=cuda (skips with a message where there is no CUDA GPU)."""
    _device_session(session, "cuda")


@nox.session
def tests_mps(session: nox.Session) -> None:
    """The same suite with SDA_DEVICE=mps (skips with a message where Apple MPS is absent)."""
    _device_session(session, "mps")


@nox.session
def slow(session: nox.Session) -> None:
    """Long checks kept out of CI (training-quality smoke runs and the like)."""
    _sync(session)
    _pytest(session, "-m", "slow", env={"SDA_DEVICE": os.environ.get("SDA_DEVICE", "cpu")})


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the whole workspace."""
    _sync(session)
    session.run("uv", "run", "--frozen", "--no-sync", "ruff", "check", ".", external=True)


@nox.session
def typecheck(session: nox.Session) -> None:
    """pyright in basic mode over every package's and app's ``src`` (settings: ``[tool.pyright]`` in pyproject.toml).

    ``pyright[nodejs]`` brings its own Node.js, so no system node is needed.
    """
    _sync(session)
    session.run("uv", "run", "--frozen", "--no-sync", "pyright", external=True)


@nox.session
def bench(session: nox.Session) -> None:
    """Speed and memory benchmarks; results go to docs/benchmarks.md."""
    _sync(session)
    for script in sorted(p for p in os.listdir("benchmarks") if p.endswith(".py") and not p.startswith("_")):
        if script in ("sound_quality.py", "reconstruction_sheet.py", "learning_curves.py", "reconstruction_proof.py"):
            continue  # need a trained model or hours: run them by hand (their docstrings say how)
        quick = ["--quick"] if script == "training.py" else []
        session.run("uv", "run", "--frozen", "--no-sync", "python", f"benchmarks/{script}", *quick, external=True)


@nox.session
def quality(session: nox.Session) -> None:
    """The sound-quality yardstick (issue 10): trains and generates on every set; writes docs/quality.md.

    Long (15 min per set and model kind by default); options after ``--``, e.g. ``-- --minutes 0.3 --sets demo``.
    """
    _sync(session)
    session.run("uv", "run", "--frozen", "--no-sync", "python", "benchmarks/sound_quality.py", *session.posargs,
                external=True)


@nox.session
def build(session: nox.Session) -> None:
    """Build every package's wheel and sdist separately."""
    for package in ("sda-audio", "sda-models", "sda-control", "sda-engine", "sda-cli", "sda-gradio"):
        session.run("uv", "build", "--package", package, "--out-dir", "dist", external=True)
