"""The in-memory store: history lives as long as the process.

Every store instance starts its rooms in a fresh epoch, so after a restart
clients see that the log started anew.  Nothing is ever written anywhere, so
every ticket is done at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from .base import DEFAULT_HISTORY_SIZE, StoreStatistics, Ticket, done_ticket
from .window import Windows


class MemoryStore(Windows):
    """A :class:`~triochat._store.RoomLog` kept in memory only."""

    def __init__(self, history_size: int = DEFAULT_HISTORY_SIZE) -> None:
        super().__init__(history_size)
        self._done = done_ticket()

    def end_batch(self) -> Ticket:
        """Nothing to write: an already done ticket."""
        return self._done

    async def wait_writable(self) -> None:
        """Never waits (but is a checkpoint)."""
        await trio.lowlevel.checkpoint()

    def statistics(self) -> StoreStatistics:
        """Counters; the lag is always zero."""
        return StoreStatistics(
            kind="memory",
            rooms=len(self._rooms),
            records=self.kept(),
            pending_records=0,
            batches_in_flight=0,
            commits=0,
            last_commit_seconds=0.0,
            max_commit_seconds=0.0,
            unclean_start=False,
            failure=None,
        )


@asynccontextmanager
async def open_memory_store(history_size: int = DEFAULT_HISTORY_SIZE) -> AsyncIterator[MemoryStore]:
    """A new :class:`MemoryStore` (for symmetry with the stores that own a task)."""
    await trio.lowlevel.checkpoint()
    yield MemoryStore(history_size)
