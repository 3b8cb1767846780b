"""Moderation: operators, kicks, bans, mutes and room topics.

One :class:`Moderation` per server run, owned by the broadcaster: every
change happens in the broadcaster task, in the order of the requests, like
everything else.  The login check (:meth:`Moderation.ban_refusal`) is
synchronous, so the connection tasks call it while they claim a name.

Who is an operator (see docs/design.md, "Moderation"): a user logged in
under a name of ``ServerConfig.operators`` *and* able to prove it, either
because the auth hook gave them that name as their identity, or (only with
``local_operators``) because they came over a local connection.  Nobody else
may log in under an operator's name or take it with ``nick``.

Bans are by name (:func:`~triochat.protocol.names.name_key`), kept in the
store when it can keep them (:class:`~triochat._store.ModerationLog`, the
SQLite store), with wall-clock end times so that they hold across restarts.
Mutes are per room and live as long as the server runs; they end on the Trio
clock.  Topics are kept like bans.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import trio

from ._config import ServerConfig
from ._connection import Connection
from ._store import BanEntry, ModerationLog, RoomLog, TopicEntry
from .ops.proxies import peer_address
from .protocol import commands
from .protocol.durations import format_duration
from .protocol.events import Error, Moderated, Notice, RoomTopic
from .protocol.names import name_key
from .protocol.origin import loopback_origin

if TYPE_CHECKING:
    from ._broadcaster import Broadcaster

access = logging.getLogger("triochat.access")

MAX_BANS = 10_000
"""The most bans kept at once (expired ones do not count)."""

MAX_MUTES = 10_000
"""The most mutes in force at once."""

SERVER = "server"
"""Who acted, for actions of the application (``ChatServer.kick`` and the others)."""

_VERBS: dict[type, str] = {
    commands.Kick: "kick",
    commands.Ban: "ban",
    commands.Unban: "unban",
    commands.Mute: "mute",
    commands.Unmute: "unmute",
    commands.Topic: "topic",
}


@dataclass(slots=True)
class ModerationRequest:
    """Request: the application (``ChatServer``) or a handler moderates.

    ``done`` is set once the broadcaster applied it; ``error`` then says why
    nothing happened (``None``: it did).
    """

    command: commands.ModerationCommand
    by: str = SERVER
    done: trio.Event | None = None
    error: Error | None = field(default=None)
    expired: bool = False
    """An :class:`~triochat.protocol.commands.Unmute` from the mute timer: the mute's time is up."""


class SharedModeration(Protocol):
    """Where a node's bans and topics go for the other nodes (the cluster; never awaits)."""

    def share_ban(self, key: str, ban: BanEntry | None) -> None:
        """Queue the ban on the name *key* (``None``: lifted) for every node."""
        ...

    def share_topic(self, key: str, topic: TopicEntry) -> None:
        """Queue the topic of the room *key* for every node (``text`` ``""``: cleared)."""
        ...


def is_local_peer(peer: str) -> bool:
    """True for a loopback address, or a peer that is no network address at all
    (the Unix socket's path, or a stream the program attached itself).

    An address may come with a port (``127.0.0.1:5``, ``[::1]:5``) or without
    one, as a trusted proxy's ``X-Forwarded-For`` names the client.
    """
    address = peer_address(peer)
    return address is None or address.is_loopback


