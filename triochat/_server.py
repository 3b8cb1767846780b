"""ChatServer: lifecycle, supervision and the public server API."""

from __future__ import annotations

import functools
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, fields
from typing import Any

import trio

from ._broadcaster import HandlerContext, MessageHandler, Middleware, Shutdown, Stop
from ._config import DEFAULT_WS_PORT, ServerConfig
from ._runtime import Runtime
from .protocol import linewire, text
from .protocol.events import ChatMessage
from .protocol.lines import encode_line
from .transports.lines import run_line_session
from .transports.sockets import SocketStream, accept_loop, bind_tcp, set_keepalive

log = logging.getLogger("triochat.server")

_SETTINGS = frozenset(f.name for f in fields(ServerConfig))


@dataclass(frozen=True, slots=True)
class Listener:
    """One address the server accepts connections on."""

    transport: str
    """``"tcp"`` (the line protocol) or ``"ws"``."""
    host: str
    port: int

    @property
    def url(self) -> str:
        """Where a client reaches this listener, e.g. ``tcp://127.0.0.1:8724``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        suffix = "/" if self.transport == "ws" else ""
        return f"{self.transport}://{host}:{self.port}{suffix}"


@dataclass(frozen=True, slots=True)
class ServerStatistics:
    """A snapshot of a server's counters (see :meth:`ChatServer.statistics`)."""

    connections: int
    """Open connections, logged in or not."""
    users: int
    """Names currently held."""
    rooms: int
    messages_in: int
    """Chat, action and private messages accepted from clients."""
    deliveries: int
    """Messages and notices handed to clients' outboxes."""
    messages_dropped: int
    """Messages a handler dropped."""
    handler_errors: int
    handler_timeouts: int
    slow_disconnects: int
    """Clients cut off for overflowing their outbox or missing a send deadline."""
    inbound_queued: int
    """Requests waiting for the broadcaster."""
    inbound_capacity: int
    outbox_queued_bytes: int
    """Bytes waiting in all outboxes together."""
    outbox_max_bytes: int
    """Bytes waiting in the fullest outbox."""


