"""The broadcaster: the one task that orders everything, and the handler chain.

Connection tasks send requests through one bounded memory channel.  The
broadcaster takes them in that order, which is the order every client sees:
it runs chat messages through the handler chain, changes the hub, builds each
outgoing event's bytes once per wire format and pushes them to the
recipients' outboxes, which never wait for a client.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import trio

from ._config import ServerConfig
from ._connection import Connection, Encoder
from ._hub import Hub, RoomLimitReached
from ._outbox import Outbox
from .protocol import commands
from .protocol.events import (
    SHUTDOWN,
    ChatMessage,
    Error,
    Event,
    Goodbye,
    HelpText,
    Joined,
    Left,
    NameChanged,
    Notice,
    PrivateChat,
    Renamed,
    RoomEntered,
    RoomList,
    WhoList,
)
from .protocol.names import name_key

log = logging.getLogger("triochat.server")
access = logging.getLogger("triochat.access")

MAX_FOLLOWUPS = 100
"""How many replies one message's handlers may queue."""


class HandlerContext:
    """What a middleware gets besides the message: ways to answer it.

    Whatever is sent through the context is delivered right after the message
    itself (or after it was dropped), before anything that arrived later.
    """

    __slots__ = ("_broadcaster", "message")

    def __init__(self, broadcaster: Broadcaster, message: ChatMessage) -> None:
        self._broadcaster = broadcaster
        self.message = message
        """The message as it reached this handler."""

    def reply(self, content: str, *, sender: str = "server", agent: bool = True) -> None:
        """Send *content* privately to the message's sender."""
        self._broadcaster.defer(
            PrivateChat(sender=sender, target=self.message.sender, content=content, agent=agent)
        )

    def broadcast(self, content: str, *, sender: str, agent: bool = True) -> None:
        """Send *content* to the message's room as *sender*."""
        self._broadcaster.defer(_AgentSend(content, sender, agent, self.message.room))


Middleware = Callable[[ChatMessage, HandlerContext], Awaitable[ChatMessage | None]]
"""``async def mw(message, ctx) -> ChatMessage | None``: pass the message on
(the same or a replacement), or return ``None`` to drop it."""

MessageHandler = Callable[[str, str], Awaitable[None]]
"""``async def handler(content, username) -> None``: observe chat messages."""


class Login:
    """Request: a connection that reserved its name enters the default room."""

    __slots__ = ()


LOGIN = Login()


@dataclass(frozen=True, slots=True)
class Leave:
    """Request: a connection has ended; free its name and tell its room.

    ``done`` is set once the request was handled (or can never be), so the
    connection drains its outbox only after the broadcaster's last push to it.
    """

    done: trio.Event


@dataclass(frozen=True, slots=True)
class Reply:
    """Request: send *event* to the requesting connection, in request order."""

    event: Event


@dataclass(frozen=True, slots=True)
class _AgentSend:
    content: str
    sender: str
    agent: bool
    room: str | None


@dataclass(frozen=True, slots=True)
class Shutdown:
    """Request: tell everyone the server stops, then end every connection."""

    done: trio.Event


class Stop:
    """Request: the broadcaster's last; every connection has ended."""

    __slots__ = ()


ConnectionRequest = commands.Command | Login | Leave | Reply
Request = tuple[Connection, ConnectionRequest] | _AgentSend | Shutdown | Stop


class Stats:
    """Counters kept by the runtime (read through ``ChatServer.statistics()``)."""

    __slots__ = (
        "deliveries",
        "handler_errors",
        "handler_timeouts",
        "messages_dropped",
        "messages_in",
        "rate_limited",
        "slow_disconnects",
    )

    def __init__(self) -> None:
        self.messages_in = 0
        self.deliveries = 0
        self.messages_dropped = 0
        self.handler_errors = 0
        self.handler_timeouts = 0
        self.slow_disconnects = 0
        self.rate_limited = 0


