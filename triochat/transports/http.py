"""Plain HTTP on the WebSocket listener: the page, its files, metrics and health checks.

A request without an ``Upgrade`` field (:class:`~triochat.protocol.wshandshake.PlainRequest`)
is answered from the runtime's :class:`HttpRoutes`: an exact path, or the
longest matching prefix ending in ``/``.  A handler is
``async def handler(runtime, request) -> HttpResponse``; the connection closes
after the answer.  The WebSocket endpoints answer a plain request with 426,
every other path with 404.  ``HEAD`` is answered like ``GET`` without the body.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..protocol import gtwire, v2wire
from ..protocol.wshandshake import PlainRequest

if TYPE_CHECKING:
    from .._runtime import Runtime

__all__ = ["HttpHandler", "HttpResponse", "HttpRoutes", "answer"]

log = logging.getLogger("triochat.http")

TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """What a handler answers: a status, a body and its type, extra header fields."""

    status: int
    body: bytes = b""
    content_type: str = TEXT
    headers: tuple[tuple[str, str], ...] = ()


HttpHandler = Callable[["Runtime", PlainRequest], Awaitable[HttpResponse]]
"""``async def handler(runtime, request) -> HttpResponse``."""


class HttpRoutes:
    """Which handler answers which path (one table per server run)."""

    def __init__(self) -> None:
        self._exact: dict[str, HttpHandler] = {}
        self._prefixes: dict[str, HttpHandler] = {}

    def add(self, path: str, handler: HttpHandler) -> None:
        """Answer *path* with *handler*; a path ending in ``/`` (other than ``/``) is a prefix."""
        if not path.startswith("/"):
            raise ValueError(f"an HTTP path starts with '/': {path!r}")
        if path != "/" and path.endswith("/"):
            self._prefixes[path] = handler
        else:
            self._exact[path] = handler

    def find(self, path: str) -> HttpHandler | None:
        """The handler for *path* (exact first, then the longest prefix), or ``None``."""
        handler = self._exact.get(path)
        if handler is not None:
            return handler
        best = ""
        for prefix in self._prefixes:
            if path.startswith(prefix) and len(prefix) > len(best):
                best = prefix
        return self._prefixes.get(best) if best else None

    def __bool__(self) -> bool:
        return bool(self._exact or self._prefixes)


def _websocket_path(path: str) -> bool:
    return path in ("/v1", "/v1/", v2wire.PATH, v2wire.PATH + "/") or (
        path.startswith(gtwire.PATH_PREFIX) and len(path) > len(gtwire.PATH_PREFIX)
    )


async def answer(runtime: Runtime, request: PlainRequest) -> HttpResponse:
    """The answer to a plain request: its route's, 426 for a WebSocket endpoint, else 404."""
    path = urlsplit(request.target).path
    handler = runtime.http_routes.find(path)
    if handler is not None:
        try:
            return await handler(runtime, request)
        except Exception:
            log.exception("the HTTP handler for %s raised", path)
            return HttpResponse(500, b"internal error")
    if _websocket_path(path) or (path == "/" and not runtime.http_routes.find("/")):
        return HttpResponse(
            426,
            b"this is a WebSocket endpoint: connect with a WebSocket client",
            headers=(("Upgrade", "websocket"),),
        )
    return HttpResponse(404, b"unknown path")
