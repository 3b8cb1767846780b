"""The state of one running server, and the life of one connection."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio

from ._broadcaster import (
    STORE_FAILED,
    Broadcaster,
    ConnectionRequest,
    Leave,
    Login,
    Middleware,
    Reply,
    Request,
    Stats,
)
from ._config import ServerConfig
from ._connection import Connection, Encoder
from ._hub import Hub
from ._outbox import CONNECTION_LOST, SLOW_DEADLINE, SLOW_OVERFLOW, Outbox
from ._ratelimit import RateLimit, TokenBucket
from ._store import RoomLog
from .auth import Accept, ConnectionInfo, Reject, known_identities
from .ops.buckets import BATCH_BOUNDS, LATENCY_BOUNDS, Buckets
from .ops.health import Health
from .ops.proxies import TrustedProxies
from .protocol import commands
from .protocol.events import SHUTDOWN, Error
from .protocol.names import name_key, name_problem
from .protocol.text import printable
from .protocol.wsframe import KEEPALIVE_PING
from .transports.http import HttpRoutes
from .transports.sockets import SocketStream

if TYPE_CHECKING:
    from ._cluster import Cluster
    from .ops.metrics import ServerMetrics

log = logging.getLogger("triochat.server")
access = logging.getLogger("triochat.access")
"""Who came, who was refused and why, who left or was cut off and why."""


def describe(conn: Connection) -> str:
    """How the logs name a connection: ``alice (tcp 127.0.0.1:5000)``."""
    who = conn.name or "(not logged in)"
    return f"{who} ({conn.transport} {conn.peer})"


_UNLIMITED = (Login, Leave, commands.Quit)
"""Requests that never wait for a token: a user can always log in, leave and quit."""

_TIMED = (commands.Say, commands.Action, commands.PrivateMessage)
"""Requests whose arrival-to-last-push latency the metrics sample: messages."""

CUT_OFF_KINDS = {
    SLOW_OVERFLOW: "outbox_overflow",
    SLOW_DEADLINE: "send_deadline",
    STORE_FAILED: "store_failure",
}
"""The metrics label of each reason an outbox fails for."""


def _too_fast(limit: RateLimit) -> Error:
    return Error(
        "rate_limited",
        f"too fast: you may send {limit.burst} messages at once, then {limit.rate:g} per second; "
        "the rest are delayed, not lost",
    )


Session = Callable[["Runtime", Connection, trio.abc.Stream], Awaitable[None]]
"""A transport's session: log the user in and run until the connection ends."""


