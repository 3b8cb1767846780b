"""Access control: a hook that admits or refuses a connection before its handshake.

The hook gets a :class:`ConnectionInfo` (transport, path, headers, peer) and
returns :class:`Accept` (optionally with the identity the user must have) or
:class:`Reject` (an HTTP status for WebSocket clients, an error line for TCP
ones)::

    async def only_local(info: ConnectionInfo) -> Accept | Reject:
        if info.peer.startswith("127.0.0.1:"):
            return Accept()
        return Reject(403, "local users only")

    server = ChatServer(auth=only_local)

:func:`basic_auth` and :func:`bearer_tokens` are ready-made hooks.  When a
hook returns an identity, that is the user's name: a client cannot choose
another one.  TCP line clients have no headers, so with these helpers they are
refused unless ``allow_tcp=True`` (then they log in as usual, without an
identity).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "Accept",
    "AuthHook",
    "ConnectionInfo",
    "Reject",
    "basic_auth",
    "bearer_tokens",
]


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """What is known of a connection before it is accepted."""

    transport: str
    """``"ws"`` (WebSocket, also over TLS or a Unix socket) or ``"tcp"`` (line protocol)."""
    path: str
    """The request target, with its query string (``""`` for TCP)."""
    headers: tuple[tuple[str, str], ...]
    """HTTP headers with lower-case names (empty for TCP)."""
    peer: str
    """The peer address as ``host:port`` (or the socket path)."""

    def header(self, name: str) -> str | None:
        """The first header called *name* (any case), or ``None``."""
        wanted = name.lower()
        for key, value in self.headers:
            if key == wanted:
                return value
        return None

    def query(self, name: str) -> str | None:
        """The first query-string parameter called *name*, or ``None``."""
        values = parse_qs(urlsplit(self.path).query).get(name)
        return values[0] if values else None


@dataclass(frozen=True, slots=True)
class Accept:
    """Admit the connection; with an ``identity``, that is the user's name."""

    identity: str | None = None


@dataclass(frozen=True, slots=True)
class Reject:
    """Refuse the connection with an HTTP ``status`` and a ``reason``."""

    status: int = 403
    reason: str = "forbidden"
    headers: tuple[tuple[str, str], ...] = field(default=())


AuthHook = Callable[[ConnectionInfo], Awaitable[Accept | Reject]]
"""``async def hook(info: ConnectionInfo) -> Accept | Reject``."""


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def basic_auth(
    users: Mapping[str, str] | Callable[[str, str], bool],
    *,
    realm: str = "triochat",
    allow_tcp: bool = False,
) -> AuthHook:
    """HTTP Basic authentication; the user name becomes the chat identity.

    *users* maps names to passwords (compared in constant time), or is a
    function ``check(name, password) -> bool``.
    """
    challenge = (("www-authenticate", f'Basic realm="{realm}", charset="UTF-8"'),)

    def check(name: str, password: str) -> bool:
        if callable(users):
            return bool(users(name, password))
        expected = users.get(name)
        # Compare even for unknown names so timing does not tell which exist.
        return _equal(expected if expected is not None else "\0" + password, password)

    async def hook(info: ConnectionInfo) -> Accept | Reject:
        if info.transport == "tcp":
            return Accept() if allow_tcp else Reject(401, "authentication required")
        header = info.header("authorization")
        if header is None or header[:6].lower() != "basic ":
            return Reject(401, "authentication required", challenge)
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return Reject(400, "malformed Basic credentials", challenge)
        name, sep, password = decoded.partition(":")
        if not sep or not check(name, password):
            return Reject(401, "wrong user name or password", challenge)
        return Accept(identity=name)

    return hook


def bearer_tokens(tokens: Mapping[str, str], *, allow_tcp: bool = False) -> AuthHook:
    """Bearer-token authentication: *tokens* maps each token to its identity.

    The token comes from an ``Authorization: Bearer TOKEN`` header or, for
    browsers (which cannot set headers on WebSocket requests), a ``token``
    query parameter.
    """
    challenge = (("www-authenticate", 'Bearer realm="triochat"'),)

    async def hook(info: ConnectionInfo) -> Accept | Reject:
        if info.transport == "tcp":
            return Accept() if allow_tcp else Reject(401, "authentication required")
        header = info.header("authorization")
        token: str | None = None
        if header is not None and header[:7].lower() == "bearer ":
            token = header[7:].strip()
        elif header is None:
            token = info.query("token")
        if not token:
            return Reject(401, "a bearer token is required", challenge)
        for known, identity in tokens.items():
            if _equal(known, token):
                return Accept(identity=identity)
        return Reject(401, "unknown token", challenge)

    return hook
