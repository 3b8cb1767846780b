"""One server-side WebSocket connection, driven by wsproto inside its connection task.

There is no reader task and no channel: the connection task calls
:meth:`WebSocketLink.next_message`, which reads from the stream, feeds
wsproto and returns the next complete message.  Everything the connection
writes -- the 101 response or an HTTP refusal, pongs, close frames -- is
pushed to the connection's outbox, in order with the broadcaster's frames.

:meth:`WebSocketLink.finish` ends a connection the way RFC 6455 asks: send a
close frame (unless one went out already), wait briefly for the peer's, let
the outbox drain, shut down writing and read until the peer's end of file,
so that closing the socket never resets a connection with unread data.
"""

from __future__ import annotations

import logging

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection as FrameConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.extensions import Extension
from wsproto.utilities import RemoteProtocolError

from .._connection import Connection
from .._outbox import CONNECTION_LOST
from ..protocol.wsdeflate import DeflateParams
from ..protocol.wsframe import close_frame, pong_frame
from .sockets import SocketStream
from .wsframing import Framing

log = logging.getLogger("triochat.websocket")

RECEIVE_SIZE = 65536
"""Bytes asked for per read."""

MAX_HEAD_BYTES = 16 * 1024
"""The largest HTTP request head accepted for the handshake."""

CLOSE_TIMEOUT = 2.0
"""How long closing waits for the peer's close frame and then for its end of file."""

_DRAIN_POLL = 0.005
_QUICK_POLLS = 8


