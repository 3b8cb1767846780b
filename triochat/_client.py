"""ChatClient: a Trio client for triochat servers.

``ws://`` and ``wss://`` URLs speak the native protocol, version 2 (``/v2``;
a URL with the path ``/v1`` speaks version 1); ``tcp://`` and ``tcps://``
speak the line protocol.  Either way the application sees the same typed
events (:mod:`triochat.protocol.events`).

Over version 2 the client keeps, for every room it is in, the last position
(epoch and seq) it has seen: :attr:`ChatClient.positions`.  Give them to the
next :func:`open_chat_client` (``rooms=client.positions``) after a lost
connection, and the server sends exactly the messages missed meanwhile (as
``history`` messages), or, when that is no longer possible, the recent
history; messages seen before are never given twice.
"""

from __future__ import annotations

import logging
import os
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Generic, Protocol, TypeVar
from urllib.parse import urlsplit

import trio
import trio_websocket

from ._util import unwrap_single_exception
from .protocol import commands, jsonwire, text, v2wire
from .protocol.events import (
    ChatMessage,
    Error,
    Event,
    Goodbye,
    HelpText,
    Joined,
    Left,
    NameChanged,
    Notice,
    RoomEntered,
    RoomList,
    Welcome,
    WhoList,
)
from .protocol.lineparse import ServerLineParser, parse_server_line
from .protocol.lines import Line, LineDecoder, encode_line
from .protocol.names import name_key, name_problem

log = logging.getLogger("triochat.client")

EVENT_BUFFER = 1024
"""Events a client buffers for the application before it stops reading."""


class ChatClientError(Exception):
    """Base class of the client's errors."""


class LoginRefused(ChatClientError):
    """The server refused the login; the message says why.

    ``code`` is ``"name_taken"`` or ``"invalid_name"`` when another name
    may succeed, and another code (such as ``"login_refused"``) otherwise.
    """

    def __init__(self, message: str, code: str = "login_refused") -> None:
        super().__init__(message)
        self.code = code

    @property
    def name_refused(self) -> bool:
        """Whether the name was the problem (taken or invalid), so another may do."""
        return self.code in ("name_taken", "invalid_name")


class ConnectionLost(ChatClientError):
    """The connection ended without the client asking for it."""


class TLSError(ConnectionLost):
    """The TLS handshake failed, for instance because the server's
    certificate could not be verified; the message says why."""


def _refusal(event: Error) -> LoginRefused:
    """A :class:`LoginRefused` for a refusal, with a code that says whether the name was at fault."""
    code = event.code
    if code == "name_taken" or " is taken" in event.text:
        code = "name_taken"
    elif event.text.startswith("invalid name"):
        code = "invalid_name"
    elif code == "error" and " is banned " in event.text:
        code = "banned"
    return LoginRefused(event.text, code)


class _Transport(Protocol):
    async def send(self, frame: commands.Command) -> None: ...
    async def receive(self) -> Event | None: ...
    async def aclose(self) -> None: ...


Positions = dict[str, "tuple[str, int] | None"]
"""Rooms with the last position (epoch, seq) seen in each (``None``: nothing seen yet)."""


class _WebSocketTransport:
    def __init__(self, ws: trio_websocket.WebSocketConnection, stream: trio.abc.Stream, version: int) -> None:
        self.ws = ws
        self.stream = stream
        self.version = version

    def _encode(self, frame: commands.Command | v2wire.LoginV2) -> str:
        if self.version == 2:
            return v2wire.encode_client_frame_v2(frame)
        if isinstance(frame, v2wire.LoginV2):
            return jsonwire.encode_client_frame(jsonwire.Login(frame.name, frame.token))
        return jsonwire.encode_client_frame(frame)

    async def login(
        self, name: str | None, token: str | None, rooms: Mapping[str, tuple[str, int] | None] | None = None
    ) -> str:
        await self.ws.send_message(self._encode(v2wire.LoginV2(name, token, rooms)))
        event = await self.receive()
        if isinstance(event, Welcome):
            return event.name
        if isinstance(event, Error):
            raise _refusal(event)
        raise ConnectionLost("the server closed the connection during login")

    async def send(self, frame: commands.Command) -> None:
        try:
            await self.ws.send_message(self._encode(frame))
        except trio_websocket.ConnectionClosed as exc:
            raise ConnectionLost(f"connection closed: {exc.reason}") from None

    async def receive(self) -> Event | None:
        try:
            message = await self.ws.get_message()
        except trio_websocket.ConnectionClosed:
            return None
        event = v2wire.decode_event_v2(message) if self.version == 2 else jsonwire.decode_event(message)
        if isinstance(event, jsonwire.FrameError):
            log.warning("ignoring a frame from the server: %s", event.message)
            return Notice(f"unreadable frame: {event.message}", code="bad_frame")
        return event

    async def aclose(self) -> None:
        with trio.move_on_after(2):
            await self.ws.aclose()
        # trio-websocket leaves the socket open when the peer vanished
        # without a close handshake; the stream is ours, so close it.
        await trio.aclose_forcefully(self.stream)


