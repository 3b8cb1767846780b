"""The SQLite store: history and positions that survive a restart.

Everything the broadcaster asks is answered from memory (the windows are
loaded when the file is opened).  Appended records are queued; one writer
task takes every closed batch queued so far and commits them in one
transaction in a Trio worker thread, then marks their tickets done.  The file
is in WAL mode with ``synchronous=NORMAL``: a commit that returned survives a
crash of the process (``kill -9``), but not necessarily a power loss or an OS
crash, which may take the last commits with it.

The file keeps what the windows keep: each room's epoch and last seq, and its
last ``history_size`` messages (older ones are deleted as new ones commit).
The file is locked while open, so a second server cannot write into it.

It also keeps the bans and room topics (schema version 2; a version 1 file
gets the two tables when it is opened).  Expired bans are dropped when the
file is opened.
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NamedTuple

import trio

from .base import (
    DEFAULT_HISTORY_SIZE,
    DEFAULT_MAX_PENDING,
    BanEntry,
    Entry,
    Record,
    StoreError,
    StoreStatistics,
    Ticket,
    TopicEntry,
    done_ticket,
    new_epoch,
)
from .window import RoomState, Windows

APPLICATION_ID = 0x74636874  # "tcht": marks the file as a triochat store
SCHEMA_VERSION = 2
"""Version 1: rooms and messages; version 2 adds bans and topics."""

_SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE rooms (name TEXT PRIMARY KEY, epoch TEXT NOT NULL, last_seq INTEGER NOT NULL)",
    "CREATE TABLE messages (room TEXT NOT NULL, seq INTEGER NOT NULL, sender TEXT NOT NULL,"
    " content TEXT NOT NULL, timestamp REAL NOT NULL, agent INTEGER NOT NULL,"
    " action INTEGER NOT NULL, PRIMARY KEY (room, seq)) WITHOUT ROWID",
)
_SCHEMA_2 = (
    "CREATE TABLE bans (name_key TEXT PRIMARY KEY, name TEXT NOT NULL, banned_by TEXT NOT NULL,"
    " reason TEXT, since REAL NOT NULL, until REAL)",
    "CREATE TABLE topics (room_key TEXT PRIMARY KEY, room TEXT NOT NULL, text TEXT NOT NULL,"
    " set_by TEXT NOT NULL, since REAL NOT NULL)",
)
"""What version 2 adds (and what a version 1 file gets when it is opened)."""
_SAVE_BAN = "INSERT OR REPLACE INTO bans VALUES (?, ?, ?, ?, ?, ?)"
_SAVE_TOPIC = "INSERT OR REPLACE INTO topics VALUES (?, ?, ?, ?, ?)"
_INSERT = "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)"
_UPSERT_ROOM = (
    "INSERT INTO rooms VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE"
    " SET epoch = excluded.epoch, last_seq = excluded.last_seq"
)
_SET_META = "INSERT OR REPLACE INTO meta VALUES (?, ?)"


class _Discard(NamedTuple):
    room: str
    new_room_epoch: str


class _SaveBan(NamedTuple):
    key: str
    ban: BanEntry | None


class _SaveTopic(NamedTuple):
    key: str
    topic: TopicEntry | None


_Op = Record | _Discard | _SaveBan | _SaveTopic


class _Loaded(NamedTuple):
    conn: sqlite3.Connection
    new_room_epoch: str
    rooms: dict[str, RoomState]
    unclean: bool
    bans: dict[str, BanEntry]
    topics: dict[str, TopicEntry]


class SqliteStore(Windows):
    """A :class:`~triochat._store.RoomLog` kept in an SQLite file.

    Open it with :func:`open_sqlite_store`.
    """

    def __init__(self, path: str, loaded: _Loaded, *, history_size: int, max_pending: int) -> None:
        super().__init__(history_size)
        self.path = path
        self.max_pending = max_pending
        self.unclean_start = loaded.unclean
        self.new_room_epoch = loaded.new_room_epoch
        self._rooms = loaded.rooms
        self._bans = loaded.bans
        self._topics = loaded.topics
        self._conn = loaded.conn
        self._batch: list[_Op] = []
        self._queue: deque[tuple[list[_Op], Ticket]] = deque()
        self._in_flight: list[Ticket] = []
        self._last_ticket = done_ticket()
        self._pending = 0
        self._wake = trio.Event()
        self._progress = trio.Event()
        self._writer_done = trio.Event()
        self._closing = False
        self.failure: StoreError | None = None
        self._commits = 0
        self._last_commit = 0.0
        self._max_commit = 0.0

    # -- the broadcaster's side (synchronous) ----------------------------------------

    def append(self, room: str, entry: Entry) -> Record:
        """Give *entry* its position, keep it, and queue it for the next commit."""
        record = super().append(room, entry)
        self._batch.append(record)
        self._pending += 1
        return record

    def discard(self, room: str) -> None:
        """Forget *room* here and (with the next commit) in the file."""
        if room in self._rooms:
            super().discard(room)
            self._batch.append(_Discard(room, self.new_room_epoch))
            self._pending += 1

    def moderation(self) -> tuple[dict[str, BanEntry], dict[str, TopicEntry]]:
        """The bans and topics the file had when it was opened (expired bans left out)."""
        return dict(self._bans), dict(self._topics)

    def save_ban(self, key: str, ban: BanEntry | None) -> None:
        """Write (or, with ``None``, delete) the ban of the name *key* with the next commit."""
        self._batch.append(_SaveBan(key, ban))
        self._pending += 1

    def save_topic(self, key: str, topic: TopicEntry | None) -> None:
        """Write (or, with ``None``, delete) the topic of the room *key* with the next commit."""
        self._batch.append(_SaveTopic(key, topic))
        self._pending += 1

    def end_batch(self) -> Ticket:
        """Queue the current batch; its ticket is done when it is committed.

        With nothing appended since the last batch, the last batch's ticket
        (done or not) is the answer, so the ticket always covers everything
        appended so far.
        """
        if self._batch:
            ticket = Ticket()
            if self.failure is not None:
                ticket.fire(self.failure)
            else:
                self._queue.append((self._batch, ticket))
                self._wake.set()
            self._batch = []
            self._last_ticket = ticket
        return self._last_ticket

    async def wait_writable(self) -> None:
        """Wait while more than ``max_pending`` records are not yet committed.

        Raises :class:`StoreError` if the store can no longer write.
        """
        await trio.lowlevel.checkpoint()
        while self._pending > self.max_pending and self.failure is None:
            await self._progress.wait()
        if self.failure is not None:
            raise StoreError(str(self.failure))

    def statistics(self) -> StoreStatistics:
        """Counters and the write lag."""
        return StoreStatistics(
            kind="sqlite",
            rooms=len(self._rooms),
            records=self.kept(),
            pending_records=self._pending,
            batches_in_flight=len(self._queue) + len(self._in_flight),
            commits=self._commits,
            last_commit_seconds=self._last_commit,
            max_commit_seconds=self._max_commit,
            unclean_start=self.unclean_start,
            failure=None if self.failure is None else str(self.failure),
        )

    # -- the writer ------------------------------------------------------------------

    async def _writer(self) -> None:
        try:
            while self.failure is None:
                if self._queue:
                    await self._commit_queued()
                elif self._closing:
                    return
                else:
                    await self._wake.wait()
                    self._wake = trio.Event()
        finally:
            self._writer_done.set()

    async def _commit_queued(self) -> None:
        batches = self._queue
        self._queue = deque()
        self._in_flight = [ticket for _, ticket in batches]
        ops = [op for batch, _ in batches for op in batch]
        started = time.perf_counter()
        error: StoreError | None = None
        try:
            # Once taken from the queue, the batches are written: a cancel
            # could not stop the thread anyway, and must not lose them.
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(self._write, ops)
        except sqlite3.Error as exc:
            error = StoreError(f"cannot write store {self.path}: {exc}")
        elapsed = time.perf_counter() - started
        self._commits += 1
        self._last_commit = elapsed
        self._max_commit = max(self._max_commit, elapsed)
        in_flight = self._in_flight
        self._in_flight = []
        if error is not None:
            self._fail(error, in_flight)
        else:
            self._pending -= len(ops)
            for ticket in in_flight:
                ticket.fire()
        self._progress.set()
        self._progress = trio.Event()

    def _fail(self, error: StoreError, tickets: list[Ticket]) -> None:
        self.failure = error
        for _, ticket in self._queue:
            tickets.append(ticket)
        self._queue.clear()
        for ticket in tickets:
            ticket.fire(error)

    def _write(self, ops: list[_Op]) -> None:
        """Commit *ops* in one transaction (runs in a worker thread)."""
        conn = self._conn
        keep = self.history_size
        rows: list[tuple[object, ...]] = []
        touched: dict[str, tuple[str, int]] = {}
        conn.execute("BEGIN")
        try:
            for op in ops:
                if isinstance(op, Record):
                    if keep:
                        rows.append((op.room, op.seq, *op.entry))
                    touched[op.room] = (op.epoch, op.seq)
                    continue
                if isinstance(op, _SaveBan):
                    if op.ban is None:
                        conn.execute("DELETE FROM bans WHERE name_key = ?", (op.key,))
                    else:
                        conn.execute(_SAVE_BAN, (op.key, *op.ban))
                    continue
                if isinstance(op, _SaveTopic):
                    if op.topic is None:
                        conn.execute("DELETE FROM topics WHERE room_key = ?", (op.key,))
                    else:
                        conn.execute(_SAVE_TOPIC, (op.key, *op.topic))
                    continue
                if rows:
                    conn.executemany(_INSERT, rows)
                    rows = []
                touched.pop(op.room, None)
                conn.execute("DELETE FROM messages WHERE room = ?", (op.room,))
                conn.execute("DELETE FROM rooms WHERE name = ?", (op.room,))
                conn.execute(_SET_META, ("new_room_epoch", op.new_room_epoch))
            if rows:
                conn.executemany(_INSERT, rows)
            for room, (epoch, seq) in touched.items():
                conn.execute(_UPSERT_ROOM, (room, epoch, seq))
                if keep and seq > keep:
                    conn.execute("DELETE FROM messages WHERE room = ? AND seq <= ?", (room, seq - keep))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    async def _close(self) -> None:
        """Commit everything accepted, mark the file closed cleanly, close it."""
        self.end_batch()
        self._closing = True
        self._wake.set()
        await self._writer_done.wait()
        # The writer may have been cancelled before the queue was empty.
        while self._queue and self.failure is None:
            await self._commit_queued()
        await trio.to_thread.run_sync(self._close_db, self.failure is None)

    def _close_db(self, clean: bool) -> None:
        try:
            if clean:
                self._conn.execute(_SET_META, ("clean", "1"))
        except sqlite3.Error as exc:
            self.failure = StoreError(f"cannot write store {self.path}: {exc}")
        finally:
            self._conn.close()


def _load(path: str, history_size: int, new_epoch_after_crash: bool, synchronous: str) -> _Loaded:
    """Open, check, trim and read the file (runs in a worker thread)."""
    try:
        conn = sqlite3.connect(path, timeout=1.0, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open store {path}: {exc}") from None
    try:
        return _read(conn, path, history_size, new_epoch_after_crash, synchronous)
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"cannot open store {path}: {exc}") from None
    except BaseException:
        conn.close()
        raise


def _read(
    conn: sqlite3.Connection, path: str, history_size: int, new_epoch_after_crash: bool, synchronous: str
) -> _Loaded:
    # Exclusive locking: no other process can open the file while we hold it
    # (the lock goes away with the process, even after kill -9).
    conn.execute("PRAGMA locking_mode = EXCLUSIVE")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise StoreError(f"cannot open store {path}: write-ahead logging is unavailable ({mode})")
    # The open transaction (which records that the file is in use) is synced
    # fully, so that even after a power loss a crash is noticed.
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("BEGIN IMMEDIATE")
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    if app_id != APPLICATION_ID:
        if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise StoreError(f"cannot open store {path}: an SQLite file, but not a triochat store")
        for statement in _SCHEMA + _SCHEMA_2:
            conn.execute(statement)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == 1:
        # Migration 1 -> 2, in the same transaction as the rest of the open.
        for statement in _SCHEMA_2:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        version = SCHEMA_VERSION
    if version != SCHEMA_VERSION:
        raise StoreError(f"cannot open store {path}: unknown store version {version}")
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    unclean = meta.get("clean") == "0"
    new_room_epoch = meta.get("new_room_epoch") or new_epoch()
    rooms: dict[str, RoomState] = {}
    for name, epoch, last in conn.execute("SELECT name, epoch, last_seq FROM rooms").fetchall():
        if not (isinstance(name, str) and isinstance(epoch, str) and isinstance(last, int) and last >= 0):
            raise StoreError(f"cannot open store {path}: a malformed room entry")
        rooms[name] = RoomState(epoch, last, history_size)
    if unclean and new_epoch_after_crash:
        new_room_epoch = new_epoch()
        for name, state in rooms.items():
            state.epoch = new_epoch()
            conn.execute("UPDATE rooms SET epoch = ? WHERE name = ?", (state.epoch, name))
    conn.execute(
        "DELETE FROM messages WHERE seq <= (SELECT last_seq FROM rooms WHERE rooms.name = messages.room) - ?",
        (history_size,),
    )
    rows = conn.execute(
        "SELECT room, seq, sender, content, timestamp, agent, action FROM messages ORDER BY room, seq"
    )
    for room, seq, sender, content, timestamp, agent, action in rows:
        owner = rooms.get(room)
        if owner is None:
            raise StoreError(f"cannot open store {path}: messages of an unknown room")
        if not (
            isinstance(seq, int)
            and isinstance(sender, str)
            and isinstance(content, str)
            and isinstance(timestamp, float | int)
            and math.isfinite(timestamp)
        ):
            raise StoreError(f"cannot open store {path}: a malformed message in room {room!r}")
        entry = Entry(sender, content, float(timestamp), bool(agent), bool(action))
        owner.window.append(Record(room, owner.epoch, seq, entry))
    for name, state in rooms.items():
        window = state.window
        if window and (window[-1].seq != state.last or window[0].seq != state.last - len(window) + 1):
            raise StoreError(f"cannot open store {path}: room {name!r} has gaps in its messages")
    bans, topics = _read_moderation(conn, path)
    conn.execute(_SET_META, ("new_room_epoch", new_room_epoch))
    conn.execute(_SET_META, ("clean", "0"))
    conn.execute("COMMIT")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    return _Loaded(conn, new_room_epoch, rooms, unclean, bans, topics)


def _read_moderation(
    conn: sqlite3.Connection, path: str
) -> tuple[dict[str, BanEntry], dict[str, TopicEntry]]:
    """The bans that have not expired (the others are deleted) and the topics."""
    conn.execute("DELETE FROM bans WHERE until IS NOT NULL AND until <= ?", (time.time(),))
    bans: dict[str, BanEntry] = {}
    for key, name, by, reason, since, until in conn.execute(
        "SELECT name_key, name, banned_by, reason, since, until FROM bans"
    ).fetchall():
        if not (
            isinstance(key, str)
            and isinstance(name, str)
            and isinstance(by, str)
            and (reason is None or isinstance(reason, str))
            and isinstance(since, float | int)
            and (until is None or isinstance(until, float | int))
        ):
            raise StoreError(f"cannot open store {path}: a malformed ban entry")
        bans[key] = BanEntry(name, by, reason, float(since), None if until is None else float(until))
    topics: dict[str, TopicEntry] = {}
    rows = conn.execute("SELECT room_key, room, text, set_by, since FROM topics").fetchall()
    for key, room, text, by, since in rows:
        if not (
            isinstance(key, str)
            and isinstance(room, str)
            and isinstance(text, str)
            and isinstance(by, str)
            and isinstance(since, float | int)
        ):
            raise StoreError(f"cannot open store {path}: a malformed topic entry")
        topics[key] = TopicEntry(room, text, by, float(since))
    return bans, topics


@asynccontextmanager
async def open_sqlite_store(
    path: str,
    *,
    history_size: int = DEFAULT_HISTORY_SIZE,
    max_pending: int = DEFAULT_MAX_PENDING,
    new_epoch_after_crash: bool = False,
    synchronous: str = "NORMAL",
) -> AsyncIterator[SqliteStore]:
    """Open (or create) the store at *path*; commit everything and close it on exit.

    Raises :class:`StoreError` if the file cannot be opened or is not a
    usable triochat store.  After a crash the rooms continue in their epochs
    (records that were not committed were never shown by a caller that waits
    for tickets, so their seqs are free); ``new_epoch_after_crash=True``
    starts every room in a new epoch instead, for callers that cannot promise
    that.  ``synchronous="FULL"`` also survives power loss, at a cost per commit.

    If the store failed while open, leaving the block raises its
    :class:`StoreError` (unless the block raised something itself).
    """
    if history_size < 0:
        raise StoreError(f"history size must be 0 or more, not {history_size}")
    if max_pending < 0:
        raise StoreError(f"max pending must be 0 or more, not {max_pending}")
    if synchronous.upper() not in ("NORMAL", "FULL"):
        raise StoreError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
    with trio.CancelScope(shield=True):  # the thread cannot be stopped; keep what it opens
        loaded = await trio.to_thread.run_sync(_load, path, history_size, new_epoch_after_crash, synchronous)
    try:
        await trio.lowlevel.checkpoint_if_cancelled()
    except BaseException:
        loaded.conn.close()
        raise
    store = SqliteStore(path, loaded, history_size=history_size, max_pending=max_pending)
    body_ok = False
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(store._writer)
            try:
                yield store
                body_ok = True
            finally:
                with trio.CancelScope(shield=True):
                    await store._close()
    except BaseExceptionGroup as group:
        # The writer never raises: whatever is here came from the block, so
        # it leaves as it came in rather than wrapped in a group.
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from group.exceptions[0].__cause__
        raise
    if body_ok and store.failure is not None:
        raise StoreError(str(store.failure))
