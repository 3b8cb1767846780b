"""The in-memory windows against a plain model: every room's whole log as a list."""

from __future__ import annotations

import random

import pytest

from triochat._store import MAX_PAGE, Entry, MemoryStore, Position, Record


class Model:
    """Keeps everything; answers what the store should answer."""

    def __init__(self, history_size: int) -> None:
        self.history_size = history_size
        self.logs: dict[str, list[Record]] = {}

    def kept(self, room: str) -> list[Record]:
        log = self.logs.get(room, [])
        return log[max(0, len(log) - self.history_size) :] if self.history_size else []

    def since(self, room: str, seq: int) -> list[Record] | None:
        log = self.logs.get(room, [])
        if seq < 0 or seq > len(log):
            return None
        missed = log[seq:]
        kept = self.kept(room)
        if len(missed) > len(kept):
            return None
        return missed


@pytest.mark.parametrize("seed", range(12))
def test_windows_match_the_model(seed: int) -> None:
    rng = random.Random(seed)
    history_size = rng.choice([0, 1, 3, 10, 150])
    store = MemoryStore(history_size)
    model = Model(history_size)
    rooms = ["a", "b", "c", "d"]
    for step in range(1500):
        room = rng.choice(rooms)
        action = rng.random()
        if action < 0.6:
            record = store.append(room, Entry("u", f"{step}", 0.0))
            log = model.logs.setdefault(room, [])
            assert record.seq == len(log) + 1
            if log:
                assert record.epoch == log[0].epoch
            log.append(record)
        elif action < 0.63:
            store.discard(room)
            model.logs.pop(room, None)
        elif action < 0.75:
            limit = rng.randint(-1, history_size + 5)
            kept = model.kept(room)
            assert store.recent(room, limit) == (kept[max(0, len(kept) - limit) :] if limit > 0 else [])
        elif action < 0.87:
            seq = rng.randint(-2, len(model.logs.get(room, [])) + 3)
            limit = rng.randint(0, MAX_PAGE + 20)
            older = [r for r in model.kept(room) if r.seq < seq]
            page = min(limit, MAX_PAGE)
            wanted = older[max(0, len(older) - page) :] if page else []
            assert store.before(room, seq, limit) == wanted
        else:
            log = model.logs.get(room, [])
            epoch = store.position(room).epoch
            seq = rng.randint(-1, len(log) + 2)
            if rng.random() < 0.1:
                epoch = "elsewhere"
            result = store.since(room, Position(epoch, seq))
            expected = model.since(room, seq) if epoch != "elsewhere" else None
            assert result.recovered == (expected is not None)
            assert result.records == (expected or [])
            assert result.last == store.position(room)
        assert store.position(room).seq == len(model.logs.get(room, []))
    assert sorted(store.rooms()) == sorted(model.logs)
    assert store.statistics().records == sum(len(model.kept(room)) for room in model.logs)
