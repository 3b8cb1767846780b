"""WebSocket sessions: the group-terminal endpoint and the native protocol.

trio-websocket does the HTTP handshake, reads and decodes frames, answers
pings and runs the close handshake.  It writes through an
:class:`OutboxStream`, whose ``send_all`` pushes into the connection's outbox,
so its frames and the broadcaster's pre-built ones can never interleave.
Outgoing chat frames are built by the wire encoders below, once per message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import trio
import trio_websocket
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest

from .._broadcaster import LOGIN, ConnectionRequest, Reply
from .._connection import Connection
from .._outbox import CONNECTION_LOST
from .._runtime import Runtime
from ..auth import ConnectionInfo, Reject
from ..protocol import commands, gtwire, jsonwire
from ..protocol.events import Error, Event, HelpText, Welcome
from ..protocol.names import name_problem
from ..protocol.wsframe import is_close_frame, text_frame

log = logging.getLogger("triochat.websocket")

RECEIVE_SIZE = 65536
"""Bytes trio-websocket asks for per read (its default, 4 KiB, caps messages per read)."""

CLOSE_TIMEOUT = 2.0
"""How long a server-initiated close waits for the client's answer."""


def gt_wire(event: Event) -> bytes:
    """Encode *event* as a group-terminal frame (``b""`` if it has none)."""
    text = gtwire.event_text(event)
    return b"" if text is None else text_frame(text.encode("utf-8"))


def v1_wire(event: Event) -> bytes:
    """Encode *event* as a native-protocol frame."""
    return text_frame(jsonwire.encode_event(event).encode("utf-8"))


class OutboxStream(trio.abc.Stream):
    """The stream trio-websocket sees: reads from the socket, writes to the outbox."""

    def __init__(self, stream: trio.abc.Stream, conn: Connection) -> None:
        self._stream = stream
        self._conn = conn
        self._closed = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise trio.ClosedResourceError("stream is closed")
        payload = bytes(data)
        if not self._conn.outbox.push(payload):
            raise trio.BrokenResourceError("the connection is closing")
        if is_close_frame(payload):
            # Nothing may follow a close frame, not even a broadcast.
            self._conn.outbox.seal()
        await trio.lowlevel.checkpoint()

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        if self._closed:
            raise trio.ClosedResourceError("stream is closed")
        try:
            data = await self._stream.receive_some(max_bytes)
        except trio.BrokenResourceError:
            # A reset: nothing queued for this peer can arrive any more.
            self._conn.outbox.fail(CONNECTION_LOST)
            raise
        self._conn.last_seen = trio.current_time()  # any bytes answer a keepalive ping
        return data

    async def aclose(self) -> None:
        # trio-websocket is done with the connection: end the session; the
        # connection task drains the outbox and closes the socket.
        if not self._closed:
            self._closed = True
            self._conn.outbox.seal()
            self._conn.scope.cancel()
        await trio.lowlevel.checkpoint()


def _route(request: WebSocketRequest) -> tuple[str, str | None] | None:
    """(``"gt"``, username) or (``"v1"``, None); ``None`` for an unknown path."""
    path = urlsplit(request.path).path
    if jsonwire.SUBPROTOCOL in request.proposed_subprotocols or path in ("/", "/v1", "/v1/"):
        return "v1", None
    if path.startswith(gtwire.PATH_PREFIX) and len(path) > len(gtwire.PATH_PREFIX):
        return "gt", unquote(path[len(gtwire.PATH_PREFIX) :])
    return None


def connection_info(request: WebSocketRequest, peer: str) -> ConnectionInfo:
    """What an auth hook sees of a WebSocket request."""
    headers = tuple((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in request.headers)
    return ConnectionInfo(transport="ws", path=request.path, headers=headers, peer=peer)


@dataclass(frozen=True, slots=True)
class _Admitted:
    kind: str
    ws: WebSocketConnection
    identity: str | None
    path_name: str | None


async def _admit(runtime: Runtime, conn: Connection, request: WebSocketRequest) -> _Admitted | None:
    if conn.over_capacity:
        await request.reject(503, body=b"the server is full; try later")
        return None
    route = _route(request)
    if route is None:
        await request.reject(404, body=b"unknown path: use /v1 or /ws/NAME")
        return None
    decision = await runtime.authorize(connection_info(request, conn.peer))
    if isinstance(decision, Reject):
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in decision.headers]
        await request.reject(decision.status, extra_headers=headers, body=decision.reason.encode())
        return None
    kind, path_name = route
    subprotocol = jsonwire.SUBPROTOCOL if jsonwire.SUBPROTOCOL in request.proposed_subprotocols else None
    ws = await request.accept(subprotocol=subprotocol)
    conn.last_seen = trio.current_time()
    conn.keepalive = True
    if kind == "gt":
        conn.wire, conn.echo = gt_wire, True
    else:
        conn.wire, conn.echo = v1_wire, False
    return _Admitted(kind, ws, decision.identity, path_name)


