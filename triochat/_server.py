"""ChatServer: lifecycle, supervision and the public server API."""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from typing import Any

import trio

from ._broadcaster import HandlerContext, MessageHandler, Middleware, Shutdown, Stop
from ._config import DEFAULT_WS_PORT, ServerConfig
from ._moderation import SERVER, ModerationRequest
from ._runtime import Runtime
from ._store import StoreStatistics, open_store
from .ops.listener import PlainHttpListener, health_routes, ops_routes
from .ops.listener import install as install_ops
from .protocol import commands, linewire, text
from .protocol.durations import duration_problem, parse_duration
from .protocol.events import ChatMessage
from .protocol.lines import encode_line
from .protocol.names import name_problem
from .transports.http import HttpResponse
from .transports.lines import run_line_session
from .transports.sockets import SocketStream, accept_loop, bind_tcp, bind_unix, set_keepalive
from .transports.websocket import run_ws_session, v1_wire
from .web import register as register_web_page

REFUSAL_SLOTS = 64
"""WebSocket connections beyond ``max_connections`` still answered with HTTP 503."""

log = logging.getLogger("triochat.server")

NOT_OPS = HttpResponse(404, b"this port serves /metrics, /healthz and /readyz only")
STOPPING = HttpResponse(503, b"the server is stopping", headers=(("Retry-After", "5"),))

_SETTINGS = frozenset(f.name for f in fields(ServerConfig))


