"""The SQLite store: restarts, the durability pipeline, bad files."""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
import trio.testing

from triochat._store import (
    Entry,
    Position,
    SqliteStore,
    StoreError,
    Ticket,
    open_sqlite_store,
    open_store,
)


def entry(text: str, **kw: bool) -> Entry:
    return Entry(sender="ann", content=text, timestamp=1700000000.25, **kw)


class Gate:
    """Holds the store's writer inside its worker thread until opened."""

    def __init__(self, store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered = trio.Event()
        self.open = threading.Event()
        self.returned = 0
        write = store._write
        token = trio.lowlevel.current_trio_token()

        def gated(ops: list[object]) -> None:
            trio.from_thread.run_sync(self.entered.set, trio_token=token)
            assert self.open.wait(10)
            write(ops)  # type: ignore[arg-type]
            self.returned += 1

        monkeypatch.setattr(store, "_write", gated)


async def test_positions_and_history_survive_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "chat.db")
    async with open_sqlite_store(path, history_size=50) as store:
        assert not store.unclean_start
        for n in range(30):
            store.append("lobby", entry(f"m{n}", action=n == 3))
            store.append("dev", entry(f"d{n}", agent=n == 4))
            if n % 7 == 0:
                await store.end_batch().wait()
        before = {room: store.position(room) for room in ("lobby", "dev")}
        empty = store.position("empty")
        kept = store.recent("lobby", 50)
    async with open_sqlite_store(path, history_size=50) as store:
        assert not store.unclean_start
        assert {room: store.position(room) for room in ("lobby", "dev")} == before
        assert store.position("empty") == empty  # the epoch an empty room was announced in holds
        assert store.recent("lobby", 50) == kept
        assert store.recent("lobby", 50)[3].entry == entry("m3", action=True)
        assert store.recent("dev", 50)[4].entry == entry("d4", agent=True)
        record = store.append("lobby", entry("after"))
        assert record.position == Position(before["lobby"].epoch, 31)
        assert store.since("lobby", before["lobby"]).records == [record]
    async with open_sqlite_store(path, history_size=50) as store:
        assert store.position("lobby").seq == 31


async def test_the_file_keeps_only_the_window(tmp_path: Path) -> None:
    path = str(tmp_path / "chat.db")
    async with open_sqlite_store(path, history_size=10) as store:
        for n in range(25):
            store.append("a", entry(str(n)))
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT min(seq), max(seq), count(*) FROM messages").fetchone() == (16, 25, 10)
    finally:
        conn.close()
    # Fewer kept after a restart: the oldest go; more: what is there stays.
    async with open_sqlite_store(path, history_size=4) as store:
        assert [r.seq for r in store.recent("a", 100)] == [22, 23, 24, 25]
        assert store.since("a", Position(store.position("a").epoch, 20)).reason == "too old"
    async with open_sqlite_store(path, history_size=100) as store:
        assert [r.seq for r in store.recent("a", 100)] == [22, 23, 24, 25]
        store.append("a", entry("x"))
        assert [r.seq for r in store.recent("a", 100)] == [22, 23, 24, 25, 26]


async def test_history_off_keeps_positions_across_restarts(tmp_path: Path) -> None:
    path = str(tmp_path / "chat.db")
    async with open_sqlite_store(path, history_size=0) as store:
        first = [store.append("a", entry(str(n))) for n in range(3)][-1]
    async with open_sqlite_store(path, history_size=0) as store:
        assert store.position("a") == first.position
        assert store.recent("a", 10) == []
        assert store.append("a", entry("x")).seq == 4


async def test_a_discarded_room_stays_discarded(tmp_path: Path) -> None:
    path = str(tmp_path / "chat.db")
    async with open_sqlite_store(path) as store:
        old = store.append("a", entry("1"))
        store.append("b", entry("1"))
        await store.end_batch().wait()
        store.discard("a")
        renewed = store.append("a", entry("2"))
        assert renewed.seq == 1 and renewed.epoch != old.epoch
        store.discard("b")
    async with open_sqlite_store(path) as store:
        assert store.rooms() == ["a"]
        assert store.position("a") == renewed.position
        assert store.recent("a", 10) == [renewed]
        assert store.position("b").epoch not in (old.epoch, renewed.epoch)


async def test_close_flushes_what_was_accepted(tmp_path: Path) -> None:
    path = str(tmp_path / "chat.db")
    async with open_sqlite_store(path) as store:
        for n in range(5):
            store.append("a", entry(str(n)))  # no end_batch: closing takes care of it
    async with open_sqlite_store(path) as store:
        assert [r.entry.content for r in store.recent("a", 10)] == ["0", "1", "2", "3", "4"]


