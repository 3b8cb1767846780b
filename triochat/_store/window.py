"""The in-memory part every store shares: positions and each room's window.

A room's window is a deque of its last ``history_size`` records; their seqs
are consecutive and end at the room's last seq, so a seq is found by index.
"""

from __future__ import annotations

from collections import deque

from .base import MAX_PAGE, Entry, Position, Record, Recovery, StoreError, new_epoch

TOO_OLD = "too old"
FUTURE = "future"
OTHER_EPOCH = "epoch"
INVALID = "invalid"


class RoomState:
    """One room's epoch, last seq and window."""

    __slots__ = ("epoch", "last", "window")

    def __init__(self, epoch: str, last: int, history_size: int) -> None:
        self.epoch = epoch
        self.last = last
        self.window: deque[Record] = deque(maxlen=history_size)


class Windows:
    """Positions and windows of all rooms; the synchronous half of a store."""

    def __init__(self, history_size: int) -> None:
        if history_size < 0:
            raise StoreError(f"history size must be 0 or more, not {history_size}")
        self.history_size = history_size
        self.new_room_epoch = new_epoch()
        """The epoch a room's log starts in; changes when a room is discarded."""
        self._rooms: dict[str, RoomState] = {}

    def _room(self, room: str) -> RoomState:
        state = self._rooms.get(room)
        if state is None:
            state = self._rooms[room] = RoomState(self.new_room_epoch, 0, self.history_size)
        return state

    def append(self, room: str, entry: Entry) -> Record:
        """Give *entry* the next position in *room* and keep it in the window."""
        state = self._rooms.get(room) or self._room(room)
        seq = state.last = state.last + 1
        record = Record(room, state.epoch, seq, entry)
        if self.history_size:
            state.window.append(record)
        return record

    def position(self, room: str) -> Position:
        """The room's newest position."""
        state = self._rooms.get(room)
        if state is None:
            return Position(self.new_room_epoch, 0)
        return Position(state.epoch, state.last)

    def recent(self, room: str, limit: int) -> list[Record]:
        """The newest *limit* kept records, oldest first."""
        state = self._rooms.get(room)
        if state is None or limit <= 0:
            return []
        window = state.window
        if limit >= len(window):
            return list(window)
        return [window[i] for i in range(len(window) - limit, len(window))]

    def before(self, room: str, seq: int, limit: int) -> list[Record]:
        """Up to ``min(limit, MAX_PAGE)`` kept records with a seq below *seq*."""
        state = self._rooms.get(room)
        limit = min(limit, MAX_PAGE)
        if state is None or limit <= 0 or not state.window:
            return []
        window = state.window
        first = window[0].seq
        end = min(seq, state.last + 1) - first  # index of the first record not wanted
        start = max(0, end - limit)
        return [window[i] for i in range(start, end)]

    def since(self, room: str, position: Position) -> Recovery:
        """The records after *position*, or why they cannot be given."""
        epoch, seq = position
        last = self.position(room)
        if epoch != last.epoch:
            return Recovery(False, [], last, OTHER_EPOCH)
        if seq < 0:
            return Recovery(False, [], last, INVALID)
        if seq > last.seq:
            return Recovery(False, [], last, FUTURE)
        missed = last.seq - seq
        if missed == 0:
            return Recovery(True, [], last)
        window = self._rooms[room].window
        if missed > len(window):
            return Recovery(False, [], last, TOO_OLD)
        return Recovery(True, [window[i] for i in range(len(window) - missed, len(window))], last)

    def rooms(self) -> list[str]:
        """Rooms that have a log."""
        return list(self._rooms)

    def discard(self, room: str) -> None:
        """Forget *room*; its next log (and every new room's) gets a new epoch."""
        if self._rooms.pop(room, None) is not None:
            self.new_room_epoch = new_epoch()

    def kept(self) -> int:
        """Records in all windows."""
        return sum(len(state.window) for state in self._rooms.values())
