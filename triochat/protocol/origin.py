"""Which web pages may open a WebSocket to the server: the ``Origin`` rule.

A browser sends ``Origin`` on every WebSocket handshake, and it sends the
visitor's credentials (cookies, HTTP Basic) along whatever page asked for the
connection.  So the server accepts a handshake that carries ``Origin`` only
when that origin is the server's own (the same host and port as the request's
``Host``, over ``http`` or ``https``) or one the operator listed
(``ServerConfig.allowed_origins``, ``triochat serve --allow-origin``).
A handshake without ``Origin`` comes from a program, not from a page a
visitor was sent to, and is accepted as before.

Sans-I/O: plain functions of strings.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

__all__ = ["DEFAULT_PORTS", "loopback_origin", "normalize_origin", "origin_allowed", "origin_problem"]

DEFAULT_PORTS = {"http": 80, "https": 443}
"""The schemes an allowed origin may have, with the port they imply."""

_ORIGIN = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)"
    r"(?::(?P<port>[0-9]{1,5}))?"
)
_HOST = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?")


def _host_port(host: str, port: str | None, scheme: str) -> str:
    """``host`` or ``host:port``, lower-cased, without the scheme's default port."""
    host = host.lower()
    if port is None or int(port) == DEFAULT_PORTS[scheme]:
        return host
    return f"{host}:{int(port)}"


def _punycode(origin: str) -> str:
    """*origin* with an international host name in the ASCII form browsers send (IDNA)."""
    if origin.isascii():
        return origin
    scheme, sep, rest = origin.partition("://")
    host, colon, port = rest.partition(":")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return origin  # left as it is: refused as not an origin
    return f"{scheme}{sep}{host}{colon}{port}"


def normalize_origin(origin: str) -> str | None:
    """*origin* as ``scheme://host[:port]`` (lower case, no default port), or ``None``.

    An international host name is taken in its IDNA (punycode) form, as a
    browser sends it.  ``None`` for anything that is not the origin of an
    ``http`` or ``https`` page: ``null`` (a sandboxed or local page), other schemes, paths, user
    information, ports beyond 65535.
    """
    match = _ORIGIN.fullmatch(_punycode(origin.strip()))
    if match is None:
        return None
    scheme = match["scheme"].lower()
    port = match["port"]
    if scheme not in DEFAULT_PORTS or (port is not None and not 0 < int(port) <= 65535):
        return None
    return f"{scheme}://{_host_port(match['host'], port, scheme)}"


def origin_problem(origin: str) -> str | None:
    """Why *origin* cannot be in an allowed-origins list, or ``None`` if it can."""
    if normalize_origin(origin) is None:
        return (
            f"{origin!r} is not an origin: write it as http(s)://HOST or http(s)://HOST:PORT, without a path"
        )
    return None


def origin_allowed(origin: str | None, host: str, allowed: Iterable[str] = ()) -> bool:
    """May a handshake with this ``Origin`` (``None``: no such field) and ``Host`` go on?

    Yes without ``Origin``; yes when the origin's host and port are the
    request's ``Host`` (the server's own page, over http or https); yes when
    it is one of *allowed* (compared after :func:`normalize_origin`); no
    otherwise, ``null`` and malformed origins included.
    """
    if origin is None:
        return True
    normal = normalize_origin(origin)
    if normal is None:
        return False
    scheme, _, netloc = normal.partition("://")
    match = _HOST.fullmatch(host.strip())
    if match is not None and _host_port(match["host"], match["port"], scheme) == netloc:
        return True
    return any(normalize_origin(entry) == normal for entry in allowed)


def loopback_origin(origin: str) -> bool:
    """True if *origin* is a page served from this very machine by a loopback address.

    That is ``localhost`` (or a name under ``.localhost``), ``127.0.0.0/8`` or
    ``[::1]``: names no other site can take.  A page of any other name may be a
    foreign site whose name was made to resolve to this machine (DNS
    rebinding): the Origin rule cannot tell it from the server's own page, so
    it must not get what being on this machine is trusted with
    (``local_operators``).
    """
    normal = normalize_origin(origin)
    if normal is None:
        return False
    host = normal.partition("://")[2]
    host = host[1 : host.index("]")] if host.startswith("[") else host.rpartition(":")[0] or host
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