async def run_ws_session(runtime: Runtime, conn: Connection, stream: trio.abc.Stream) -> None:
    """Handshake, route and authenticate, then run the endpoint's session."""
    config = runtime.config
    async with trio.open_nursery() as ws_tasks:
        admitted: _Admitted | None = None
        with trio.move_on_after(config.handshake_timeout):
            request = await trio_websocket.wrap_server_stream(
                ws_tasks,
                OutboxStream(stream, conn),
                message_queue_size=4,
                max_message_size=config.max_message_bytes,
                receive_buffer_size=RECEIVE_SIZE,
            )
            admitted = await _admit(runtime, conn, request)
        if admitted is not None:
            try:
                if admitted.kind == "gt":
                    await _gt_session(runtime, conn, admitted)
                else:
                    await _v1_session(runtime, conn, admitted)
            except ConnectionClosed:
                pass
        ws_tasks.cancel_scope.cancel()


async def _next_message(ws: WebSocketConnection) -> str | bytes | None:
    """The next message; ``None`` once the connection is closed.

    Quiet peers are pinged by the server's keepalive task
    (:meth:`Runtime.keepalive`), not here: no timer per message.
    """
    try:
        return await ws.get_message()
    except ConnectionClosed:
        return None


async def _close(ws: WebSocketConnection, code: int, reason: str) -> None:
    with trio.move_on_after(CLOSE_TIMEOUT):
        await ws.aclose(code, reason)


def _push(conn: Connection, text: str) -> None:
    conn.outbox.push(text_frame(text.encode("utf-8")))


def _claim(runtime: Runtime, conn: Connection, name: str | None, identity: str | None) -> Error | None:
    """Reserve the user's name; return why it cannot be had, or ``None``."""
    if identity is not None and name is not None and name != identity:
        return Error("login_refused", f"you are authenticated as {identity} and cannot use another name")
    name = name if name is not None else identity
    if name is None:
        return Error("login_refused", "a name is required")
    problem = name_problem(name)
    if problem is not None:
        return Error("login_refused", f"invalid name: {problem}")
    if not runtime.claim_name(conn, name, identity=identity):
        return Error("name_taken", f"User {name} is already connected")
    return None


async def _gt_session(runtime: Runtime, conn: Connection, admitted: _Admitted) -> None:
    ws = admitted.ws
    first: str | bytes | None = None
    with trio.move_on_after(runtime.config.login_timeout):
        first = await _next_message(ws)
    if first is None:
        _push(conn, gtwire.connect_response(False, "login timed out"))
        await _close(ws, 1000, "login timed out")
        return
    frame = gtwire.decode_client_frame(first)
    if not isinstance(frame, gtwire.Connect):
        _push(conn, gtwire.connect_response(False, "First message must be connect"))
        await _close(ws, 1000, "first message must be connect")
        return
    name = admitted.path_name
    if frame.username is not None and frame.username != name:
        refusal: Error | None = Error("login_refused", "the username in the frame does not match the path")
    else:
        refusal = _claim(runtime, conn, name, admitted.identity)
    if refusal is not None:
        _push(conn, gtwire.connect_response(False, refusal.text))
        await _close(ws, 1000, "connect refused")
        return
    _push(conn, gtwire.connect_response(True, "Connected successfully"))
    await runtime.request(conn, LOGIN)
    await _serve_frames(runtime, conn, ws, _interpret_gt)


def _interpret_gt(message: str | bytes) -> ConnectionRequest | None:
    decoded = gtwire.decode_client_frame(message)
    if isinstance(decoded, jsonwire.FrameError):
        return Reply(Error(decoded.code, decoded.message))
    if isinstance(decoded, gtwire.Connect):
        return Reply(Error("already_connected", "already connected"))
    return decoded


def _interpret_v1(message: str | bytes) -> ConnectionRequest | None:
    frame = jsonwire.decode_client_frame(message)
    if isinstance(frame, jsonwire.FrameError):
        return Reply(Error(frame.code, frame.message))
    if isinstance(frame, jsonwire.Login):
        return Reply(Error("already_logged_in", "already logged in"))
    if isinstance(frame, commands.Help):
        return Reply(HelpText(commands.HELP_LINES))
    return frame


async def _serve_frames(
    runtime: Runtime,
    conn: Connection,
    ws: WebSocketConnection,
    interpret: Callable[[str | bytes], ConnectionRequest | None],
) -> None:
    """Turn each message into a request for the broadcaster until the peer goes or quits."""
    while (message := await _next_message(ws)) is not None:
        request = interpret(message)
        if request is None:
            continue
        await runtime.request(conn, request)
        if isinstance(request, commands.Quit):
            await _close(ws, 1000, "goodbye")
            return


async def _v1_session(runtime: Runtime, conn: Connection, admitted: _Admitted) -> None:
    ws = admitted.ws
    logged_in = False
    with trio.move_on_after(runtime.config.login_timeout):
        while not logged_in:
            message = await _next_message(ws)
            if message is None:
                return
            frame = jsonwire.decode_client_frame(message)
            if isinstance(frame, jsonwire.FrameError):
                conn.send(Error(frame.code, frame.message))
            elif not isinstance(frame, jsonwire.Login):
                conn.send(Error("login_required", "send a 'login' frame first"))
            else:
                refusal = _claim(runtime, conn, frame.name, admitted.identity)
                if refusal is None:
                    logged_in = True
                else:
                    conn.send(refusal)
    if not logged_in:
        conn.send(Error("login_timeout", "login timed out"))
        await _close(ws, 1008, "login timed out")
        return
    conn.send(Welcome(conn.name))
    await runtime.request(conn, LOGIN)
    await _serve_frames(runtime, conn, ws, _interpret_v1)