class Runtime:
    """Everything one run of a server owns, passed explicitly (no globals)."""

    def __init__(self, config: ServerConfig, chain: list[Middleware]) -> None:
        self.config = config
        self.hub: Hub[Connection] = Hub(
            config.rooms, max_rooms=config.max_rooms, keep=self._has_history, on_drop=self._room_gone
        )
        self.connections: set[Connection] = set()
        self.stats = Stats()
        self.inbound_send, self.inbound_receive = trio.open_memory_channel[Request](config.inbound_capacity)
        self.broadcaster = Broadcaster(
            hub=self.hub,
            connections=self.connections,
            chain=chain,
            config=config,
            stats=self.stats,
            identities=known_identities(config.auth),
        )
        self.keepalive_scope = trio.CancelScope()
        """Cancel to stop :meth:`keepalive`."""
        self.timer_scope = trio.CancelScope()
        """Cancel to stop :meth:`mute_timer`."""
        self.nursery: trio.Nursery | None = None
        """Where connection tasks run; set while the server accepts clients."""
        self._starting = 0
        """Connections spawned whose task has not yet made their outbox."""
        self.http_routes = HttpRoutes()
        """What the WebSocket listener answers to plain HTTP requests (see :mod:`.transports.http`)."""
        self.health = Health()
        """Whether the server is ready for clients, for ``/readyz`` (see :mod:`.ops.health`)."""
        self.proxies = TrustedProxies.parse(config.trusted_proxies)
        """Peers whose ``X-Forwarded-For`` names the client (see :mod:`.ops.proxies`)."""
        self.metrics: ServerMetrics | None = None
        """The Prometheus registry of this run (``None``: metrics are off); see :mod:`.ops.metrics`."""
        if config.metrics:
            self.broadcaster.latency = Buckets(LATENCY_BOUNDS)
            self.broadcaster.batch_sizes = Buckets(BATCH_BOUNDS)
        self.cluster: Cluster | None = None
        """This node's part in a cluster (``redis_url``), while the server runs."""

    def use_store(self, store: RoomLog) -> None:
        """Keep the rooms' messages in *store* (before the broadcaster starts).

        Rooms the store remembers with history from an earlier run exist
        again, empty, as far as ``max_rooms`` allows; the store forgets the
        others (they start anew if they come back).
        """
        self.broadcaster.store = store
        self.broadcaster.moderation.use_store(store)
        self.hub.restore(room for room in store.rooms() if store.recent(room, 1))
        for room in store.rooms():
            if self.hub.room_name(room) is None:
                store.discard(room)  # no history, or no place left under max_rooms

    def _has_history(self, room: str) -> bool:
        return bool(self.broadcaster.store.recent(room, 1))

    def _room_gone(self, room: str) -> None:
        self.broadcaster.store.discard(room)

    @property
    def stopping(self) -> bool:
        """True once the server has begun to shut down."""
        return self.broadcaster.stopping

    async def authorize(self, info: ConnectionInfo) -> Accept | Reject:
        """Run the auth hook, if any, on *info*; a failing hook refuses with 500."""
        hook = self.config.auth
        if hook is None:
            return Accept()
        try:
            decision = await hook(info)
        except Exception:
            log.exception("the auth hook raised for %s %s", info.peer, info.path)
            decision = Reject(500, "internal error")
        if not isinstance(decision, Accept | Reject):
            log.error("the auth hook returned %r, not Accept or Reject", decision)
            decision = Reject(500, "internal error")
        if isinstance(decision, Reject):
            self.stats.count(self.stats.refused, "auth")
            access.info(
                "refused %s (%s %s): authentication: %s %s",
                info.peer,
                info.transport,
                info.path or "-",
                decision.status,
                decision.reason,
            )
        else:
            access.debug("authenticated %s (%s) as %s", info.peer, info.transport, decision.identity)
        return decision

    def refuse(self, conn: Connection, name: str, reason: str, *, kind: str = "other") -> None:
        """Log that *conn* could not log in as *name* because of *reason*.

        *kind* is the reason's label in the metrics (``name_taken``, ...).
        """
        self.stats.count(self.stats.refused, kind)
        access.info("refused %s (%s %s): %s", printable(name), conn.transport, conn.peer, reason)

    def claim_name(self, conn: Connection, name: str, *, identity: str | None = None) -> bool:
        """Reserve *name* for *conn*; ``False`` if it is taken or the server is stopping.

        *identity* is the name the auth hook fixed for this user, if any (then
        *name* is that identity, and it can never be changed).  A user
        without that identity cannot claim a name that belongs to one of the
        hook's known identities (:func:`~triochat.auth.known_identities`):
        it is refused as if taken.  One synchronous call checks and claims,
        so no other task can slip in between; every transport logs users in
        through here.
        """
        problem = name_problem(name)
        if problem is not None:
            self.refuse(conn, name, f"invalid name: {problem}", kind="invalid_name")
            return False
        if self.stopping:
            self.refuse(conn, name, "the server is stopping", kind="stopping")
            return False
        if self.banned(conn, name) is not None:
            return False
        conn.identity = identity
        if self.broadcaster.reserved_for_another(conn, name):
            conn.identity = None
            self.refuse(conn, name, "the name belongs to an authenticated user", kind="name_reserved")
            return False
        if not self.hub.reserve(name, conn):
            conn.identity = None
            self.refuse(conn, name, "name taken", kind="name_taken")
            return False
        conn.registered = True
        self.stats.logins += 1
        limit = self.rate_limit_for(name)
        conn.limiter = None if limit is None else TokenBucket(limit, trio.current_time())
        access.info("login %s", describe(conn))
        return True

    def banned(self, conn: Connection, name: str) -> Error | None:
        """The ``banned`` error if *name* may not log in now (the refusal is logged), else ``None``.

        Transports ask before :meth:`claim_name` to word the refusal; the claim
        refuses a banned name too.
        """
        refusal = self.broadcaster.moderation.ban_refusal(name)
        if refusal is not None:
            self.refuse(conn, name, refusal.text, kind="banned")
        return refusal

    async def claim_in_cluster(self, conn: Connection) -> str | None:
        """After :meth:`claim_name`: claim the name cluster-wide too (with ``redis_url``).

        Returns ``None`` when the name is the user's, or why not: ``"taken"``
        (on another node) or ``"unavailable"`` (Redis cannot be reached); the
        local claim is then undone.  Without a cluster, ``None`` at once.
        """
        cluster = self.cluster
        if cluster is None:
            return None
        refusal = await cluster.claim(conn.name)
        if refusal is not None:
            self.hub.release(conn)
            conn.registered = False
            conn.identity = None
            conn.limiter = None
            self.refuse(conn, conn.name, "name taken" if refusal == "taken" else "Redis unreachable")
        return refusal

    def rate_limit_for(self, name: str) -> RateLimit | None:
        """The rate limit of a user who logs in as *name* (``None``: unlimited)."""
        config = self.config
        key = name_key(name)
        for who, limit in config.rate_limit_for.items():
            if name_key(who) == key:
                return limit
        if config.rate_limit is None:
            return None
        return RateLimit(config.rate_limit, config.rate_burst)

    @property
    def leave_timeout(self) -> float:
        """How long a leave may wait for the broadcaster: ``grace_period + handler_timeout``."""
        return self.config.grace_period + self.config.handler_timeout

    async def request(self, conn: Connection, command: ConnectionRequest) -> None:
        """Queue a request from *conn* for the broadcaster (waits if the queue is full).

        Flood control happens here, the one place every transport sends a
        logged-in user's requests through: each request (chat, action,
        private message, command, even the answer to a bad command) takes a
        token from the connection's bucket, except logging in, leaving and
        quitting.  Without a token the request waits until one is due; the
        first wait of a flood queues a ``rate_limited`` error for the user.
        Waiting here stops the connection's reader, so TCP backpressure slows
        the flooder while everyone else is served.
        """
        limiter = conn.limiter
        if limiter is not None and not isinstance(command, _UNLIMITED):
            delay = limiter.take(trio.current_time())
            if delay > 0:
                if not limiter.warned:
                    limiter.warned = True
                    self.stats.rate_limited += 1
                    await self.inbound_send.send((conn, Reply(_too_fast(limiter.limit))))
                await trio.sleep(delay)
        if self.cluster is not None:
            # The Redis round trips a request needs happen here, never in the broadcaster.
            answer = await self.cluster.before(conn, command)
            if answer is None:
                return
            command = answer
        broadcaster = self.broadcaster
        if broadcaster.probe is None and broadcaster.latency is not None and isinstance(command, _TIMED):
            # One message at a time is timed from here to its last push (see Broadcaster.release).
            timed = broadcaster.probe = (command, trio.current_time())
            try:
                await self.inbound_send.send((conn, command))
            except BaseException:
                if broadcaster.probe is timed:
                    broadcaster.probe = None  # it never reached the broadcaster
                raise
            return
        await self.inbound_send.send((conn, command))

    def spawn(
        self,
        stream: trio.abc.Stream,
        *,
        peer: str,
        transport: str,
        wire: Encoder,
        session: Session,
        echo: bool,
        refusal_slots: int = 0,
    ) -> bool:
        """Start a task serving *stream*; ``False`` if the server cannot take it.

        Beyond ``max_connections``, up to *refusal_slots* more connections are
        still started, marked ``over_capacity``, so that their session can
        refuse them politely (HTTP 503).
        """
        nursery = self.nursery
        if nursery is None or self.stopping:
            return False
        over = len(self.connections) + self._starting - self.config.max_connections
        if over >= refusal_slots:
            self.stats.count(self.stats.refused, "server_full")
            access.warning("refused %s (%s): server full", peer, transport)
            return False
        conn = Connection(peer=peer, transport=transport, wire=wire, echo=echo)
        conn.over_capacity = over >= 0
        if conn.over_capacity:
            access.warning("refused %s (%s): server full", peer, transport)
        else:
            access.debug("connection from %s (%s)", peer, transport)
        self._starting += 1
        nursery.start_soon(self._run_connection, conn, stream, session)
        return True

    async def _run_connection(self, conn: Connection, stream: trio.abc.Stream, session: Session) -> None:
        config = self.config
        self._starting -= 1
        try:
            async with trio.open_nursery() as writers:
                conn.outbox = outbox = Outbox(
                    stream,
                    writers,
                    limit=config.outbox_limit,
                    send_timeout=config.send_timeout,
                    on_fail=self._outbox_failed(conn),
                )
                # Only a connection with an outbox is visible to the
                # broadcaster and the keepalive sweep.
                self.connections.add(conn)
                if self.stopping:
                    # The server began to stop after spawn() took this
                    # connection: it missed the shutdown notice sent to all.
                    conn.send(SHUTDOWN)
                    conn.kick("server shutting down")
                try:
                    with conn.scope:
                        await session(self, conn, stream)
                finally:
                    if conn.registered:
                        # The broadcaster seals the outbox when it handles the
                        # leave, after every reply still queued for this user.
                        await self._leave(conn)
                    outbox.seal()
                # Leaving this block waits for the writer to drain what is queued.
        except Exception:
            # A fault in the server's own code, never a client's doing: log it,
            # drop this connection, keep serving everyone else.
            log.exception("connection %r failed", conn)
        finally:
            self.connections.discard(conn)
            made: Outbox | None = getattr(conn, "outbox", None)
            if made is not None:
                self.stats.sent_bytes += made.sent_bytes
            access.debug("connection closed: %s", describe(conn))
            if isinstance(stream, SocketStream):
                stream.close()  # synchronous: no cancel scope and no scheduler pass per connection
            else:
                await trio.aclose_forcefully(stream)

    def _outbox_failed(self, conn: Connection) -> Callable[[str], None]:
        def failed(reason: str) -> None:
            if reason != CONNECTION_LOST:
                self.stats.slow_disconnects += 1
                self.stats.count(self.stats.cut_off, CUT_OFF_KINDS.get(reason, "other"))
                access.warning("cutting off %s: %s", describe(conn), reason)
                conn.kick(reason)
            else:
                conn.scope.cancel()

        return failed

    async def keepalive(self) -> None:
        """Ping quiet keepalive connections; cut off those that do not answer.

        One task for the whole server instead of a timer per connection: it
        wakes a few times per ``ping_interval``; any bytes from the peer (a
        pong or anything else) count as an answer.  Runs until
        ``keepalive_scope`` is cancelled.
        """
        interval = self.config.ping_interval
        if interval is None:
            return
        timeout = self.config.ping_timeout
        tick = min(interval, timeout) / 4
        with self.keepalive_scope:
            while True:
                await trio.sleep(tick)
                self._sweep(trio.current_time(), interval, timeout)

    async def mute_timer(self) -> None:
        """Lift mutes when their time is up (see ``Moderation.run_mute_timer``) until
        ``timer_scope`` is cancelled."""
        with self.timer_scope:
            await self.broadcaster.moderation.run_mute_timer(self.inbound_send.send)

    def _sweep(self, now: float, interval: float, timeout: float) -> None:
        for conn in list(self.connections):
            if not conn.keepalive:
                continue
            if conn.ping_sent is not None:
                if conn.last_seen >= conn.ping_sent:
                    conn.ping_sent = None
                elif now - conn.ping_sent >= timeout:
                    self.stats.count(self.stats.cut_off, "keepalive")
                    access.info("cutting off %s: ping timeout", describe(conn))
                    conn.kick("ping timeout")
                    continue
            if conn.ping_sent is None and now - conn.last_seen >= interval:
                conn.ping_sent = now
                conn.outbox.push(KEEPALIVE_PING)

    async def _leave(self, conn: Connection) -> None:
        # Must reach the broadcaster even while this task is being cancelled,
        # or the name would stay taken; bounded in case the broadcaster hangs.
        # A handler may legitimately hold the broadcaster for handler_timeout,
        # so the bound is that plus the grace period, never less.
        done = trio.Event()
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + self.leave_timeout
            try:
                await self.inbound_send.send((conn, Leave(done)))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            await done.wait()
        if scope.cancelled_caught:
            log.error(
                "could not announce that %r left: the broadcaster did not respond within %g s",
                conn,
                self.leave_timeout,
            )