class WebSocketLink:
    """The WebSocket side of one :class:`~triochat._connection.Connection`."""

    __slots__ = (
        "_after_head",
        "_broken",
        "_messages",
        "_parts",
        "_taken",
        "_ws",
        "answered",
        "close_received",
        "close_sent",
        "conn",
        "eof",
        "framing",
        "head",
        "opened",
        "stream",
    )

    def __init__(
        self, conn: Connection, stream: trio.abc.Stream, *, max_message_bytes: int, compression: bool
    ) -> None:
        self.conn = conn
        self.stream = stream
        self.framing = Framing(max_message_bytes, compression=compression)
        self._ws: WSConnection | FrameConnection = WSConnection(ConnectionType.SERVER)
        """The handshake and frames; after the 101, only wsproto's frame-level connection."""
        self._after_head = b""
        self._messages: list[str | bytes] = []
        """Complete messages from the last read; ``_taken`` of them were returned."""
        self._taken = 0
        self._parts: list[str | bytes] = []
        self.head = b""
        """The raw HTTP request head."""
        self.answered = False
        """An HTTP response (101 or a refusal) went out."""
        self.opened = False
        """The handshake succeeded: frames flow."""
        self.close_sent = False
        self.close_received = False
        self.eof = False
        """The peer ended its side of the stream (or the stream broke)."""
        self._broken = False
        """wsproto stopped parsing after a protocol violation."""

    @property
    def deflate(self) -> DeflateParams | None:
        """What permessage-deflate settings were agreed, if any."""
        return self.framing.params

    # -- reading -----------------------------------------------------------------------

    async def _receive(self) -> bytes:
        try:
            data = await self.stream.receive_some(RECEIVE_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            # A reset: nothing queued for this peer can arrive any more.
            self.conn.outbox.fail(CONNECTION_LOST)
            self.eof = True
            return b""
        if data:
            self.conn.last_seen = trio.current_time()  # any bytes answer a keepalive ping
        else:
            self.eof = True
            if self.opened and not self.close_received and not self.close_sent:
                log.info("%s ended the connection without a close frame (1006)", self.conn.peer)
        return bytes(data)

    async def receive_request(self) -> Request | None:
        """Read the HTTP upgrade request; ``None`` if there is none (a bad one is answered)."""
        buffer = bytearray()
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            if len(buffer) > MAX_HEAD_BYTES:
                self.refuse(400, body=b"request head too large")
                return None
            data = await self._receive()
            if not data:
                return None
            buffer += data
        self.head = bytes(buffer[: end + 4])
        self._after_head = bytes(buffer[end + 4 :])
        try:
            self._ws.receive_data(self.head)
            for event in self._ws.events():
                if isinstance(event, Request):
                    return event
        except RemoteProtocolError as exc:
            hint = exc.event_hint
            status = hint.status_code if isinstance(hint, RejectConnection) else 400
            headers = hint.headers if isinstance(hint, RejectConnection) else []
            self._refuse(status, list(headers), str(exc).encode())
            return None
        self.refuse(400, body=b"not a WebSocket upgrade request")
        return None

    async def next_message(self) -> str | bytes | None:
        """The next complete message; ``None`` once the connection is closing or closed."""
        messages = self._messages
        while self._taken == len(messages):
            messages.clear()
            self._taken = 0
            if self.close_sent or self.close_received or self.eof:
                return None
            data = await self._receive()
            if data:
                self._feed(data)
        message = messages[self._taken]
        self._taken += 1
        return message

    def _feed(self, data: bytes) -> None:
        ws = self._ws
        ws.receive_data(data)
        for event in ws.events():
            if isinstance(event, TextMessage | BytesMessage):
                if self.close_sent:
                    continue
                part: str | bytes = event.data if isinstance(event.data, str | bytes) else bytes(event.data)
                if event.message_finished and not self._parts:
                    self._messages.append(part)
                    continue
                self._parts.append(part)
                if event.message_finished:
                    self._messages.append(_join(self._parts))
                    self._parts = []
            elif isinstance(event, Ping):
                if not self.close_sent:
                    self.conn.outbox.push(pong_frame(event.payload))
            elif isinstance(event, CloseConnection):
                self._closed_by_peer(event)
                return
            # A Pong needs nothing: any bytes already count as an answer (last_seen).

    def _closed_by_peer(self, event: CloseConnection) -> None:
        code, reason = int(event.code), event.reason or ""
        if self._ws.state is not ConnectionState.REMOTE_CLOSING:
            # wsproto found a protocol violation (1002, 1007) or a message too big (1009).
            self._broken = True
            if self.framing.too_big:
                code, reason = 1009, f"message too big: the limit is {self.framing.limit} bytes"
            log.info("closing %s: %d %s", self.conn.peer, code, reason)
            self.close(code, reason)
            return
        self.close_received = True
        log.info("%s closed the connection: %d %s", self.conn.peer, code, reason)
        # Echo the code, as RFC 6455 asks; a close without a code gets one without.
        self.close(None if code == 1005 else code, "")

    # -- writing -----------------------------------------------------------------------

    def accept(self, subprotocol: str | None) -> None:
        """Send the 101 response; frames flow from now on."""
        # Always there, for its limits; it answers an offer only if compression is on.
        extensions: list[Extension] = [self.framing]
        handshake = self._ws
        assert isinstance(handshake, WSConnection)
        self.conn.outbox.push(
            handshake.send(AcceptConnection(subprotocol=subprotocol, extensions=extensions))
        )
        assert handshake.connection is not None
        self._ws = handshake.connection  # the HTTP machinery is no longer needed: about 3 KB less
        self.head = b""
        self.answered = self.opened = True
        if self._after_head:
            # Frames sent right behind the request (allowed to fail: the peer jumped ahead).
            self._feed(self._after_head)
            self._after_head = b""

    def refuse(
        self, status: int, *, headers: list[tuple[bytes, bytes]] | None = None, body: bytes = b""
    ) -> None:
        """Answer the handshake with HTTP *status* and *body*; nothing follows."""
        self._refuse(status, headers or [], body)

    def _refuse(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        headers = [*headers, (b"Content-Length", str(len(body)).encode()), (b"Connection", b"close")]
        data = self._ws.send(RejectConnection(status_code=status, headers=headers, has_body=True))
        data += self._ws.send(RejectData(data=body))
        self.conn.outbox.push(data)
        self.conn.outbox.seal()
        self.answered = True

    def close(self, code: int | None, reason: str) -> None:
        """Send a close frame (once); nothing is sent after it."""
        if self.close_sent:
            return
        self.close_sent = True
        self.conn.outbox.push(close_frame(code, reason))
        self.conn.outbox.seal()

    def closing(self) -> None:
        """Note that a close frame went out by other means (a goodbye's)."""
        self.close_sent = True

    # -- ending ------------------------------------------------------------------------

    def start_closing(self, code: int, reason: str) -> None:
        """Send a close frame with *code*, unless one went out or nothing can."""
        if self.opened and not self.eof and self.conn.outbox.failure is None:
            self.close(code, reason)

    async def finish(self) -> None:
        """End the connection in order; call it shielded: it takes at most ``CLOSE_TIMEOUT``."""
        outbox = self.conn.outbox
        if outbox.failure is not None or not self.answered:
            return  # nothing can be said, or nothing was: just close
        outbox.seal()
        with trio.move_on_after(CLOSE_TIMEOUT):
            if self.close_sent:
                while not self.close_received and not self._broken and not self.eof:
                    data = await self._receive()
                    if data:
                        self._feed_closing(data)
            # The outbox offers no "drained" event; its writer is busy only
            # while the peer reads slowly, and this wait is bounded.
            polls = 0
            while outbox.draining and outbox.failure is None:
                # A few scheduler passes let a quick writer finish; then poll gently.
                await trio.sleep(0 if polls < _QUICK_POLLS else _DRAIN_POLL)
                polls += 1
            if outbox.failure is not None:
                return
            if isinstance(self.stream, trio.abc.HalfCloseableStream):
                try:
                    await self.stream.send_eof()
                except (trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError):
                    return
            if _on_a_socket(self.stream) and not self.close_received:
                # The peer may still be sending (its close frame is the last
                # thing it sends): read to its end of file, as closing a socket
                # with unread bytes resets the connection and can destroy what
                # the peer has not read yet.
                while not self.eof:
                    await self._receive()

    def _feed_closing(self, data: bytes) -> None:
        """Parse what arrives after our close, for the peer's close; drop the rest."""
        self._ws.receive_data(data)
        for event in self._ws.events():
            if isinstance(event, CloseConnection):
                self.close_received = True  # its answer, or a violation: either way, done
                return


def _join(parts: list[str | bytes]) -> str | bytes:
    if isinstance(parts[0], str):
        return "".join(p for p in parts if isinstance(p, str))
    return b"".join(p for p in parts if isinstance(p, bytes))


def _on_a_socket(stream: trio.abc.Stream) -> bool:
    """True if *stream* ends in a kernel socket (which resets when closed with unread data)."""
    if isinstance(stream, trio.SSLStream):
        stream = stream.transport_stream
    return isinstance(stream, SocketStream | trio.SocketStream)
