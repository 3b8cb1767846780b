"""Room logs: message positions, history and durable storage behind one Protocol.

``open_store(spec)`` opens a store from a ``--store`` value (``memory`` or
``sqlite:PATH``) as an async context manager that yields a :class:`RoomLog`.
See ``docs/design.md`` ("Rooms that remember") for the pipeline.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import NamedTuple

from .base import DEFAULT_HISTORY_SIZE as DEFAULT_HISTORY_SIZE
from .base import DEFAULT_MAX_PENDING as DEFAULT_MAX_PENDING
from .base import MAX_PAGE as MAX_PAGE
from .base import BanEntry as BanEntry
from .base import Entry as Entry
from .base import ModerationLog as ModerationLog
from .base import Position as Position
from .base import Record as Record
from .base import Recovery as Recovery
from .base import RoomLog as RoomLog
from .base import StoreError as StoreError
from .base import StoreStatistics as StoreStatistics
from .base import Ticket as Ticket
from .base import TopicEntry as TopicEntry
from .memory import MemoryStore as MemoryStore
from .memory import open_memory_store as open_memory_store
from .sqlite import SqliteStore as SqliteStore
from .sqlite import open_sqlite_store as open_sqlite_store

STORE_KINDS = ("memory", "sqlite:PATH")
"""The accepted forms of a store spec, for help texts."""


class StoreSpec(NamedTuple):
    """A parsed store spec: ``kind`` is ``"memory"`` or ``"sqlite"``."""

    kind: str
    path: str | None = None


def parse_store_spec(spec: str) -> StoreSpec:
    """Parse ``memory`` or ``sqlite:PATH``; raise :class:`StoreError` otherwise."""
    if spec == "memory":
        return StoreSpec("memory")
    kind, colon, path = spec.partition(":")
    if kind == "sqlite" and colon:
        if not path:
            raise StoreError("store 'sqlite:' needs a file path (sqlite:PATH)")
        return StoreSpec("sqlite", path)
    raise StoreError(f"unknown store {spec!r}: use {' or '.join(STORE_KINDS)}")


def open_store(
    spec: str | StoreSpec,
    *,
    history_size: int = DEFAULT_HISTORY_SIZE,
    max_pending: int = DEFAULT_MAX_PENDING,
) -> AbstractAsyncContextManager[RoomLog]:
    """Open the store *spec* names: ``async with open_store("sqlite:chat.db") as log:``.

    Raises :class:`StoreError` (one line naming the store and the cause) for
    a bad spec, or when the store cannot be opened.
    """
    parsed = parse_store_spec(spec) if isinstance(spec, str) else spec
    if parsed.kind == "sqlite" and parsed.path is not None:
        return open_sqlite_store(parsed.path, history_size=history_size, max_pending=max_pending)
    if parsed.kind == "memory":
        return open_memory_store(history_size)
    raise StoreError(f"unknown store kind {parsed.kind!r}")
