"""One server-side WebSocket connection, driven inside its connection task.

The upgrade request is checked by :mod:`triochat.protocol.wshandshake`
(strict, bounded, sans-I/O); after the 101 the frames go to wsproto's frame
parser (:class:`wsproto.frame_protocol.FrameProtocol`), which an idle
connection drops between messages and makes again on its next read.

There is no reader task and no channel: the connection task calls
:meth:`WebSocketLink.next_message`, which reads from the stream, feeds
the parser and returns the next complete message.  Everything the connection
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
from wsproto.frame_protocol import FrameProtocol, Opcode, ParseFailed

from .._connection import Connection
from .._outbox import CONNECTION_LOST
from ..protocol.wsdeflate import EXTENSION, DeflateParams
from ..protocol.wsframe import close_frame, pong_frame
from ..protocol.wshandshake import (
    MAX_HEAD_BYTES,
    HandshakeError,
    PlainRequest,
    UpgradeRequest,
    accept_response,
    find_head_end,
    parse_head,
    refusal,
    response,
    valid_field,
)
from .sockets import SocketStream
from .wsframing import Framing

log = logging.getLogger("triochat.websocket")

RECEIVE_SIZE = 65536
"""Bytes asked for per read."""

CLOSE_TIMEOUT = 2.0
"""How long closing waits for the peer's close frame and then for its end of file."""


