"""What the app's browser tests share: Debian's Chromium and its flags, the marks every ``test_browser*.py`` test
gets, a free port on 127.0.0.1, serving a built app there, and a Playwright page on it.

Every test in a ``test_browser*.py`` file is skipped, with the reason, where /usr/bin/chromium is missing
(:func:`pytest_collection_modifyitems`), so those files need no marks of their own.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
                 "--disable-component-update", "--disable-sync"]
BROWSER_FILES = "test_browser"
"""The files whose tests drive the page in Chromium (``test_browser*.py``)."""


def browser_marks() -> list[pytest.MarkDecorator]:
    return [
        pytest.mark.skipif(not CHROMIUM.exists(),
                           reason=f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)"),
        # Gradio's own queue code calls pandas options that pandas 3 deprecates; nothing of ours.
        pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
        pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name.startswith(BROWSER_FILES):
            for mark in browser_marks():
                item.add_marker(mark)


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(name="free_port")
def free_port_fixture() -> Callable[[], int]:
    """:func:`free_port` for tests (call it for each port)."""
    return free_port


@pytest.fixture(scope="module")
def serve_app() -> Iterator[Callable[[Any], tuple[str, int, Any]]]:
    """Serve built apps (``sda_gradio.app.build_app``) on free ports of 127.0.0.1 in this process:
    ``url, port, app = serve_app(built)``; every app is closed at the end of the module."""
    from sda_gradio.app import serve

    served: list[Any] = []

    def start(built: Any) -> tuple[str, int, Any]:
        port = free_port()
        app = serve(built, port, block=False, quiet=True)
        served.append(app)
        return f"http://127.0.0.1:{port}/", port, app

    try:
        yield start
    finally:
        for app in served:
            app.close()


@pytest.fixture(scope="module")
def open_page() -> Iterator[Callable[..., Any]]:
    """Open a page of the served app in headless Chromium: ``page = open_page(url, width=1400, height=1000,
    timeout=60_000)`` (Playwright; the browser closes at the end of the module)."""
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)

        def open_(url: str, width: int = 1400, height: int = 1000, timeout: float = 60_000) -> Any:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(timeout)
            page.goto(url)
            return page

        try:
            yield open_
        finally:
            browser.close()
