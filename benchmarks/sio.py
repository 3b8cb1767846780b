"""The Socket.IO wire format as the load generator speaks it (sans-I/O).

Socket.IO v5 runs on Engine.IO v4; over a WebSocket, each text message is one
Engine.IO packet: a digit for its type (``0`` open, ``1`` close, ``2`` ping,
``3`` pong, ``4`` message), then its data.  A message carries one Socket.IO
packet: a digit for its type (``0`` connect, ``1`` disconnect, ``2`` event,
``3`` ack, ``4`` connect error), a namespace other than ``/`` as ``/name,``, an
acknowledgement id in digits, then a JSON payload.  So ``40`` connects to the
default namespace, ``42["say","hi"]`` is an event and ``421["join","room"]``
an event whose ack comes back as ``431["room"]``.  Binary packets (types 5 and
6) are not used by the benchmark and are refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

PATH = "/socket.io/?EIO=4&transport=websocket"
"""Where a Socket.IO server answers WebSocket-only clients (no polling first)."""

OPEN, CLOSE, PING, PONG, MESSAGE = "0", "1", "2", "3", "4"
"""Engine.IO v4 packet types."""
CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR = "0", "1", "2", "3", "4"
"""Socket.IO v5 packet types (inside an Engine.IO message)."""
_ENGINE_TYPES = frozenset((OPEN, CLOSE, PING, PONG, MESSAGE, "5", "6"))
_SOCKET_TYPES = frozenset((CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR))


class SocketIOError(ValueError):
    """A packet that is not valid Engine.IO v4 / Socket.IO v5 text."""


@dataclass(frozen=True)
class Packet:
    """One decoded Engine.IO packet, with its Socket.IO packet when it is a message."""

    engine: str
    """The Engine.IO type (``OPEN`` ... ``MESSAGE``; ``5`` upgrade, ``6`` noop)."""
    kind: str | None = None
    """The Socket.IO type when ``engine`` is ``MESSAGE``."""
    namespace: str = "/"
    ack: int | None = None
    data: Any = None
    """The JSON payload (an open packet's handshake, an event's ``[name, *args]``), or None."""


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _prefix(kind: str, namespace: str, ack: int | None) -> str:
    text = MESSAGE + kind
    if namespace != "/":
        text += namespace + ","
    if ack is not None:
        if ack < 0:
            raise SocketIOError("an ack id is not negative")
        text += str(ack)
    return text


def connect(namespace: str = "/") -> str:
    """The connect packet for *namespace* (``40`` for the default one)."""
    return _prefix(CONNECT, namespace, None)


def event(name: str, *args: Any, ack: int | None = None, namespace: str = "/") -> str:
    """An event packet: ``42["name",...args]``, with an ack id when *ack* is given."""
    return _prefix(EVENT, namespace, ack) + _dumps([name, *args])


def pong() -> str:
    """The answer to an Engine.IO ping (``2``)."""
    return PONG


def decode(text: str) -> Packet:
    """One Engine.IO packet (and its Socket.IO packet); :class:`SocketIOError` if malformed."""
    if not text or text[0] not in _ENGINE_TYPES:
        raise SocketIOError(f"not an Engine.IO packet: {text[:40]!r}")
    engine, rest = text[0], text[1:]
    if engine == OPEN:
        return Packet(OPEN, data=_loads(rest))
    if engine != MESSAGE:
        return Packet(engine, data=rest or None)
    if not rest or rest[0] not in _SOCKET_TYPES:
        raise SocketIOError(f"not a Socket.IO packet: {text[:40]!r}")
    kind, pos = rest[0], 1
    namespace = "/"
    if rest.startswith("/", pos):
        comma = rest.find(",", pos)
        if comma < 0:
            raise SocketIOError(f"a namespace without its comma: {text[:40]!r}")
        namespace, pos = rest[pos:comma], comma + 1
    digits = pos
    while digits < len(rest) and rest[digits] in "0123456789":
        digits += 1
    ack = int(rest[pos:digits]) if digits > pos else None
    data = _loads(rest[digits:]) if digits < len(rest) else None
    if kind in (EVENT, ACK) and not isinstance(data, list):
        raise SocketIOError(f"an event or ack without a JSON array: {text[:40]!r}")
    if kind == EVENT and (not data or not isinstance(data[0], str)):
        raise SocketIOError(f"an event without a name: {text[:40]!r}")
    return Packet(MESSAGE, kind, namespace, ack, data)


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise SocketIOError(f"bad JSON in a packet: {text[:40]!r}") from exc
