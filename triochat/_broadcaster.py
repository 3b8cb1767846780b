"""The broadcaster: the one task that orders everything, and the handler chain.

Connection tasks send requests through one bounded memory channel.  The
broadcaster takes them in that order, which is the order every client sees:
it runs chat messages through the handler chain, changes the hub, builds each
outgoing event's bytes once per wire format and pushes them to the
recipients' outboxes, which never wait for a client.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

import trio

from ._config import ServerConfig
from ._connection import Connection, Encoder
from ._hub import Hub, RoomLimitReached
from ._moderation import Moderation, ModerationRequest
from ._outbox import Outbox
from ._store import MAX_PAGE, Entry, MemoryStore, Position, Record, RoomLog, Ticket
from .ops.buckets import Buckets
from .protocol import commands
from .protocol.events import (
    SHUTDOWN,
    ChatMessage,
    Error,
    Event,
    Goodbye,
    HelpText,
    HistoryPage,
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

STORE_FAILED = "the server cannot store messages"
"""Why clients are cut off when the room log fails."""

UNAVAILABLE = "unavailable"
"""The error code of a message refused because the cluster's Redis cannot be reached."""

NOT_SENT = "the chat cannot reach its Redis right now: your message was not sent"
"""The text of an ``unavailable`` error."""

UNAVAILABLE_LOGIN = "the chat cannot reach its Redis right now: try to log in again soon"
"""Why a login is refused while the cluster's Redis cannot be reached."""


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


@dataclass(frozen=True, slots=True)
class Login:
    """Request: a connection that reserved its name enters the chat.

    Without *rooms* it enters the default room; otherwise it joins each of
    *rooms* (each with the last position its user saw, or ``None``), in
    order, and each is answered as a join is.
    """

    rooms: Mapping[str, tuple[str, int] | None] | None = None


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


class FromCluster:
    """Request: something that came through the cluster's Redis (see :mod:`triochat._cluster`)."""

    __slots__ = ()

    def apply(self, broadcaster: Broadcaster) -> None:
        """Carry it out, in the broadcaster."""
        raise NotImplementedError


class ClusterLink(Protocol):
    """The cluster as the broadcaster uses it: synchronous calls that never wait for Redis.

    What they queue goes to Redis when the batch ends (:meth:`end_batch`);
    chat messages come back through the cluster as :class:`FromCluster`
    requests, to every node alike, and are fanned out then.
    """

    @property
    def available(self) -> bool:
        """False while Redis cannot be reached: chat is refused (``unavailable``)."""
        ...

    def publish(self, message: ChatMessage, sender: Connection | None) -> None:
        """Queue *message* (its room is a displayed spelling) for its room's log."""
        ...

    def presence(self, event: Joined | Left, room: str) -> None:
        """Queue a join or leave in *room*: membership and announcement cluster-wide."""
        ...

    def renamed(self, old: str, new: str, rooms: tuple[str, ...]) -> None:
        """Queue a rename (the new name is already claimed): *rooms* are the user's room keys."""
        ...

    def release_name(self, name: str) -> None:
        """Queue freeing *name* cluster-wide (a logout, or a claim that was not used)."""
        ...

    def end_batch(self, broadcaster: Broadcaster) -> None:
        """Hand the batch's operations to the cluster's publisher."""
        ...

    def others(self, room: str) -> list[str]:
        """The members of *room* on the other nodes, as this node last heard."""
        ...


ConnectionRequest = commands.Command | Login | Leave | Reply
Request = (
    tuple[Connection, ConnectionRequest] | _AgentSend | ModerationRequest | Shutdown | Stop | FromCluster
)