class _LineTransport:
    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.decoder = LineDecoder(1 << 20)
        self.lines: deque[str] = deque()
        self.me = ""
        self.parser = ServerLineParser()
        self.parsed: list[Event] = []

    async def _peek(self) -> str | None:
        """The next line without taking it; ``None`` at the end of the stream."""
        while not self.lines:
            try:
                data = await self.stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return None
            if not data:
                return None
            self.lines.extend(e.text for e in self.decoder.feed(data) if isinstance(e, Line))
        return self.lines[0]

    async def _line(self) -> str | None:
        line = await self._peek()
        if line is not None:
            self.lines.popleft()
        return line

    async def login(
        self, name: str | None, token: str | None, rooms: Mapping[str, tuple[str, int] | None] | None = None
    ) -> str:
        if name is None:
            raise LoginRefused("a name is required for tcp:// servers", "invalid_name")
        while True:
            line = await self._line()
            if line is None:
                raise ConnectionLost("the server closed the connection during login")
            if line == text.PROMPT_NAME:
                break
            if line.startswith("error: "):
                raise LoginRefused(line[7:])
        await self.stream.send_all(encode_line(name))
        while True:
            line = await self._line()
            if line is None:
                raise ConnectionLost("the server closed the connection during login")
            event = parse_server_line(line)
            if isinstance(event, Welcome):
                self.me = event.name
                return event.name
            if isinstance(event, Error):
                raise _refusal(event)

    async def send(self, frame: commands.Command) -> None:
        try:
            await self.stream.send_all(encode_line(_line_for(frame)))
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise ConnectionLost(f"connection lost: {exc}") from None

    async def receive(self) -> Event | None:
        if self.parsed:
            return self._take()
        line = await self._line()
        if line is None:
            return None
        if line == commands.HELP_LINES[0]:
            # The help answer is a known block of lines: take those, and
            # only those (chat lines may follow in the same read).
            help_lines = [line]
            for expected in commands.HELP_LINES[1:]:
                if await self._peek() != expected:
                    break
                help_lines.append(self.lines.popleft())
            return HelpText(tuple(help_lines))
        return await self._event(line)

    async def _event(self, line: str) -> Event | None:
        """The event *line* starts, reading the lines that continue a multi-line message."""
        self.parsed += self.parser.feed(line, me=self.me)
        while not self.parsed:
            more = await self._line()
            if more is None:
                return None
            self.parsed += self.parser.feed(more, me=self.me)
        return self._take()

    def _take(self) -> Event:
        event = self.parsed.pop(0)
        if isinstance(event, NameChanged):
            self.me = event.name
        return event

    async def aclose(self) -> None:
        await trio.aclose_forcefully(self.stream)


