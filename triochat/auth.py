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
another one, and it can never be changed (``nick`` is refused with the error
code ``identity_fixed``).  TCP line clients have no headers, so with these
helpers they are refused unless ``allow_tcp=True`` (then they log in as usual,
without an identity).

The identities a hook knows (the token holders, the password file's users)
are reserved for them: nobody else may log in under one of those names or
take it with ``nick``.  A hook tells the server which they are through an
``identities`` attribute; see :func:`known_identities`::

    class TeamHook:
        identities = frozenset({"alice", "bob"})

        async def __call__(self, info: ConnectionInfo) -> Accept | Reject:
            ...
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "Accept",
    "AnyOf",
    "AuthHook",
    "BasicAuth",
    "BearerTokens",
    "ConnectionInfo",
    "Reject",
    "any_of",
    "basic_auth",
    "bearer_tokens",
    "known_identities",
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


class BasicAuth:
    """The hook :func:`basic_auth` makes; call it like any :data:`AuthHook`."""

    __slots__ = ("_challenge", "_identities", "_users", "allow_tcp")

    def __init__(
        self,
        users: Mapping[str, str] | Callable[[str, str], bool],
        *,
        realm: str,
        allow_tcp: bool,
        identities: Iterable[str] = (),
    ) -> None:
        self._users = users
        self._identities = frozenset(identities)
        self._challenge = (("www-authenticate", f'Basic realm="{realm}", charset="UTF-8"'),)
        self.allow_tcp = allow_tcp

    @property
    def identities(self) -> frozenset[str]:
        """The user names this hook knows (see :func:`known_identities`)."""
        if callable(self._users):
            return self._identities
        return self._identities | frozenset(self._users)

    def _check(self, name: str, password: str) -> bool:
        users = self._users
        if callable(users):
            return bool(users(name, password))
        expected = users.get(name)
        # Compare even for unknown names so timing does not tell which exist.
        return _equal(expected if expected is not None else "\0" + password, password)

    async def __call__(self, info: ConnectionInfo) -> Accept | Reject:
        """Decide on *info*: the user name of valid credentials is the identity."""
        challenge = self._challenge
        if info.transport == "tcp":
            return Accept() if self.allow_tcp else Reject(401, "authentication required")
        header = info.header("authorization")
        if header is None or header[:6].lower() != "basic ":
            return Reject(401, "authentication required", challenge)
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return Reject(400, "malformed Basic credentials", challenge)
        name, sep, password = decoded.partition(":")
        if not sep or not self._check(name, password):
            return Reject(401, "wrong user name or password", challenge)
        return Accept(identity=name)


def basic_auth(
    users: Mapping[str, str] | Callable[[str, str], bool],
    *,
    realm: str = "triochat",
    allow_tcp: bool = False,
    identities: Iterable[str] = (),
) -> BasicAuth:
    """HTTP Basic authentication; the user name becomes the chat identity.

    *users* maps names to passwords (compared in constant time), or is a
    function ``check(name, password) -> bool``.  The names of the mapping,
    and any given as *identities* (useful with a function), are the hook's
    :attr:`~BasicAuth.identities`: reserved for their owners.
    """
    return BasicAuth(users, realm=realm, allow_tcp=allow_tcp, identities=identities)


class BearerTokens:
    """The hook :func:`bearer_tokens` makes; call it like any :data:`AuthHook`."""

    __slots__ = ("_tokens", "allow_tcp")

    _challenge = (("www-authenticate", 'Bearer realm="triochat"'),)

    def __init__(self, tokens: Mapping[str, str], *, allow_tcp: bool) -> None:
        self._tokens = tokens
        self.allow_tcp = allow_tcp

    @property
    def identities(self) -> frozenset[str]:
        """The identities the tokens stand for (see :func:`known_identities`)."""
        return frozenset(self._tokens.values())

    async def __call__(self, info: ConnectionInfo) -> Accept | Reject:
        """Decide on *info*: a known token's identity is the user's name."""
        challenge = self._challenge
        if info.transport == "tcp":
            return Accept() if self.allow_tcp else Reject(401, "authentication required")
        header = info.header("authorization")
        token: str | None = None
        if header is not None and header[:7].lower() == "bearer ":
            token = header[7:].strip()
        elif header is None:
            token = info.query("token")
        if not token:
            return Reject(401, "a bearer token is required", challenge)
        for known, identity in self._tokens.items():
            if _equal(known, token):
                return Accept(identity=identity)
        return Reject(401, "unknown token", challenge)


def bearer_tokens(tokens: Mapping[str, str], *, allow_tcp: bool = False) -> BearerTokens:
    """Bearer-token authentication: *tokens* maps each token to its identity.

    The token comes from an ``Authorization: Bearer TOKEN`` header or, for
    browsers (which cannot set headers on WebSocket requests), a ``token``
    query parameter.  The identities are the hook's
    :attr:`~BearerTokens.identities`: reserved for their owners.
    """
    return BearerTokens(tokens, allow_tcp=allow_tcp)


class AnyOf:
    """The hook :func:`any_of` makes; call it like any :data:`AuthHook`."""

    __slots__ = ("hooks",)

    def __init__(self, hooks: Iterable[AuthHook]) -> None:
        self.hooks = tuple(hooks)

    @property
    def identities(self) -> frozenset[str]:
        """Every identity one of the hooks knows."""
        known: frozenset[str] = frozenset()
        for hook in self.hooks:
            known |= known_identities(hook)
        return known

    async def __call__(self, info: ConnectionInfo) -> Accept | Reject:
        """The first acceptance, or the last hook's refusal."""
        decision: Accept | Reject = Reject(401, "authentication required")
        for hook in self.hooks:
            decision = await hook(info)
            if isinstance(decision, Accept):
                return decision
        return decision


def any_of(*hooks: AuthHook) -> AnyOf:
    """A hook that accepts what any of *hooks* accepts (tried in order).

    Its identities are all of theirs.
    """
    return AnyOf(hooks)


def known_identities(hook: AuthHook | None) -> frozenset[str]:
    """The identities *hook* says it can give, read from its ``identities`` attribute.

    Names that belong to an identity are reserved: a user who did not
    authenticate as that identity can neither log in under it (on a line
    connection let in with ``allow_tcp``) nor take it with ``nick``.  A
    custom hook declares its identities with an ``identities`` attribute (a
    collection of names); a hook without one reserves nothing.  They are read
    once, when the server starts.
    """
    identities = getattr(hook, "identities", None)
    if identities is None or isinstance(identities, str):
        return frozenset()
    return frozenset(str(name) for name in identities)
