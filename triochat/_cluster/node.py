"""One node of a cluster: its link to Redis and the tasks that use it.

Three tasks share one Redis session, which the node opens again (with
backoff) whenever Redis goes away:

* the **publisher** takes the operations the broadcaster queued in one batch
  (chat messages, joins, leaves, renames, logouts) from a bounded channel and
  sends them as one pipeline: one script per message;
* the **follower** reads the pub/sub channels of the rooms with members on
  this node (and the node's inbox), puts each room's messages in seq order,
  repairs gaps from the room's stream and hands everything to the
  broadcaster as requests;
* the **keeper** renews the node's lease and removes the users of nodes whose
  lease ran out.

Connection tasks await Redis themselves for what a user waits on anyway
(claiming a name, following a room before joining it, ``/who``, ``/rooms``,
private messages to other nodes).  The broadcaster never awaits Redis.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from .._broadcaster import NOT_SENT, UNAVAILABLE, Broadcaster, FromCluster, Reply
from .._store import BanEntry, Record, TopicEntry
from .._store.base import new_epoch
from ..protocol import commands
from ..protocol.events import ChatMessage, Error, Joined, Left, PrivateChat, Renamed, RoomList
from ..protocol.names import name_key
from . import codec, keys, scripts
from .link import (
    TIMEOUT,
    ClusterError,
    Unavailable,
    connect,
    coredis_module,
    describe,
    is_redis_failure,
    shown_url,
)
from .log import ClusterLog
from .metrics import LinkStats, metric_source, readiness
from .requests import BanChanged, Bans, Delivered, Direct, Forget, Loaded, Members, Presence, TopicChanged

if TYPE_CHECKING:
    from .._broadcaster import ConnectionRequest
    from .._connection import Connection
    from .._runtime import Runtime

log = logging.getLogger("triochat.cluster")

OUT_BATCHES = 1024
"""Broadcaster batches queued for the publisher; beyond it chat is refused (``unavailable``)."""
MAX_PIPELINE = 2000
"""Operations sent in one pipeline at most."""
EVENTS = 4096
"""Pub/sub messages and follow requests queued for the follower."""
MAX_ARRIVED = 256
"""At most this many messages from Redis are handed to the broadcaster in one request."""
COALESCE_PASSES = 3
"""Scheduler passes the follower waits for more messages before handing over what it has."""
PIN = 30.0
"""Seconds a room stays followed after a follow request, even without members here."""
MIN_BACKOFF = 0.1
MAX_BACKOFF = 5.0
MIN_STREAM = 100
"""Messages a room's stream keeps at least (to repair gaps), even with ``history_size`` 0."""

UNAVAILABLE_TEXT = "the chat cannot reach its Redis right now; try again soon"
MAYBE_NOT_SENT = "Redis went away while your message was being sent: it may not have been delivered"


@dataclass(slots=True)
class _Chat:
    room_key: str
    body: str
    conn: Connection | None


@dataclass(slots=True)
class _Presence:
    event: Joined | Left
    room_key: str
    room: str


@dataclass(slots=True)
class _Rename:
    old: str
    new: str
    rooms: tuple[str, ...]


@dataclass(slots=True)
class _Release:
    name: str


@dataclass(slots=True)
class _Ban:
    key: str
    ban: BanEntry | None


@dataclass(slots=True)
class _Topic:
    key: str
    topic: TopicEntry


_Moderation = _Ban | _Topic
_Op = _Chat | _Presence | _Rename | _Release | _Moderation


@dataclass(slots=True)
class _Follow:
    """A connection task asks the follower to follow a room (before joining it)."""

    key: str
    room: str
    done: trio.Event = field(default_factory=trio.Event)
    display: str | None = None


class _Sweep:
    """Tick: stop following rooms without members here."""


class _Stop:
    """The server stops: end the session cleanly (pub/sub first, then the client)."""


@dataclass(slots=True)
class _Feed:
    """What this node has delivered of one room."""

    room: str
    epoch: str
    last: int
    pinned: float
    loaded: bool = True
    """False until the room's window was read (a session may end in between)."""