class Moderation:
    """Operators, bans, mutes and topics of one server run; see the module docstring."""

    def __init__(
        self, broadcaster: Broadcaster, config: ServerConfig, clock: Callable[[], float] = time.time
    ) -> None:
        self._broadcaster = broadcaster
        self.operators = frozenset(name_key(name) for name in config.operators)
        """Operator names, as :func:`name_key` forms."""
        self.local_operators = config.local_operators
        self.max_topics = config.max_rooms
        self.clock = clock
        """Wall-clock time for bans (they are kept across restarts)."""
        self.bans: dict[str, BanEntry] = {}
        self.topics: dict[str, TopicEntry] = {}
        self.mutes: dict[tuple[str, str], tuple[float, str, str]] = {}
        """(room key, name key) -> (when the mute ends on the Trio clock, ``inf``: never;
        the room's and the name's spelling)."""
        self._expiring: set[tuple[str, str]] = set()
        """Mutes whose end the timer has announced to the broadcaster (not yet handled)."""
        self._mutes_changed = trio.Event()
        self._log: ModerationLog | None = None
        self.shared: SharedModeration | None = None
        """The cluster, with ``redis_url``: bans and topics cross nodes through it."""

    def use_store(self, store: RoomLog) -> None:
        """Keep bans and topics in *store* if it can, starting from what it kept."""
        if isinstance(store, ModerationLog):
            self._log = store
            self.bans, self.topics = store.moderation()

    # -- who may do what ---------------------------------------------------------------

    def may_claim(self, conn: Connection, name: str) -> bool:
        """False if *name* is an operator's and *conn* cannot prove to be that operator."""
        key = name_key(name)
        if key not in self.operators:
            return True
        if conn.identity is not None and name_key(conn.identity) == key:
            return True
        if conn.page_origin is not None and not loopback_origin(conn.page_origin):
            return False  # a page of a name that may point here by DNS rebinding (see loopback_origin)
        return self.local_operators and is_local_peer(conn.peer)

    def is_operator(self, conn: Connection) -> bool:
        """True if *conn*'s user is an operator (see the module docstring)."""
        return bool(conn.name) and name_key(conn.name) in self.operators and self.may_claim(conn, conn.name)

    def help_lines(self, conn: Connection) -> tuple[str, ...]:
        """The ``/help`` text for *conn*: operator commands only for operators."""
        if self.is_operator(conn):
            return commands.HELP_LINES + commands.OPERATOR_HELP_LINES
        return commands.HELP_LINES

    # -- bans and mutes in force ---------------------------------------------------------

    def ban_of(self, name: str) -> BanEntry | None:
        """The ban in force on *name*, or ``None``."""
        ban = self.bans.get(name_key(name))
        if ban is None or (ban.until is not None and ban.until <= self.clock()):
            return None
        return ban

    def ban_refusal(self, name: str) -> Error | None:
        """The ``banned`` error for a login (or ``nick``) as *name*, or ``None`` if it is not banned."""
        ban = self.ban_of(name)
        if ban is None:
            return None
        if ban.until is None:
            text = f"{name} is banned until an operator lifts the ban"
        else:
            text = f"{name} is banned for {format_duration(ban.until - self.clock())} more"
        return Error("banned", f"{text} ({ban.reason})" if ban.reason else text)

    def mute_left(self, name: str, room: str) -> float | None:
        """Seconds *name* stays muted in *room* (``inf``: until unmuted), or ``None``."""
        mute = self.mutes.get((name_key(room), name_key(name)))
        if mute is None:
            return None
        left = mute[0] - trio.current_time()
        return left if left > 0 else None  # the timer removes it and tells the room

    def muted_error(self, conn: Connection, room: str) -> Error | None:
        """The ``muted`` error if *conn* may not speak in *room* now, else ``None``."""
        return self._muted(conn, room, "nothing was sent")

    def _muted(self, conn: Connection, room: str, outcome: str) -> Error | None:
        left = self.mute_left(conn.name, room)
        if left is None:
            return None
        until = "until an operator unmutes you" if math.isinf(left) else f"for {format_duration(left)} more"
        return Error("muted", f"you are muted in #{room} {until}; {outcome}")

    def rename_refusal(self, conn: Connection) -> Error | None:
        """The ``muted`` error if *conn* is muted in one of its rooms, else ``None``.

        Mutes are by name: a muted user who took another name would speak
        again, so a muted user keeps their name until the mute ends.
        """
        if not self.mutes:
            return None
        for room in conn.rooms.values():
            error = self._muted(conn, room, "your name cannot change meanwhile")
            if error is not None:
                return error
        return None

    async def run_mute_timer(self, send: Callable[[ModerationRequest], Awaitable[None]]) -> None:
        """End mutes when their time is up: ask the broadcaster to lift each and tell its room.

        Runs until cancelled (the server runs it beside the keepalive task).
        """
        while True:
            self._mutes_changed = trio.Event()
            waiting = [(until, key) for key, (until, _, _) in self.mutes.items() if key not in self._expiring]
            with trio.move_on_at(min(waiting, default=(math.inf, None))[0]):
                await self._mutes_changed.wait()
                continue
            now = trio.current_time()
            ended = [
                (key, room, name)
                for key, (until, room, name) in self.mutes.items()
                if until <= now and key not in self._expiring
            ]
            for key, room, name in ended:
                self._expiring.add(key)
                await send(ModerationRequest(commands.Unmute(name, room), expired=True))

    # -- topics -------------------------------------------------------------------------

    def show_topic(self, conn: Connection, room: str) -> None:
        """Tell *conn*, which just entered *room*, the room's topic (if it has one)."""
        topic = self.topics.get(name_key(room))
        if topic is not None:
            self._broadcaster.send(conn, RoomTopic(room, topic.text))

    # -- what other nodes did (scale-out) ------------------------------------------------

    def learn_ban(self, key: str, ban: BanEntry | None, *, kick: bool) -> None:
        """Another node banned (or unbanned) the name *key*; with *kick*, remove its holder here."""
        if ban is None:
            self.bans.pop(key, None)
            return
        self.bans[key] = ban
        if kick:
            self._remove_banned(ban)

    def learn_bans(self, bans: dict[str, BanEntry]) -> None:
        """Every ban the cluster keeps (read when a Redis session starts): they replace ours."""
        self.bans = dict(bans)
        for ban in bans.values():
            self._remove_banned(ban)

    def _remove_banned(self, ban: BanEntry) -> None:
        """End the connection of *ban*'s name here, if it is connected and the ban is in force."""
        target = self._online(ban.name, entered=False)
        if target is None or self.ban_of(ban.name) is None:
            return
        duration = None if ban.until is None else ban.until - ban.since
        event = Moderated("ban", target.name, ban.by, ban.reason, duration)
        access.info("ban %s by %s (on another node): %s", target.name, ban.by, ban.reason or "-")
        self._remove(target, event, f"banned by {ban.by}")

    def learn_topic(self, key: str, topic: TopicEntry | None, *, announce: bool) -> None:
        """The topic of the room *key* as the cluster keeps it; with *announce*, tell its members here."""
        if topic is None or not topic.text:
            self.topics.pop(key, None)
        else:
            self.topics[key] = topic
        if announce and topic is not None:
            room = self._broadcaster.hub.room_name(topic.room)
            if room is not None:
                self._tell(RoomTopic(room, topic.text, topic.by), [room])

    # -- requests -----------------------------------------------------------------------

    def handle(self, conn: Connection, command: commands.ModerationCommand) -> None:
        """A user's moderation command: check who may, then act or answer with an error."""
        b = self._broadcaster
        verb = _VERBS[type(command)]
        if isinstance(command, commands.Topic) and command.text is None:
            shown = self._room(conn, command.room)
            if shown is not None:
                topic = self.topics.get(name_key(shown))
                b.send(conn, RoomTopic(shown, "" if topic is None else topic.text))
            return
        if not self.is_operator(conn):
            b.send(conn, Error("not_operator", f"only operators may use /{verb}"))
            return
        target = getattr(command, "name", None)
        if target is not None and not isinstance(command, commands.Unban | commands.Unmute):
            if name_key(target) == name_key(conn.name):
                b.send(conn, Error("bad_target", f"you cannot {verb} yourself"))
                return
            if name_key(target) in self.operators:
                done = {"kick": "kicked", "ban": "banned", "mute": "muted"}[verb]
                b.send(conn, Error("bad_target", f"{target} is an operator: operators cannot be {done}"))
                return
        room: str | None = None
        if isinstance(command, commands.Mute | commands.Unmute | commands.Topic):
            room = self._room(conn, command.room)
            if room is None:
                return
        error = self._apply(command, conn.name, room, conn)
        if error is not None:
            b.send(conn, error)

    def apply(self, request: ModerationRequest) -> None:
        """An action of the application or a handler (no operator checks)."""
        command = request.command
        if request.expired and isinstance(command, commands.Unmute):
            self._expire(command.name, command.room or "")
            return
        room: str | None = None
        if isinstance(command, commands.Mute | commands.Unmute | commands.Topic):
            room = self._broadcaster.hub.room_name(command.room or "")
            if room is None:
                request.error = Error("no_such_room", f"there is no room #{command.room}")
        if request.error is None:
            request.error = self._apply(command, request.by, room, None)
        if request.done is not None:
            request.done.set()

    def _room(self, conn: Connection, room: str | None) -> str | None:
        """The room a command means (its displayed spelling), or ``None`` after an error."""
        b = self._broadcaster
        if room is None:
            return b.unnamed_room(conn)
        display = b.hub.room_name(room)
        if display is None:
            b.send(conn, Error("no_such_room", f"there is no room #{room}"))
        return display

    def _apply(
        self, command: commands.ModerationCommand, by: str, room: str | None, asker: Connection | None
    ) -> Error | None:
        if isinstance(command, commands.Kick):
            return self._kick(command.name, by, command.reason, asker)
        if isinstance(command, commands.Ban):
            return self._ban(command, by, asker)
        if isinstance(command, commands.Unban):
            return self._unban(command.name, by, asker)
        assert room is not None
        if isinstance(command, commands.Mute):
            return self._mute(command, room, by, asker)
        if isinstance(command, commands.Unmute):
            return self._unmute(command.name, room, by, asker)
        assert command.text is not None
        return self._set_topic(room, command.text, by, asker)

    # -- the actions ----------------------------------------------------------------------

    def _online(self, name: str, *, entered: bool = True) -> Connection | None:
        """The connection holding *name*; with ``entered=False`` also one still logging in."""
        target = self._broadcaster.hub.find(name)
        if target is None or (entered and not target.entered):
            return None
        return target

    def _tell(
        self,
        event: Moderated | RoomTopic,
        rooms: Iterable[str],
        *also: Connection | None,
        exclude: Connection | None = None,
    ) -> None:
        """Send *event* to the members of *rooms* and to *also*, once each (not to *exclude*)."""
        b = self._broadcaster
        told: dict[Connection, None] = {}
        for room in rooms:
            told.update(dict.fromkeys(b.hub.members(room)))
        for conn in also:
            if conn is not None:
                told[conn] = None
        b.fan_out(event, told, exclude)

    def _remove(self, target: Connection, event: Moderated, leave_reason: str) -> None:
        """Tell *target*'s rooms what happened, give *target* its last words, end its connection."""
        self._tell(event, list(target.rooms.values()), exclude=target)
        code = "kicked" if event.action == "kick" else "banned"
        stats = self._broadcaster.stats
        stats.count(stats.cut_off, code)
        self._broadcaster.send(target, Error(code, _you(event)))
        target.kick(leave_reason)

    def _kick(self, name: str, by: str, reason: str | None, asker: Connection | None) -> Error | None:
        target = self._online(name, entered=False)
        if target is None:
            return Error("no_such_user", f"there is no user named {name}")
        event = Moderated("kick", target.name, by, reason)
        access.info("kick %s by %s: %s", target.name, by, reason or "-")
        self._tell_asker_if_apart(asker, target, event)
        self._remove(target, event, f"kicked by {by}")
        return None

    def _tell_asker_if_apart(self, asker: Connection | None, target: Connection, event: Moderated) -> None:
        """The operator always hears of the action, even from outside the target's rooms."""
        if asker is None:
            return
        if any(asker in self._broadcaster.hub.members(room) for room in target.rooms.values()):
            return
        self._broadcaster.send(asker, event)

    def _ban(self, command: commands.Ban, by: str, asker: Connection | None) -> Error | None:
        key = name_key(command.name)
        now = self.clock()
        if key not in self.bans and len(self.bans) >= MAX_BANS:
            self._forget_expired_bans(now)
            if len(self.bans) >= MAX_BANS:
                return Error("ban_limit", f"no more than {MAX_BANS} bans at once; lift some first")
        # One who claimed the name but whose login is still queued is removed too.
        target = self._online(command.name, entered=False)
        name = target.name if target is not None else command.name
        until = None if command.duration is None else now + command.duration
        ban = BanEntry(name, by, command.reason, now, until)
        self.bans[key] = ban
        self._save_ban(key, ban)
        access.info(
            "ban %s by %s for %s: %s",
            name,
            by,
            "good" if command.duration is None else format_duration(command.duration),
            command.reason or "-",
        )
        event = Moderated("ban", name, by, command.reason, command.duration)
        if target is None:
            if asker is not None:
                self._broadcaster.send(asker, event)
                text = f"{name} is not connected; the name is banned"
                if self.shared is not None:
                    text = f"{name} is not connected to this node; the name is banned on every node"
                self._broadcaster.send(asker, Notice(text, code="moderation"))
            return None
        self._tell_asker_if_apart(asker, target, event)
        self._remove(target, event, f"banned by {by}")
        return None

    def _forget_expired_bans(self, now: float) -> None:
        for key, ban in list(self.bans.items()):
            if ban.until is not None and ban.until <= now:
                del self.bans[key]
                self._save_ban(key, None)

    def _unban(self, name: str, by: str, asker: Connection | None) -> Error | None:
        key = name_key(name)
        ban = self.ban_of(name)
        if key in self.bans:
            del self.bans[key]
            self._save_ban(key, None)
        if ban is None:
            return Error("not_banned", f"{name} is not banned")
        access.info("unban %s by %s", ban.name, by)
        if asker is not None:
            self._broadcaster.send(asker, Moderated("unban", ban.name, by))
        return None

    def _mute(self, command: commands.Mute, room: str, by: str, asker: Connection | None) -> Error | None:
        target = self._online(command.name)
        if target is None:
            return Error("no_such_user", f"there is no user named {command.name}")
        key = (name_key(room), name_key(target.name))
        if key not in self.mutes and len(self.mutes) >= MAX_MUTES:
            return Error("mute_limit", f"no more than {MAX_MUTES} mutes at once; lift some first")
        duration = command.duration
        until = math.inf if duration is None else trio.current_time() + duration
        self.mutes[key] = (until, room, target.name)
        self._mutes_changed.set()
        access.info("mute %s in #%s by %s", target.name, room, by)
        self._tell(Moderated("mute", target.name, by, None, duration, room), [room], target, asker)
        return None

    def _unmute(self, name: str, room: str, by: str, asker: Connection | None) -> Error | None:
        key = (name_key(room), name_key(name))
        left = self.mute_left(name, room)
        self.mutes.pop(key, None)
        if left is None:
            return Error("not_muted", f"{name} is not muted in #{room}")
        target = self._online(name)
        shown = target.name if target is not None else name
        access.info("unmute %s in #%s by %s", shown, room, by)
        self._tell(Moderated("unmute", shown, by, None, None, room), [room], target, asker)
        return None

    def _expire(self, name: str, room: str) -> None:
        """The mute timer says a mute's time is up: lift it unless it was renewed or lifted."""
        key = (name_key(room), name_key(name))
        self._expiring.discard(key)
        mute = self.mutes.get(key)
        if mute is None:
            return
        if mute[0] > trio.current_time():
            self._mutes_changed.set()  # renewed meanwhile: the timer waits for its new end
            return
        del self.mutes[key]
        if self._broadcaster.stopping:
            return
        target = self._online(name)
        shown = target.name if target is not None else name
        display = self._broadcaster.hub.room_name(room)
        if display is not None:
            event = Moderated("unmute", shown, SERVER, "the mute ended", None, display)
            self._tell(event, [display], target)

    def _set_topic(self, room: str, text: str, by: str, asker: Connection | None) -> Error | None:
        key = name_key(room)
        topic: TopicEntry | None = None
        if text:
            if key not in self.topics and len(self.topics) >= self.max_topics:
                return Error("topic_limit", f"no more than {self.max_topics} rooms may have a topic")
            topic = self.topics[key] = TopicEntry(room, text, by, self.clock())
        else:
            self.topics.pop(key, None)
        if self._log is not None:
            self._log.save_topic(key, topic)
        if self.shared is not None:
            self.shared.share_topic(key, topic or TopicEntry(room, "", by, self.clock()))
        access.info("topic of #%s set by %s", room, by)
        self._tell(RoomTopic(room, text, by), [room], asker)
        return None

    def _save_ban(self, key: str, ban: BanEntry | None) -> None:
        if self._log is not None:
            self._log.save_ban(key, ban)
        if self.shared is not None:
            self.shared.share_ban(key, ban)


def _you(event: Moderated) -> str:
    """The last words to a user who is kicked or banned: ``you were kicked by op (spam)``."""
    verb = "kicked" if event.action == "kick" else "banned"
    words = f"you were {verb} by {event.by}"
    if event.action == "ban":
        words += " for good" if event.duration is None else f" for {format_duration(event.duration)}"
    return f"{words} ({event.reason})" if event.reason else words