async def test_close_flushes_even_when_cancelled(tmp_path: Path) -> None:
    path = str(tmp_path / "chat.db")
    with trio.CancelScope() as scope:
        async with open_sqlite_store(path) as store:
            store.append("a", entry("1"))
            store.end_batch()
            store.append("a", entry("2"))
            scope.cancel()
            await trio.sleep_forever()
    assert scope.cancelled_caught
    async with open_sqlite_store(path) as store:
        assert [r.entry.content for r in store.recent("a", 10)] == ["1", "2"]
        assert not store.unclean_start


async def test_an_error_in_the_block_comes_out_unwrapped(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="boom"):
        async with open_sqlite_store(str(tmp_path / "chat.db")) as store:
            store.append("a", entry("1"))
            raise KeyError("boom")
    async with open_sqlite_store(str(tmp_path / "chat.db")) as store:
        assert store.position("a").seq == 1


async def test_ticket_is_done_only_after_the_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with open_sqlite_store(str(tmp_path / "chat.db")) as store:
        gate = Gate(store, monkeypatch)
        for n in range(3):
            store.append("a", entry(str(n)))
        fired: list[int] = []
        ticket = store.end_batch()
        ticket.add_done_callback(lambda t: fired.append(gate.returned))
        with trio.fail_after(10):
            await gate.entered.wait()
        await trio.testing.wait_all_tasks_blocked()
        assert not ticket.done
        assert fired == []
        # Nothing new appended: the same ticket still covers everything.
        assert store.end_batch() is ticket
        store.append("a", entry("3"))
        second = store.end_batch()
        assert second is not ticket
        stats = store.statistics()
        assert stats.pending_records == 4
        assert stats.batches_in_flight == 2
        gate.open.set()
        with trio.fail_after(10):
            await second.wait()
        assert ticket.done and fired == [1]  # the callback ran after the write had returned
        stats = store.statistics()
        assert (stats.pending_records, stats.batches_in_flight) == (0, 0)
        assert stats.commits == 2
        assert stats.last_commit_seconds > 0
        assert stats.max_commit_seconds >= stats.last_commit_seconds
        assert store.end_batch() is second
        late: list[Ticket] = []
        second.add_done_callback(late.append)
        assert late == [second]


async def test_tickets_are_done_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with open_sqlite_store(str(tmp_path / "chat.db")) as store:
        gate = Gate(store, monkeypatch)
        order: list[int] = []
        tickets: list[Ticket] = []
        for n in range(6):
            store.append("a", entry(str(n)))
            ticket = store.end_batch()
            ticket.add_done_callback(functools.partial(lambda n, t: order.append(n), n))
            tickets.append(ticket)
            if n == 0:
                with trio.fail_after(10):
                    await gate.entered.wait()
        gate.open.set()
        with trio.fail_after(10):
            await tickets[-1].wait()
        assert order == list(range(6))
        assert store.statistics().commits == 2  # the first batch, then the five queued behind it together


async def test_wait_writable_applies_backpressure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with open_sqlite_store(str(tmp_path / "chat.db"), max_pending=5) as store:
        gate = Gate(store, monkeypatch)
        for n in range(4):
            store.append("a", entry(str(n)))
        store.end_batch()
        with trio.fail_after(10):
            await store.wait_writable()  # 4 pending: under the bound
            await gate.entered.wait()
        for n in range(4):
            store.append("a", entry(str(n)))
        store.end_batch()
        released = trio.Event()

        async def writer() -> None:
            await store.wait_writable()
            released.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer)
            await trio.testing.wait_all_tasks_blocked()
            assert not released.is_set()
            assert store.statistics().pending_records == 8
            gate.open.set()
            with trio.fail_after(10):
                await released.wait()
        assert store.statistics().pending_records <= 5


def failing_write(ops: list[object]) -> None:
    raise sqlite3.OperationalError("disk I/O error")


async def test_a_failed_write_fails_the_tickets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "chat.db"
    with pytest.raises(StoreError) as info:
        async with open_sqlite_store(str(path)) as store:
            monkeypatch.setattr(store, "_write", failing_write)
            store.append("a", entry("1"))
            ticket = store.end_batch()
            with pytest.raises(StoreError, match="disk I/O error"):
                await ticket.wait()
            assert isinstance(ticket.error, StoreError)
            assert store.statistics().failure == f"cannot write store {path}: disk I/O error"
            with pytest.raises(StoreError):
                await store.wait_writable()
            store.append("a", entry("2"))
            later = store.end_batch()
            assert later.done and later.error is not None
    assert str(info.value) == f"cannot write store {path}: disk I/O error"