def _line_for(frame: commands.Command) -> str:
    """The line that asks a line-protocol server for *frame*."""
    if isinstance(frame, commands.Say):
        body = frame.text
        if body.startswith("/"):
            line = "/" + body
        elif isinstance(commands.parse_command(body), commands.Quit):
            # "QUIT" alone is the line protocol's quit command.
            line = f"/say {body}"
        else:
            line = body
    elif isinstance(frame, commands.Action):
        line = f"/me {frame.text}"
    elif isinstance(frame, commands.PrivateMessage):
        line = f"/msg {frame.target} {frame.text}"
    elif isinstance(frame, commands.JoinRoom):
        line = f"/join {frame.room}"
    elif isinstance(frame, commands.Part):
        line = "/part" if frame.room is None else f"/part {frame.room}"
    elif isinstance(frame, commands.History):
        raise ValueError("history needs the native protocol (ws://)")
    elif isinstance(frame, commands.Nick):
        line = f"/nick {frame.name}"
    elif isinstance(frame, commands.Who):
        line = "/who"
    elif isinstance(frame, commands.ListRooms):
        line = "/rooms"
    elif isinstance(frame, commands.Help):
        line = "/help"
    elif isinstance(frame, commands.ModerationCommand):
        line = commands.moderation_line(frame)
    else:
        line = "/quit"
    return line.replace("\r", " ").replace("\n", " ")


T = TypeVar("T")


class _Answer(Generic[T]):
    """Where the reader puts the answer to one ``who()`` or ``rooms()`` request."""

    __slots__ = ("abandoned", "done", "value")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.value: T | None = None
        self.abandoned = False
        """The asker gave up after its request was sent: drop the answer when it comes."""

    async def wait(self) -> T:
        try:
            await self.done.wait()
        except BaseException:
            self.abandoned = True
            raise
        if self.value is None:
            raise ConnectionLost("the connection ended before the answer came")
        return self.value


