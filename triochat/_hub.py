"""Rooms, names and membership: plain data, no I/O and no trio.

The hub is owned by the server and changed only by synchronous calls, so a
check and the change it guards can never be split by another task: a name is
reserved by the same call that finds it free.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, Protocol, TypeVar


class Member(Protocol):
    """What the hub needs of a connection: a name and a room."""

    name: str
    room: str | None


M = TypeVar("M", bound=Member)


class RoomLimitReached(Exception):
    """No room can be created: the server has as many as it allows."""


class Hub(Generic[M]):
    """Names (unique across the server) and rooms with their members.

    A member first *reserves* its name (:meth:`reserve`), which makes the name
    taken, and only later *enters* a room (:meth:`enter`), after which it
    receives the room's messages.  Rooms listed at construction are permanent;
    others are created on first entry and removed when their last member goes.
    """

    __slots__ = ("_names", "_rooms", "max_rooms", "permanent_rooms")

    def __init__(self, rooms: Iterable[str] = ("lobby",), *, max_rooms: int = 1000) -> None:
        self.permanent_rooms = tuple(dict.fromkeys(rooms))
        if not self.permanent_rooms:
            raise ValueError("at least one room is needed")
        self.max_rooms = max(max_rooms, len(self.permanent_rooms))
        self._names: dict[str, M] = {}
        self._rooms: dict[str, dict[M, None]] = {room: {} for room in self.permanent_rooms}

    @property
    def default_room(self) -> str:
        """The room everyone starts in (the first permanent room)."""
        return self.permanent_rooms[0]

    # -- names ---------------------------------------------------------------

    def reserve(self, name: str, member: M) -> bool:
        """Take *name* for *member* if nobody holds it; say whether it did."""
        if name in self._names:
            return False
        self._names[name] = member
        member.name = name
        return True

    def rename(self, member: M, new: str) -> bool:
        """Give *member* the free name *new*; ``False`` if it is taken."""
        if new in self._names:
            return False
        if self._names.get(member.name) is member:
            del self._names[member.name]
        self._names[new] = member
        member.name = new
        return True

    def find(self, name: str) -> M | None:
        """The member holding *name*, if any (reserved or in a room)."""
        return self._names.get(name)

    def release(self, member: M) -> str | None:
        """Remove *member* from its room and free its name.

        Returns the room it was in, or ``None`` if it never entered one.
        Releasing a member twice is harmless.
        """
        room = self.leave_room(member)
        if self._names.get(member.name) is member:
            del self._names[member.name]
        return room

    @property
    def name_count(self) -> int:
        """How many names are held."""
        return len(self._names)

    # -- rooms ---------------------------------------------------------------

    def enter(self, member: M, room: str) -> str | None:
        """Move *member* into *room*, creating it if needed.

        Returns the room it left, if any.  Raises :class:`RoomLimitReached`
        when the room does not exist and no more can be created.
        """
        members = self._rooms.get(room)
        if members is None:
            if len(self._rooms) >= self.max_rooms:
                raise RoomLimitReached(room)
            members = self._rooms[room] = {}
        old = self.leave_room(member)
        members[member] = None
        member.room = room
        return old

    def leave_room(self, member: M) -> str | None:
        """Take *member* out of its room (without freeing its name)."""
        room = member.room
        if room is None:
            return None
        members = self._rooms.get(room)
        if members is not None:
            members.pop(member, None)
            if not members and room not in self.permanent_rooms:
                del self._rooms[room]
        member.room = None
        return room

    def size(self, room: str) -> int:
        """How many members *room* has."""
        return len(self._rooms.get(room, ()))

    def members(self, room: str) -> Iterable[M]:
        """The members of *room*, in the order they entered (empty if none)."""
        return self._rooms.get(room, {}).keys()

    def all_members(self) -> Iterable[M]:
        """Every member that is in some room."""
        for members in self._rooms.values():
            yield from members

    def room_counts(self) -> list[tuple[str, int]]:
        """Each room with its member count, permanent rooms first."""
        return [(room, len(members)) for room, members in self._rooms.items()]