class Cluster:
    """This node's part in a cluster of triochat servers sharing one Redis."""

    def __init__(self, runtime: Runtime, url: str) -> None:
        config = runtime.config
        self.runtime = runtime
        self.url = url
        self.shown_url = shown_url(url)
        """The URL as logs show it (no password)."""
        self.node = secrets.token_hex(6)
        """This node's id (in the names hash, its lease and its inbox)."""
        self.lease = config.redis_lease
        self.history_size = config.history_size
        self.stream_cap = max(config.history_size, MIN_STREAM)
        self.permanent = tuple(runtime.hub.permanent_rooms)
        self._batch: list[_Op] = []
        self._out_send, self._out_receive = trio.open_memory_channel[list[_Op]](OUT_BATCHES)
        self._events_send, self._events_receive = trio.open_memory_channel[Any](EVENTS)
        self._client: Any = None
        self._pubsub: Any = None
        self._shas: dict[str, str] = {}
        """Each script's SHA1, loaded at the start of every session."""
        self._up = False
        self._inflight: list[_Chat] = []
        self._arrived: list[tuple[Record, str]] = []
        """Messages read in order from Redis, not yet handed to the broadcaster (see :meth:`_follow`)."""
        self._unsent: list[_Moderation] = []
        self._inflight_moderation: list[_Moderation] = []
        """Bans and topics whose pipeline failed: written first in the next session."""
        self.feeds: dict[str, _Feed] = {}
        self.remote: dict[str, dict[str, str]] = {}
        """Per followed room key: its members on other nodes (name key -> name).
        Changed only in the broadcaster (by :mod:`.requests`), so it is in step
        with the room's presence events as this node delivers them."""
        self.reconnects = 0
        """Sessions opened again after Redis went away."""
        self.stats = LinkStats()
        """Round trips and message counts, for ``/metrics``."""
        self._stopping = False
        self.stopped = trio.Event()
        """Set when :meth:`run` has ended."""

    # -- what the broadcaster calls (synchronous) ----------------------------------------

    @property
    def available(self) -> bool:
        """True while the node has a working Redis session."""
        return self._up

    def publish(self, message: ChatMessage, sender: Connection | None) -> None:
        """Queue *message* for its room's script (sent when the batch ends)."""
        self._batch.append(_Chat(name_key(message.room), codec.encode_entry(message, self.node), sender))

    def presence(self, event: Joined | Left, room: str) -> None:
        """Queue a join or a leave: the room's members in Redis, and an announcement."""
        self._batch.append(_Presence(event, name_key(room), room))

    def renamed(self, old: str, new: str, rooms: tuple[str, ...]) -> None:
        """Queue a rename in every room of the user, then the old name's release."""
        self._batch.append(_Rename(old, new, rooms))

    def release_name(self, name: str) -> None:
        """Queue freeing *name*."""
        self._batch.append(_Release(name))

    def end_batch(self, broadcaster: Broadcaster) -> None:
        """Hand the batch to the publisher; if it cannot take more, refuse its chat."""
        batch = self._batch
        if not batch:
            return
        self._batch = []
        try:
            self._out_send.send_nowait(batch)
        except trio.WouldBlock:
            log.warning("the Redis publisher is %d batches behind: refusing a batch", OUT_BATCHES)
            for op in batch:
                if isinstance(op, _Chat) and op.conn is not None:
                    broadcaster.send(op.conn, Error(UNAVAILABLE, NOT_SENT))

    def share_ban(self, key: str, ban: BanEntry | None) -> None:
        """Queue the ban on the name *key* (``None``: lifted): kept in Redis, told to every node."""
        self._batch.append(_Ban(key, ban))

    def share_topic(self, key: str, topic: TopicEntry) -> None:
        """Queue the topic of the room *key* (``text`` ``""``: cleared) for Redis and the room's nodes."""
        self._batch.append(_Topic(key, topic))

    def others(self, room: str) -> list[str]:
        """The members of *room* on the other nodes."""
        return list(self.remote.get(name_key(room), {}).values())

    # -- what connection tasks await -----------------------------------------------------

    async def claim(self, name: str) -> str | None:
        """Claim *name* cluster-wide: ``None`` if it is this node's now.

        Otherwise why not: ``"taken"`` or ``"unavailable"``.
        """
        try:
            result = await self._call(
                scripts.CLAIM, [keys.NAMES, keys.node_names(self.node)], [name_key(name), self.node]
            )
        except Unavailable:
            return "unavailable"
        return None if int(result) else "taken"

    async def follow(self, room: str) -> str:
        """Follow *room* (subscribe, load its window); its cluster-wide spelling."""
        if not self._up:
            raise Unavailable
        request = _Follow(name_key(room), room)
        with trio.move_on_after(TIMEOUT * 2):
            await self._events_send.send(request)
            await request.done.wait()
        if request.display is None:
            raise Unavailable
        return request.display

    async def before(self, conn: Connection, command: ConnectionRequest) -> ConnectionRequest | None:
        """Do the Redis part of *command* in the connection's task.

        Returns the request to queue for the broadcaster (possibly rewritten
        with the cluster's spelling of a room), or ``None`` when the answer
        was queued here.
        """
        from .._broadcaster import Login

        try:
            if isinstance(command, Login):
                return await self._login(conn, command)
            if isinstance(command, commands.JoinRoom):
                display = await self.follow(command.room)
                await self._member(conn, display)
                return commands.JoinRoom(display, command.since)
            if isinstance(command, commands.ListRooms):
                rooms = await self._room_list()
                return Reply(RoomList(rooms, tuple(conn.rooms.values()), conn.room))
            if isinstance(command, commands.PrivateMessage):
                return await self._private(conn, command)
            if isinstance(command, commands.Nick):
                if name_key(command.name) == name_key(conn.name) or conn.identity is not None:
                    return command
                refusal = await self.claim(command.name)
                if refusal == "taken":
                    return Reply(Error("name_taken", f"the name {command.name} is taken"))
                if refusal is not None:
                    raise Unavailable
                return command
        except Unavailable:
            if isinstance(command, Login):
                return command  # local rooms still work
            return Reply(Error(UNAVAILABLE, UNAVAILABLE_TEXT))
        return command

    async def _login(self, conn: Connection, command: ConnectionRequest) -> ConnectionRequest:
        from .._broadcaster import Login

        assert isinstance(command, Login)
        if command.rooms is None:
            await self._member(conn, await self.follow(self.runtime.hub.default_room))
            return command
        rooms = {}
        for room, since in command.rooms.items():
            display = await self.follow(room)
            await self._member(conn, display)
            rooms[display] = since
        return Login(rooms)

    async def _member(self, conn: Connection, room: str) -> None:
        """Record the membership in Redis before the broadcaster announces it.

        Whoever enters the room next, on any node, then sees this user in
        it; the broadcaster's own (idempotent) update follows.
        """
        key = name_key(room)
        await self._call(
            scripts.JOIN,
            [keys.members_key(key), keys.ROOMS, keys.node_rooms(self.node)],
            [name_key(conn.name), f"{self.node} {conn.name}", key, room],
        )

    async def _room_list(self) -> tuple[tuple[str, int], ...]:
        """Every room with members anywhere (and the permanent ones), with counts.

        Redis counts the other nodes' members; this node's are its hub's.
        """
        flat = await self._call(scripts.ROOM_LIST, [keys.ROOMS], [keys.MEMBERS_PREFIX, self.node])
        counts: dict[str, tuple[str, int]] = {}
        for i in range(0, len(flat), 2):
            counts[name_key(str(flat[i]))] = (str(flat[i]), int(flat[i + 1]))
        for room, here in self.runtime.hub.room_counts():
            key = name_key(room)
            display, there = counts.get(key, (room, 0))
            if here or there or room in self.permanent:
                counts[key] = (display, there + here)
        for room in self.permanent:
            counts.setdefault(name_key(room), (room, 0))
        return tuple(sorted(counts.values()))

    async def _private(self, conn: Connection, command: commands.PrivateMessage) -> ConnectionRequest:
        holder = await self._command(lambda c: c.hget(keys.NAMES, name_key(command.target)))
        if holder is None:
            return Reply(Error("no_such_user", f"there is no user named {command.target}"))
        if holder == self.node:
            return command
        item = PrivateChat(conn.name, command.target, command.text)
        await self._command(lambda c: c.publish(keys.inbox(str(holder)), codec.encode_direct(item)))
        return Reply(PrivateChat(conn.name, command.target, command.text, outgoing=True))

    async def _command(self, make: Any) -> Any:
        client = self._client
        if client is None or not self._up:
            raise Unavailable
        try:
            started = time.perf_counter()
            with trio.fail_after(TIMEOUT):
                answer = await make(client)
            self.stats.round_trip.observe(time.perf_counter() - started)
            return answer
        except trio.TooSlowError:
            raise Unavailable from None
        except Exception as exc:
            if is_redis_failure(exc):
                raise Unavailable from None
            raise

    async def _call(self, source: str, key_list: list[str], args: list[Any]) -> Any:
        return await self._command(lambda c: self._eval(source, keys=key_list, args=args, client=c))

    async def _load_scripts(self, client: Any) -> None:
        """SCRIPT LOAD every script (on every master of a Redis Cluster).

        Pipelines then call EVALSHA alone; a Redis that lost its scripts
        (restarted) answers NOSCRIPT, which ends the session, and the next
        session loads them again.
        """
        with trio.fail_after(TIMEOUT):
            for source in scripts.ALL:
                self._shas[source] = str(await client.script_load(source))

    def _eval(self, source: str, *, keys: list[str], args: list[Any], client: Any) -> Any:
        """EVALSHA of *source* on *client* (a client or a pipeline)."""
        return client.evalsha(self._shas[source], keys=keys, args=args)

    # -- the session -----------------------------------------------------------------------

    async def stop(self) -> None:
        """Ask :meth:`run` to end its session cleanly."""
        self._stopping = True
        with suppress(trio.WouldBlock):
            self._events_send.send_nowait(_Stop())
        await trio.lowlevel.checkpoint()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep a Redis session open (reconnecting with backoff) until :meth:`stop`."""
        try:
            await self._run(task_status)
        finally:
            self.stopped.set()

    async def _run(self, task_status: trio.TaskStatus[None]) -> None:
        backoff = MIN_BACKOFF
        started = False
        while not self._stopping:
            try:
                client = await connect(self.url)
                async with client:
                    self._client = client
                    await self._load_scripts(client)
                    retry = coredis_module().retry.NoRetryPolicy()
                    async with client.pubsub(
                        channels=[keys.inbox(self.node), keys.MODERATION],
                        retry_policy=retry,
                        ignore_subscribe_messages=True,
                        subscription_timeout=TIMEOUT,
                    ) as pubsub:
                        self._pubsub = pubsub
                        await self._begin(client)
                        async with trio.open_nursery() as nursery:
                            nursery.start_soon(self._read, pubsub)
                            nursery.start_soon(self._keep, client)
                            await self._resume(client, pubsub)
                            nursery.start_soon(self._publish, client)
                            self._up = True
                            backoff = MIN_BACKOFF
                            if started:
                                log.warning("Redis at %s is reachable again", self.shown_url)
                            else:
                                started = True
                                log.info("node %s joined the cluster at %s", self.node, self.shown_url)
                                task_status.started()
                            await self._follow(client, pubsub)
                            nursery.cancel_scope.cancel()
                return
            except Exception as exc:
                if not is_redis_failure(exc):
                    raise
                if not started:
                    raise ClusterError(f"cannot reach Redis at {self.shown_url}: {describe(exc)}") from None
                log.warning(
                    "lost Redis at %s (%s); trying again in %.1f s", self.shown_url, describe(exc), backoff
                )
            finally:
                self._up = False
                self._client = None
                self._pubsub = None
            await self._refuse(self._inflight, MAYBE_NOT_SENT)
            self._inflight = []
            self._unsent.extend(self._inflight_moderation)
            self._inflight_moderation = []
            await trio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
            self.reconnects += 1

    async def _to_broadcaster(self, request: Any) -> None:
        await self._hand_over()  # what arrived before it goes first
        await self._send(request)

    async def _send(self, request: Any) -> None:
        # Once the server has stopped, nobody is left to tell.
        with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self.runtime.inbound_send.send(request)

    async def _hand_over(self) -> None:
        """Give the broadcaster the messages read so far, as one request (one batch of writes)."""
        if self._arrived:
            arrived, self._arrived = self._arrived, []
            await self._send(Delivered(arrived, self.node))

    async def _refuse(self, chats: Sequence[_Chat], text: str) -> None:
        for op in chats:
            if op.conn is not None:
                await self._to_broadcaster((op.conn, Reply(Error(UNAVAILABLE, text))))

    async def _begin(self, client: Any) -> None:
        """A new session: refuse what waited for Redis, then tell Redis who is here."""
        stale: list[_Chat] = []
        while True:
            try:
                batch = self._out_receive.receive_nowait()
            except trio.WouldBlock:
                break
            stale.extend(op for op in batch if isinstance(op, _Chat))
            self._unsent.extend(op for op in batch if isinstance(op, _Ban | _Topic))
        await self._refuse(stale, NOT_SENT)
        await client.set(keys.lease_key(self.node), "1", px=int(self.lease * 1000))
        await client.sadd(keys.NODES, [self.node])
        await self._share_unsent(client)
        await self._read_bans(client)
        # Names and memberships of the users here (after an outage Redis may
        # have lost them, or another node may have reaped this one).
        users = [conn for conn in list(self.runtime.connections) if conn.registered and conn.name]
        if not users:
            return
        async with client.pipeline(transaction=False) as pipe:
            claims = []
            for conn in users:
                claims.append(
                    self._eval(
                        scripts.CLAIM,
                        keys=[keys.NAMES, keys.node_names(self.node)],
                        args=[name_key(conn.name), self.node],
                        client=pipe,
                    )
                )
                for key, room in conn.rooms.items():
                    self._join(pipe, conn.name, key, room)
        for conn, claim in zip(users, claims, strict=True):
            if not int(await claim):
                log.warning("%s was taken on another node while Redis was away: cutting off", conn.name)
                conn.kick("your name was taken on another node while the chat was partitioned")

    async def _share_unsent(self, client: Any) -> None:
        """Write the bans and topics set while Redis was away (in their order)."""
        if not self._unsent:
            return
        async with client.pipeline(transaction=False) as pipe:
            for op in self._unsent:
                self._queue(pipe, op, {})
        self._unsent = []

    async def _read_bans(self, client: Any) -> None:
        """Hand the broadcaster every ban Redis keeps (this node is subscribed to changes by now)."""
        bans = {}
        for value in (await client.hgetall(keys.BANS)).values():
            try:
                key, ban, _ = codec.decode_ban(str(value))
            except codec.BadPayload as exc:
                log.warning("skipping an unreadable ban: %s", exc)
                continue
            if ban is not None:
                bans[key] = ban
        await self._to_broadcaster(Bans(bans))

    async def _read_topic(self, client: Any, key: str) -> None:
        """Hand the broadcaster the room's topic as Redis keeps it (before anyone here joins)."""
        value = await client.get(keys.topic_key(key))
        topic = None
        if value is not None:
            try:
                topic, _ = codec.decode_topic(str(value))
            except codec.BadPayload as exc:
                log.warning("unreadable topic of room %s: %s", key, exc)
        await self._to_broadcaster(TopicChanged(key, topic, announce=False))

    def _join(self, pipe: Any, name: str, room_key: str, room: str) -> None:
        self._eval(
            scripts.JOIN,
            keys=[keys.members_key(room_key), keys.ROOMS, keys.node_rooms(self.node)],
            args=[name_key(name), f"{self.node} {name}", room_key, room],
            client=pipe,
        )

    def _part(self, pipe: Any, name: str, room_key: str) -> None:
        self._eval(
            scripts.PART,
            keys=[keys.members_key(room_key), keys.ROOMS],
            args=[name_key(name), room_key, self.node],
            client=pipe,
        )

    # -- the publisher -----------------------------------------------------------------------

    async def _publish(self, client: Any) -> None:
        while True:
            ops = list(await self._out_receive.receive())
            while len(ops) < MAX_PIPELINE:
                try:
                    ops.extend(self._out_receive.receive_nowait())
                except trio.WouldBlock:
                    break
            self._inflight = [op for op in ops if isinstance(op, _Chat)]
            self._inflight_moderation = [op for op in ops if isinstance(op, _Ban | _Topic)]
            together = _together(ops)
            started = time.perf_counter()
            with trio.fail_after(TIMEOUT * 2):
                async with client.pipeline(transaction=False) as pipe:
                    for op in ops:
                        self._queue(pipe, op, together)
            self.stats.round_trip.observe(time.perf_counter() - started)
            self.stats.published += len(self._inflight)
            self._inflight = []
            self._inflight_moderation = []

    def _queue(self, pipe: Any, op: _Op, together: dict[tuple[str, bool], tuple[str, ...]]) -> None:
        if isinstance(op, _Chat):
            key = op.room_key
            self._eval(
                scripts.PUBLISH,
                keys=[keys.meta_key(key), keys.log_key(key)],
                args=[new_epoch(), self.stream_cap, op.body, keys.live_channel(key)],
                client=pipe,
            )
        elif isinstance(op, _Presence):
            event = op.event
            if isinstance(event, Joined):
                self._join(pipe, event.name, op.room_key, op.room)
            else:
                self._part(pipe, event.name, op.room_key)
            rooms = together.get((name_key(event.name), isinstance(event, Joined)), ())
            pipe.publish(keys.live_channel(op.room_key), codec.encode_presence(event, self.node, rooms))
        elif isinstance(op, _Rename):
            for key in op.rooms:
                self._join(pipe, op.new, key, key)
                self._part(pipe, op.old, key)
            self._release(pipe, op.old)
            payload = codec.encode_presence(Renamed(op.old, op.new), self.node, op.rooms)
            for key in op.rooms:
                pipe.publish(keys.live_channel(key), payload)
        elif isinstance(op, _Ban):
            payload = codec.encode_ban(op.key, op.ban, self.node)
            if op.ban is None:
                pipe.hdel(keys.BANS, [op.key])
            else:
                pipe.hset(keys.BANS, {op.key: payload})
            pipe.publish(keys.MODERATION, payload)
        elif isinstance(op, _Topic):
            payload = codec.encode_topic(op.topic, self.node)
            if op.topic.text:
                pipe.set(keys.topic_key(op.key), payload)
            else:
                pipe.delete([keys.topic_key(op.key)])
            pipe.publish(keys.live_channel(op.key), payload)
        else:
            self._release(pipe, op.name)

    def _release(self, pipe: Any, name: str) -> None:
        self._eval(
            scripts.RELEASE,
            keys=[keys.NAMES, keys.node_names(self.node)],
            args=[name_key(name), self.node],
            client=pipe,
        )

    # -- the keeper ------------------------------------------------------------------------------

    async def _keep(self, client: Any) -> None:
        period = self.lease / 3
        while True:
            await trio.sleep(period)
            with trio.fail_after(TIMEOUT):
                await client.set(keys.lease_key(self.node), "1", px=int(self.lease * 1000))
                await client.sadd(keys.NODES, [self.node])
            await self.reap(client)
            with suppress(trio.WouldBlock):
                self._events_send.send_nowait(_Sweep())

    async def reap(self, client: Any, *, node: str | None = None) -> int:
        """Remove the users of nodes whose lease ran out (or of *node*, at once); how many."""
        if node is None:
            others = [str(n) for n in await client.smembers(keys.NODES) if n != self.node]
        else:
            others = [node]
        removed = 0
        for other in others:
            flat = await self._eval(
                scripts.REAP,
                keys=[
                    keys.NAMES,
                    keys.ROOMS,
                    keys.NODES,
                    keys.lease_key(other),
                    keys.node_names(other),
                    keys.node_rooms(other),
                ],
                args=[other, keys.MEMBERS_PREFIX, "1" if node is not None else "0"],
                client=client,
            )
            if not flat:
                continue
            if node is None:
                log.warning("node %s is gone: its users leave (%d memberships)", other, len(flat) // 3)
            gone = [(str(flat[i]), str(flat[i + 1]), str(flat[i + 2])) for i in range(0, len(flat), 3)]
            rooms_of: dict[str, list[str]] = {}
            for room_key, _, user in gone:
                rooms_of.setdefault(user, []).append(room_key)
            for room_key, room, user in gone:
                left = Left(user, room, logout=True, reason="connection lost")
                payload = codec.encode_presence(left, other, tuple(rooms_of[user]))
                await client.publish(keys.live_channel(room_key), payload)
                removed += 1
        return removed

    # -- the follower ----------------------------------------------------------------------------

    async def _read(self, pubsub: Any) -> None:
        async for message in pubsub:
            if message.get("type") == "message":
                await self._events_send.send(message)
        raise Unavailable  # the subscription ended: start a new session

    async def _next_event(self) -> Any:
        """The next event; messages read so far are handed over before waiting for it.

        A few scheduler passes are given first to the tasks that read from
        Redis, so that what one read brought in joins the same hand-over.
        """
        for _ in range(COALESCE_PASSES if self._arrived else 0):
            try:
                return self._events_receive.receive_nowait()
            except trio.WouldBlock:
                await trio.lowlevel.checkpoint()
        try:
            return self._events_receive.receive_nowait()
        except trio.WouldBlock:
            await self._hand_over()
            return await self._events_receive.receive()

    async def _follow(self, client: Any, pubsub: Any) -> None:
        # Messages already read are handed over together once nothing more is
        # waiting (or after MAX_ARRIVED): the broadcaster then sends each
        # client one write for all of them, not one write per message.
        while True:
            event = await self._next_event()
            if isinstance(event, _Stop):
                await self._hand_over()
                return
            if isinstance(event, _Follow):
                try:
                    await self._start_following(client, pubsub, event)
                finally:
                    event.done.set()
            elif isinstance(event, _Sweep):
                await self._sweep(pubsub)
            else:
                await self._on_message(client, str(event.get("channel")), str(event.get("data")))

    async def _start_following(self, client: Any, pubsub: Any, request: _Follow) -> None:
        key = request.key
        feed = self.feeds.get(key)
        now = trio.current_time()
        if feed is None:
            # Noted first: if the session ends before the room is loaded, the
            # next one loads it (the user may have joined it meanwhile).
            feed = self.feeds[key] = _Feed(request.room, "", 0, now + PIN, loaded=False)
            await pubsub.subscribe(keys.live_channel(key))
            await self._load(client, key, feed)
        feed.pinned = now + PIN
        request.display = feed.room

    async def _load(self, client: Any, key: str, feed: _Feed) -> None:
        """Read the room's window and members; hand them to the broadcaster."""
        room, epoch, last, records = await self._read_room(client, key, feed.room)
        members = await self._read_members(client, key)
        feed.room, feed.epoch, feed.last, feed.loaded = room, epoch, last, True
        await self._to_broadcaster(Loaded(room, epoch, last, records, members=members))
        await self._read_topic(client, key)

    async def _read_room(self, client: Any, key: str, room: str) -> tuple[str, str, int, list[Record]]:
        """The room's spelling, epoch, last seq and newest ``history_size`` records."""
        meta = keys.meta_key(key)
        async with client.pipeline(transaction=False) as pipe:
            pipe.hsetnx(meta, "name", room)
            pipe.hsetnx(meta, "epoch", new_epoch())
            fields = pipe.hgetall(meta)
        values = await fields
        room = str(values.get("name", room))
        epoch = str(values["epoch"])
        last = int(values.get("seq", 0))
        records: list[Record] = []
        if self.history_size:
            entries = await client.xrevrange(keys.log_key(key), "+", "-", count=self.history_size)
            records = [r for r, _ in self._decode(room, reversed(entries)) if r.epoch == epoch]
            if records:
                last = max(last, records[-1].seq)
        return room, epoch, last, records

    async def _read_members(self, client: Any, key: str) -> dict[str, str]:
        """The room's members on other nodes, as Redis has them."""
        values = await client.hgetall(keys.members_key(key))
        mark = self.node + " "
        return {
            str(user): str(value).split(" ", 1)[-1]
            for user, value in values.items()
            if not str(value).startswith(mark)
        }

    def _decode(self, room: str, entries: Any) -> list[tuple[Record, str]]:
        out = []
        for entry in entries:
            seq = int(str(entry.identifier).split("-", 1)[0])
            values = entry.field_values
            try:
                published = codec.decode_entry(seq, str(values["e"]), str(values["m"]))
            except (KeyError, codec.BadPayload) as exc:
                log.warning("skipping an unreadable entry %s of #%s: %s", entry.identifier, room, exc)
                continue
            out.append((published.record._replace(room=room), published.origin))
        return out

    async def _on_message(self, client: Any, channel: str, data: str) -> None:
        if channel == keys.inbox(self.node):
            try:
                item = codec.decode_direct(data)
                self.stats.received += 1
                await self._to_broadcaster(Direct(item))
            except codec.BadPayload as exc:
                log.warning("unreadable private message: %s", exc)
            return
        if channel == keys.MODERATION:
            try:
                name, ban, origin = codec.decode_ban(data)
            except codec.BadPayload as exc:
                log.warning("unreadable ban: %s", exc)
                return
            await self._to_broadcaster(BanChanged(name, ban, kick=origin != self.node))
            return
        key = keys.room_of_channel(channel)
        feed = None if key is None else self.feeds.get(key)
        if key is None or feed is None or not feed.loaded:
            return
        try:
            if data.startswith("p "):
                event, origin, rooms = codec.decode_presence(data)
                if origin != self.node:
                    await self._to_broadcaster(Presence(event, feed.room, rooms))
                return
            if data.startswith("t "):
                topic, origin = codec.decode_topic(data)
                await self._to_broadcaster(TopicChanged(key, topic, announce=origin != self.node))
                return
            published = codec.decode_live_message(data)
        except codec.BadPayload as exc:
            log.warning("unreadable message on %s: %s", channel, exc)
            return
        record = published.record
        if record.epoch != feed.epoch:
            await self._catch_up(client, key, feed)
        elif record.seq == feed.last + 1:
            feed.last = record.seq
            self.stats.received += 1
            self._arrived.append((record._replace(room=feed.room), published.origin))
            if len(self._arrived) >= MAX_ARRIVED:
                await self._hand_over()
        elif record.seq > feed.last:
            await self._catch_up(client, key, feed)
        # else: already delivered (a repair read it from the stream first)

    async def _catch_up(self, client: Any, key: str, feed: _Feed) -> None:
        """Deliver what the room's stream has after ``feed.last``, or start the room anew."""
        meta = keys.meta_key(key)
        async with client.pipeline(transaction=False) as pipe:
            pipe.hsetnx(meta, "epoch", new_epoch())
            fields = pipe.hgetall(meta)
            entries = pipe.xrange(keys.log_key(key), f"{feed.last + 1}-0", "+")
        values = await fields
        found = self._decode(feed.room, await entries)
        epoch, last = str(values["epoch"]), int(values.get("seq", 0))
        if epoch == feed.epoch and (last <= feed.last or (found and found[0][0].seq == feed.last + 1)):
            fresh = [(r, o) for r, o in found if r.epoch == epoch and r.seq > feed.last]
            if fresh:
                feed.last = fresh[-1][0].seq
                self.stats.received += len(fresh)
                await self._to_broadcaster(Delivered(fresh, self.node))
            return
        # The log started anew (Redis lost it) or trimmed what this node missed.
        log.warning("#%s: the log cannot be resumed from seq %d; starting it anew here", feed.room, feed.last)
        room, epoch, last, records = await self._read_room(client, key, feed.room)
        feed.epoch, feed.last = epoch, last
        await self._to_broadcaster(Loaded(room, epoch, last, records, reset=True))

    async def _resume(self, client: Any, pubsub: Any) -> None:
        """A new session: follow every room again and deliver what was missed meanwhile."""
        if not self.feeds:
            return
        await pubsub.subscribe(*(keys.live_channel(key) for key in self.feeds))
        for key, feed in list(self.feeds.items()):
            if not feed.loaded:
                await self._load(client, key, feed)
                continue
            # The topic first: what follows the reset (if any) is only the members'
            # read, so chat opens again as soon after the room's state as before.
            await self._read_topic(client, key)
            await self._catch_up(client, key, feed)
            members = await self._read_members(client, key)
            await self._to_broadcaster(Members(key, members))

    async def _sweep(self, pubsub: Any) -> None:
        now = trio.current_time()
        hub = self.runtime.hub
        idle = [key for key, feed in self.feeds.items() if feed.pinned < now and not hub.size(feed.room)]
        if not idle:
            return
        await pubsub.unsubscribe(*(keys.live_channel(key) for key in idle))
        for key in idle:
            feed = self.feeds.pop(key)
            await self._to_broadcaster(Forget(feed.room))

    async def leave_cluster(self) -> None:
        """Free this node's names and memberships now (a clean stop), telling the rooms."""
        with trio.move_on_after(TIMEOUT):
            client = await connect(self.url)
            async with client:
                await self._load_scripts(client)
                await self.reap(client, node=self.node)


def _together(ops: Sequence[_Op]) -> dict[tuple[str, bool], tuple[str, ...]]:
    """The rooms of each login and each logout in *ops* (by name key and "is a join").

    One node tells each member of a user's rooms once about a login or a
    logout; the other nodes do the same with these lists (see ``Presence``).
    """
    logins = {
        name_key(op.event.name)
        for op in ops
        if isinstance(op, _Presence) and isinstance(op.event, Joined) and op.event.login
    }
    rooms: dict[tuple[str, bool], list[str]] = {}
    for op in ops:
        if not isinstance(op, _Presence):
            continue
        event = op.event
        key = name_key(event.name)
        if isinstance(event, Joined) and key in logins:
            rooms.setdefault((key, True), []).append(op.room_key)
        elif isinstance(event, Left) and event.logout:
            rooms.setdefault((key, False), []).append(op.room_key)
    return {k: tuple(v) for k, v in rooms.items()}


@asynccontextmanager
async def open_cluster(runtime: Runtime, url: str) -> AsyncIterator[Cluster]:
    """Join the cluster at *url* for the body of the block (the server's run).

    Raises :class:`ClusterError` (one line) if Redis cannot be reached at
    the start.  Leaving the block frees this node's users in Redis.
    """
    cluster = Cluster(runtime, url)
    runtime.use_store(ClusterLog(runtime.config.history_size))
    runtime.broadcaster.moderation.shared = cluster
    async with trio.open_nursery() as nursery:
        await nursery.start(cluster.run)
        runtime.cluster = cluster
        runtime.broadcaster.cluster = cluster
        source, check = metric_source(cluster), readiness(cluster)
        if runtime.metrics is not None:
            runtime.metrics.sources.append(source)
        runtime.health.checks.append(check)
        try:
            yield cluster
        finally:
            runtime.health.checks.remove(check)
            if runtime.metrics is not None:
                runtime.metrics.sources.remove(source)
            with trio.CancelScope(shield=True):
                await cluster.stop()
                with trio.move_on_after(TIMEOUT):
                    await cluster.stopped.wait()
            nursery.cancel_scope.cancel()
            with trio.CancelScope(shield=True):
                try:
                    await cluster.leave_cluster()
                except Exception as exc:
                    if not is_redis_failure(exc):
                        raise
                    log.warning("could not free this node's users in Redis: %s", describe(exc))


__all__ = ["Cluster", "ClusterError", "FromCluster", "open_cluster"]
