"""A plain-HTTP listener for the operations endpoints.

It serves ``metrics_port`` (``/metrics``, ``/healthz``, ``/readyz`` and
nothing else; a WebSocket upgrade is refused), and, during a graceful stop,
the WebSocket listener itself: there it answers the health checks (``/readyz``
says 503) and refuses everything else, WebSocket upgrades included, with 503,
so that a load balancer sees the node draining instead of a refused connection.

One short task per request, at most :data:`MAX_REQUESTS` at once (further
connections are closed at once); each has ``handshake_timeout`` to send its
request head and take the answer.
"""

from __future__ import annotations

import functools
import logging
import socket
import ssl
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import trio

from ..protocol.wshandshake import (
    MAX_HEAD_BYTES,
    HandshakeError,
    PlainRequest,
    find_head_end,
    parse_head,
    response,
    valid_field,
)
from ..transports.http import HttpResponse, HttpRoutes
from ..transports.sockets import SocketStream, accept_loop
from .health import HEALTH_PATH, READY_PATH, healthz, readyz
from .metrics import METRICS_PATH, ServerMetrics, metrics

if TYPE_CHECKING:
    from .._runtime import Runtime

__all__ = ["MAX_REQUESTS", "PlainHttpListener", "health_routes", "install", "ops_routes"]

log = logging.getLogger("triochat.http")

MAX_REQUESTS = 32
"""Plain-HTTP requests one listener answers at once."""

RECEIVE_SIZE = 4096


def ops_routes(runtime: Runtime) -> HttpRoutes:
    """The health checks, and ``/metrics`` unless metrics are off."""
    routes = HttpRoutes()
    routes.add(HEALTH_PATH, healthz)
    routes.add(READY_PATH, readyz)
    if runtime.config.metrics:
        routes.add(METRICS_PATH, metrics)
    return routes


def health_routes() -> HttpRoutes:
    """The health checks alone."""
    routes = HttpRoutes()
    routes.add(HEALTH_PATH, healthz)
    routes.add(READY_PATH, readyz)
    return routes


def install(runtime: Runtime) -> None:
    """Set up one server run's metrics and its routes on the WebSocket listener.

    The health checks are always there; ``/metrics`` too, unless metrics are
    off or have a port of their own (``metrics_port``).
    """
    config = runtime.config
    if config.metrics:
        runtime.metrics = ServerMetrics(runtime)
    runtime.http_routes.add(HEALTH_PATH, healthz)
    runtime.http_routes.add(READY_PATH, readyz)
    if config.metrics and config.metrics_port is None:
        runtime.http_routes.add(METRICS_PATH, metrics)


class PlainHttpListener:
    """Answers plain ``GET``/``HEAD`` requests on some sockets from *routes*.

    A request for another path gets *other*; a WebSocket upgrade request gets
    *upgrade*.  With *ssl_context*, TCP connections are TLS (``https``).
    """

    def __init__(
        self,
        runtime: Runtime,
        routes: HttpRoutes,
        *,
        other: HttpResponse,
        upgrade: HttpResponse,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.runtime = runtime
        self.routes = routes
        self.other = other
        self.upgrade = upgrade
        self.ssl_context = ssl_context
        self.active = 0
        """Requests being answered now."""
        self._nursery: trio.Nursery | None = None

    async def run(
        self,
        sockets: list[tuple[str, socket.socket]],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Accept on *sockets* (``(kind, socket)``, kind ``"ws+unix"`` without TLS) until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for kind, sock in sockets:
                nursery.start_soon(accept_loop, sock, functools.partial(self._accept, kind))
            task_status.started()

    def _accept(self, kind: str, sock: socket.socket, peer: object) -> None:
        if self._nursery is None or self.active >= MAX_REQUESTS:
            sock.close()
            return
        raw = SocketStream(sock)
        stream: trio.abc.Stream = raw
        if self.ssl_context is not None and kind != "ws+unix":
            stream = trio.SSLStream(raw, self.ssl_context, server_side=True, https_compatible=True)
        self.active += 1
        self._nursery.start_soon(self._serve, stream)

    async def _serve(self, stream: trio.abc.Stream) -> None:
        try:
            with trio.move_on_after(self.runtime.config.handshake_timeout):
                answer = await self._answer(stream)
                if answer:
                    await stream.send_all(answer)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            self.active -= 1
            await trio.aclose_forcefully(stream)

    async def _answer(self, stream: trio.abc.Stream) -> bytes:
        """The response to the request on *stream*; empty if the peer sent none."""
        head = bytearray()
        end = -1
        while end < 0 and len(head) <= MAX_HEAD_BYTES:
            data = await stream.receive_some(RECEIVE_SIZE)
            if not data:
                return b""
            searched = len(head)
            head += data
            end = find_head_end(head, searched)
        if not 0 <= end <= MAX_HEAD_BYTES:
            return response(431, [], b"request head too large")
        try:
            request = parse_head(bytes(head[:end]))
        except HandshakeError as exc:
            return response(exc.status, [], exc.reason.encode())
        if not isinstance(request, PlainRequest):
            return _encode(self.upgrade, head_only=False)
        path = urlsplit(request.target).path
        handler = self.routes.find(path)
        reply = self.other
        if handler is not None:
            try:
                reply = await handler(self.runtime, request)
            except Exception:
                log.exception("the HTTP handler for %s raised", path)
                reply = HttpResponse(500, b"internal error")
        return _encode(reply, head_only=request.method == "HEAD")


def _encode(reply: HttpResponse, *, head_only: bool) -> bytes:
    fields = [(b"Content-Type", reply.content_type.encode("latin-1"))]
    fields += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
    fields = [(name, value) for name, value in fields if valid_field(name, value)]
    return response(reply.status, fields, reply.body, head_only=head_only)
