"""The room log's behaviour, the same for every store."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from triochat._store import (
    MAX_PAGE,
    Entry,
    MemoryStore,
    Position,
    Record,
    RoomLog,
    SqliteStore,
    StoreError,
    StoreSpec,
    open_store,
    parse_store_spec,
)


def entry(text: str, sender: str = "ann") -> Entry:
    return Entry(sender=sender, content=text, timestamp=1.5)


@pytest.fixture(params=["memory", "sqlite"])
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store spec of each kind."""
    return "memory" if request.param == "memory" else f"sqlite:{tmp_path}/store.db"


def seqs(records: list[Record]) -> list[int]:
    return [r.seq for r in records]


async def test_seq_has_no_gaps_or_repeats_across_rooms(spec: str) -> None:
    async with open_store(spec, history_size=1000) as store:
        rng = random.Random(7)
        rooms = [f"r{i}" for i in range(17)]
        seen: dict[str, list[int]] = {room: [] for room in rooms}
        epochs: dict[str, set[str]] = {room: set() for room in rooms}
        for n in range(3000):
            room = rng.choice(rooms)
            record = store.append(room, entry(f"m{n}"))
            assert record.room == room
            assert record.entry.content == f"m{n}"
            seen[room].append(record.seq)
            epochs[room].add(record.epoch)
            if n % 37 == 0:
                store.end_batch()
        await store.end_batch().wait()
        for room in rooms:
            assert seen[room] == list(range(1, len(seen[room]) + 1))
            assert len(epochs[room]) == 1
            assert store.position(room) == Position(epochs[room].pop(), len(seen[room]))
        assert sorted(store.rooms()) == sorted(room for room in rooms if seen[room])


async def test_window_keeps_only_history_size(spec: str) -> None:
    async with open_store(spec, history_size=5) as store:
        for n in range(12):
            store.append("a", entry(f"m{n}"))
        assert seqs(store.recent("a", 100)) == [8, 9, 10, 11, 12]
        assert [r.entry.content for r in store.recent("a", 2)] == ["m10", "m11"]
        assert store.statistics().records == 5
        assert store.position("a").seq == 12


async def test_history_off_still_assigns_positions(spec: str) -> None:
    async with open_store(spec, history_size=0) as store:
        records = [store.append("a", entry(str(n))) for n in range(4)]
        assert seqs(records) == [1, 2, 3, 4]
        assert store.recent("a", 10) == []
        assert store.before("a", 5, 10) == []
        epoch = records[0].epoch
        assert store.since("a", Position(epoch, 4)).recovered
        gone = store.since("a", Position(epoch, 3))
        assert (gone.recovered, gone.reason) == (False, "too old")


async def test_empty_and_unknown_rooms(spec: str) -> None:
    async with open_store(spec, history_size=1000) as store:
        start = store.position("nowhere")
        assert start.seq == 0
        assert store.recent("nowhere", 10) == []
        assert store.before("nowhere", 1, 10) == []
        same = store.since("nowhere", start)
        assert same.recovered and same.records == [] and same.last == start
        other = store.since("nowhere", Position("other", 0))
        assert (other.recovered, other.reason) == (False, "epoch")
        assert store.rooms() == []
        # The epoch a client was told for the empty room is the one its log starts in.
        first = store.append("nowhere", entry("hi"))
        assert first.position == Position(start.epoch, 1)
        caught_up = store.since("nowhere", start)
        assert caught_up.recovered and caught_up.records == [first]


async def test_recent_limits(spec: str) -> None:
    async with open_store(spec, history_size=1000) as store:
        for n in range(10):
            store.append("a", entry(str(n)))
        assert seqs(store.recent("a", 3)) == [8, 9, 10]
        assert seqs(store.recent("a", 10)) == list(range(1, 11))
        assert seqs(store.recent("a", 50)) == list(range(1, 11))
        assert store.recent("a", 0) == []
        assert store.recent("a", -1) == []


async def test_before_pages_back(spec: str) -> None:
    async with open_store(spec, history_size=300) as store:
        for n in range(250):
            store.append("a", entry(str(n)))
        assert seqs(store.before("a", 11, 3)) == [8, 9, 10]
        assert seqs(store.before("a", 4, 10)) == [1, 2, 3]
        assert store.before("a", 1, 10) == []
        assert store.before("a", 0, 10) == []
        assert store.before("a", -5, 10) == []
        assert store.before("a", 5, 0) == []
        # A seq past the end means "the newest".
        assert seqs(store.before("a", 10**9, 2)) == [249, 250]
        assert seqs(store.before("a", 251, 2)) == [249, 250]
        # At most MAX_PAGE per call.
        page = store.before("a", 251, 1000)
        assert len(page) == MAX_PAGE
        assert seqs(page) == list(range(151, 251))