class ChatServer:
    """A group chat server for Trio.

    The API follows ``group_terminal.server.ChatServer``: :meth:`add_handler`,
    :meth:`start`, :meth:`join`, :meth:`stop` and :meth:`send_message`, so a
    program written for it runs under ``trio.run`` with only the import
    changed.  Trio programs can instead run :meth:`serve` in a nursery of their
    own (``await nursery.start(server.serve)``) or use
    :func:`open_chat_server`.

    *host* and *port* (the WebSocket port) are positional as in
    group-terminal; every other setting of :class:`ServerConfig` is a keyword
    argument, e.g. ``ChatServer(tcp_port=0, echo=True)``.

    A server runs once: after it stopped, make a new one.
    """

    def __init__(self, host: str = "localhost", port: int = DEFAULT_WS_PORT, **settings: Any) -> None:
        unknown = set(settings) - _SETTINGS
        if unknown:
            raise TypeError(f"unknown ChatServer settings: {', '.join(sorted(unknown))}")
        self.config = ServerConfig(host=host, port=port, **settings)
        self._chain: list[Middleware] = []
        self._runtime: Runtime | None = None
        self._listeners: tuple[Listener, ...] = ()
        self._stop_requested = trio.Event()
        self._ready = trio.Event()
        self._finished = trio.Event()
        self._error: BaseException | None = None

    @classmethod
    def from_config(cls, config: ServerConfig) -> ChatServer:
        """Make a server with the settings in *config*."""
        settings = {f.name: getattr(config, f.name) for f in fields(config)}
        host, port = settings.pop("host"), settings.pop("port")
        return cls(host, port, **settings)

    @property
    def host(self) -> str:
        """The host name or address the server binds."""
        return self.config.host

    @property
    def port(self) -> int:
        """The configured WebSocket port."""
        return self.config.port

    @property
    def listeners(self) -> tuple[Listener, ...]:
        """The addresses accepting connections, with ports resolved (empty until started)."""
        return self._listeners

    @property
    def tcp_port(self) -> int | None:
        """The bound TCP line-protocol port, once started."""
        for listener in self._listeners:
            if listener.transport == "tcp":
                return listener.port
        return None

    # -- the handler chain -------------------------------------------------------------

    def add_handler(self, handler: MessageHandler) -> None:
        """Register ``async def handler(content: str, username: str) -> None``.

        Handlers are called one at a time for every chat message, in the order
        messages arrive (the order every client sees), in registration order
        with any middleware.  A handler that raises or overruns
        ``handler_timeout`` is logged and the message goes on.  Replies sent
        with :meth:`send_message` from inside a handler are delivered right
        after the message.  Messages sent with :meth:`send_message` do not pass
        through the handlers.
        """

        @functools.wraps(handler)
        async def observe(message: ChatMessage, ctx: HandlerContext) -> ChatMessage | None:
            await handler(message.content, message.sender)
            return message

        self._chain.append(observe)

    def add_middleware(self, middleware: Middleware) -> None:
        """Register ``async def middleware(message, ctx) -> ChatMessage | None``.

        A middleware sees each chat message before it is sent out and returns
        it (to pass it on), a replacement (``dataclasses.replace(message,
        content=...)``), or ``None`` to drop it.  ``ctx.reply(text)`` answers
        the sender privately, ``ctx.broadcast(text, sender=...)`` speaks to the
        room; both are delivered right after the message.
        """
        self._chain.append(middleware)

    # -- running -------------------------------------------------------------------

    async def serve(
        self, *, task_status: trio.TaskStatus[tuple[Listener, ...]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the server until :meth:`stop` (or until cancelled).

        For ``await nursery.start(server.serve)``: reports the bound
        :attr:`listeners` once every listener accepts connections.  Binding
        errors (a port in use) are raised before that.
        """
        if self._runtime is not None:
            raise RuntimeError("this ChatServer has already run; create a new one")
        config = self.config
        runtime = self._runtime = Runtime(config, self._chain)
        sockets: list[socket.socket] = []
        try:
            if config.tcp_port is not None:
                sockets = await bind_tcp(config.host, config.tcp_port)
            async with trio.open_nursery() as root:
                root.start_soon(runtime.broadcaster.run, runtime.inbound_receive)
                async with trio.open_nursery() as connections:
                    runtime.nursery = connections
                    async with trio.open_nursery() as accepting:
                        accept = functools.partial(self._accept_tcp, runtime)
                        for sock in sockets:
                            accepting.start_soon(accept_loop, sock, accept)
                        self._listeners = tuple(_describe(sock) for sock in sockets)
                        for listener in self._listeners:
                            log.info("listening on %s", listener.url)
                        task_status.started(self._listeners)
                        self._ready.set()
                        await self._stop_requested.wait()
                        accepting.cancel_scope.cancel()
                    _close_all(sockets)
                    # Everything queued before this marker is delivered; then
                    # every client is told and ended.  Connections still open
                    # at the end of the grace period are cancelled.
                    connections.cancel_scope.deadline = trio.current_time() + config.grace_period
                    log.info("stopping: %d connections", len(runtime.connections))
                    done = trio.Event()
                    await runtime.inbound_send.send(Shutdown(done))
                    await done.wait()
                runtime.nursery = None
                await runtime.inbound_send.send(Stop())
            log.info("stopped")
        except Exception as exc:
            self._error = exc
            raise
        finally:
            _close_all(sockets)
            runtime.nursery = None
            self._listeners = ()
            self._ready.set()
            self._finished.set()

    def _accept_tcp(self, runtime: Runtime, sock: socket.socket, peer: object) -> None:
        set_keepalive(sock)
        stream = SocketStream(sock)
        if not runtime.spawn(
            stream,
            peer=_peer_name(peer),
            transport="tcp",
            wire=linewire.encode_event,
            session=run_line_session,
            echo=self.config.echo,
        ):
            with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                stream.send_nowait(encode_line(text.error("the server is full or stopping; try later")))
            stream.close()

    def attach_line_stream(self, stream: trio.abc.Stream, *, peer: str = "stream") -> bool:
        """Serve the line protocol over an already-connected *stream*.

        For custom listeners and for tests (see :mod:`triochat.testing`).
        Returns ``False`` (and leaves *stream* open) if the server is not
        running or cannot take another connection.
        """
        runtime = self._runtime
        if runtime is None:
            return False
        return runtime.spawn(
            stream,
            peer=peer,
            transport="stream",
            wire=linewire.encode_event,
            session=run_line_session,
            echo=self.config.echo,
        )

    async def start(self) -> None:
        """Start serving in the background; return once every listener accepts.

        This is the group-terminal style, for code that has no nursery at
        hand: the server runs as a Trio system task until :meth:`stop` is
        called or the program's main task ends.  Errors that stop it are
        logged and re-raised by :meth:`join`.  Raises whatever prevented the
        start (such as a port in use).  Trio code should prefer
        :func:`open_chat_server` or ``nursery.start(server.serve)``.
        """
        if self._runtime is not None:
            raise RuntimeError("this ChatServer has already been started")
        trio.lowlevel.spawn_system_task(self._serve_in_background, name=f"triochat server {self.host}")
        await self._ready.wait()
        if self._error is not None:
            raise self._error

    async def _serve_in_background(self) -> None:
        try:
            await self.serve()
        except Exception:
            log.exception("the chat server stopped with an error")

    async def stop(self) -> None:
        """Stop gracefully and wait until the server has stopped.

        No new connections are accepted; everything accepted before the call
        is delivered; every client is told that the server is shutting down
        and disconnected.  Clients still connected after ``grace_period``
        seconds are cut off.  Stopping a server that is not running does
        nothing.  Called from a handler, it only requests the stop.
        """
        runtime = self._runtime
        if runtime is None:
            return
        self._stop_requested.set()
        if runtime.broadcaster.in_broadcaster():
            await trio.lowlevel.checkpoint()
            return
        await self._finished.wait()

    async def join(self) -> None:
        """Wait until the server has stopped; re-raise the error that stopped it, if any."""
        if self._runtime is None:
            await trio.lowlevel.checkpoint()
            return
        await self._finished.wait()
        if self._error is not None:
            raise self._error

    # -- speaking and observing ------------------------------------------------------------

    async def send_message(
        self, content: str, sender: str, agent: bool = True, *, room: str | None = None
    ) -> None:
        """Send *content* as *sender* to every connected client (or to one *room*).

        For bots and applications; ``agent=True`` marks the message as theirs.
        Called from inside a handler, the message is delivered right after the
        one being handled.  Otherwise it is queued behind earlier messages
        (waiting if the queue is full).
        """
        if not isinstance(content, str) or not isinstance(sender, str):
            raise TypeError("content and sender must be strings")
        runtime = self._runtime
        if runtime is None or self._finished.is_set():
            raise RuntimeError("the chat server is not running")
        broadcaster = runtime.broadcaster
        request = broadcaster.agent_request(content, sender, agent, room)
        if broadcaster.in_broadcaster():
            broadcaster.defer(request)
            await trio.lowlevel.checkpoint()
            return
        await runtime.inbound_send.send(request)

    def statistics(self) -> ServerStatistics:
        """Counters and queue depths of the running (or last) run."""
        runtime = self._runtime
        if runtime is None:
            return ServerStatistics(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, self.config.inbound_capacity, 0, 0)
        stats = runtime.stats
        queued = [conn.outbox.queued for conn in runtime.connections if hasattr(conn, "outbox")]
        return ServerStatistics(
            connections=len(runtime.connections),
            users=runtime.hub.name_count,
            rooms=len(runtime.hub.room_counts()),
            messages_in=stats.messages_in,
            deliveries=stats.deliveries,
            messages_dropped=stats.messages_dropped,
            handler_errors=stats.handler_errors,
            handler_timeouts=stats.handler_timeouts,
            slow_disconnects=stats.slow_disconnects,
            inbound_queued=runtime.inbound_send.statistics().current_buffer_used,
            inbound_capacity=self.config.inbound_capacity,
            outbox_queued_bytes=sum(queued),
            outbox_max_bytes=max(queued, default=0),
        )


@asynccontextmanager
async def open_chat_server(
    host: str = "localhost", port: int = DEFAULT_WS_PORT, **settings: Any
) -> AsyncIterator[ChatServer]:
    """Run a :class:`ChatServer` for the body of an ``async with`` block.

    The server accepts connections when the block starts (its
    :attr:`~ChatServer.listeners` are bound) and is stopped gracefully when
    the block ends::

        async with open_chat_server(tcp_port=0) as server:
            print(server.listeners[0].url)
    """
    server = ChatServer(host, port, **settings)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        try:
            yield server
        finally:
            await server.stop()


def _describe(sock: socket.socket) -> Listener:
    host, port = sock.getsockname()[:2]
    return Listener("tcp", str(host), int(port))


def _peer_name(peer: object) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        host = str(peer[0])
        return f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"
    return str(peer)


def _close_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        if sock.fileno() != -1:
            trio.lowlevel.notify_closing(sock)
            sock.close()
