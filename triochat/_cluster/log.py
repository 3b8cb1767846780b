"""The room log of a node in a cluster: a local mirror of the rooms' streams.

Positions are given by Redis (the publish script), not here: :meth:`append`
is never used.  For every room with members on this node the cluster loads
the stream's newest ``history_size`` records (:meth:`load`) and then feeds
every message in seq order (:meth:`deliver`), in the broadcaster, so join
history, paging and recovery read the room's log synchronously, as with any
store.  Rooms are keyed by their name key: the spelling is the cluster's.
"""

from __future__ import annotations

from collections.abc import Iterable

from .._store import Entry, MemoryStore, Position, Record, Recovery, StoreStatistics
from .._store.window import RoomState
from ..protocol.names import name_key


class ClusterLog(MemoryStore):
    """A :class:`~triochat._store.RoomLog` whose positions come from Redis."""

    def load(self, room: str, epoch: str, last: int, records: Iterable[Record]) -> None:
        """Replace *room*'s window: its log is at (*epoch*, *last*); *records* end there."""
        state = RoomState(epoch, last, self.history_size)
        if self.history_size:
            state.window.extend(r for r in records if r.epoch == epoch and r.seq <= last)
        self._rooms[name_key(room)] = state

    def deliver(self, record: Record) -> bool:
        """Add the next message of its room; ``False`` (nothing kept) if it is not the next."""
        state = self._rooms.get(name_key(record.room))
        if state is None or state.epoch != record.epoch or record.seq != state.last + 1:
            return False
        state.last = record.seq
        if self.history_size:
            state.window.append(record)
        return True

    def loaded(self, room: str) -> bool:
        """True if *room*'s window is here."""
        return name_key(room) in self._rooms

    def append(self, room: str, entry: Entry) -> Record:
        """Never used: in a cluster, positions come from Redis."""
        raise RuntimeError("a cluster's room log is appended to by Redis, not by the broadcaster")

    def position(self, room: str) -> Position:
        """The room's newest position this node has seen."""
        return super().position(name_key(room))

    def recent(self, room: str, limit: int) -> list[Record]:
        """The newest *limit* messages this node keeps of *room*."""
        return super().recent(name_key(room), limit)

    def before(self, room: str, seq: int, limit: int) -> list[Record]:
        """A page of older messages of *room*."""
        return super().before(name_key(room), seq, limit)

    def since(self, room: str, position: Position) -> Recovery:
        """The messages of *room* after *position*, or why not."""
        return super().since(name_key(room), position)

    def discard(self, room: str) -> None:
        """Forget *room*'s window (it is loaded again when someone here joins it)."""
        self._rooms.pop(name_key(room), None)

    def statistics(self) -> StoreStatistics:
        """Counters (kind ``redis``): the windows kept on this node."""
        stats = super().statistics()
        return StoreStatistics(
            kind="redis",
            rooms=stats.rooms,
            records=stats.records,
            pending_records=0,
            batches_in_flight=0,
            commits=0,
            last_commit_seconds=0.0,
            max_commit_seconds=0.0,
            unclean_start=False,
            failure=None,
        )