@dataclass(frozen=True, slots=True)
class Listener:
    """One address the server accepts connections on."""

    transport: str
    """``"tcp"`` or ``"tcps"`` (the line protocol, plain or over TLS), ``"ws"`` or
    ``"wss"`` (WebSocket), ``"ws+unix"`` (WebSocket on a Unix-domain socket), or
    ``"http"`` (``metrics_port``: metrics and health checks)."""
    host: str
    """The bound address, or the socket path for ``ws+unix``."""
    port: int

    @property
    def url(self) -> str:
        """Where a client reaches this listener, e.g. ``ws://127.0.0.1:8723/``."""
        if self.transport == "ws+unix":
            return f"ws+unix://{self.host}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        suffix = "/" if self.transport in ("ws", "wss") else ""
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
    rate_limited: int = 0
    """Floods: times a user went over the rate limit and was slowed down (and told)."""
    store: StoreStatistics | None = None
    """The room log's counters, among them its lag (``pending_records``)."""


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
        self._serving = False
        """True once every listener accepted connections."""

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
        return self._bound_port("tcp", "tcps")

    @property
    def ws_port(self) -> int | None:
        """The bound WebSocket port, once started."""
        return self._bound_port("ws", "wss")

    def _bound_port(self, *transports: str) -> int | None:
        for listener in self._listeners:
            if listener.transport in transports:
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

        _check_callback(handler, "handler", "async def handler(content: str, username: str) -> None")

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
        _check_callback(middleware, "middleware", "async def middleware(message, ctx) -> ChatMessage | None")
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
        install_ops(runtime)
        if config.web:
            register_web_page(runtime.http_routes)
        try:
            if config.redis_url is not None:
                from ._cluster import open_cluster

                async with open_cluster(runtime, config.redis_url):
                    await self._serve(runtime, task_status)
            else:
                async with open_store(config.store, history_size=config.history_size) as store:
                    runtime.use_store(store)
                    await self._serve(runtime, task_status)
        except BaseException as exc:
            self._error = _failure(exc)
            raise
        finally:
            runtime.nursery = None
            self._listeners = ()
            self._ready.set()
            self._finished.set()

    async def _serve(self, runtime: Runtime, task_status: trio.TaskStatus[tuple[Listener, ...]]) -> None:
        config = self.config
        bound: list[tuple[str, socket.socket]] = []
        sockets: list[socket.socket] = []
        try:
            # Every socket is in *sockets* as soon as it is bound, so that a
            # later failure closes the listeners already open.
            if config.tcp_port is not None:
                with _naming_listener("line protocol", config.host, config.tcp_port):
                    bound += [("tcp", sock) for sock in await bind_tcp(config.host, config.tcp_port)]
                sockets = [sock for _, sock in bound]
            if config.websocket:
                with _naming_listener("WebSocket", config.host, config.port):
                    bound += [("ws", sock) for sock in await bind_tcp(config.host, config.port)]
                sockets = [sock for _, sock in bound]
            if config.unix_path is not None:
                with _naming_listener("WebSocket", config.unix_path, None):
                    bound.append(("ws+unix", bind_unix(config.unix_path)))
            sockets = [sock for _, sock in bound]
            ops_sockets: list[tuple[str, socket.socket]] = []
            if config.metrics_port is not None:
                with _naming_listener("metrics", config.host, config.metrics_port):
                    ops_bound = await bind_tcp(config.host, config.metrics_port)
                ops_sockets = [("http", sock) for sock in ops_bound]
                sockets += [sock for _, sock in ops_sockets]
            # The health checks and metrics are answered until every client is gone.
            ops_scope, drain_scope = trio.CancelScope(), trio.CancelScope()
            async with trio.open_nursery() as root:
                root.start_soon(runtime.broadcaster.run, runtime.inbound_receive)
                root.start_soon(runtime.keepalive)
                root.start_soon(runtime.mute_timer)
                if ops_sockets:
                    ops = PlainHttpListener(
                        runtime, ops_routes(runtime), other=NOT_OPS, upgrade=NOT_OPS, ssl_context=None
                    )
                    await root.start(_run_in, ops_scope, ops.run, ops_sockets)
                async with trio.open_nursery() as connections:
                    runtime.nursery = connections
                    async with trio.open_nursery() as accepting:
                        for kind, sock in bound:
                            accept = functools.partial(self._accept, runtime, kind)
                            accepting.start_soon(accept_loop, sock, accept)
                        self._listeners = tuple(self._describe(kind, sock) for kind, sock in bound)
                        self._listeners += tuple(self._describe("http", sock) for _, sock in ops_sockets)
                        for listener in self._listeners:
                            log.info("listening on %s", listener.url)
                        task_status.started(self._listeners)
                        self._serving = True
                        runtime.health.listening = True
                        self._ready.set()
                        await self._stop_requested.wait()
                        runtime.health.stopping = True
                        accepting.cancel_scope.cancel()
                    # The WebSocket listeners answer health checks (503 for the
                    # rest) while the clients drain; the others close now.
                    draining = [(kind, sock) for kind, sock in bound if kind != "tcp"]
                    _close_all([sock for kind, sock in bound if kind == "tcp"])
                    if draining:
                        drain = PlainHttpListener(
                            runtime,
                            ops_routes(runtime) if config.metrics_port is None else health_routes(),
                            other=STOPPING,
                            upgrade=STOPPING,
                            ssl_context=config.ssl_context,
                        )
                        await root.start(_run_in, drain_scope, drain.run, draining)
                    # Everything queued before this marker is delivered; then
                    # every client is told and ended.  Connections still open
                    # at the end of the grace period are cancelled.
                    connections.cancel_scope.deadline = trio.current_time() + config.grace_period
                    log.info("stopping: %d connections", len(runtime.connections))
                    done = trio.Event()
                    await runtime.inbound_send.send(Shutdown(done))
                    await done.wait()
                runtime.nursery = None
                ops_scope.cancel()
                drain_scope.cancel()
                runtime.keepalive_scope.cancel()
                runtime.timer_scope.cancel()
                await runtime.inbound_send.send(Stop())
            log.info("stopped")
        finally:
            _close_all(sockets)
            if config.unix_path is not None and any(kind == "ws+unix" for kind, _ in bound):
                with contextlib.suppress(OSError):
                    os.unlink(config.unix_path)

    def _accept(self, runtime: Runtime, kind: str, sock: socket.socket, peer: object) -> None:
        config = self.config
        raw = SocketStream(sock)
        stream: trio.abc.Stream = raw
        if kind != "ws+unix":
            set_keepalive(sock)
            if config.ssl_context is not None:
                stream = trio.SSLStream(
                    raw, config.ssl_context, server_side=True, https_compatible=kind == "ws"
                )
        if kind == "tcp":
            started = self._spawn(runtime, "tcp", stream, _peer_name(peer))
            refusal = encode_line(text.error("the server is full or stopping; try later"))
        else:
            name = _peer_name(peer) if kind == "ws" else (config.unix_path or "unix")
            started = self._spawn(runtime, "ws", stream, name)
            refusal = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        if not started:
            if stream is raw:
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    raw.send_nowait(refusal)
            raw.close()

    def _describe(self, kind: str, sock: socket.socket) -> Listener:
        if kind == "ws+unix":
            return Listener(kind, str(sock.getsockname()), 0)
        host, port = sock.getsockname()[:2]
        if self.config.ssl_context is not None and kind != "http":
            kind = {"tcp": "tcps", "ws": "wss"}[kind]
        return Listener(kind, str(host), int(port))

    def _spawn(self, runtime: Runtime, transport: str, stream: trio.abc.Stream, peer: str) -> bool:
        """Serve *stream* with the line protocol (``"tcp"``) or WebSocket (``"ws"``)."""
        if transport == "tcp":
            return runtime.spawn(
                stream,
                peer=peer,
                transport="tcp",
                wire=linewire.encode_event,
                session=run_line_session,
                echo=self.config.echo,
            )
        return runtime.spawn(
            stream,
            peer=peer,
            transport="ws",
            wire=v1_wire,
            session=run_ws_session,
            echo=False,
            refusal_slots=REFUSAL_SLOTS,
        )

    def attach_line_stream(self, stream: trio.abc.Stream, *, peer: str = "stream") -> bool:
        """Serve the line protocol over an already-connected *stream*.

        For custom listeners and for tests (see :mod:`triochat.testing`).
        Returns ``False`` (and leaves *stream* open) if the server is not
        running or cannot take another connection.
        """
        runtime = self._runtime
        return runtime is not None and self._spawn(runtime, "tcp", stream, peer)

    def attach_websocket_stream(self, stream: trio.abc.Stream, *, peer: str = "stream") -> bool:
        """Serve WebSocket (both endpoints) over an already-connected *stream*.

        Like :meth:`attach_line_stream`; the stream carries the HTTP handshake.
        """
        runtime = self._runtime
        return runtime is not None and self._spawn(runtime, "ws", stream, peer)

    async def start(self) -> None:
        """Start serving in the background; return once every listener accepts.

        This is the group-terminal style, for code that has no nursery at
        hand: the server runs as a Trio system task until :meth:`stop` is
        called or the program's main task ends.  Errors that stop it (any
        exception, including ``BaseException`` subclasses such as
        ``SystemExit`` from a handler) are logged and re-raised by
        :meth:`join`; they never reach Trio itself.  Raises whatever prevented the
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
        # A system task must not raise anything but its own cancellation:
        # Trio would turn it into TrioInternalError and end the whole run.
        # serve() recorded the failure for join() (and start()) to raise.
        try:
            await self.serve()
        except trio.Cancelled:
            raise
        except BaseException as exc:
            if self._serving:  # a failure to start is raised by start() instead
                log.error("the chat server stopped with an error", exc_info=exc)
            if isinstance(exc, BaseExceptionGroup):
                cancelled, _ = exc.split(trio.Cancelled)
                if cancelled is not None:
                    raise cancelled from None

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

    # -- moderation ------------------------------------------------------------------------

    async def kick(self, name: str, reason: str | None = None, *, by: str = SERVER) -> None:
        """Disconnect the user *name*; everyone in their rooms sees that *by* kicked them and why.

        The user gets a last error line or frame (``kicked``) and their
        connection ends (WebSocket: close code 1008).  Kicking a name nobody
        uses does nothing.  Like every moderation method, it may be called
        from a handler or middleware (then it takes effect right after the
        message being handled); otherwise it returns once it took effect.
        Raises :class:`ValueError` for an invalid name or reason.
        """
        await self._moderate(commands.Kick(_valid_name(name), _valid_reason(reason)), by)

    async def ban(
        self, name: str, duration: float | str | None = None, reason: str | None = None, *, by: str = SERVER
    ) -> None:
        """Ban the name *name* for *duration* (seconds, or ``"10m"``, ``"2h"``...; ``None``: until unbanned).

        Nobody can log in under the name (or take it with ``nick``) while the
        ban holds; a user online under it is disconnected as by :meth:`kick`.
        With a store that keeps bans (``sqlite:PATH``), bans hold across
        restarts.  Bans are by name only, not by address.
        """
        seconds = _valid_duration(duration)
        await self._moderate(commands.Ban(_valid_name(name), seconds, _valid_reason(reason)), by)

    async def unban(self, name: str, *, by: str = SERVER) -> None:
        """Lift the ban on *name* (nothing happens if it is not banned)."""
        await self._moderate(commands.Unban(_valid_name(name)), by)

    async def mute(
        self, name: str, room: str, duration: float | str | None = None, *, by: str = SERVER
    ) -> None:
        """Keep the user *name* from speaking in *room* for *duration* (``None``: until :meth:`unmute`).

        Their chat in the room is refused with the error ``muted`` (and the
        time left); the room sees the mute.  Mutes last as long as the
        server runs.  Muting a name nobody uses, or in a room that does not
        exist, does nothing.
        """
        seconds = _valid_duration(duration)
        await self._moderate(commands.Mute(_valid_name(name), seconds, _valid_room(room)), by)

    async def unmute(self, name: str, room: str, *, by: str = SERVER) -> None:
        """Let *name* speak in *room* again."""
        await self._moderate(commands.Unmute(_valid_name(name), _valid_room(room)), by)

    async def set_topic(self, room: str, text: str, *, by: str = SERVER) -> None:
        """Set *room*'s topic (``""`` clears it); the room sees the change, newcomers see the topic.

        With a store that keeps topics (``sqlite:PATH``), topics survive a
        restart.  Setting the topic of a room that does not exist does nothing.
        """
        if not isinstance(text, str) or len(text) > commands.MAX_TOPIC_LENGTH:
            raise ValueError(f"a topic is a string of at most {commands.MAX_TOPIC_LENGTH} characters")
        await self._moderate(commands.Topic(text, _valid_room(room)), by)

    async def _moderate(self, command: commands.ModerationCommand, by: str) -> None:
        if not isinstance(by, str) or not by:
            raise ValueError("'by' names who acts, a non-empty string")
        runtime = self._runtime
        if runtime is None or self._finished.is_set():
            raise RuntimeError("the chat server is not running")
        broadcaster = runtime.broadcaster
        if broadcaster.in_broadcaster():
            broadcaster.defer(ModerationRequest(command, by))
            await trio.lowlevel.checkpoint()
            return
        request = ModerationRequest(command, by, trio.Event())
        await runtime.inbound_send.send(request)
        assert request.done is not None
        await request.done.wait()
        if request.error is not None:
            log.info("%s: %s", type(command).__name__.lower(), request.error.text)

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
            rate_limited=stats.rate_limited,
            store=runtime.broadcaster.store.statistics(),
        )


@asynccontextmanager
async def open_chat_server(
    host: str = "localhost", port: int = DEFAULT_WS_PORT, **settings: Any
) -> AsyncIterator[ChatServer]:
    """Run a :class:`ChatServer` for the body of an ``async with`` block.

    The server accepts connections when the block starts (its
    :attr:`~ChatServer.listeners` are bound) and is stopped gracefully when
    the block ends.  If a listener cannot be bound, the block does not run
    and the :class:`OSError` (which names the listener) is raised as is::

        async with open_chat_server(tcp_port=0) as server:
            print(server.listeners[0].url)
    """
    server = ChatServer(host, port, **settings)
    failed_to_start: OSError | None = None
    async with trio.open_nursery() as nursery:
        try:
            await nursery.start(server.serve)
        except OSError as exc:
            # Raised below, once the nursery is closed, so that it is the
            # plain OSError and not an ExceptionGroup around it.
            failed_to_start = exc
        else:
            try:
                yield server
            finally:
                await server.stop()
    if failed_to_start is not None:
        raise failed_to_start


def _check_callback(callback: object, what: str, expected: str) -> None:
    """Refuse, at registration, a callback the broadcaster could not call or await."""
    if not callable(callback):
        raise TypeError(f"the {what} must be {expected}, not {callback!r}")
    call = getattr(callback, "__call__", None)  # noqa: B004 (async callable objects)
    if not (inspect.iscoroutinefunction(callback) or inspect.iscoroutinefunction(call)):
        raise TypeError(f"the {what} {_callable_name(callback)} must be async: {expected}")
    try:
        signature = inspect.signature(callback)
    except (TypeError, ValueError):
        return  # nothing to check (a builtin or an odd callable)
    try:
        signature.bind(None, None)
    except TypeError as exc:
        raise TypeError(
            f"the {what} {_callable_name(callback)} cannot take two arguments ({exc}): {expected}"
        ) from None


def _valid_name(name: str) -> str:
    problem = name_problem(name) if isinstance(name, str) else "a name must be a string"
    if problem:
        raise ValueError(problem)
    return name


def _valid_room(room: str) -> str:
    problem = name_problem(room, what="room name") if isinstance(room, str) else "a room must be a string"
    if problem:
        raise ValueError(problem)
    return room


def _valid_reason(reason: str | None) -> str | None:
    if reason is not None and (not isinstance(reason, str) or len(reason) > commands.MAX_REASON_LENGTH):
        raise ValueError(f"a reason is a string of at most {commands.MAX_REASON_LENGTH} characters")
    return reason or None


def _valid_duration(duration: float | str | None) -> float | None:
    if duration is None:
        return None
    if isinstance(duration, str):
        seconds = parse_duration(duration)
        if isinstance(seconds, str):
            raise ValueError(seconds)
        return seconds
    if isinstance(duration, bool) or not isinstance(duration, int | float):
        raise ValueError("a duration is seconds (a number) or a string like '10m'")
    problem = duration_problem(duration)
    if problem:
        raise ValueError(problem)
    return float(duration)


def _callable_name(callback: object) -> str:
    return str(getattr(callback, "__qualname__", None) or repr(callback))


def _peer_name(peer: object) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        host = str(peer[0])
        return f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"
    return str(peer)


def _failure(exc: BaseException) -> BaseException | None:
    """*exc* without the Trio cancellations in it (``None`` if that is all it was)."""
    if isinstance(exc, trio.Cancelled):
        return None
    if isinstance(exc, BaseExceptionGroup):
        _, rest = exc.split(trio.Cancelled)
        return rest
    return exc


@contextlib.contextmanager
def _naming_listener(what: str, host: str | None, port: int | None) -> Iterator[None]:
    """Re-raise a bind failure as a plain :class:`OSError` that says which listener failed."""
    try:
        yield
    except OSError as exc:
        where = host if port is None else f"{host or '*'}:{port}"
        reason = exc.strerror or str(exc)
        raise OSError(exc.errno, f"cannot listen for {what} on {where}: {reason}") from exc


async def _run_in(
    scope: trio.CancelScope,
    run: Callable[..., Awaitable[None]],
    *args: object,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """``await run(*args, task_status=...)`` inside *scope* (cancelled to end it)."""
    with scope:
        await run(*args, task_status=task_status)


def _close_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        if sock.fileno() != -1:
            trio.lowlevel.notify_closing(sock)
            sock.close()
