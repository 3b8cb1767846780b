"""Server settings."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field

from ._ratelimit import DEFAULT_BURST, DEFAULT_RATE, RateLimit
from ._store import StoreError, parse_store_spec
from .auth import AuthHook
from .ops.proxies import TrustedProxies
from .protocol.names import name_problem
from .protocol.origin import origin_problem

DEFAULT_WS_PORT = 8723
DEFAULT_TCP_PORT = 8724
DEFAULT_LEASE = 10.0
MAX_LEASE = 15.0


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Every setting of a :class:`~triochat.ChatServer`, with its default.

    Times are in seconds, sizes in bytes.  ``tcp_port=None`` (the default)
    means no TCP line transport; port 0 picks a free port.
    """

    host: str = "localhost"
    """The address to listen on (``"0.0.0.0"`` or ``"::"``: every interface)."""
    port: int = DEFAULT_WS_PORT
    """The WebSocket port."""
    tcp_port: int | None = None
    """The TCP line-protocol port, or ``None`` (the default) for no TCP listener.

    The library serves what group-terminal serves, WebSocket, unless the line
    protocol is asked for (``tcp_port=0`` for any free port, or
    ``8724``); ``triochat serve`` asks for it by default."""
    echo: bool = False
    """Send line-protocol users their own chat messages back."""
    rooms: tuple[str, ...] = ("lobby",)
    """Rooms that always exist; everyone starts in the first."""
    presence_limit: int | None = None
    """Rooms with more members than this do not announce joins and leaves (``None``: all do)."""
    max_rooms: int = 1000
    """How many rooms may exist at once (others are created by ``/join``)."""
    max_connections: int = 10_000
    """Connections beyond this are refused with an error line."""
    max_line_bytes: int = 4096
    """The longest accepted line of the line protocol."""
    login_timeout: float = 30.0
    """A connection that has not logged in by then is closed."""
    idle_timeout: float | None = None
    """Close logged-in connections that send nothing for this long."""
    outbox_limit: int = 256 * 1024
    """Bytes queued for one client before it is disconnected as too slow."""
    send_timeout: float = 10.0
    """How long one write to a client may take before it is disconnected."""
    handler_timeout: float = 10.0
    """How long one handler may take with one message before it is cancelled."""
    inbound_capacity: int = 1024
    """Requests buffered between the connections and the broadcaster."""
    grace_period: float = 5.0
    """How long :meth:`~triochat.ChatServer.stop` lets clients drain."""
    banner: str = field(default="")
    """The first line a line-protocol client gets (a default one if empty)."""
    websocket: bool = True
    """Serve WebSocket clients on ``port``."""
    unix_path: str | None = None
    """Also serve WebSocket clients on this Unix-domain socket."""
    max_message_bytes: int = 64 * 1024
    """The largest WebSocket message; a bigger one closes with code 1009."""
    ping_interval: float | None = 20.0
    """Ping a WebSocket client that has been quiet this long (``None``: never)."""
    ping_timeout: float = 20.0
    """Close a WebSocket client that does not answer a ping within this time."""
    handshake_timeout: float = 10.0
    """Time for the TLS and WebSocket handshakes."""
    auth: AuthHook | None = field(default=None, compare=False)
    """Decides, before the handshake, who may connect (see :mod:`triochat.auth`)."""
    ssl_context: ssl.SSLContext | None = field(default=None, compare=False)
    """Serve TLS (``wss://`` and TLS-wrapped TCP) with this server-side context."""
    rate_limit: float | None = DEFAULT_RATE
    """Requests per second one user may send, sustained (``None``: no limit).
    Beyond it the user's requests wait (none is dropped) and the user gets one
    ``rate_limited`` error per flood."""
    rate_burst: int = DEFAULT_BURST
    """Requests one user may send at once before ``rate_limit`` applies."""
    rate_limit_for: Mapping[str, RateLimit | None] = field(default_factory=dict, compare=False)
    """Other limits for some users (trusted bots), by the name they log in
    with; ``None`` for no limit.  Give such bots an identity (a token) so that
    nobody else can log in under their name."""
    compression: bool = True
    """Accept WebSocket clients' permessage-deflate offers (RFC 7692)."""

    store: str = "memory"
    """Where rooms keep their messages: ``"memory"`` (lost at a restart) or
    ``"sqlite:PATH"`` (an SQLite file: history and positions survive a restart)."""
    history_size: int = 1000
    """Messages each room keeps (0: no history; messages still get positions)."""
    join_history: int = 20
    """Recent messages a user gets on entering a room (line protocol and
    protocol version 2; version 2 clients can page back further)."""

    metrics: bool = True
    """Answer ``GET /metrics`` (Prometheus text format) on the WebSocket
    listener, or on ``metrics_port`` if set."""
    metrics_port: int | None = None
    """Serve ``/metrics``, ``/healthz`` and ``/readyz`` on this port of ``host``
    (plain HTTP only) instead of the WebSocket listener; ``None``: no such port."""
    trusted_proxies: tuple[str, ...] = ()
    """Addresses or networks (``10.0.0.0/8``) of reverse proxies whose
    ``X-Forwarded-For`` names the client (``"unix"``: the Unix-domain socket).
    From any other peer the field is ignored."""
    operators: tuple[str, ...] = ()
    """Names of the users who may kick, ban, mute and set topics (compared
    ignoring case).  A name alone proves nothing, so an operator must prove
    it: with an auth hook, only the user the hook authenticated as that name
    (its identity) is an operator; nobody else may log in under it or take it
    with ``nick``.  Without an auth hook, ``local_operators`` must be set
    (see docs/design.md, "Moderation")."""
    local_operators: bool = False
    """Also trust local connections (loopback addresses, the Unix socket, streams
    the program attached) to be the operator whose name they log in with.
    Only for servers whose local users are trusted and that no local reverse
    proxy fronts (behind one, every client is local)."""
    web: bool = True
    """Serve the chat page (``/``, ``/index.html`` and ``/static/...``) on the WebSocket port."""
    allowed_origins: tuple[str, ...] = ()
    """Web pages besides the server's own that may open WebSocket connections,
    as origins (``https://chat.example.com``).  A handshake with another
    ``Origin`` gets HTTP 403; one without ``Origin`` (not from a browser) is
    not affected (see :mod:`triochat.protocol.origin`)."""
    redis_url: str | None = None
    """Serve one chat with every node that uses this Redis (``redis://HOST:PORT/DB``);
    ``None`` (the default): this process alone.  Needs ``triochat[redis]``."""
    redis_lease: float = DEFAULT_LEASE
    """Seconds after which the other nodes consider a silent node dead and free
    its users' names (at most 15)."""

    def __post_init__(self) -> None:
        for name in (
            "max_line_bytes",
            "outbox_limit",
            "inbound_capacity",
            "max_connections",
            "max_message_bytes",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in (
            "login_timeout",
            "send_timeout",
            "handler_timeout",
            "grace_period",
            "ping_timeout",
            "handshake_timeout",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in ("idle_timeout", "ping_interval"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive or None")
        for name in ("port", "tcp_port", "metrics_port"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and 0 <= value <= 65535):
                raise ValueError(f"{name} must be a port number, 0-65535 (0: any free port), not {value!r}")
        if self.websocket and self.tcp_port == self.port != 0:
            raise ValueError(f"port and tcp_port are both {self.port}; each listener needs its own port")
        if self.metrics_port not in (None, 0) and self.metrics_port in (
            self.port if self.websocket else None,
            self.tcp_port,
        ):
            raise ValueError(f"metrics_port {self.metrics_port} is taken by another listener")
        if isinstance(self.trusted_proxies, str):
            raise ValueError("trusted_proxies must be a sequence of addresses, not one string")
        TrustedProxies.parse(self.trusted_proxies)  # raises ValueError for a bad address
        if self.rate_limit is not None:
            RateLimit(self.rate_limit, self.rate_burst)  # raises ValueError if either is bad
        elif self.rate_burst < 1:
            raise ValueError("rate_burst must be at least 1")
        for who, limit in self.rate_limit_for.items():
            if limit is not None and not isinstance(limit, RateLimit):
                raise ValueError(f"rate_limit_for[{who!r}] must be a RateLimit or None")
        for name in ("history_size", "join_history"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be 0 or more, not {value!r}")
        if not isinstance(self.store, str):
            raise ValueError(f"store must be 'memory' or 'sqlite:PATH', not {self.store!r}")
        try:
            parse_store_spec(self.store)
        except StoreError as exc:
            raise ValueError(str(exc)) from None
        if self.redis_url is not None and not (
            isinstance(self.redis_url, str) and self.redis_url.startswith(("redis://", "rediss://"))
        ):
            raise ValueError(f"redis_url must be redis://HOST:PORT/DB (or rediss://), not {self.redis_url!r}")
        if self.redis_url is not None and self.store != "memory":
            raise ValueError("with redis_url the rooms' messages are kept in Redis: leave store as 'memory'")
        if not 0 < self.redis_lease <= MAX_LEASE:
            raise ValueError(f"redis_lease must be above 0 and at most {MAX_LEASE:g} s")
        self._check_operators()
        if not self.rooms:
            raise ValueError("rooms must name at least one room")
        for room in self.rooms:
            problem = name_problem(room, what="room name")
            if problem:
                raise ValueError(f"room {room!r}: {problem}")
        origins = self.allowed_origins
        if not isinstance(origins, tuple | list) or not all(isinstance(o, str) for o in origins):
            raise ValueError("allowed_origins must be a list of origins, e.g. ('https://chat.example.com',)")
        for origin in self.allowed_origins:
            problem = origin_problem(origin)
            if problem:
                raise ValueError(f"allowed_origins: {problem}")

    def _check_operators(self) -> None:
        if isinstance(self.operators, str) or not all(isinstance(n, str) for n in self.operators):
            raise ValueError("operators must be a list of names")
        for name in self.operators:
            problem = name_problem(name)
            if problem:
                raise ValueError(f"operator {name!r}: {problem}")
        if self.operators and self.auth is None and not self.local_operators:
            raise ValueError(
                "operators need a way to prove who they are: without authentication anyone could "
                "log in under an operator's name; give the server an auth hook (--token, --basic-auth) "
                "whose identities are the operators, or trust local connections (local_operators, "
                "--local-operators)"
            )