def one_line_error(info: pytest.ExceptionInfo[StoreError], path: Path | str) -> str:
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    assert info.value.__cause__ is None
    return message


@pytest.mark.parametrize(
    "content",
    [os.urandom(4096), b"SQLite format 3\x00" + os.urandom(4080), b"hello\n"],
    ids=["random", "bad-header", "text"],
)
async def test_a_corrupt_file_is_a_store_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "chat.db"
    path.write_bytes(content)
    with pytest.raises(StoreError) as info:
        async with open_store(f"sqlite:{path}"):
            pass
    message = one_line_error(info, path)
    assert message.startswith(f"cannot open store {path}: ")


async def test_a_damaged_store_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    async with open_sqlite_store(str(path)) as store:
        for n in range(2000):
            store.append(f"room{n % 5}", entry("x" * 200))
    data = bytearray(path.read_bytes())
    data[4096:] = os.urandom(len(data) - 4096)  # every page but the first
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError) as info:
        async with open_sqlite_store(str(path)):
            pass
    one_line_error(info, path)


async def test_another_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not a triochat store") as info:
        async with open_sqlite_store(str(path)):
            pass
    one_line_error(info, path)


async def test_an_unknown_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    async with open_sqlite_store(str(path)):
        pass
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match="unknown store version 99"):
        async with open_sqlite_store(str(path)):
            pass


async def test_a_store_with_gaps_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    async with open_sqlite_store(str(path)) as store:
        for n in range(5):
            store.append("a", entry(str(n)))
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM messages WHERE seq = 3")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="gaps"):
        async with open_sqlite_store(str(path)):
            pass


@pytest.mark.parametrize(
    "where",
    [lambda tmp: tmp / "missing" / "chat.db", lambda tmp: tmp],
    ids=["missing-directory", "a-directory"],
)
async def test_an_unwritable_path_is_a_store_error(tmp_path: Path, where: Callable[[Path], Path]) -> None:
    path = where(tmp_path)
    with pytest.raises(StoreError) as info:
        async with open_store(f"sqlite:{path}"):
            pass
    assert one_line_error(info, path) == f"cannot open store {path}: unable to open database file"


async def test_a_file_in_use_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "chat.db")
    async with open_sqlite_store(path) as store:
        store.append("a", entry("1"))
        with pytest.raises(StoreError, match="locked"):
            async with open_sqlite_store(path):
                pass
        await store.end_batch().wait()


def mark_crashed(path: str) -> None:
    """Make the file look like its last user was killed."""
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '0' WHERE key = 'clean'")
    conn.commit()
    conn.close()


async def test_after_a_crash_rooms_continue_in_their_epoch(tmp_path: Path) -> None:
    path = str(tmp_path / "chat.db")
    async with open_sqlite_store(path) as store:
        last = [store.append("a", entry(str(n))) for n in range(3)][-1]
    mark_crashed(path)
    async with open_sqlite_store(path) as store:
        assert store.unclean_start and store.statistics().unclean_start
        assert store.position("a") == last.position
    async with open_sqlite_store(path) as store:
        assert not store.unclean_start


async def test_new_epoch_after_crash_when_asked(tmp_path: Path) -> None:
    path = str(tmp_path / "chat.db")
    async with open_sqlite_store(path) as store:
        last = [store.append("a", entry(str(n))) for n in range(3)][-1]
        empty = store.position("empty")
    async with open_sqlite_store(path, new_epoch_after_crash=True) as store:
        assert store.position("a") == last.position  # a clean close: nothing changes
    mark_crashed(path)
    async with open_sqlite_store(path, new_epoch_after_crash=True) as store:
        now = store.position("a")
        assert now.epoch != last.epoch and now.seq == 3
        assert [r.position for r in store.recent("a", 10)] == [Position(now.epoch, n) for n in (1, 2, 3)]
        assert store.since("a", last.position).reason == "epoch"
        assert store.position("empty").epoch != empty.epoch
    async with open_sqlite_store(path) as store:
        assert store.position("a") == now


async def test_bad_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="max pending"):
        async with open_sqlite_store(str(tmp_path / "x.db"), max_pending=-1):
            pass
    with pytest.raises(StoreError, match="synchronous"):
        async with open_sqlite_store(str(tmp_path / "x.db"), synchronous="OFF"):
            pass
    async with open_sqlite_store(str(tmp_path / "x.db"), synchronous="FULL") as store:
        store.append("a", entry("1"))
        await store.end_batch().wait()
