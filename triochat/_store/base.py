"""The room log's interface and the small records every store shares.

A store gives each chat message of a room its position (``epoch``, ``seq``)
at once and keeps the room's last ``history_size`` messages in memory, so
that everything the broadcaster asks of it is synchronous.  What has to reach
a disk (or a server) is queued and written by the store's own task; the
broadcaster closes a batch with :meth:`RoomLog.end_batch` and gets a
:class:`Ticket` that is done once everything appended so far is durable.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

import trio

DEFAULT_HISTORY_SIZE = 1000
"""How many messages each room keeps unless told otherwise."""

MAX_PAGE = 100
"""The most messages one :meth:`RoomLog.before` call returns."""

DEFAULT_MAX_PENDING = 10_000
"""Appended records a store may hold before :meth:`RoomLog.wait_writable` waits."""


class StoreError(Exception):
    """A store cannot be opened, parsed or written; the message is one line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


def new_epoch() -> str:
    """A fresh epoch: 10 random hex digits."""
    return secrets.token_hex(5)


class Entry(NamedTuple):
    """What a chat message says, as the store keeps it."""

    sender: str
    content: str
    timestamp: float
    agent: bool = False
    action: bool = False


class Position(NamedTuple):
    """A place in a room's log: ``seq`` within ``epoch`` (seq 0: before the first)."""

    epoch: str
    seq: int


class Record(NamedTuple):
    """A message with its place in its room's log."""

    room: str
    epoch: str
    seq: int
    entry: Entry

    @property
    def position(self) -> Position:
        """This record's ``(epoch, seq)``."""
        return Position(self.epoch, self.seq)


@dataclass(frozen=True, slots=True)
class Recovery:
    """The answer to :meth:`RoomLog.since`.

    ``recovered`` is true when ``records`` are exactly the messages after the
    given position (possibly none).  Otherwise ``records`` is empty and
    ``reason`` says why (``"epoch"``: the log started anew; ``"too old"``: the
    messages after it are no longer kept; ``"future"``: the room never got
    that far; ``"invalid"``: a negative seq).  ``last`` is the room's newest position either way.
    """

    recovered: bool
    records: list[Record]
    last: Position
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class StoreStatistics:
    """A store's state, for ``ChatServer.statistics()``."""

    kind: str
    """``"memory"`` or ``"sqlite"``."""
    rooms: int
    """Rooms with a log."""
    records: int
    """Messages kept in memory (all rooms' windows)."""
    pending_records: int
    """Records appended but not yet durable: the store's lag."""
    batches_in_flight: int
    """Closed batches whose ticket is not done yet."""
    commits: int
    """Write transactions completed."""
    last_commit_seconds: float
    """How long the last write transaction took."""
    max_commit_seconds: float
    """The longest write transaction so far."""
    unclean_start: bool
    """The store was not closed properly before this run (a crash)."""
    failure: str | None
    """Why writing stopped, or ``None``."""


class Ticket:
    """Done once every record appended before it was issued is durable.

    Tickets of one store are done in the order they were issued.  If the
    store fails, its waiting tickets are done with :attr:`error` set and
    :meth:`wait` raises :class:`StoreError`.
    """

    __slots__ = ("_callbacks", "_done", "_event", "error")

    def __init__(self) -> None:
        self._done = False
        self._event: trio.Event | None = None
        self._callbacks: list[Callable[[Ticket], None]] | None = None
        self.error: StoreError | None = None
        """Why the records are not durable, once done; ``None`` if they are."""

    @property
    def done(self) -> bool:
        """True once the records are durable (or the store failed)."""
        return self._done

    async def wait(self) -> None:
        """Wait until :attr:`done`; raise :class:`StoreError` if the write failed."""
        if not self._done:
            if self._event is None:
                self._event = trio.Event()
            await self._event.wait()
        else:
            await trio.lowlevel.checkpoint()
        if self.error is not None:
            raise StoreError(str(self.error))

    def add_done_callback(self, callback: Callable[[Ticket], None]) -> None:
        """Call ``callback(ticket)`` when done (at once if it already is).

        Callbacks run synchronously in the store's writer task, right after
        the write, in the order the tickets were issued; they must not raise.
        """
        if self._done:
            callback(self)
        elif self._callbacks is None:
            self._callbacks = [callback]
        else:
            self._callbacks.append(callback)

    def fire(self, error: StoreError | None = None) -> None:
        """Mark done (for stores); runs the callbacks and wakes the waiters."""
        if self._done:
            return
        self._done = True
        self.error = error
        if self._event is not None:
            self._event.set()
        callbacks = self._callbacks
        if callbacks is not None:
            self._callbacks = None
            for callback in callbacks:
                callback(self)