async def test_before_stops_at_the_window(spec: str) -> None:
    async with open_store(spec, history_size=10) as store:
        for n in range(30):
            store.append("a", entry(str(n)))
        assert seqs(store.before("a", 25, 100)) == list(range(21, 25))
        assert store.before("a", 21, 100) == []
        assert store.before("a", 5, 100) == []


async def test_since_cases(spec: str) -> None:
    async with open_store(spec, history_size=10) as store:
        records = [store.append("a", entry(str(n))) for n in range(25)]
        epoch = records[0].epoch
        last = Position(epoch, 25)

        missed = store.since("a", Position(epoch, 20))
        assert missed.recovered and missed.reason is None
        assert missed.records == records[20:]
        assert missed.last == last

        # The oldest position still recoverable: its successor is kept.
        edge = store.since("a", Position(epoch, 15))
        assert edge.recovered and seqs(edge.records) == list(range(16, 26))

        for position, reason in [
            (Position(epoch, 14), "too old"),
            (Position(epoch, 0), "too old"),
            (Position(epoch, 26), "future"),
            (Position(epoch, -1), "invalid"),
            (Position("x" + epoch, 25), "epoch"),
        ]:
            result = store.since("a", position)
            assert (result.recovered, result.records, result.reason, result.last) == (False, [], reason, last)

        current = store.since("a", last)
        assert current.recovered and current.records == []


async def test_since_from_zero_while_everything_is_kept(spec: str) -> None:
    async with open_store(spec, history_size=10) as store:
        records = [store.append("a", entry(str(n))) for n in range(10)]
        result = store.since("a", Position(records[0].epoch, 0))
        assert result.recovered and result.records == records


async def test_discard_starts_a_new_epoch(spec: str) -> None:
    async with open_store(spec, history_size=1000) as store:
        old = store.append("a", entry("1"))
        other = store.append("b", entry("1"))
        store.discard("a")
        store.discard("never")  # nothing to forget
        assert store.rooms() == ["b"]
        assert store.recent("a", 10) == []
        assert store.position("a").epoch != old.epoch
        again = store.append("a", entry("2"))
        assert again.seq == 1 and again.epoch != old.epoch
        assert store.since("a", old.position).reason == "epoch"
        assert store.append("b", entry("2")).position == Position(other.epoch, 2)
        await store.end_batch().wait()


async def test_statistics_counts(spec: str) -> None:
    async with open_store(spec, history_size=3) as store:
        for n in range(5):
            store.append(f"r{n % 2}", entry(str(n)))
        await store.end_batch().wait()
        stats = store.statistics()
        assert stats.rooms == 2
        assert stats.records == 5
        assert stats.pending_records == 0
        assert stats.batches_in_flight == 0
        assert stats.failure is None


async def test_memory_store_epoch_is_new_per_instance() -> None:
    first, second = MemoryStore(), MemoryStore()
    assert first.append("a", entry("x")).epoch != second.append("a", entry("x")).epoch
    assert first.position("b").epoch != second.position("b").epoch
    assert first.end_batch().done
    stats = first.statistics()
    assert (stats.kind, stats.pending_records, stats.commits) == ("memory", 0, 0)


async def test_memory_store_through_open_store() -> None:
    async with open_store("memory", history_size=2) as store:
        assert isinstance(store, MemoryStore)
        assert store.history_size == 2
        store.append("a", entry("x"))
        ticket = store.end_batch()
        assert ticket.done
        await ticket.wait()
        await store.wait_writable()


def test_parse_store_spec() -> None:
    assert parse_store_spec("memory") == StoreSpec("memory")
    assert parse_store_spec("sqlite:chat.db") == StoreSpec("sqlite", "chat.db")
    assert parse_store_spec("sqlite:/tmp/a:b.db") == StoreSpec("sqlite", "/tmp/a:b.db")
    for bad in ["", "redis", "sqlite", "Memory", "memory:x", "postgres:x"]:
        with pytest.raises(StoreError, match="unknown store") as info:
            parse_store_spec(bad)
        assert "\n" not in str(info.value)
        assert "memory or sqlite:PATH" in str(info.value)
    with pytest.raises(StoreError, match="needs a file path"):
        parse_store_spec("sqlite:")


async def test_negative_history_size_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="history size"):
        MemoryStore(-1)
    with pytest.raises(StoreError, match="history size"):
        async with open_store(f"sqlite:{tmp_path}/x.db", history_size=-1):
            pass


def test_both_stores_are_room_logs() -> None:
    """mypy checks the assignments below: both stores satisfy the Protocol."""
    memory: RoomLog = MemoryStore()
    assert memory.history_size == 1000

    def sqlite_is_a_room_log(store: SqliteStore) -> RoomLog:
        return store

    assert callable(sqlite_is_a_room_log)
