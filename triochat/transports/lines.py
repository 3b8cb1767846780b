"""One session of the TCP line protocol, over any byte stream.

The session logs the user in (banner, ``Enter your name:``, a retry on an
invalid or taken name), then reads lines and sends each command to the
broadcaster.  After login even the answers to purely local mistakes (an
unknown command, an over-long line) go through the broadcaster, so a user
always gets answers in the order of their input.
"""

from __future__ import annotations

import trio

from .._broadcaster import LOGIN, UNAVAILABLE_LOGIN, Reply
from .._connection import Connection
from .._outbox import CONNECTION_LOST
from .._runtime import Runtime
from .._version import __version__
from ..auth import Accept, ConnectionInfo, Reject
from ..protocol import commands, linewire, text
from ..protocol.events import Error, Welcome
from ..protocol.lines import InvalidUtf8, Line, LineDecoder, LineEvent, LineTooLong, encode_line
from ..protocol.names import name_problem

RECEIVE_SIZE = 16384


class _LineReader:
    """Lines from a stream; framing errors are answered as they are found.

    The events of one read are taken in order by position (linear in their
    number), and every call of :meth:`next` is a checkpoint, even when its
    line was already received: a read of thousands of blank lines cannot
    hold the event loop.
    """

    __slots__ = ("_conn", "_decoder", "_next", "_pending", "_runtime", "_stream", "logged_in")

    def __init__(self, stream: trio.abc.ReceiveStream, conn: Connection, runtime: Runtime) -> None:
        self._stream = stream
        self._conn = conn
        self._runtime = runtime
        self._decoder = LineDecoder(runtime.config.max_line_bytes)
        self._pending: list[LineEvent] = []
        self._next = 0
        self.logged_in = False

    async def next(self) -> str | None:
        """The next line, or ``None`` when the peer closed or reset."""
        received = False
        while True:
            while self._next < len(self._pending):
                event = self._pending[self._next]
                self._next += 1
                if isinstance(event, Line):
                    if not received:
                        await trio.lowlevel.checkpoint()
                    return event.text
                if isinstance(event, LineTooLong):
                    await self._error("line_too_long", f"line longer than {event.limit} bytes; discarded")
                elif isinstance(event, InvalidUtf8):
                    await self._error("invalid_utf8", "line is not valid UTF-8; discarded")
            try:
                data = await self._stream.receive_some(RECEIVE_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                # A reset: nothing queued for this peer can arrive any more.
                self._conn.outbox.fail(CONNECTION_LOST)
                return None
            if not data:
                return None
            received = True
            self._pending = self._decoder.feed(data)
            self._next = 0

    async def _error(self, code: str, message: str) -> None:
        if self.logged_in:
            await self._runtime.request(self._conn, Reply(Error(code, message)))
        else:
            await trio.lowlevel.checkpoint()
            self._conn.outbox.push(encode_line(text.error(message)))


def banner(runtime: Runtime) -> str:
    """The first line a line-protocol client reads."""
    return runtime.config.banner or f"triochat {__version__}: a Trio group chat."


async def _login(runtime: Runtime, conn: Connection, reader: _LineReader) -> bool:
    """Ask for a name until a free, valid one is given; ``False`` if the peer left."""
    push = conn.outbox.push
    prompt = encode_line(text.PROMPT_NAME)
    push(encode_line(banner(runtime)))
    push(prompt)
    while True:
        line = await reader.next()
        if line is None:
            return False
        name = line.strip()
        if not name:
            push(prompt)
            continue
        if name in ("QUIT", "/quit"):
            push(encode_line(text.goodbye("stranger")))
            return False
        problem = name_problem(name)
        if problem is not None:
            runtime.refuse(conn, name, f"invalid name: {problem}", kind="invalid_name")
            push(encode_line(text.error(f"invalid name: {problem}")))
            push(prompt)
            continue
        banned = runtime.banned(conn, name)
        if banned is not None:
            push(encode_line(text.error(banned.text)))
        else:
            refusal: str | None = "taken"
            if runtime.claim_name(conn, name):
                refusal = await runtime.claim_in_cluster(conn)
                if refusal is None:
                    return True
            if refusal == "unavailable":
                push(encode_line(text.error(UNAVAILABLE_LOGIN)))
            else:
                push(encode_line(text.error(f"the name {name} is taken, try another")))
        push(prompt)


async def _claim_identity(runtime: Runtime, conn: Connection, identity: str) -> bool:
    """Log in under the name an auth hook decided; ``False`` if it is taken."""
    conn.outbox.push(encode_line(banner(runtime)))
    banned = runtime.banned(conn, identity)
    if banned is not None:
        conn.outbox.push(encode_line(text.error(banned.text)))
        return False
    if runtime.claim_name(conn, identity, identity=identity):
        refusal = await runtime.claim_in_cluster(conn)
        if refusal is None:
            return True
        if refusal == "unavailable":
            conn.outbox.push(encode_line(text.error(UNAVAILABLE_LOGIN)))
            return False
    conn.outbox.push(encode_line(text.error(f"the name {identity} is taken")))
    return False


async def run_line_session(runtime: Runtime, conn: Connection, stream: trio.abc.Stream) -> None:
    """Log in and chat until the user quits, the peer goes, or the scope ends."""
    config = runtime.config
    conn.many_rooms = True
    conn.elsewhere = linewire.encode_elsewhere
    conn.history_on_join = config.join_history
    reader = _LineReader(stream, conn, runtime)
    if conn.over_capacity:
        conn.outbox.push(encode_line(text.error("the server is full; try later")))
        return
    identity: str | None = None
    if config.auth is not None:
        decision: Accept | Reject | None = None
        with trio.move_on_after(config.handshake_timeout):
            decision = await runtime.authorize(
                ConnectionInfo(transport="tcp", path="", headers=(), peer=conn.peer)
            )
        if not isinstance(decision, Accept):
            reason = decision.reason if isinstance(decision, Reject) else "authentication timed out"
            conn.outbox.push(encode_line(text.error(f"refused: {reason}")))
            return
        identity = decision.identity
    with trio.move_on_after(config.login_timeout) as login_deadline:
        if identity is not None:
            if not await _claim_identity(runtime, conn, identity):
                return
        elif not await _login(runtime, conn, reader):
            return
    if login_deadline.cancelled_caught:
        conn.outbox.push(
            encode_line(text.error(f"login timed out after {config.login_timeout:g} s; closing"))
        )
        return

    conn.outbox.push(linewire.encode_event(Welcome(conn.name)))
    reader.logged_in = True
    await runtime.request(conn, LOGIN)

    idle = config.idle_timeout
    while True:
        if idle is None:
            line = await reader.next()
        else:
            line = None
            with trio.move_on_after(idle) as idle_deadline:
                line = await reader.next()
            if idle_deadline.cancelled_caught:
                conn.leave_reason = "idle"
                runtime.stats.count(runtime.stats.cut_off, "idle")
                await runtime.request(conn, Reply(Error("idle", f"idle for {idle:g} s; closing")))
                return
        if line is None:
            return
        command = commands.parse_command(line)
        if command is None:
            continue
        if isinstance(command, commands.CommandError):
            await runtime.request(conn, Reply(Error("bad_command", command.message)))
        else:
            await runtime.request(conn, command)
            if isinstance(command, commands.Quit):
                return