class Stats:
    """Counters kept by the runtime (read through ``ChatServer.statistics()``)."""

    __slots__ = (
        "cut_off",
        "deliveries",
        "handler_errors",
        "handler_timeouts",
        "logins",
        "messages_dropped",
        "messages_in",
        "rate_limited",
        "refused",
        "sent_bytes",
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
        self.logins = 0
        """Names claimed: users who logged in."""
        self.refused: dict[str, int] = {}
        """Refused logins and connections, by reason (``name_taken``, ``auth``, ...)."""
        self.cut_off: dict[str, int] = {}
        """Clients the server cut off, by reason (``outbox_overflow``, ``keepalive``, ...)."""
        self.sent_bytes = 0
        """Bytes written to connections that have ended (open ones count in their outbox)."""

    def count(self, counter: dict[str, int], reason: str) -> None:
        """Add one to *reason* in *counter* (:attr:`refused` or :attr:`cut_off`)."""
        counter[reason] = counter.get(reason, 0) + 1


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
        self._followups: list[PrivateChat | _AgentSend | ModerationRequest] | None = None
        self._held: list[Outbox] = []
        """Outboxes holding bytes of the current batch (see :meth:`Outbox.hold`)."""
        self.store: RoomLog = MemoryStore(config.history_size)
        """The room log: positions and history (the server sets the one it opened)."""
        self._batches = itertools.count(1)
        self._in_flight = 0
        """Batches whose bytes wait for the store to make them durable."""
        self._leaves: list[trio.Event] = []
        """Leaves handled in this batch: set once the batch's bytes are released."""
        self.probe: tuple[object, float] | None = None
        """A request being timed (see :meth:`Runtime.request`) and when it arrived."""
        self._probe_arrival: float | None = None
        """When the timed request of the current batch arrived."""
        self.latency: Buckets | None = None
        """Arrival-to-last-push times of timed requests (``None``: metrics are off)."""
        self.batch_sizes: Buckets | None = None
        """Requests per batch (``None``: metrics are off)."""
        self.moderation = Moderation(self, config)
        """Operators, bans, mutes and topics (see :mod:`triochat._moderation`)."""
        self.cluster: ClusterLink | None = None
        """The cluster this node is part of (``--redis``), or ``None``."""

    @property
    def instant(self) -> bool:
        """True when the store makes everything durable at once (in memory)."""
        return isinstance(self.store, MemoryStore)

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
                elif isinstance(request, Shutdown | ModerationRequest) and request.done is not None:
                    request.done.set()
            receive.close()

    async def _serve(self, receive: trio.MemoryReceiveChannel[Request]) -> None:
        instant = self.instant
        while True:
            if not instant:
                # Backpressure: while the store lags, the inbound channel fills.
                await self.store.wait_writable()
            request = await receive.receive()
            size = 0
            while True:
                size += 1
                if isinstance(request, Stop):
                    return
                if isinstance(request, tuple):
                    conn, command = request
                    probe = self.probe
                    if (
                        self.chain
                        and isinstance(command, commands.Say | commands.Action)
                        and not self.stopping
                    ):
                        await self._chat_through_chain(conn, command)
                    else:
                        self._handle(conn, command)
                    if probe is not None and probe[0] is command:
                        # Timed once it is handled: the chain's own release() comes before its push.
                        self.probe = None
                        self._probe_arrival = probe[1]
                elif isinstance(request, Shutdown):
                    self._shutdown()
                    request.done.set()
                elif isinstance(request, ModerationRequest):
                    self.moderation.apply(request)
                elif isinstance(request, FromCluster):
                    if not self.stopping:
                        request.apply(self)
                else:
                    self._agent_send(request)
                # Take what is already queued without another scheduler pass.
                try:
                    request = receive.receive_nowait()
                except trio.WouldBlock:
                    break
            # The batch is done: each client gets what it was sent, in one write.
            self.release()
            if self.batch_sizes is not None:
                self.batch_sizes.observe(size)

    def release(self) -> None:
        """End the current batch: its bytes go out once the store has its messages.

        With the in-memory store (or when the batch appended nothing and
        everything before is durable) that is at once.  Otherwise the bytes
        stay held, tagged with the batch, while the broadcaster goes on; the
        store's ticket releases them, batch after batch, in order.
        """
        if self.cluster is not None:
            self.cluster.end_batch(self)
        ticket = self.store.end_batch()
        held = self._held
        leaves = self._leaves
        arrival = self._probe_arrival
        if ticket.done and not self._in_flight and ticket.error is None:
            if held:
                self._held = []
                for outbox in held:
                    outbox.release()
            if leaves:
                self._leaves = []
                for done in leaves:
                    done.set()
            if arrival is not None:
                self._timed(arrival)
            return
        if not held and not leaves and ticket.done:
            if arrival is not None:
                self._timed(arrival)
            return
        self._probe_arrival = None
        self._held = []
        self._leaves = []
        batch = next(self._batches)
        for outbox in held:
            outbox.close_batch(batch)
        self._in_flight += 1
        ticket.add_done_callback(functools.partial(self._durable, batch, held, leaves, arrival))

    def _durable(
        self, batch: int, held: list[Outbox], leaves: list[trio.Event], arrival: float | None, ticket: Ticket
    ) -> None:
        """A batch's ticket is done: show its bytes (or, if the store failed, nothing)."""
        self._in_flight -= 1
        if ticket.error is None:
            for outbox in held:
                outbox.release_through(batch)
        else:
            for outbox in held:
                outbox.fail(STORE_FAILED)
        for done in leaves:
            done.set()
        if arrival is not None and ticket.error is None:
            self._timed(arrival)

    def _timed(self, arrival: float) -> None:
        """The timed request's bytes were pushed: count how long that took since it arrived."""
        self._probe_arrival = None
        if self.latency is not None:
            self.latency.observe(trio.current_time() - arrival)

    def send(self, conn: Connection, event: Event) -> bool:
        """Send *event* to one connection as part of the current batch."""
        data = conn.wire(event)
        return bool(data) and conn.outbox.hold(data, self._held, self.instant)

    def reserved_for_another(self, conn: Connection, name: str) -> bool:
        """True if *name* belongs to an identity that *conn* is not authenticated as."""
        key = name_key(name)
        if not self.moderation.may_claim(conn, name):
            return True  # an operator's name, and conn cannot prove to be that operator
        if key not in self.reserved:
            return False
        return conn.identity is None or name_key(conn.identity) != key

    def in_broadcaster(self) -> bool:
        """True when called from the broadcaster task itself (a handler)."""
        return self.task is not None and trio.lowlevel.current_task() is self.task

    def defer(self, item: PrivateChat | _AgentSend | ModerationRequest) -> None:
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

    def announce(
        self, event: Event, room: str, exclude: Connection | None = None, told: set[Connection] | None = None
    ) -> None:
        """Tell *room* that someone came or went, unless it is above ``presence_limit``.

        With *told*, members in it are skipped and the others added to it
        (one notice per user when someone comes to or leaves several rooms).
        """
        if self.cluster is not None and isinstance(event, Joined | Left):
            self.cluster.presence(event, room)
        limit = self.config.presence_limit
        if limit is not None and self.hub.size(room) > limit:
            return
        members: Iterable[Connection] = self.hub.members(room)
        if told is not None:
            members = [m for m in members if m not in told]
            told.update(members)
        self.fan_out(event, members, exclude)

    def fan_out(
        self,
        event: Event,
        recipients: Iterable[Connection],
        exclude: Connection | None = None,
        *,
        room: str | None = None,
    ) -> int:
        """Push *event* to *recipients*, encoded once per wire format.

        With *room* (a chat message's), recipients whose current room is
        another get the wire format that names the room (``elsewhere``).
        """
        encoded: dict[Encoder, bytes] = {}
        held = self._held
        instant = self.instant
        delivered = 0
        for conn in recipients:
            if conn is exclude:
                continue
            wire = conn.wire
            if room is not None and conn.room != room and conn.elsewhere is not None:
                wire = conn.elsewhere
            data = encoded.get(wire)
            if data is None:
                data = encoded[wire] = wire(event)
            if data and conn.outbox.hold(data, held, instant):
                delivered += 1
        self.stats.deliveries += delivered
        return delivered

    def _fan_out_chat(self, message: ChatMessage, exclude: Connection | None) -> None:
        """Send *message* to its room's members (see :meth:`fan_out`)."""
        self.fan_out(message, self.hub.members(message.room), exclude, room=message.room)

    def _publish(self, message: ChatMessage, sender: Connection | None) -> None:
        """Give *message* its place in its room's log and send it to the room."""
        room = self.hub.room_name(message.room)
        if room is None:
            return  # a handler named a room that does not exist
        if self.cluster is not None:
            self._to_cluster(dataclasses.replace(message, room=room), sender)
            return
        record = self.store.append(
            room, Entry(message.sender, message.content, message.timestamp, message.agent, message.action)
        )
        message = dataclasses.replace(message, room=room, seq=record.seq, epoch=record.epoch)
        self._fan_out_chat(message, sender if sender is not None and not sender.echo else None)

    def _say(
        self, sender: str, room: str, content: str, conn: Connection | None, *, agent: bool, action: bool
    ) -> None:
        """A new chat message in *room* (a displayed spelling), without handlers: the hot path."""
        now = time.time()
        if self.cluster is not None:
            self._to_cluster(ChatMessage(next(self._ids), now, sender, room, content, agent, action), conn)
            return
        record = self.store.append(room, Entry(sender, content, now, agent, action))
        message = ChatMessage(
            next(self._ids), now, sender, room, content, agent, action, record.seq, record.epoch
        )
        self._fan_out_chat(message, conn if conn is not None and not conn.echo else None)

    def _to_cluster(self, message: ChatMessage, conn: Connection | None) -> None:
        """Hand *message* to the cluster; it is fanned out when Redis gives it back."""
        assert self.cluster is not None
        if self.cluster.available:
            self.cluster.publish(message, conn)
        elif conn is not None:
            self.send(conn, Error(UNAVAILABLE, NOT_SENT))
        else:
            log.warning("message of %s to #%s dropped: Redis cannot be reached", message.sender, message.room)

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
            room = self.hub.room_name(request.room)
            if room is None:
                if not self.store.history_size:
                    return  # nobody could ever see it
                try:
                    room = self.hub.create(request.room)
                except RoomLimitReached:
                    log.warning("message of %s to #%s dropped: no more rooms", request.sender, request.room)
                    return
            rooms = [room]
        else:
            rooms = [r for r, _ in self.hub.room_counts()]
        for room in rooms:
            self._say(request.sender, room, request.content, None, agent=request.agent, action=False)

    def names_in(self, room: str) -> tuple[str, ...]:
        """Who is in *room*, sorted: its members here and, in a cluster, on the other nodes."""
        names = [m.name for m in self.hub.members(room)]
        if self.cluster is not None:
            names += self.cluster.others(room)
        return tuple(sorted(names))

    def deliver_private(self, item: PrivateChat) -> None:
        """Deliver a private message from another node to its target, if it is here.

        The target may not have entered yet (its login still on the way to
        this broadcaster while the sender's node found its name): it gets it.
        """
        target = self.hub.find(item.target)
        if target is not None and self.send(target, item):
            self.stats.deliveries += 1

    def resync(self, conn: Connection, room: str) -> None:
        """Send *conn* the state of *room* again: who is there, position, recent history."""
        self._entered(conn, room)

    def _private(self, item: PrivateChat) -> None:
        target = self.hub.find(item.target)
        if target is not None and target.entered and self.send(target, item):
            self.stats.deliveries += 1

    # -- history ---------------------------------------------------------------------

    @staticmethod
    def history_message(record: Record) -> ChatMessage:
        """A logged message as it is sent again (``history`` set, ``id`` 0)."""
        entry = record.entry
        return ChatMessage(
            0,
            entry.timestamp,
            entry.sender,
            record.room,
            entry.content,
            entry.agent,
            entry.action,
            record.seq,
            record.epoch,
            history=True,
        )

    def _entered(
        self, conn: Connection, room: str, since: tuple[str, int] | None = None, *, login: bool = False
    ) -> None:
        """Tell *conn*, which just entered *room*, who is there, then what was said.

        Protocol version 2 gets the room's position and either exactly the
        messages after *since* (``recovered``) or the recent history; the
        line protocol gets the recent history between two notices.
        """
        store = self.store
        names = self.names_in(room)
        count = self.config.join_history
        if conn.room_required:
            frames: list[bytes] | None = None
            last = store.position(room)
            if since is not None:
                recovery = store.since(room, Position(*since))
                if recovery.recovered:
                    frames = self._history_frames(conn, recovery.records, whole=True)
            recovered = frames is not None
            if frames is None:
                frames = (self._history_frames(conn, store.recent(room, count)) or []) if count else []
            self.send(conn, RoomEntered(room, names, last.epoch, last.seq, recovered))
            self._hold_frames(conn, frames)
            return
        if not login:  # the line protocol and version 1 say where one is only on a join
            last = store.position(room)
            self.send(conn, RoomEntered(room, names, last.epoch, last.seq))
        count = min(count, conn.history_on_join)
        if count:
            frames = self._history_frames(conn, store.recent(room, count)) or []
            if frames:
                self.send(conn, Notice(_history_start(room, len(frames)), code="history"))
                self._hold_frames(conn, frames)
                self.send(conn, Notice(f"end of the history of #{room}", code="history"))

    def _history_frames(
        self, conn: Connection, records: list[Record], *, whole: bool = False
    ) -> list[bytes] | None:
        """*records* encoded for *conn*, as many of the newest as fit in half its outbox.

        With *whole*, all of them or ``None``: a recovery is complete or not at
        all.  History never makes a client overflow its outbox and be cut off.
        """
        budget = self.config.outbox_limit // 2
        wire = conn.wire
        frames: list[bytes] = []
        total = 0
        for record in reversed(records):
            data = wire(self.history_message(record))
            total += len(data)
            if total > budget:
                if whole:
                    return None
                break
            frames.append(data)
        frames.reverse()
        return frames

    def _hold_frames(self, conn: Connection, frames: list[bytes]) -> None:
        held, instant = self._held, self.instant
        for data in frames:
            if data and not conn.outbox.hold(data, held, instant):
                return

    def _history(self, conn: Connection, command: commands.History) -> None:
        room = conn.rooms.get(name_key(command.room))
        if room is None:
            self.send(conn, Error("not_in_room", f"you are not in #{command.room}"))
            return
        limit = max(0, min(command.limit, MAX_PAGE))
        if command.before is None:
            records = self.store.recent(room, limit)
        else:
            records = self.store.before(room, command.before, limit)
        # A page is one frame: the newest of the page that fit in half the outbox.
        fitting = len(self._history_frames(conn, records) or [])
        page = records[len(records) - fitting :] if fitting else []
        self.send(conn, HistoryPage(room, tuple(self.history_message(r) for r in page)))

    # -- the handler chain ---------------------------------------------------------

    async def _chat_through_chain(self, conn: Connection, command: commands.Say | commands.Action) -> None:
        room = self._chat_room(conn, command)
        if room is None:
            return
        self.stats.messages_in += 1
        message: ChatMessage | None = self._new_message(
            conn.name, room, command.text, action=isinstance(command, commands.Action)
        )
        # Handlers may await: nothing stays held while other tasks run.
        self.release()
        followups: list[PrivateChat | _AgentSend | ModerationRequest] = []
        self._followups = followups
        try:
            for middleware in tuple(self.chain):
                assert message is not None
                message = await self._call(middleware, message)
                if message is None:
                    self.stats.messages_dropped += 1
                    break
            if message is not None:
                self._publish(message, conn)
        finally:
            self._followups = None
        for item in followups:
            if isinstance(item, PrivateChat):
                self._private(item)
            elif isinstance(item, ModerationRequest):
                self.moderation.apply(item)
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
            rooms = hub.release(conn)
            conn.registered = False
            conn.entered = False
            if self.cluster is not None and name:
                # Free first: whoever hears that the user left can take the name.
                self.cluster.release_name(name)
            if not self.stopping:
                told: set[Connection] = set()
                for left in rooms:
                    self.announce(Left(name, left, logout=True, reason=conn.leave_reason), left, told=told)
            access.info("logout %s (%s %s): %s", name, conn.transport, conn.peer, conn.leave_reason or "left")
            # Set once this batch's bytes are out: the connection then drains its outbox.
            self._leaves.append(command.done)
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
            if not conn.scope.cancel_called:  # else cut off (say, banned) before its login came
                self._login(conn, command)
            return
        if isinstance(command, commands.Say | commands.Action):
            room = self._chat_room(conn, command)
            if room is not None:
                self.stats.messages_in += 1
                self._say(
                    conn.name,
                    room,
                    command.text,
                    conn,
                    agent=False,
                    action=isinstance(command, commands.Action),
                )
        elif isinstance(command, commands.PrivateMessage):
            self.stats.messages_in += 1
            target = hub.find(command.target)
            if target is None or not target.entered:
                self.send(conn, Error("no_such_user", f"there is no user named {command.target}"))
                return
            self._private(PrivateChat(conn.name, target.name, command.text))
            self.send(conn, PrivateChat(conn.name, target.name, command.text, outgoing=True))
        elif isinstance(command, commands.Who):
            room = conn.room
            if room is None:
                self.send(conn, Error("no_room", NO_ROOM))
                return
            self.send(conn, WhoList(room, self.names_in(room)))
        elif isinstance(command, commands.ListRooms):
            self.send(conn, RoomList(tuple(hub.room_counts()), tuple(conn.rooms.values()), conn.room))
        elif isinstance(command, commands.Help):
            self.send(conn, HelpText(self.moderation.help_lines(conn)))
        elif isinstance(command, commands.JoinRoom):
            self._join_room(conn, command.room, command.since)
        elif isinstance(command, commands.Part):
            self._part(conn, command.room)
        elif isinstance(command, commands.History):
            self._history(conn, command)
        elif isinstance(command, commands.Nick):
            self._nick(conn, command.name)
        elif isinstance(command, commands.ModerationCommand):
            self.moderation.handle(conn, command)

    def _chat_room(self, conn: Connection, command: commands.Say | commands.Action) -> str | None:
        """The room *command* goes to (its displayed spelling), or ``None`` after an error."""
        room = command.room
        display: str | None
        if room is None:
            display = self.unnamed_room(conn)
            if display is None:
                return None
        else:
            display = conn.rooms.get(name_key(room))
            if display is None:
                self.send(conn, Error("not_in_room", f"you are not in #{room}"))
                return None
        if self.moderation.mutes:
            muted = self.moderation.muted_error(conn, display)
            if muted is not None:
                self.send(conn, muted)
                return None
        return display

    def unnamed_room(self, conn: Connection) -> str | None:
        """The room a request that names none is for (the current one), or ``None`` after an error."""
        if conn.room_required and len(conn.rooms) > 1:
            self.send(conn, Error("room_required", "you are in several rooms: say which one ('room')"))
            return None
        if conn.room is None:
            self.send(conn, Error("no_room", NO_ROOM))
        return conn.room

    def _login(self, conn: Connection, command: Login) -> None:
        conn.entered = True
        rooms = command.rooms
        if rooms is None:
            rooms = {self.hub.default_room: None}
        told: set[Connection] = {conn}
        first = True
        for room, since in rooms.items():
            try:
                display = self.hub.join(conn, room)
            except RoomLimitReached:
                self.send(
                    conn, Error("room_limit", f"#{room} does not exist and no more rooms can be created")
                )
                continue
            self.announce(Joined(conn.name, display, login=first), display, told=told)
            first = False
            self._entered(conn, display, since, login=True)
            self.moderation.show_topic(conn, display)

    def _join_room(self, conn: Connection, new: str, since: tuple[str, int] | None) -> None:
        hub = self.hub
        key = name_key(new)
        current = conn.room
        joined = conn.rooms.get(key)
        if joined is not None and not conn.room_required:
            if joined == current:
                self.send(conn, Notice(f"you are already in #{joined}"))
            else:
                hub.join(conn, joined)  # makes it current
                self.send(conn, Notice(f"you now talk in #{joined}"))
            return
        if joined is not None:
            # Protocol version 2: joining again resends the room's state (a resync).
            self._entered(conn, joined, since)
            self.moderation.show_topic(conn, joined)
            return
        try:
            if conn.many_rooms:
                old = None
                display = hub.join(conn, new)
            else:
                old = hub.enter(conn, new)
                display = conn.room or new
        except RoomLimitReached:
            self.send(conn, Error("room_limit", f"#{new} does not exist and no more rooms can be created"))
            return
        if old is not None:
            self.announce(Left(conn.name, old, logout=False), old)
        self.announce(Joined(conn.name, display, login=False), display, conn)
        self._entered(conn, display, since)
        self.moderation.show_topic(conn, display)

    def _part(self, conn: Connection, room: str | None) -> None:
        target = room if room is not None else conn.room
        if target is None:
            self.send(conn, Error("no_room", NO_ROOM))
            return
        current = conn.room
        left = self.hub.part(conn, target)
        if left is None:
            self.send(conn, Error("not_in_room", f"you are not in #{target}"))
            return
        event = Left(conn.name, left, logout=False)
        self.announce(event, left)
        self.send(conn, event)
        if not conn.room_required and conn.room != current:
            self.send(conn, Notice(NO_ROOM if conn.room is None else f"you now talk in #{conn.room}"))

    def _nick(self, conn: Connection, new: str) -> None:
        old = conn.name
        if new == old:
            self.send(conn, Notice(f"you are already known as {new}"))
            return
        if self.cluster is not None and name_key(new) != name_key(old):
            # The connection claimed *new* cluster-wide before asking.
            if not self._rename(conn, old, new):
                self.cluster.release_name(new)
            return
        self._rename(conn, old, new)

    def _rename(self, conn: Connection, old: str, new: str) -> bool:
        if conn.identity is not None:
            self.send(
                conn,
                Error("identity_fixed", f"you are authenticated as {conn.identity}; your name cannot change"),
            )
            return False
        if self.reserved_for_another(conn, new):
            self.send(conn, Error("name_reserved", f"the name {new} belongs to an authenticated user"))
            return False
        banned = self.moderation.ban_refusal(new)
        if banned is not None:
            self.send(conn, banned)
            return False
        muted = self.moderation.rename_refusal(conn)
        if muted is not None:
            self.send(conn, muted)
            return False
        if not self.hub.rename(conn, new):
            self.send(conn, Error("name_taken", f"the name {new} is taken"))
            return False
        if self.cluster is not None:
            self.cluster.renamed(old, new, tuple(conn.rooms))
        told: set[Connection] = {conn}
        for room in conn.rooms.values():
            members = [m for m in self.hub.members(room) if m not in told]
            told.update(members)
            self.fan_out(Renamed(old, new), members)
        self.send(conn, NameChanged(new))
        return True

    def _shutdown(self) -> None:
        self.stopping = True
        everyone = list(self.connections)
        self.fan_out(SHUTDOWN, everyone)
        for conn in everyone:
            conn.kick("server shutting down")


NO_ROOM = "you are in no room: /join ROOM first"


def _history_start(room: str, count: int) -> str:
    if count == 1:
        return f"the last message of #{room}"
    return f"the last {count} messages of #{room}"


def _name(middleware: object) -> str:
    return getattr(middleware, "__qualname__", None) or repr(middleware)
