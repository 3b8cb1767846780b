"""The WebSocket opening handshake on the server side (RFC 6455, section 4.2), without I/O.

:func:`find_head_end` finds where a request head ends in what was read so
far, :func:`parse_request` checks the head strictly and returns an
:class:`UpgradeRequest`, or raises :class:`HandshakeError` carrying the HTTP
refusal to send (its status, extra header fields and a short reason for the
body).  :func:`accept_response` and :func:`refusal` build the server's answers.

What is accepted is deliberately narrow: ``GET`` with an HTTP/1.1 request
line, CRLF line ends, header names that are tokens, values without control
characters, no obsolete line folding, exactly one ``Host`` and one
``Sec-WebSocket-Key`` (16 random bytes in base64), ``Upgrade: websocket``,
``Connection: Upgrade``, ``Sec-WebSocket-Version: 13`` and no request body.
Heads larger than :data:`MAX_HEAD_BYTES` are refused before being parsed.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from http import HTTPStatus

MAX_HEAD_BYTES = 16 * 1024
"""The largest request head accepted, its final empty line included."""

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
"""The constant RFC 6455 appends to the client's key before hashing."""

VERSION = b"13"
"""The only WebSocket version there is."""

HEAD_END = b"\r\n\r\n"
BARE_HEAD_END = b"\n\n"
"""Where a head with LF line ends ends (refused: HTTP lines end with CRLF)."""

_REQUEST_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([\x21-\x7e]+) (HTTP/[0-9]\.[0-9])")
_FIELD = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):([\t\x20-\x7e\x80-\xff]*)")
"""``name: value``: a token, a colon, then no control character but tab (nor DEL)."""
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_KEY = re.compile(rb"[A-Za-z0-9+/]{22}==")
"""The base64 form of 16 bytes."""

_SINGLE = frozenset((b"host", b"sec-websocket-key", b"sec-websocket-version"))
"""Fields that may appear once only."""