class Broadcaster:
    """Applies requests in order; see the module docstring."""

    def __init__(
        self,
        *,
        hub: Hub[Connection],
        connections: set[Connection],
        chain: list[Middleware],
        config: ServerConfig,
        stats: Stats,
        identities: Iterable[str] = (),
    ) -> None:
        self.hub = hub
        self.reserved = frozenset(name_key(name) for name in identities)
        """Names that belong to the auth hook's identities, as :func:`name_key` forms."""
        self.connections = connections
        self.chain = chain
        self.config = config
        self.stats = stats
        self.stopping = False
        self.task: trio.lowlevel.Task | None = None
        self._ids = itertools.count(1)
        self._followups: list[PrivateChat | _AgentSend] | None = None
        self._held: list[Outbox] = []
        """Outboxes holding bytes of the current batch (see :meth:`Outbox.hold`)."""

    # -- the task --------------------------------------------------------------

    async def run(self, receive: trio.MemoryReceiveChannel[Request]) -> None:
        """Serve requests until :class:`Stop`; the broadcaster task's body."""
        self.task = trio.lowlevel.current_task()
        try:
            await self._serve(receive)
        finally:
            self.release()
            # Whatever is still queued will never be handled: release its waiters.
            while True:
                try:
                    request = receive.receive_nowait()
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
                if isinstance(request, tuple) and isinstance(request[1], Leave):
                    request[1].done.set()
                elif isinstance(request, Shutdown):
                    request.done.set()
            receive.close()

    async def _serve(self, receive: trio.MemoryReceiveChannel[Request]) -> None:
        while True:
            request = await receive.receive()
            while True:
                if isinstance(request, Stop):
                    return
                if isinstance(request, tuple):
                    conn, command = request
                    if (
                        self.chain
                        and isinstance(command, commands.Say | commands.Action)
                        and not self.stopping
                    ):
                        await self._chat_through_chain(conn, command)
                    else:
                        self._handle(conn, command)
                elif isinstance(request, Shutdown):
                    self._shutdown()
                    request.done.set()
                else:
                    self._agent_send(request)
                # Take what is already queued without another scheduler pass.
                try:
                    request = receive.receive_nowait()
                except trio.WouldBlock:
                    break
            # The batch is done: each client gets what it was sent, in one write.
            self.release()

    def release(self) -> None:
        """Write out everything held during the current batch."""
        held = self._held
        if held:
            self._held = []
            for outbox in held:
                outbox.release()

    def send(self, conn: Connection, event: Event) -> bool:
        """Send *event* to one connection as part of the current batch."""
        data = conn.wire(event)
        return bool(data) and conn.outbox.hold(data, self._held)

    def reserved_for_another(self, conn: Connection, name: str) -> bool:
        """True if *name* belongs to an identity that *conn* is not authenticated as."""
        key = name_key(name)
        if key not in self.reserved:
            return False
        return conn.identity is None or name_key(conn.identity) != key

    def in_broadcaster(self) -> bool:
        """True when called from the broadcaster task itself (a handler)."""
        return self.task is not None and trio.lowlevel.current_task() is self.task

    def defer(self, item: PrivateChat | _AgentSend) -> None:
        """Queue a handler's reply, delivered after the current message."""
        if self._followups is None:
            raise RuntimeError("replies can only be queued while a handler runs")
        if len(self._followups) >= MAX_FOLLOWUPS:
            raise RuntimeError(f"a message's handlers may queue at most {MAX_FOLLOWUPS} replies")
        self._followups.append(item)

    def agent_request(self, content: str, sender: str, agent: bool, room: str | None) -> _AgentSend:
        """Build the request for ``ChatServer.send_message``."""
        return _AgentSend(content, sender, agent, room)

    # -- delivery --------------------------------------------------------------

    def announce(self, event: Event, room: str, exclude: Connection | None = None) -> None:
        """Tell *room* that someone came or went, unless it is above ``presence_limit``."""
        limit = self.config.presence_limit
        if limit is None or self.hub.size(room) <= limit:
            self.fan_out(event, self.hub.members(room), exclude)

    def fan_out(
        self, event: Event, recipients: Iterable[Connection], exclude: Connection | None = None
    ) -> int:
        """Push *event* to *recipients*, encoded once per wire format."""
        encoded: dict[Encoder, bytes] = {}
        held = self._held
        delivered = 0
        for conn in recipients:
            if conn is exclude:
                continue
            wire = conn.wire
            data = encoded.get(wire)
            if data is None:
                data = encoded[wire] = wire(event)
            if data and conn.outbox.hold(data, held):
                delivered += 1
        self.stats.deliveries += delivered
        return delivered

    def _deliver_chat(self, message: ChatMessage, sender: Connection | None) -> None:
        exclude = sender if sender is not None and not sender.echo else None
        self.fan_out(message, self.hub.members(message.room), exclude)

    def _new_message(
        self, sender: str, room: str, content: str, *, agent: bool = False, action: bool = False
    ) -> ChatMessage:
        return ChatMessage(
            id=next(self._ids),
            timestamp=time.time(),
            sender=sender,
            room=room,
            content=content,
            agent=agent,
            action=action,
        )

    def _agent_send(self, request: _AgentSend) -> None:
        if self.stopping:
            return
        if request.room is not None:
            rooms = [self.hub.room_name(request.room) or request.room]
        else:
            rooms = [r for r, _ in self.hub.room_counts()]
        for room in rooms:
            message = self._new_message(request.sender, room, request.content, agent=request.agent)
            self._deliver_chat(message, None)

    def _private(self, item: PrivateChat) -> None:
        target = self.hub.find(item.target)
        if target is not None and target.room is not None and self.send(target, item):
            self.stats.deliveries += 1

    # -- the handler chain ---------------------------------------------------------

    async def _chat_through_chain(self, conn: Connection, command: commands.Say | commands.Action) -> None:
        if conn.room is None:
            return
        self.stats.messages_in += 1
        message: ChatMessage | None = self._new_message(
            conn.name, conn.room, command.text, action=isinstance(command, commands.Action)
        )
        # Handlers may await: nothing stays held while other tasks run.
        self.release()
        followups: list[PrivateChat | _AgentSend] = []
        self._followups = followups
        try:
            for middleware in tuple(self.chain):
                assert message is not None
                message = await self._call(middleware, message)
                if message is None:
                    self.stats.messages_dropped += 1
                    break
            if message is not None:
                self._deliver_chat(message, conn)
        finally:
            self._followups = None
        for item in followups:
            if isinstance(item, PrivateChat):
                self._private(item)
            else:
                self._agent_send(item)

    async def _call(self, middleware: Middleware, message: ChatMessage) -> ChatMessage | None:
        result: ChatMessage | None = message
        with trio.move_on_after(self.config.handler_timeout) as deadline:
            try:
                result = await middleware(message, HandlerContext(self, message))
            except Exception:
                self.stats.handler_errors += 1
                log.exception(
                    "handler %s raised on message %d; the message goes on unchanged",
                    _name(middleware),
                    message.id,
                )
                return message
        if deadline.cancelled_caught:
            self.stats.handler_timeouts += 1
            log.warning(
                "handler %s took longer than %.3g s on message %d and was cancelled; "
                "the message goes on unchanged",
                _name(middleware),
                self.config.handler_timeout,
                message.id,
            )
            return message
        if result is not None and not isinstance(result, ChatMessage):
            self.stats.handler_errors += 1
            log.error(
                "handler %s returned %r, not a ChatMessage or None; the message goes on unchanged",
                _name(middleware),
                type(result).__name__,
            )
            return message
        return result

    # -- requests --------------------------------------------------------------------

    def _handle(self, conn: Connection, command: ConnectionRequest) -> None:
        hub = self.hub
        if isinstance(command, Leave):
            conn.outbox.seal()
            name = conn.name
            room = hub.release(conn)
            conn.registered = False
            if room is not None and not self.stopping:
                self.announce(Left(name, room, logout=True, reason=conn.leave_reason), room)
            access.info("logout %s (%s %s): %s", name, conn.transport, conn.peer, conn.leave_reason or "left")
            command.done.set()
            return
        if isinstance(command, Reply):
            self.send(conn, command.event)
            return
        if isinstance(command, commands.Quit):
            self.send(conn, Goodbye(conn.name))
            conn.outbox.seal()
            return
        if self.stopping:
            return
        if isinstance(command, Login):
            room = hub.default_room
            hub.enter(conn, room)
            self.announce(Joined(conn.name, room, login=True), room, conn)
            return
        room = conn.room
        if room is None:
            return
        if isinstance(command, commands.Say | commands.Action):
            self.stats.messages_in += 1
            message = self._new_message(
                conn.name, room, command.text, action=isinstance(command, commands.Action)
            )
            self._deliver_chat(message, conn)
        elif isinstance(command, commands.PrivateMessage):
            self.stats.messages_in += 1
            target = hub.find(command.target)
            if target is None or target.room is None:
                self.send(conn, Error("no_such_user", f"there is no user named {command.target}"))
                return
            self._private(PrivateChat(conn.name, target.name, command.text))
            self.send(conn, PrivateChat(conn.name, target.name, command.text, outgoing=True))
        elif isinstance(command, commands.Who):
            self.send(conn, WhoList(room, tuple(sorted(m.name for m in hub.members(room)))))
        elif isinstance(command, commands.ListRooms):
            self.send(conn, RoomList(tuple(hub.room_counts())))
        elif isinstance(command, commands.Help):
            self.send(conn, HelpText(commands.HELP_LINES))
        elif isinstance(command, commands.JoinRoom):
            self._join_room(conn, room, command.room)
        elif isinstance(command, commands.Nick):
            self._nick(conn, command.name)

    def _join_room(self, conn: Connection, old: str, new: str) -> None:
        if name_key(new) == name_key(old):
            self.send(conn, Notice(f"you are already in #{old}"))
            return
        try:
            self.hub.enter(conn, new)
        except RoomLimitReached:
            self.send(conn, Error("room_limit", f"#{new} does not exist and no more rooms can be created"))
            return
        new = conn.room or new  # the room's own spelling
        self.announce(Left(conn.name, old, logout=False), old)
        self.announce(Joined(conn.name, new, login=False), new, conn)
        self.send(conn, RoomEntered(new, tuple(sorted(m.name for m in self.hub.members(new)))))

    def _nick(self, conn: Connection, new: str) -> None:
        old = conn.name
        if new == old:
            self.send(conn, Notice(f"you are already known as {new}"))
            return
        if conn.identity is not None:
            self.send(
                conn,
                Error("identity_fixed", f"you are authenticated as {conn.identity}; your name cannot change"),
            )
            return
        if self.reserved_for_another(conn, new):
            self.send(conn, Error("name_reserved", f"the name {new} belongs to an authenticated user"))
            return
        if not self.hub.rename(conn, new):
            self.send(conn, Error("name_taken", f"the name {new} is taken"))
            return
        if conn.room is not None:
            self.fan_out(Renamed(old, new), self.hub.members(conn.room), conn)
        self.send(conn, NameChanged(new))

    def _shutdown(self) -> None:
        self.stopping = True
        everyone = list(self.connections)
        self.fan_out(SHUTDOWN, everyone)
        for conn in everyone:
            conn.kick("server shutting down")


def _name(middleware: object) -> str:
    return getattr(middleware, "__qualname__", None) or repr(middleware)