class ChatClient:
    """A logged-in connection to a triochat server; see :func:`open_chat_client`.

    Iterate over it (``async for event in client``) to receive events in the
    order the server sent them.  Iteration ends after a goodbye the client
    asked for; a connection that ends otherwise raises :class:`ConnectionLost`
    (with the server's shutdown notice as the reason, if there was one).
    """

    def __init__(
        self, transport: _Transport, name: str, url: str, positions: Positions | None = None
    ) -> None:
        self._transport = transport
        self.name = name
        """The name the server gave us (it may change with :meth:`nick`)."""
        self.room: str = "lobby"
        """The room we talk in: the one we entered last (as reported by the server)."""
        self.version = transport.version if isinstance(transport, _WebSocketTransport) else 0
        """The native protocol's version (1 or 2), or 0 for the line protocol."""
        self.positions: Positions = {} if positions is None else dict(positions)
        """Version 2: each room we are in, with the last position (epoch, seq) seen there.

        Pass it as ``rooms=`` to :func:`open_chat_client` to resume after a lost connection."""
        self.recovered: dict[str, bool] = {}
        """Version 2: per room, whether entering it (last) gave every message after the
        position asked for; ``False`` means some were missed for good (the recent
        history came instead)."""
        self.url = url
        self._events_send, self._events = trio.open_memory_channel[Event](EVENT_BUFFER)
        self._send_lock = trio.Lock()
        self._who_answers: deque[_Answer[tuple[str, ...]]] = deque()
        self._rooms_answers: deque[_Answer[tuple[tuple[str, int], ...]]] = deque()
        self._closing = False
        self._ended: str | None = None
        self._login_answers: set[str] | None = (
            {name_key(r) for r in self.positions} if self.positions else None
        )
        """Version 2: rooms whose ``room`` frame answers the login (``None``: the default room's).

        Those frames are not given to the application: logging in over the
        other protocols gives none either."""
        self._seen_floor: dict[str, tuple[str, int] | None] = {}
        """Per room, the position seen before this connection: log messages up to it are not shown again."""

    async def _read(self) -> None:
        reason = "the server closed the connection"
        try:
            while True:
                event = await self._transport.receive()
                if event is None:
                    break
                tracked = self._track(event)
                if tracked is None:
                    continue
                event = tracked
                if isinstance(event, WhoList) and self._who_answers:
                    _deliver(self._who_answers.popleft(), event.names)
                    continue
                if isinstance(event, RoomList) and self._rooms_answers:
                    _deliver(self._rooms_answers.popleft(), event.rooms)
                    continue
                if isinstance(event, Notice) and event.code == "shutdown":
                    reason = event.text
                await self._events_send.send(event)
                if isinstance(event, Goodbye):
                    reason = ""
                    break
        finally:
            # Say why before the iterator can see the end (close() does not
            # checkpoint; the channel's aclose() would).
            self._ended = reason
            self._events_send.close()
            for answers in (self._who_answers, self._rooms_answers):
                for answer in answers:
                    answer.done.set()
                answers.clear()

    def _track(self, event: Event) -> Event | None:
        """Keep name, room and positions current; fill what line-protocol events lack.

        ``None`` for what the application is not to get: a message from the
        log that it has seen already, and (version 2) its own live messages.
        """
        if self.version == 2:
            if isinstance(event, ChatMessage):
                return self._position(event)
            if isinstance(event, RoomEntered):
                self.room = event.room
                answers_login = self._answers_login(event.room)
                self.recovered[event.room] = event.recovered
                known = self.positions.get(event.room)
                if not event.recovered or known is None or known[0] != event.epoch:
                    # Messages up to the room's last seq come from its log (its
                    # recent history): nothing after that was missed.
                    self.positions[event.room] = (event.epoch, event.seq)
                    self._seen_floor[event.room] = (
                        known if known is not None and known[0] == event.epoch else None
                    )
                return None if answers_login else event
            if isinstance(event, Left) and event.name == self.name and not event.logout:
                self.positions.pop(event.room, None)
                if self.room == event.room and self.positions:
                    self.room = next(reversed(self.positions))
                return event
        if isinstance(event, RoomEntered):
            self.room = event.room
        elif isinstance(event, NameChanged):
            self.name = event.name
        elif isinstance(event, ChatMessage) and not event.room:
            event = replace(event, room=self.room, timestamp=time.time())
        elif isinstance(event, Joined | Left) and not event.room:
            event = replace(event, room=self.room)
        return event

    def _answers_login(self, room: str) -> bool:
        answers = self._login_answers
        if answers is None:
            self._login_answers = set()  # the default room's frame comes first
            return True
        if name_key(room) in answers:
            answers.discard(name_key(room))
            return True
        return False

    def _position(self, message: ChatMessage) -> ChatMessage | None:
        room, seq = message.room, message.seq
        known = self.positions.get(room)
        if message.history:
            floor = self._seen_floor.get(room)
            if floor is not None and floor[0] == message.epoch and seq <= floor[1]:
                return None  # shown before the connection was lost
        if known is None or known[0] != message.epoch or seq > known[1]:
            self.positions[room] = (message.epoch, seq)
        if message.sender == self.name and not message.history:
            return None  # our own, as sent: the application knows it
        return message

    def __aiter__(self) -> ChatClient:
        return self

    async def __anext__(self) -> Event:
        try:
            return await self._events.receive()
        except trio.EndOfChannel:
            if self._closing or self._ended == "":
                raise StopAsyncIteration from None
            raise ConnectionLost(self._ended or "the connection ended") from None

    async def receive(self) -> Event:
        """The next event (same as one step of ``async for``)."""
        return await self.__anext__()

    async def _send(self, command: commands.Command) -> None:
        async with self._send_lock:
            await self._transport.send(command)

    def _room_of(self, room: str | None) -> str | None:
        if self.version != 2:
            if room is not None and name_key(room.removeprefix("#")) != name_key(self.room):
                raise ValueError("this protocol talks in the current room only: join the room first")
            return None
        return self.room if room is None else room.removeprefix("#")

    async def send(self, text: str, *, room: str | None = None) -> None:
        """Say *text* in *room* (default: the current one), as text even if it looks like a command."""
        await self._send(commands.Say(text, self._room_of(room)))

    async def action(self, text: str, *, room: str | None = None) -> None:
        """An action line (``/me``) in *room* (default: the current one)."""
        await self._send(commands.Action(text, self._room_of(room)))

    async def send_private(self, name: str, text: str) -> None:
        """A private message only *name* sees."""
        await self._send(commands.PrivateMessage(name, text))

    async def join(self, room: str) -> None:
        """Join *room* and talk there.

        A :class:`~triochat.protocol.events.RoomEntered` (or an
        :class:`~triochat.protocol.events.Error`) event follows.  Over version
        2 and the line protocol the client stays in its other rooms; over
        version 1 it moves.  Over version 2, a room it was in
        before resumes from the last position seen there.
        """
        room = room.removeprefix("#")
        problem = name_problem(room, what="room name")
        if problem:
            raise ValueError(problem)
        since = self.positions.get(room) if self.version == 2 else None
        await self._send(commands.JoinRoom(room, since))

    async def part(self, room: str | None = None) -> None:
        """Leave *room* (default: the current one); a :class:`~triochat.protocol.events.Left`
        (or an :class:`~triochat.protocol.events.Error`) event follows."""
        if self.version == 1:
            raise ValueError("version 1 of the protocol has one room: join another instead")
        if self.version == 2:
            await self._send(commands.Part(self.room if room is None else room.removeprefix("#")))
        else:
            await self._send(commands.Part(None if room is None else room.removeprefix("#")))

    async def nick(self, name: str) -> None:
        """Ask for a new name; a :class:`~triochat.protocol.events.NameChanged`
        (or an :class:`~triochat.protocol.events.Error`) event follows."""
        await self._send(commands.Nick(name))

    async def _ask(self, answers: deque[_Answer[T]], command: commands.Command) -> T:
        answer = _Answer[T]()
        async with self._send_lock:
            # Queued under the lock, so answers are queued in the order
            # their requests go out.
            answers.append(answer)
            try:
                await self._transport.send(command)
            except BaseException:
                # Not sent, so no answer will come for it.
                answers.remove(answer)
                raise
        return await answer.wait()

    async def who(self) -> tuple[str, ...]:
        """Who is in our room now (the answer is not also given to the iterator)."""
        return await self._ask(self._who_answers, commands.Who())

    async def rooms(self) -> tuple[tuple[str, int], ...]:
        """Every room with its member count."""
        return await self._ask(self._rooms_answers, commands.ListRooms())

    async def command(self, command: commands.Command) -> None:
        """Send a parsed command (see :func:`triochat.protocol.parse_command`).

        Chat goes to the current room, as :meth:`send` sends it; ``/join``
        and ``/part`` are :meth:`join` and :meth:`part`.
        """
        if isinstance(command, commands.JoinRoom):
            await self.join(command.room)
        elif isinstance(command, commands.Part):
            await self.part(command.room)
        elif isinstance(command, commands.Say):
            await self.send(command.text, room=command.room)
        elif isinstance(command, commands.Action):
            await self.action(command.text, room=command.room)
        else:
            await self._send(command)

    async def quit(self) -> None:
        """Say goodbye; the iteration ends after the server's goodbye."""
        self._closing = True
        await self._send(commands.Quit())


