"""WebSocket sessions: the group-terminal endpoint and the native protocol.

Each connection runs in one task: :class:`~.wsconn.WebSocketLink` (wsproto)
does the handshake, frame parsing, pings and the close handshake, and every
complete message goes straight to :meth:`Runtime.request`.  Outgoing chat
frames are built by the wire encoders of :mod:`.wswire`, once per message and
wire format (compressed formats included).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import unquote, urlsplit

import trio

from .._broadcaster import LOGIN, UNAVAILABLE, UNAVAILABLE_LOGIN, ConnectionRequest, Login, Reply
from .._connection import Connection
from .._runtime import Runtime
from ..auth import ConnectionInfo, Reject
from ..protocol import commands, gtwire, jsonwire, v2wire
from ..protocol.events import Error, Event, Welcome
from ..protocol.names import name_problem
from ..protocol.origin import origin_allowed
from ..protocol.wsframe import text_frame
from ..protocol.wshandshake import PlainRequest
from ..protocol.wshandshake import UpgradeRequest as Request
from .http import answer
from .wsconn import WebSocketLink
from .wswire import gt_wire, v1_wire, v2_wire, wire_for

access = logging.getLogger("triochat.access")

LoginFrame = TypeVar("LoginFrame", jsonwire.Login, v2wire.LoginV2)

__all__ = ["connection_info", "gt_wire", "run_ws_session", "v1_wire", "v2_wire"]

log = logging.getLogger("triochat.websocket")


def _silent(event: Event) -> bytes:
    """The wire of a connection still in its handshake: broadcasts are not for it yet."""
    return b""


def _route(request: Request) -> tuple[str, str | None] | None:
    """(``"gt"``, username), (``"v2"``, None) or (``"v1"``, None); ``None`` for an unknown path.

    A proposed subprotocol decides (version 2 first), then the path.
    """
    path = urlsplit(request.target).path
    if v2wire.SUBPROTOCOL in request.subprotocols:
        return "v2", None
    if jsonwire.SUBPROTOCOL in request.subprotocols or path in ("/", "/v1", "/v1/"):
        return "v1", None
    if path in (v2wire.PATH, v2wire.PATH + "/"):
        return "v2", None
    if path.startswith(gtwire.PATH_PREFIX) and len(path) > len(gtwire.PATH_PREFIX):
        return "gt", unquote(path[len(gtwire.PATH_PREFIX) :])
    return None


def _headers(head: bytes) -> tuple[tuple[str, str], ...]:
    """The header fields of a request head, names lower-cased, in order."""
    fields = []
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, colon, value = line.partition(":")
        if colon:
            fields.append((name.strip().lower(), value.strip()))
    return tuple(fields)


def _origin(head: bytes) -> str | None:
    """The request's ``Origin`` field (``None`` without one; several are joined, and so refused)."""
    values = [value for name, value in _headers(head) if name == "origin"]
    return ", ".join(values) if values else None


def connection_info(request: Request, head: bytes, peer: str) -> ConnectionInfo:
    """What an auth hook sees of a WebSocket request."""
    return ConnectionInfo(transport="ws", path=request.target, headers=_headers(head), peer=peer)


def _forwarded_client(runtime: Runtime, conn: Connection, head: bytes) -> None:
    """Name the client by ``X-Forwarded-For`` if the peer is a trusted proxy (see :mod:`..ops.proxies`)."""
    forwarded = [value for name, value in _headers(head) if name == "x-forwarded-for"]
    if not forwarded:
        return
    unix = runtime.config.unix_path is not None and conn.peer == runtime.config.unix_path
    client = runtime.proxies.client(conn.peer, forwarded, unix=unix)
    if client != conn.peer:
        access.debug("%s forwards for %s", conn.peer, client)
        conn.peer = client


@dataclass(frozen=True, slots=True)
class _Admitted:
    kind: str
    identity: str | None
    path_name: str | None


