"""Rooms, names and membership: plain data, no I/O and no trio.

The hub is owned by the server and changed only by synchronous calls, so a
check and the change it guards can never be split by another task: a name is
reserved by the same call that finds it free.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, Protocol, TypeVar

from .protocol.names import name_key


class Member(Protocol):
    """What the hub needs of a connection: a name, its rooms and its current room."""

    name: str
    room: str | None
    rooms: dict[str, str]


M = TypeVar("M", bound=Member)


class RoomLimitReached(Exception):
    """No room can be created: the server has as many as it allows."""


def _never(room: str) -> bool:
    return False


def _nothing(room: str) -> None:
    return None


class Hub(Generic[M]):
    """Names (unique across the server) and rooms with their members.

    Names and rooms compare case-insensitively (see
    :func:`~triochat.protocol.names.name_key`): ``ALICE`` cannot log in beside
    ``alice``, and ``LOBBY`` is ``lobby``.  A member's ``name`` is the spelling
    it chose; the rooms it is in are ``rooms`` (each room's key and displayed
    spelling, the spelling of whoever created the room), in the order it
    joined them, and ``room`` is its current one (where plain lines of the
    line protocol go): the room it joined last, or chose again.

    A member first *reserves* its name (:meth:`reserve`), which makes the name
    taken, and only later *joins* rooms (:meth:`join`), after which it
    receives their messages.  Rooms listed at construction are permanent;
    others are created on first entry and removed when they have no members
    and *keep* (the room log's say) does not keep them.  When no more rooms
    may be created, the oldest room without members that is not permanent
    makes way.  *on_drop* hears of every room that disappears.
    """

    __slots__ = (
        "_keep",
        "_names",
        "_on_drop",
        "_permanent_keys",
        "_room_names",
        "_rooms",
        "max_rooms",
        "permanent_rooms",
    )

    def __init__(
        self,
        rooms: Iterable[str] = ("lobby",),
        *,
        max_rooms: int = 1000,
        keep: Callable[[str], bool] = _never,
        on_drop: Callable[[str], None] = _nothing,
    ) -> None:
        unique: dict[str, str] = {}
        for room in rooms:
            unique.setdefault(name_key(room), room)
        self.permanent_rooms = tuple(unique.values())
        if not self.permanent_rooms:
            raise ValueError("at least one room is needed")
        self._permanent_keys = frozenset(unique)
        self.max_rooms = max(max_rooms, len(self.permanent_rooms))
        self._names: dict[str, M] = {}
        self._rooms: dict[str, dict[M, None]] = {key: {} for key in unique}
        self._room_names: dict[str, str] = dict(unique)
        """Each room's key and its displayed spelling."""
        self._keep = keep
        self._on_drop = on_drop

    @property
    def default_room(self) -> str:
        """The room everyone starts in (the first permanent room)."""
        return self.permanent_rooms[0]

    # -- names ---------------------------------------------------------------

    def reserve(self, name: str, member: M) -> bool:
        """Take *name* for *member* if nobody holds it; say whether it did."""
        key = name_key(name)
        if key in self._names:
            return False
        self._names[key] = member
        member.name = name
        return True

    def rename(self, member: M, new: str) -> bool:
        """Give *member* the free name *new*; ``False`` if someone else holds it.

        A member may change the case of its own name.
        """
        key = name_key(new)
        holder = self._names.get(key)
        if holder is not None and holder is not member:
            return False
        old_key = name_key(member.name)
        if self._names.get(old_key) is member:
            del self._names[old_key]
        self._names[key] = member
        member.name = new
        return True

    def find(self, name: str) -> M | None:
        """The member holding *name* (in any case), if any (reserved or in a room)."""
        return self._names.get(name_key(name))

    def release(self, member: M) -> list[str]:
        """Take *member* out of every room and free its name.

        Returns the rooms it was in (empty if it never entered one).
        Releasing a member twice is harmless.
        """
        rooms = self.leave_rooms(member)
        key = name_key(member.name)
        if self._names.get(key) is member:
            del self._names[key]
        return rooms

    @property
    def name_count(self) -> int:
        """How many names are held."""
        return len(self._names)

    # -- rooms ---------------------------------------------------------------

    def _create(self, room: str) -> tuple[str, dict[M, None]]:
        key = name_key(room)
        members = self._rooms.get(key)
        if members is None:
            if len(self._rooms) >= self.max_rooms and not self._evict():
                raise RoomLimitReached(room)
            members = self._rooms[key] = {}
            self._room_names[key] = room
        return key, members

    def _evict(self) -> bool:
        for key, members in self._rooms.items():
            if not members and key not in self._permanent_keys:
                self._drop(key)
                return True
        return False

    def _drop(self, key: str) -> None:
        del self._rooms[key]
        self._on_drop(self._room_names.pop(key))

    def create(self, room: str) -> str:
        """Make *room* exist (empty); its displayed spelling.

        Raises :class:`RoomLimitReached` if no more rooms can be created.  A
        room made so without members stays only while *keep* keeps it.
        """
        key, _ = self._create(room)
        return self._room_names[key]

    def restore(self, rooms: Iterable[str]) -> None:
        """Make the rooms *rooms* exist (empty), as far as ``max_rooms`` allows.

        For rooms that a persistent room log remembers from an earlier run.
        """
        for room in rooms:
            key = name_key(room)
            if key in self._rooms:
                continue
            if len(self._rooms) >= self.max_rooms:
                return
            self._rooms[key] = {}
            self._room_names[key] = room

    def join(self, member: M, room: str) -> str:
        """Add *member* to *room* (any case), creating it if needed; make it current.

        Returns the room's displayed spelling.  Joining a room one is in
        only makes it current.  Raises :class:`RoomLimitReached` when the
        room does not exist and no more can be created.
        """
        key, members = self._create(room)
        members[member] = None
        display = self._room_names[key]
        rooms = member.rooms
        if key not in rooms:
            rooms[key] = display
        member.room = display
        return display

    def part(self, member: M, room: str) -> str | None:
        """Take *member* out of *room* (any case); its displayed spelling, or ``None``.

        If it was the member's current room, the room it joined last of
        those left becomes current (``None`` if it is in no room now).
        """
        key = name_key(room)
        display = member.rooms.pop(key, None)
        if display is None:
            return None
        members = self._rooms.get(key)
        if members is not None:
            members.pop(member, None)
            if not members and key not in self._permanent_keys and not self._keep(display):
                self._drop(key)
        if member.room == display:
            member.room = next(reversed(member.rooms.values()), None)
        return display

    def enter(self, member: M, room: str) -> str | None:
        """Move *member* into *room* (any case), leaving every other room.

        The one-room view of protocol version 1 and the group-terminal
        endpoint.  Returns the room it left (its current one), if any.
        Raises :class:`RoomLimitReached` (leaving the member where it was)
        when the room does not exist and no more can be created.
        """
        old = member.room
        display = self.join(member, room)
        for other in list(member.rooms.values()):
            if other != display:
                self.part(member, other)
        return old if old != display else None

    def leave_rooms(self, member: M) -> list[str]:
        """Take *member* out of every room (without freeing its name)."""
        rooms = list(member.rooms.values())
        for room in rooms:
            self.part(member, room)
        member.room = None
        return rooms

    def forget(self, room: str) -> bool:
        """Remove *room* if it has no members and is not permanent; say whether it did."""
        key = name_key(room)
        if self._rooms.get(key) or key not in self._rooms or key in self._permanent_keys:
            return False
        self._drop(key)
        return True

    def room_name(self, room: str) -> str | None:
        """The displayed spelling of *room* (given in any case), or ``None`` if it does not exist."""
        return self._room_names.get(name_key(room))

    def size(self, room: str) -> int:
        """How many members *room* has."""
        return len(self._rooms.get(name_key(room), ()))

    def members(self, room: str) -> Iterable[M]:
        """The members of *room*, in the order they entered (empty if none)."""
        return self._rooms.get(name_key(room), {}).keys()

    def all_members(self) -> Iterable[M]:
        """Every member that is in some room."""
        for members in self._rooms.values():
            yield from members

    def room_counts(self) -> list[tuple[str, int]]:
        """Each room with its member count, permanent rooms first."""
        return [(self._room_names[key], len(members)) for key, members in self._rooms.items()]