def _deliver(answer: _Answer[T], value: T) -> None:
    if not answer.abandoned:
        answer.value = value
    answer.done.set()


@asynccontextmanager
async def open_chat_client(
    url: str,
    *,
    name: str | None = None,
    token: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
    cafile: str | os.PathLike[str] | None = None,
    connect_timeout: float = 10.0,
    rooms: Mapping[str, tuple[str, int] | None] | None = None,
) -> AsyncIterator[ChatClient]:
    """Connect to *url*, log in, and yield a :class:`ChatClient`.

    *url* is ``ws://host:port[/v1]``, ``wss://...``, ``tcp://host:port`` or
    ``tcps://host:port``.  *name* may be left out when the *token* decides it
    (the client's :attr:`~ChatClient.name` is then the one the server gave).
    *token* is sent as a bearer token (WebSocket only).  For ``wss://`` and
    ``tcps://``, the server's certificate is checked against the system's
    certificate authorities, or against those in *cafile* (a PEM file, for a
    private CA); or pass a whole *ssl_context*.

    Raises :class:`LoginRefused` if the server refuses the name or the
    credentials, :class:`TLSError` if the TLS handshake fails (an untrusted
    certificate, say), :class:`ConnectionLost` if the server cannot be
    reached in *connect_timeout* seconds, and closes the connection when the
    block ends.

    *rooms* (version 2 only) are the rooms to be in, each with the last
    position seen there or ``None``: a lost connection's
    :attr:`ChatClient.positions`, to get exactly the messages missed.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "wss", "tcp", "tcps"):
        raise ValueError(f"unsupported URL scheme {scheme!r}: use ws, wss, tcp or tcps")
    if cafile is not None:
        if ssl_context is not None:
            raise ValueError("give cafile or ssl_context, not both")
        ssl_context = client_ssl_context(cafile)
    if name is not None:
        problem = name_problem(name)
        if problem:
            raise ValueError(problem)
    try:
        with unwrap_single_exception():
            async with trio.open_nursery() as nursery:
                with trio.move_on_after(connect_timeout) as deadline:
                    transport = await _connect(nursery, url, token, ssl_context)
                    try:
                        logged_in = await transport.login(name, token, rooms or None)
                    except BaseException:
                        await transport.aclose()
                        raise
                if deadline.cancelled_caught:
                    raise ConnectionLost(f"no answer from {url} within {connect_timeout:g} s")
                client = ChatClient(transport, logged_in, url, dict(rooms) if rooms else None)
                nursery.start_soon(client._read)
                try:
                    yield client
                finally:
                    client._closing = True
                    await transport.aclose()
                    nursery.cancel_scope.cancel()
    except trio_websocket.HandshakeError as exc:
        raise LoginRefused(_handshake_reason(exc)) from None


async def _connect(
    nursery: trio.Nursery, url: str, token: str | None, ssl_context: ssl.SSLContext | None
) -> _WebSocketTransport | _LineTransport:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or "localhost"
    port = parts.port or {"ws": 80, "wss": 443}.get(scheme, 8724)
    try:
        stream: trio.abc.Stream
        if scheme in ("wss", "tcps"):
            context = ssl_context or ssl.create_default_context()
            tls = await trio.open_ssl_over_tcp_stream(host, port, ssl_context=context)
            try:
                # Handshake now, so that a failure is reported as what it is.
                await tls.do_handshake()
            except BaseException as exc:
                await trio.aclose_forcefully(tls)
                if isinstance(exc, trio.BrokenResourceError):
                    raise TLSError(f"cannot connect to {url}: {_tls_reason(exc)}") from None
                raise
            stream = tls
        else:
            stream = await trio.open_tcp_stream(host, port)
        if scheme in ("tcp", "tcps"):
            return _LineTransport(stream)
        headers = [(b"authorization", f"Bearer {token}".encode())] if token else None
        version = 1 if parts.path.rstrip("/") == "/v1" else 2
        path = parts.path if parts.path not in ("", "/") else f"/v{version}"
        resource = path + (f"?{parts.query}" if parts.query else "")
        subprotocol = v2wire.SUBPROTOCOL if version == 2 else jsonwire.SUBPROTOCOL
        try:
            ws = await trio_websocket.wrap_client_stream(
                nursery,
                stream,
                host,
                resource,
                subprotocols=[subprotocol],
                extra_headers=headers,
            )
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        return _WebSocketTransport(ws, stream, version)
    except (OSError, trio.BrokenResourceError) as exc:
        raise ConnectionLost(f"cannot connect to {url}: {exc}") from None


def client_ssl_context(cafile: str | os.PathLike[str] | None = None) -> ssl.SSLContext:
    """A client TLS context that trusts the CAs in *cafile* (PEM), or the system's.

    Raises :class:`ValueError` with a clear message if *cafile* cannot be read
    or holds no certificate.
    """
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ValueError(f"cannot load CA certificates from {os.fspath(cafile or '')}: {reason}") from None


def _tls_reason(exc: trio.BrokenResourceError) -> str:
    cause = exc.__cause__
    if isinstance(cause, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {cause.verify_message}"
    if isinstance(cause, ssl.SSLError):
        return f"TLS handshake failed: {cause.reason or cause}"
    return f"TLS handshake failed: {cause or exc}"


def _handshake_reason(exc: trio_websocket.HandshakeError) -> str:
    if isinstance(exc, trio_websocket.ConnectionRejected):
        body = (exc.body or b"").decode("utf-8", "replace").strip()
        return f"HTTP {exc.status_code}" + (f": {body}" if body else "")
    return str(exc) or type(exc).__name__
