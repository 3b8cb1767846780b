"""Rooms, names and membership: plain data, no I/O and no trio.

The hub is owned by the server and changed only by synchronous calls, so a
check and the change it guards can never be split by another task: a name is
reserved by the same call that finds it free.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, Protocol, TypeVar

from .protocol.names import name_key


class Member(Protocol):
    """What the hub needs of a connection: a name and a room."""

    name: str
    room: str | None


M = TypeVar("M", bound=Member)


class RoomLimitReached(Exception):
    """No room can be created: the server has as many as it allows."""


class Hub(Generic[M]):
    """Names (unique across the server) and rooms with their members.

    Names and rooms compare case-insensitively (see
    :func:`~triochat.protocol.names.name_key`): ``ALICE`` cannot log in beside
    ``alice``, and ``LOBBY`` is ``lobby``.  A member's ``name`` is the spelling
    it chose; its ``room`` is the spelling of whoever created the room.

    A member first *reserves* its name (:meth:`reserve`), which makes the name
    taken, and only later *enters* a room (:meth:`enter`), after which it
    receives the room's messages.  Rooms listed at construction are permanent;
    others are created on first entry and removed when their last member goes.
    """

    __slots__ = ("_names", "_permanent_keys", "_room_names", "_rooms", "max_rooms", "permanent_rooms")

    def __init__(self, rooms: Iterable[str] = ("lobby",), *, max_rooms: int = 1000) -> None:
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

    def release(self, member: M) -> str | None:
        """Remove *member* from its room and free its name.

        Returns the room it was in, or ``None`` if it never entered one.
        Releasing a member twice is harmless.
        """
        room = self.leave_room(member)
        key = name_key(member.name)
        if self._names.get(key) is member:
            del self._names[key]
        return room

    @property
    def name_count(self) -> int:
        """How many names are held."""
        return len(self._names)

    # -- rooms ---------------------------------------------------------------

    def enter(self, member: M, room: str) -> str | None:
        """Move *member* into *room* (any case), creating it if needed.

        The member's ``room`` becomes the room's displayed spelling.  Returns
        the room it left, if any.  Raises :class:`RoomLimitReached` when the
        room does not exist and no more can be created.
        """
        key = name_key(room)
        members = self._rooms.get(key)
        if members is None:
            if len(self._rooms) >= self.max_rooms:
                raise RoomLimitReached(room)
            members = self._rooms[key] = {}
            self._room_names[key] = room
        old = self.leave_room(member)
        members[member] = None
        member.room = self._room_names[key]
        return old

    def leave_room(self, member: M) -> str | None:
        """Take *member* out of its room (without freeing its name)."""
        room = member.room
        if room is None:
            return None
        key = name_key(room)
        members = self._rooms.get(key)
        if members is not None:
            members.pop(member, None)
            if not members and key not in self._permanent_keys:
                del self._rooms[key]
                del self._room_names[key]
        member.room = None
        return room

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