async def _admit(
    runtime: Runtime, conn: Connection, link: WebSocketLink, request: Request
) -> _Admitted | None:
    if conn.over_capacity:
        runtime.stats.count(runtime.stats.refused, "server_full")
        link.refuse(503, body=b"the server is full; try later")
        return None
    route = _route(request)
    if route is None:
        link.refuse(404, body=b"unknown path: use /v1, /v2 or /ws/NAME")
        return None
    if runtime.proxies:
        _forwarded_client(runtime, conn, link.head)
    origin = _origin(link.head)
    if not origin_allowed(origin, request.host, runtime.config.allowed_origins):
        runtime.stats.count(runtime.stats.refused, "origin")
        log.warning(
            "refused a WebSocket handshake from %s: origin %r is not allowed (403)", conn.peer, origin
        )
        link.refuse(
            403,
            body=b"this origin may not connect: only the server's own pages and the origins "
            b"given with --allow-origin may open a WebSocket here",
        )
        return None
    conn.page_origin = origin
    decision = await runtime.authorize(connection_info(request, link.head, conn.peer))
    if isinstance(decision, Reject):
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in decision.headers]
        link.refuse(decision.status, headers=headers, body=decision.reason.encode())
        return None
    kind, path_name = route
    subprotocol = None
    for offered in (v2wire.SUBPROTOCOL, jsonwire.SUBPROTOCOL):
        if offered in request.subprotocols:
            subprotocol = offered
            break
    link.accept(subprotocol)
    conn.last_seen = trio.current_time()
    conn.keepalive = True
    deflate = link.deflate
    conn.wire = wire_for(kind, None if deflate is None else deflate.compression_window)
    conn.echo = kind in ("gt", "v2")
    if kind == "v2":
        # Several rooms at once; chat names its room; the sender sees its own
        # messages, so its view of a room is the room's whole log.
        conn.many_rooms = conn.room_required = True
    return _Admitted(kind, decision.identity, path_name)


async def _answer_plain(runtime: Runtime, link: WebSocketLink, request: PlainRequest) -> None:
    reply = await answer(runtime, request)
    headers = [(b"Content-Type", reply.content_type.encode("latin-1"))]
    headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
    link.respond(reply.status, headers, reply.body, head_only=request.method == "HEAD")


async def run_ws_session(runtime: Runtime, conn: Connection, stream: trio.abc.Stream) -> None:
    """Handshake, route and authenticate, then run the endpoint's session; close in order."""
    config = runtime.config
    conn.wire = _silent
    link = WebSocketLink(
        conn, stream, max_message_bytes=config.max_message_bytes, compression=config.compression
    )
    try:
        admitted: _Admitted | None = None
        with trio.move_on_after(config.handshake_timeout):
            request = await link.receive_request()
            if isinstance(request, PlainRequest):
                await _answer_plain(runtime, link, request)
            elif request is not None:
                admitted = await _admit(runtime, conn, link, request)
        if admitted is not None:
            if admitted.kind == "gt":
                await _gt_session(runtime, conn, link, admitted)
            elif admitted.kind == "v2":
                await _v2_session(runtime, conn, link, admitted)
            else:
                await _v1_session(runtime, conn, link, admitted)
    finally:
        link.start_closing(*_closing_reason(runtime, conn))
        # Bounded by the grace period too, so that a stop keeps to it.
        with trio.CancelScope(shield=True, deadline=trio.current_time() + config.grace_period):
            if conn.registered:
                # Free the name and tell the room now, not after the peer's close.
                await runtime._leave(conn)
            await link.finish()


def _closing_reason(runtime: Runtime, conn: Connection) -> tuple[int, str]:
    """The close code for a connection the server ends (unless one was sent already)."""
    if runtime.stopping:
        return 1001, "server shutting down"
    if conn.leave_reason == "ping timeout":
        return 1011, "keepalive ping timeout"
    if conn.leave_reason is not None:
        return 1008, conn.leave_reason
    return 1000, ""


_next_message = WebSocketLink.next_message
"""The next message; ``None`` once the connection is closing.

Quiet peers are pinged by the server's keepalive task
(:meth:`Runtime.keepalive`), not here: no timer per message, and no
coroutine of its own (an idle connection waits in fewer frames).
"""


def _close(link: WebSocketLink, code: int, reason: str) -> None:
    """Close with *code*: the end of a session the server refuses."""
    link.close(code, reason)


def _push(conn: Connection, text: str) -> None:
    conn.outbox.push(text_frame(text.encode("utf-8")))


async def _claim(runtime: Runtime, conn: Connection, name: str | None, identity: str | None) -> Error | None:
    """Reserve the user's name; return why it cannot be had, or ``None``."""
    if identity is not None and name is not None and name != identity:
        runtime.refuse(conn, name, f"authenticated as {identity}", kind="auth")
        return Error("login_refused", f"you are authenticated as {identity} and cannot use another name")
    name = name if name is not None else identity
    if name is None:
        runtime.refuse(conn, "", "no name given", kind="invalid_name")
        return Error("login_refused", "a name is required")
    problem = name_problem(name)
    if problem is not None:
        runtime.refuse(conn, name, f"invalid name: {problem}", kind="invalid_name")
        return Error("login_refused", f"invalid name: {problem}")
    banned = runtime.banned(conn, name)
    if banned is not None:
        return banned
    if not runtime.claim_name(conn, name, identity=identity):
        return Error("name_taken", f"User {name} is already connected")
    refusal = await runtime.claim_in_cluster(conn)
    if refusal == "unavailable":
        return Error(UNAVAILABLE, UNAVAILABLE_LOGIN)
    if refusal is not None:
        return Error("name_taken", f"User {name} is already connected")
    return None