class WebSocketLink:
    """The WebSocket side of one :class:`~triochat._connection.Connection`."""

    __slots__ = (
        "_after_head",
        "_broken",
        "_messages",
        "_parts",
        "_proto",
        "_request",
        "_taken",
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
        self._proto: FrameProtocol | None = None
        """wsproto's frame parser, made by :meth:`accept` (the handshake is parsed here)."""
        self._request: UpgradeRequest | None = None
        """The upgrade request, until it is answered."""
        self._after_head = b""
        self._messages: list[str | bytes] = []
        """Complete messages from the last read; ``_taken`` of them were returned."""
        self._taken = 0
        self._parts: list[str | bytes] = []
        self.head = b""
        """The raw HTTP request head, until it is answered."""
        self.answered = False
        """An HTTP response (101 or a refusal) went out."""
        self.opened = False
        """The handshake succeeded: frames flow."""
        self.close_sent = False
        self.close_received = False
        self.eof = False
        """The peer ended its side of the stream (or the stream broke)."""
        self._broken = False
        """The frame parser stopped after a protocol violation."""

    @property
    def deflate(self) -> DeflateParams | None:
        """What permessage-deflate settings were agreed, if any."""
        return self.framing.params

    # -- reading -----------------------------------------------------------------------

    async def _receive(self) -> bytes:
        try:
            data = await self.stream.receive_some(RECEIVE_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._lost()
            return b""
        self._received(data)
        return bytes(data)

    def _lost(self) -> None:
        """A reset: nothing queued for this peer can arrive any more."""
        self.conn.outbox.fail(CONNECTION_LOST)
        self.eof = True

    def _received(self, data: bytes | bytearray) -> None:
        if data:
            self.conn.last_seen = trio.current_time()  # any bytes answer a keepalive ping
        else:
            self.eof = True
            if self.opened and not self.close_received and not self.close_sent:
                log.info("%s ended the connection without a close frame (1006)", self.conn.peer)

    async def receive_request(self) -> UpgradeRequest | PlainRequest | None:
        """Read the HTTP request; ``None`` if there is none (a bad one is answered).

        An upgrade request is answered by :meth:`accept` or :meth:`refuse`; a
        plain ``GET``/``HEAD`` (no ``Upgrade`` field) by :meth:`respond`.

        At most :data:`~triochat.protocol.wshandshake.MAX_HEAD_BYTES` of head
        are read; the caller bounds the time (``handshake_timeout``).
        """
        data = await self._receive()
        end = find_head_end(data)
        if end < 0:
            buffer = bytearray(data)
            while data and len(buffer) <= MAX_HEAD_BYTES:
                data = await self._receive()
                searched = len(buffer)
                buffer += data
                end = find_head_end(buffer, searched)
                if end >= 0:
                    break
            if end < 0:
                if data:
                    self.refuse(400, body=b"request head too large")
                return None  # the peer went away before its head was complete
            data = bytes(buffer)
        self.head = data[:end]
        self._after_head = data[end:]
        try:
            request = parse_head(self.head)
        except HandshakeError as exc:
            self._refuse(exc.status, list(exc.headers), exc.reason.encode())
            return None
        if isinstance(request, UpgradeRequest):
            self._request = request
        return request

    async def next_message(self) -> str | bytes | None:
        """The next complete message; ``None`` once the connection is closing or closed."""
        messages = self._messages
        while self._taken == len(messages):
            messages.clear()
            self._taken = 0
            if self.close_sent or self.close_received or self.eof:
                return None
            if self._proto is not None and not self._parts and _at_rest(self._proto):
                # Between messages the parser holds no state worth keeping: an
                # idle connection drops it (about 1 KB) and the next read makes another.
                self._proto = None
            # Not through _receive: an idle connection waits here, and one
            # coroutine frame less is a few hundred bytes less per connection.
            try:
                data = await self.stream.receive_some(RECEIVE_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._lost()
                return None
            self._received(data)
            if data:
                self._feed(bytes(data))
        message = messages[self._taken]
        self._taken += 1
        return message

    def _parser(self) -> FrameProtocol:
        proto = self._proto
        if proto is None:
            # The framing extension is always there, for its limits; it inflates
            # only if permessage-deflate was agreed.
            proto = self._proto = FrameProtocol(False, [self.framing])
        return proto

    def _feed(self, data: bytes) -> None:
        proto = self._parser()
        proto.receive_bytes(data)
        try:
            for frame in proto.received_frames():
                opcode = frame.opcode
                if opcode is Opcode.TEXT or opcode is Opcode.BINARY or opcode is Opcode.CONTINUATION:
                    if self.close_sent:
                        continue
                    payload = frame.payload
                    assert not isinstance(payload, tuple)  # only a close frame's is
                    part: str | bytes = payload if isinstance(payload, str | bytes) else bytes(payload)
                    if frame.message_finished and not self._parts:
                        self._messages.append(part)
                        continue
                    self._parts.append(part)
                    if frame.message_finished:
                        self._messages.append(_join(self._parts))
                        self._parts = []
                elif opcode is Opcode.PING:
                    if not self.close_sent:
                        assert isinstance(frame.payload, bytes | bytearray)
                        self.conn.outbox.push(pong_frame(bytes(frame.payload)))
                elif opcode is Opcode.CLOSE:
                    assert isinstance(frame.payload, tuple)
                    self._closed_by_peer(*frame.payload)
                    return
                # A Pong needs nothing: any bytes already count as an answer (last_seen).
        except ParseFailed as exc:
            self._violation(int(exc.code), str(exc))

    def _violation(self, code: int, reason: str) -> None:
        """The parser found a protocol violation (1002, 1007) or a message too big (1009)."""
        self._broken = True
        if self.framing.too_big:
            code, reason = 1009, f"message too big: the limit is {self.framing.limit} bytes"
        log.info("closing %s: %d %s", self.conn.peer, code, reason)
        self.close(code, reason)

    def _closed_by_peer(self, code: int, reason: str) -> None:
        self.close_received = True
        log.info("%s closed the connection: %d %s", self.conn.peer, code, reason)
        # Echo the code, as RFC 6455 asks; a close without a code gets one without.
        self.close(None if code == 1005 else int(code), "")

    # -- writing -----------------------------------------------------------------------

    def accept(self, subprotocol: str | None) -> None:
        """Send the 101 response; frames flow from now on."""
        request = self._request
        assert request is not None and not self.answered
        framing = self.framing
        agreed = None
        for offer in request.extensions:
            # Only the first acceptable permessage-deflate offer is taken (and none
            # when compression is off); any other extension is declined.
            params = framing.accept(offer)
            if params is not None:
                agreed = f"{EXTENSION}; {params}" if params else EXTENSION
        if subprotocol is not None and subprotocol not in request.subprotocols:
            raise ValueError(f"the client did not offer the subprotocol {subprotocol!r}")
        self.conn.outbox.push(accept_response(request.key, subprotocol, agreed))
        self._request = None
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

    def respond(
        self, status: int, headers: list[tuple[bytes, bytes]], body: bytes, *, head_only: bool = False
    ) -> None:
        """Answer a plain HTTP request (see :meth:`receive_request`); the connection then closes."""
        fields = [(name, value) for name, value in headers if valid_field(name, value)]
        if len(fields) < len(headers):
            log.error("dropped invalid header fields from a %d answer to %s", status, self.conn.peer)
        if not 200 <= status <= 599:
            log.error("cannot answer %s with HTTP status %d: answering 500", self.conn.peer, status)
            status, fields, body = 500, [], b"internal error"
        self.conn.outbox.push(response(status, fields, body, head_only=head_only))
        self.conn.outbox.seal()
        self.head = b""
        self.answered = True

    def _refuse(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        fields = [(name, value) for name, value in headers if valid_field(name, value)]
        if len(fields) < len(headers):
            log.error("dropped invalid header fields from a %d answer to %s", status, self.conn.peer)
        if not 200 <= status <= 599:
            log.error("cannot answer %s with HTTP status %d: answering 500", self.conn.peer, status)
            status, fields, body = 500, [], b"internal error"
        self.conn.outbox.push(refusal(status, fields, body))
        self.conn.outbox.seal()
        self._request = None
        self.head = b""
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
        if self.eof and not outbox.draining:
            # The peer has ended its side and nothing is left to send: closing
            # the socket now is orderly (no unread bytes, so no reset), and
            # saves a timer and a scheduler pass per connection.
            return
        with trio.move_on_after(CLOSE_TIMEOUT):
            if self.close_sent:
                while not self.close_received and not self._broken and not self.eof:
                    data = await self._receive()
                    if data:
                        self._feed_closing(data)
            # The writer is busy only while the peer reads slowly; bounded above.
            while outbox.draining and outbox.failure is None:
                await outbox.wait_drained()
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
        proto = self._parser()
        proto.receive_bytes(data)
        try:
            for frame in proto.received_frames():
                if frame.opcode is Opcode.CLOSE:
                    self.close_received = True  # its answer
                    return
        except ParseFailed:
            self.close_received = True  # a violation: either way, done


def _at_rest(proto: FrameProtocol) -> bool:
    """True if *proto* is between messages, with no byte of a next frame buffered.

    It looks into wsproto's parser; should those attributes change, the
    answer is ``False`` and the parser is simply kept.
    """
    decoder = getattr(proto, "_frame_decoder", None)
    messages = getattr(proto, "_message_decoder", None)
    buffer = getattr(decoder, "buffer", None)
    return (
        buffer is not None
        and getattr(decoder, "header", True) is None
        and getattr(messages, "opcode", True) is None
        and len(getattr(buffer, "buffer", b"?")) == 0
    )


def _join(parts: list[str | bytes]) -> str | bytes:
    if isinstance(parts[0], str):
        return "".join(p for p in parts if isinstance(p, str))
    return b"".join(p for p in parts if isinstance(p, bytes))


def _on_a_socket(stream: trio.abc.Stream) -> bool:
    """True if *stream* ends in a kernel socket (which resets when closed with unread data)."""
    if isinstance(stream, trio.SSLStream):
        stream = stream.transport_stream
    return isinstance(stream, SocketStream | trio.SocketStream)
