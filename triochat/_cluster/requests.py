"""What the cluster hands the broadcaster: requests applied in its order.

The cluster's tasks never touch connections; they queue these on the
broadcaster's inbound channel like any connection does, so the broadcaster
stays the one place that orders and fans out everything.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._broadcaster import FromCluster
from .._store import BanEntry, Record, TopicEntry
from ..protocol.events import ChatMessage, Joined, Left, Notice, PrivateChat, Renamed
from ..protocol.names import name_key
from .log import ClusterLog

if TYPE_CHECKING:
    from .._broadcaster import Broadcaster
    from .._connection import Connection

_ids = itertools.count(1)


def _log(broadcaster: Broadcaster) -> ClusterLog:
    store = broadcaster.store
    assert isinstance(store, ClusterLog)
    return store


def _remote(broadcaster: Broadcaster) -> dict[str, dict[str, str]]:
    """The cluster's view of each followed room's members on other nodes."""
    remote: dict[str, dict[str, str]] = getattr(broadcaster.cluster, "remote")  # noqa: B009
    return remote


@dataclass(frozen=True, slots=True)
class Loaded(FromCluster):
    """A room's window as Redis has it; *reset*: it replaces one whose log started anew."""

    room: str
    epoch: str
    last: int
    records: Sequence[Record]
    reset: bool = False
    members: dict[str, str] | None = None
    """The room's members on other nodes (name key -> name), when read with it."""

    def apply(self, broadcaster: Broadcaster) -> None:
        """Keep the window; after a reset, tell the room's local members."""
        _log(broadcaster).load(self.room, self.epoch, self.last, self.records)
        if self.members is not None:
            _remote(broadcaster)[name_key(self.room)] = dict(self.members)
        if not self.reset:
            return
        room = broadcaster.hub.room_name(self.room) or self.room
        for conn in list(broadcaster.hub.members(room)):
            if conn.room_required:
                broadcaster.resync(conn, room)  # recovered: false, and the recent history
            else:
                broadcaster.send(conn, Notice(f"the history of #{room} started anew", code="history"))


@dataclass(frozen=True, slots=True)
class Delivered(FromCluster):
    """Messages of one room, in seq order, from Redis; *origin* nodes name their senders."""

    records: Sequence[tuple[Record, str]]
    node: str
    """This node's id (its own senders without echo do not get their message back)."""

    def apply(self, broadcaster: Broadcaster) -> None:
        """Keep each next message in the window and send it to the room's members here."""
        store = _log(broadcaster)
        hub = broadcaster.hub
        for record, origin in self.records:
            if not store.deliver(record):
                continue
            room = hub.room_name(record.room) or record.room
            entry = record.entry
            message = ChatMessage(
                next(_ids),
                entry.timestamp,
                entry.sender,
                room,
                entry.content,
                entry.agent,
                entry.action,
                record.seq,
                record.epoch,
            )
            exclude: Connection | None = None
            if origin == self.node:
                sender = hub.find(entry.sender)
                if sender is not None and not sender.echo:
                    exclude = sender
            broadcaster.fan_out(message, hub.members(room), exclude, room=room)


@dataclass(frozen=True, slots=True)
class Presence(FromCluster):
    """Someone came, went or changed name on another node.

    For a rename, a login or a logout, *rooms* are the keys of all the rooms
    it concerns: a member here is told once, in the first of them it is in
    (as one node tells each member once).
    """

    event: Joined | Left | Renamed
    room: str
    rooms: tuple[str, ...] = ()

    def apply(self, broadcaster: Broadcaster) -> None:
        """Note who is where; tell the room's members here (unless above ``presence_limit``)."""
        news = self._note(_remote(broadcaster))
        if not news:
            return  # already known here (read with the room's members when it was followed)
        hub = broadcaster.hub
        room = hub.room_name(self.room)
        if room is None:
            return
        members: Iterable[Connection] = hub.members(room)
        if self.rooms:
            key = name_key(room)
            members = [m for m in members if _first_shared(m.rooms, self.rooms) == key]
        if isinstance(self.event, Renamed):
            broadcaster.fan_out(self.event, members)
            return
        limit = broadcaster.config.presence_limit
        if limit is not None and hub.size(room) > limit:
            return
        event = self.event
        if event.room != room:
            event = (
                Joined(event.name, room, event.login)
                if isinstance(event, Joined)
                else Left(event.name, room, event.logout, event.reason)
            )
        broadcaster.fan_out(event, members)

    def _note(self, remote: dict[str, dict[str, str]]) -> bool:
        """Update this node's view of the other nodes' members; ``False`` if it knew already."""
        event = self.event
        if isinstance(event, Renamed):
            for key in self.rooms:
                members = remote.get(key)
                if members is not None:
                    members.pop(name_key(event.old), None)
                    members[name_key(event.new)] = event.new
            return True
        members = remote.get(name_key(self.room))
        if members is None:
            return True
        key = name_key(event.name)
        if isinstance(event, Joined):
            known = members.get(key) == event.name
            members[key] = event.name
            return not known
        return members.pop(key, None) is not None


@dataclass(frozen=True, slots=True)
class Members(FromCluster):
    """A followed room's members on other nodes, read again (after Redis came back)."""

    room_key: str
    members: dict[str, str]

    def apply(self, broadcaster: Broadcaster) -> None:
        """Replace this node's view of them."""
        remote = _remote(broadcaster)
        if self.room_key in remote:
            remote[self.room_key] = dict(self.members)


def _first_shared(mine: dict[str, str], theirs: tuple[str, ...]) -> str | None:
    for key in theirs:
        if key in mine:
            return key
    return None


@dataclass(frozen=True, slots=True)
class Direct(FromCluster):
    """A private message from a user on another node to a user here."""

    item: PrivateChat

    def apply(self, broadcaster: Broadcaster) -> None:
        """Deliver it like a private message sent here."""
        broadcaster.deliver_private(self.item)


@dataclass(frozen=True, slots=True)
class Forget(FromCluster):
    """This node no longer follows *room*: drop its window unless someone here joined it."""

    room: str

    def apply(self, broadcaster: Broadcaster) -> None:
        """Discard the window if the room has no members here."""
        _remote(broadcaster).pop(name_key(self.room), None)
        if not broadcaster.hub.size(self.room):
            broadcaster.store.discard(self.room)


@dataclass(frozen=True, slots=True)
class BanChanged(FromCluster):
    """A ban on the name *key* was set (or lifted: ``None``) on some node; *kick*: remove its holder here."""

    key: str
    ban: BanEntry | None
    kick: bool

    def apply(self, broadcaster: Broadcaster) -> None:
        """Keep it; end the banned user's connection here."""
        broadcaster.moderation.learn_ban(self.key, self.ban, kick=self.kick)


@dataclass(frozen=True, slots=True)
class Bans(FromCluster):
    """Every ban Redis keeps, read when a session starts."""

    bans: dict[str, BanEntry]

    def apply(self, broadcaster: Broadcaster) -> None:
        """Replace this node's bans; end the connections of banned users here."""
        broadcaster.moderation.learn_bans(self.bans)


@dataclass(frozen=True, slots=True)
class TopicChanged(FromCluster):
    """The topic of the room *key* as Redis keeps it; *announce*: it just changed on another node."""

    key: str
    topic: TopicEntry | None
    announce: bool

    def apply(self, broadcaster: Broadcaster) -> None:
        """Keep it; tell the room's members here when it changed."""
        broadcaster.moderation.learn_topic(self.key, self.topic, announce=self.announce)
