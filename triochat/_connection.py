"""One client connection as the runtime sees it: plain data plus its outbox."""

from __future__ import annotations

from collections.abc import Callable

import trio

from ._outbox import Outbox
from ._ratelimit import TokenBucket
from .protocol.events import Event

Encoder = Callable[[Event], bytes]
"""A wire format: turns an event into the bytes one client receives."""


class Connection:
    """A connected client, logged in or not.

    ``wire`` encodes events for this client; connections with the same
    ``wire`` get the very same bytes for a broadcast, built once.  ``scope``
    wraps the connection's reader: cancelling it (:meth:`kick`,
    :meth:`finish`) ends the session, after which the connection announces its
    leave and drains its outbox.
    """

    outbox: Outbox
    """Set right after construction, before the connection is used."""

    __slots__ = (
        "echo",
        "elsewhere",
        "entered",
        "history_on_join",
        "identity",
        "keepalive",
        "last_seen",
        "leave_reason",
        "limiter",
        "many_rooms",
        "name",
        "outbox",
        "over_capacity",
        "page_origin",
        "peer",
        "ping_sent",
        "registered",
        "room",
        "room_required",
        "rooms",
        "scope",
        "transport",
        "wire",
    )

    def __init__(self, *, peer: str, transport: str, wire: Encoder, echo: bool) -> None:
        self.peer = peer
        self.transport = transport
        self.wire = wire
        self.echo = echo
        self.name = ""
        self.room: str | None = None
        """The current room: where chat without a room goes (``None``: in no room)."""
        self.rooms: dict[str, str] = {}
        """The rooms this user is in: each room's key and displayed spelling."""
        self.entered = False
        """True once the user entered the chat (its login was handled)."""
        self.many_rooms = False
        """The wire format can show several rooms (else joining a room moves the user)."""
        self.room_required = False
        """Chat must name its room while the user is in more than one (protocol version 2)."""
        self.elsewhere: Encoder | None = None
        """How chat from a room other than the current one is encoded (``None``: as ``wire``)."""
        self.history_on_join = 0
        """How many recent messages of a room the user gets on entering it."""
        self.registered = False
        """True once the connection holds a name in the hub."""
        self.limiter: TokenBucket | None = None
        """Paces this user's requests once logged in (``None``: no limit)."""
        self.identity: str | None = None
        """The name an auth hook fixed for this user (it can never change), or ``None``."""
        self.leave_reason: str | None = None
        self.scope = trio.CancelScope()
        self.keepalive = False
        """Pinged by the server's keepalive sweeper when quiet (WebSocket)."""
        self.last_seen = 0.0
        """``trio.current_time()`` when the peer last sent anything."""
        self.ping_sent: float | None = None
        """When an unanswered keepalive ping went out."""
        self.over_capacity = False
        """Accepted only to be refused politely (e.g. with HTTP 503)."""
        self.page_origin: str | None = None
        """The ``Origin`` of the web page that opened this WebSocket (``None``: not a page)."""

    def kick(self, reason: str) -> None:
        """End this connection because of *reason* (shown to the others)."""
        if self.leave_reason is None:
            self.leave_reason = reason
        self.scope.cancel()

    def send(self, event: Event) -> bool:
        """Encode *event* for this connection alone and queue it."""
        data = self.wire(event)
        return bool(data) and self.outbox.push(data)

    def __repr__(self) -> str:
        return f"<Connection {self.name or '(login)'} {self.transport} {self.peer}>"