async def _gt_session(runtime: Runtime, conn: Connection, link: WebSocketLink, admitted: _Admitted) -> None:
    first: str | bytes | None = None
    with trio.move_on_after(runtime.config.login_timeout):
        first = await _next_message(link)
    if first is None:
        _push(conn, gtwire.connect_response(False, "login timed out"))
        _close(link, 1000, "login timed out")
        return
    frame = gtwire.decode_client_frame(first)
    if not isinstance(frame, gtwire.Connect):
        _push(conn, gtwire.connect_response(False, "First message must be connect"))
        _close(link, 1000, "first message must be connect")
        return
    name = admitted.path_name
    if frame.username is not None and frame.username != name:
        refusal: Error | None = Error("login_refused", "the username in the frame does not match the path")
    else:
        refusal = await _claim(runtime, conn, name, admitted.identity)
    if refusal is not None:
        _push(conn, gtwire.connect_response(False, refusal.text))
        _close(link, 1000, "connect refused")
        return
    _push(conn, gtwire.connect_response(True, "Connected successfully"))
    await runtime.request(conn, LOGIN)
    await _serve_frames(runtime, conn, link, _interpret_gt)


def _interpret_gt(message: str | bytes) -> ConnectionRequest | None:
    decoded = gtwire.decode_client_frame(message)
    if isinstance(decoded, jsonwire.FrameError):
        return Reply(Error(decoded.code, decoded.message))
    if isinstance(decoded, gtwire.Connect):
        return Reply(Error("already_connected", "already connected"))
    return decoded


def _interpreter(
    decode: Callable[[str | bytes], object], login: type
) -> Callable[[str | bytes], ConnectionRequest | None]:
    """How a native-protocol session (v1 or v2) turns a message into a request after login."""

    def interpret(message: str | bytes) -> ConnectionRequest | None:
        frame = decode(message)
        if isinstance(frame, jsonwire.FrameError):
            return Reply(Error(frame.code, frame.message))
        if isinstance(frame, login):
            return Reply(Error("already_logged_in", "already logged in"))
        return frame  # type: ignore[return-value]  # the decoder gives commands otherwise

    return interpret


_interpret_v1 = _interpreter(jsonwire.decode_client_frame, jsonwire.Login)
_interpret_v2 = _interpreter(v2wire.decode_client_frame_v2, v2wire.LoginV2)


async def _serve_frames(
    runtime: Runtime,
    conn: Connection,
    link: WebSocketLink,
    interpret: Callable[[str | bytes], ConnectionRequest | None],
) -> None:
    """Turn each message into a request for the broadcaster until the peer goes or quits."""
    while (message := await _next_message(link)) is not None:
        request = interpret(message)
        if request is None:
            continue
        await runtime.request(conn, request)
        if isinstance(request, commands.Quit):
            # The broadcaster answers with the goodbye frame and the close frame after it.
            link.closing()
            return


async def _log_in(
    runtime: Runtime,
    conn: Connection,
    link: WebSocketLink,
    admitted: _Admitted,
    decode: Callable[[str | bytes], object],
    login: type[LoginFrame],
) -> LoginFrame | None:
    """Wait for a *login* frame that claims a name; ``None`` if none came (closed or timed out)."""
    with trio.move_on_after(runtime.config.login_timeout):
        while True:
            message = await _next_message(link)
            if message is None:
                return None
            frame = decode(message)
            if isinstance(frame, jsonwire.FrameError):
                conn.send(Error(frame.code, frame.message))
            elif not isinstance(frame, login):
                conn.send(Error("login_required", "send a 'login' frame first"))
            else:
                refusal = await _claim(runtime, conn, frame.name, admitted.identity)
                if refusal is None:
                    return frame
                conn.send(refusal)
    conn.send(Error("login_timeout", "login timed out"))
    _close(link, 1008, "login timed out")
    return None


async def _v1_session(runtime: Runtime, conn: Connection, link: WebSocketLink, admitted: _Admitted) -> None:
    if await _log_in(runtime, conn, link, admitted, jsonwire.decode_client_frame, jsonwire.Login) is None:
        return
    conn.send(Welcome(conn.name))
    await runtime.request(conn, LOGIN)
    await _serve_frames(runtime, conn, link, _interpret_v1)


async def _v2_session(runtime: Runtime, conn: Connection, link: WebSocketLink, admitted: _Admitted) -> None:
    login = await _log_in(runtime, conn, link, admitted, v2wire.decode_client_frame_v2, v2wire.LoginV2)
    if login is None:
        return
    conn.send(Welcome(conn.name))
    await runtime.request(conn, LOGIN if login.rooms is None else Login(login.rooms))
    await _serve_frames(runtime, conn, link, _interpret_v2)
