"""Server settings."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_WS_PORT = 8723
DEFAULT_TCP_PORT = 8724


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Every setting of a :class:`~triochat.ChatServer`, with its default.

    Times are in seconds, sizes in bytes.  ``tcp_port=None`` turns the TCP line
    transport off; port 0 picks a free port.
    """

    host: str = "localhost"
    port: int = DEFAULT_WS_PORT
    """The WebSocket port."""
    tcp_port: int | None = DEFAULT_TCP_PORT
    """The TCP line-protocol port, or ``None`` for no TCP listener."""
    echo: bool = False
    """Send line-protocol users their own chat messages back."""
    rooms: tuple[str, ...] = ("lobby",)
    """Rooms that always exist; everyone starts in the first."""
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

    def __post_init__(self) -> None:
        for name in ("max_line_bytes", "outbox_limit", "inbound_capacity", "max_connections"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("login_timeout", "send_timeout", "handler_timeout", "grace_period"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.idle_timeout is not None and self.idle_timeout <= 0:
            raise ValueError("idle_timeout must be positive or None")
        if not self.rooms:
            raise ValueError("rooms must name at least one room")