class HandshakeError(Exception):
    """A request the server refuses; :attr:`status` and :attr:`headers` make the answer."""

    def __init__(self, reason: str, status: int = 400, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.headers = headers


@dataclass(frozen=True, slots=True)
class UpgradeRequest:
    """A valid WebSocket upgrade request: what the server needs to answer and route it."""

    target: str
    """The request target as sent (a path, with its query if any)."""
    host: str
    key: bytes
    """The client's ``Sec-WebSocket-Key``, checked to be 16 bytes in base64."""
    subprotocols: tuple[str, ...] = ()
    """The subprotocols offered, in order."""
    extensions: tuple[str, ...] = ()
    """The extension offers, one string each (name and parameters), in order."""


def find_head_end(buffer: bytes | bytearray, start: int = 0) -> int:
    """The length of the request head in *buffer* (up to its empty line), or -1.

    *start* is where to begin looking: a caller that reads piece by piece
    passes how much it had already searched, so a head arriving a byte at a
    time is not searched over and over.
    """
    end = buffer.find(HEAD_END, max(0, start - 3))
    # Lines ended by LF alone (``nc`` without ``-C``): the head ends there too, to be
    # refused in words at once rather than waited for until the handshake timeout.
    bare = buffer.find(BARE_HEAD_END, max(0, start - 1), None if end < 0 else end)
    if bare >= 0:
        return bare + 2
    return -1 if end < 0 else end + 4


def _comma_list(values: list[bytes]) -> list[str]:
    """The non-empty elements of comma-separated field values, stripped."""
    items = []
    for value in values:
        for item in value.decode("latin-1").split(","):
            item = item.strip(" \t")
            if item:
                items.append(item)
    return items


@dataclass(frozen=True, slots=True)
class PlainRequest:
    """A plain HTTP ``GET`` or ``HEAD`` (no ``Upgrade`` field): a page, a file, metrics."""

    method: str
    """``"GET"`` or ``"HEAD"`` (answered without a body)."""
    target: str
    host: str
    headers: tuple[tuple[str, str], ...] = ()
    """Every header field, names lower-cased, in order."""

    def header(self, name: str) -> str | None:
        """The first value of header *name* (case-insensitive), or ``None``."""
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None


def _parse_head(head: bytes) -> tuple[bytes, bytes, dict[bytes, list[bytes]], list[tuple[bytes, bytes]]]:
    """Method, target, fields by name and fields in order, of a well-formed HTTP/1.1 head."""
    if len(head) > MAX_HEAD_BYTES:
        raise HandshakeError("request head too large")
    if not head.endswith(HEAD_END):
        if head.endswith(BARE_HEAD_END):
            raise HandshakeError("request lines must end with CRLF (\\r\\n), not LF alone (with nc: nc -C)")
        raise HandshakeError("incomplete request head")
    lines = head[:-4].split(b"\r\n")
    request_line = _REQUEST_LINE.fullmatch(lines[0])
    if request_line is None:
        raise HandshakeError("bad request line")
    method, target, version = request_line.groups()
    if version != b"HTTP/1.1":
        raise HandshakeError("the request must be HTTP/1.1")
    fields: dict[bytes, list[bytes]] = {}
    ordered: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        field = _FIELD.fullmatch(line)
        if field is None:
            if line[:1] in (b" ", b"\t"):
                raise HandshakeError("obsolete line folding is not accepted")
            raise HandshakeError("bad header field")
        name = field.group(1).lower()
        value = field.group(2).strip(b" \t")
        ordered.append((name, value))
        values = fields.get(name)
        if values is None:
            fields[name] = [value]
        elif name in _SINGLE:
            raise HandshakeError(f"more than one {name.decode()} header")
        else:
            values.append(value)
    return method, target, fields, ordered


def parse_head(head: bytes) -> UpgradeRequest | PlainRequest:
    """Check *head*: a WebSocket upgrade, or a plain ``GET``/``HEAD`` without ``Upgrade``.

    Anything else raises :class:`HandshakeError`, as :func:`parse_request` does.
    """
    method, target, fields, ordered = _parse_head(head)
    if b"upgrade" not in fields and method in (b"GET", b"HEAD"):
        host = fields.get(b"host")
        if host is None:
            raise HandshakeError("Missing header, 'Host'")
        if b"transfer-encoding" in fields or any(v != b"0" for v in fields.get(b"content-length", ())):
            raise HandshakeError("a GET request has no body")
        return PlainRequest(
            method=method.decode("ascii"),
            target=target.decode("ascii"),
            host=host[0].decode("latin-1"),
            headers=tuple((n.decode("latin-1"), v.decode("latin-1")) for n, v in ordered),
        )
    return _upgrade(method, target, fields)


def parse_request(head: bytes) -> UpgradeRequest:
    """Check *head*, a request head with its empty line; :class:`HandshakeError` if it is refused."""
    method, target, fields, _ = _parse_head(head)
    return _upgrade(method, target, fields)


def _upgrade(method: bytes, target: bytes, fields: dict[bytes, list[bytes]]) -> UpgradeRequest:
    if method != b"GET":
        raise HandshakeError("Request method must be GET")
    host = fields.get(b"host")
    if host is None:
        raise HandshakeError("Missing header, 'Host'")
    if b"transfer-encoding" in fields or any(v != b"0" for v in fields.get(b"content-length", ())):
        raise HandshakeError("an upgrade request has no body")
    if not any(t.lower() == "upgrade" for t in _comma_list(fields.get(b"connection", []))):
        raise HandshakeError("Missing header, 'Connection: Upgrade'")
    if not any(t.lower() == "websocket" for t in _comma_list(fields.get(b"upgrade", []))):
        raise HandshakeError("Missing header, 'Upgrade: websocket'")
    version_field = fields.get(b"sec-websocket-version")
    if version_field is None or version_field[0] != VERSION:
        status = 400 if version_field is None else 426
        raise HandshakeError(
            "Sec-WebSocket-Version must be 13", status, ((b"Sec-WebSocket-Version", VERSION),)
        )
    key = fields.get(b"sec-websocket-key")
    if key is None:
        raise HandshakeError("Missing header, 'Sec-WebSocket-Key'")
    if _KEY.fullmatch(key[0]) is None:
        raise HandshakeError("Sec-WebSocket-Key must be 16 bytes in base64")
    subprotocols = _comma_list(fields.get(b"sec-websocket-protocol", []))
    if any(_TOKEN.fullmatch(p) is None for p in subprotocols):
        raise HandshakeError("bad Sec-WebSocket-Protocol")
    return UpgradeRequest(
        target=target.decode("ascii"),
        host=host[0].decode("latin-1"),
        key=key[0],
        subprotocols=tuple(subprotocols),
        extensions=tuple(_comma_list(fields.get(b"sec-websocket-extensions", []))),
    )


def accept_key(key: bytes) -> bytes:
    """The ``Sec-WebSocket-Accept`` value for the client's ``Sec-WebSocket-Key``."""
    return base64.b64encode(hashlib.sha1(key + GUID, usedforsecurity=False).digest())


def accept_response(key: bytes, subprotocol: str | None = None, extensions: str | None = None) -> bytes:
    """The ``101 Switching Protocols`` response, with the agreed subprotocol and extensions."""
    parts = [
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: ",
        accept_key(key),
        b"\r\n",
    ]
    if subprotocol is not None:
        parts += [b"Sec-WebSocket-Protocol: ", _field_value(subprotocol.encode("ascii")), b"\r\n"]
    if extensions is not None:
        parts += [b"Sec-WebSocket-Extensions: ", _field_value(extensions.encode("ascii")), b"\r\n"]
    parts.append(b"\r\n")
    return b"".join(parts)


_NAME = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")


def _field_value(value: bytes) -> bytes:
    if _VALUE.fullmatch(value) is None:
        raise ValueError(f"not a valid header value: {value!r}")
    return value


def valid_field(name: bytes, value: bytes) -> bool:
    """True if ``name: value`` can be sent as a header field (no CR, LF or other controls)."""
    return _NAME.fullmatch(name) is not None and _VALUE.fullmatch(value) is not None


def refusal(
    status: int, headers: list[tuple[bytes, bytes]] | tuple[tuple[bytes, bytes], ...], body: bytes
) -> bytes:
    """A complete HTTP response refusing the handshake; the connection closes after it.

    Every field in *headers* must pass :func:`valid_field` (a ``ValueError``
    otherwise): a header value can never end the head early or add a field.
    """
    if not 200 <= status <= 599:
        raise ValueError(f"not an HTTP status: {status}")
    return response(status, headers, body)


def response(
    status: int,
    headers: list[tuple[bytes, bytes]] | tuple[tuple[bytes, bytes], ...],
    body: bytes,
    *,
    head_only: bool = False,
) -> bytes:
    """A complete HTTP/1.1 response with ``Content-Length`` and ``Connection: close``.

    *head_only* leaves the body out (the answer to ``HEAD``) but counts it.
    Every field in *headers* must pass :func:`valid_field` (a ``ValueError``
    otherwise).
    """
    if not 100 <= status <= 599:
        raise ValueError(f"not an HTTP status: {status}")
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    lines = [f"HTTP/1.1 {status} {phrase}".encode("ascii")]
    for name, value in headers:
        if not valid_field(name, value):
            raise ValueError(f"not a valid header field: {name!r}: {value!r}")
        lines.append(name + b": " + value)
    lines.append(b"Content-Length: " + str(len(body)).encode("ascii"))
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + HEAD_END + (b"" if head_only else body)
