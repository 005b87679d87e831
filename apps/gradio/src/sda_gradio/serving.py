"""Serving safely on this computer: the Host-header check (DNS rebinding) and "ready" only once the page answers.

A web page on another site can point its own name at 127.0.0.1 (DNS rebinding) and then talk to a local app as
if it were its own origin. Requests to the app therefore must name it as this computer does: ``127.0.0.1``,
``localhost`` or ``[::1]`` with the app's port. :class:`LoopbackHostOnly` refuses any other ``Host`` with
421 and a plain sentence; :func:`wait_until_ready` polls the page until it answers 200.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def allowed_hosts(port: int) -> frozenset[str]:
    """The ``Host`` values that name this app (a browser leaves the port out only for port 80)."""
    hosts = {f"{name}:{port}" for name in LOOPBACK_NAMES}
    if port == 80:
        hosts |= set(LOOPBACK_NAMES)
    return frozenset(hosts)


def refusal_text(host: str, port: int) -> str:
    return (f"Refused: this request names the host '{host}', but the sda app answers only to "
            f"http://127.0.0.1:{port}/ (or localhost). Open that address instead.\n")


class LoopbackHostOnly:
    """ASGI middleware: requests whose ``Host`` header is not this computer's loopback name with ``port`` get
    421 Misdirected Request (HTTP) or a closed connection (WebSocket)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], port: int) -> None:
        self.app = app
        self.port = int(port)
        self.allowed = allowed_hosts(self.port)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = ""
        for key, value in scope.get("headers") or ():
            if key == b"host":
                host = value.decode("latin-1").strip().lower()
                break
        if host in self.allowed:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = refusal_text(host or "(none)", self.port).encode()
        await send({"type": "http.response.start", "status": 421,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def middleware(port: int) -> list[Any]:
    """The FastAPI ``middleware=`` list for an app served on ``port``."""
    from starlette.middleware import Middleware

    return [Middleware(LoopbackHostOnly, port=port)]  # pyright: ignore[reportArgumentType]


def page_answers(url: str, timeout: float = 2.0) -> bool:
    """Whether ``url`` (a loopback address) answers 200 now."""
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
        with opener.open(url, timeout=timeout) as response:  # noqa: S310  (our own loopback URL)
            return int(response.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_until_ready(url: str, timeout: float = 120.0, interval: float = 0.25) -> bool:
    """Poll ``url`` until it answers 200 (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if page_answers(url, timeout=min(2.0, max(0.1, deadline - time.monotonic()))):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