def done_ticket() -> Ticket:
    """A ticket that is already done."""
    ticket = Ticket()
    ticket.fire()
    return ticket


class RoomLog(Protocol):
    """The room log: positions, history and the durability pipeline.

    Every method except :meth:`wait_writable` is synchronous and never
    touches a disk or network, so the broadcaster calls them while it builds
    frames.  Only chat messages of rooms are appended; private messages are
    never part of a room's log.  Stores are opened with their own async
    context manager (see :func:`triochat._store.open_store`), which owns
    whatever task writes in the background and flushes on exit.
    """

    history_size: int
    """Messages kept per room (0: positions only, no history)."""

    def append(self, room: str, entry: Entry) -> Record:
        """Give *entry* the next position in *room*, keep it, queue its write."""
        ...

    def end_batch(self) -> Ticket:
        """Close the current batch; the ticket is done once all appended so far is durable."""
        ...

    async def wait_writable(self) -> None:
        """Wait while more than the store's bound of records is not yet durable."""
        ...

    def position(self, room: str) -> Position:
        """The room's newest position (seq 0 if it has no messages yet)."""
        ...

    def recent(self, room: str, limit: int) -> list[Record]:
        """The room's newest *limit* kept messages, oldest first."""
        ...

    def before(self, room: str, seq: int, limit: int) -> list[Record]:
        """Up to ``min(limit, MAX_PAGE)`` kept messages older than *seq*, oldest first."""
        ...

    def since(self, room: str, position: Position) -> Recovery:
        """Every message after *position*, or why that is impossible."""
        ...

    def rooms(self) -> list[str]:
        """The rooms that have a log."""
        ...

    def discard(self, room: str) -> None:
        """Forget *room*'s log; if it comes back, it starts in a new epoch."""
        ...

    def statistics(self) -> StoreStatistics:
        """The store's counters and lag."""
        ...


class BanEntry(NamedTuple):
    """A ban as a store keeps it; times are seconds since the epoch (wall clock)."""

    name: str
    """The banned name, as the operator spelled it."""
    by: str
    reason: str | None
    since: float
    until: float | None
    """When the ban ends (``None``: never)."""


class TopicEntry(NamedTuple):
    """A room's topic as a store keeps it."""

    room: str
    """The room, as it was spelled when the topic was set."""
    text: str
    by: str
    since: float


@runtime_checkable
class ModerationLog(Protocol):
    """A store that also keeps bans and topics across restarts (SQLite).

    Keys are :func:`triochat.protocol.names.name_key` forms.  Changes are
    written with the next batch, like chat messages (their ticket covers
    them).  A store without these methods keeps nothing: the server holds
    bans and topics in memory for its run.
    """

    def moderation(self) -> tuple[dict[str, BanEntry], dict[str, TopicEntry]]:
        """The bans (by name key) and topics (by room key) kept from earlier runs."""
        ...

    def save_ban(self, key: str, ban: BanEntry | None) -> None:
        """Keep *ban* for the name *key* (``None``: forget the ban)."""
        ...

    def save_topic(self, key: str, topic: TopicEntry | None) -> None:
        """Keep *topic* for the room *key* (``None``: forget the topic)."""
        ...
