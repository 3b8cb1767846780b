"""The WebSocket wire formats: events to complete frames, built once per message.

Each wire format is an :data:`~triochat._connection.Encoder`; connections
with the same encoder get the very same bytes for a broadcast.  A format has
one plain encoder and one per permessage-deflate window size, made on demand
by :func:`wire_for` and kept, so the broadcaster compresses a message once per
format, never once per client.

A :class:`~triochat.protocol.events.Goodbye` is the last thing a client gets:
its frame is followed by the close frame (code 1000) in the same bytes, so
nothing can come between the two, whatever the broadcaster sends next.
"""

from __future__ import annotations

from collections.abc import Callable

from .._connection import Encoder
from ..protocol import gtwire, jsonwire, v2wire
from ..protocol.events import Event, Goodbye
from ..protocol.wsdeflate import message_frame
from ..protocol.wsframe import OP_TEXT, close_frame

GOODBYE_CLOSE = close_frame(1000, "goodbye")

Payload = Callable[[Event], "bytes | None"]


def v1_payload(event: Event) -> bytes | None:
    """The native protocol's JSON text for *event*, UTF-8."""
    return jsonwire.encode_event(event).encode("utf-8")


def v2_payload(event: Event) -> bytes | None:
    """The native protocol's version 2 JSON text for *event*, UTF-8."""
    return v2wire.encode_event_v2(event).encode("utf-8")


def gt_payload(event: Event) -> bytes | None:
    """The group-terminal JSON text for *event*, or ``None`` if it has none."""
    text = gtwire.event_text(event)
    return None if text is None else text.encode("utf-8")


def _make(payload: Payload, window_bits: int | None) -> Encoder:
    def encode(event: Event) -> bytes:
        data = payload(event)
        out = b"" if data is None else message_frame(OP_TEXT, data, window_bits)
        if isinstance(event, Goodbye):
            out += GOODBYE_CLOSE
        return out

    encode.__qualname__ = encode.__name__ = f"{payload.__name__}_wire_{window_bits or 'plain'}"
    return encode


_PAYLOADS: dict[str, Payload] = {"v1": v1_payload, "v2": v2_payload, "gt": gt_payload}
_WIRES: dict[tuple[str, int | None], Encoder] = {}


def wire_for(kind: str, window_bits: int | None = None) -> Encoder:
    """The encoder of format *kind* (``"v1"``, ``"v2"`` or ``"gt"``), compressed if *window_bits* is set."""
    key = (kind, window_bits)
    wire = _WIRES.get(key)
    if wire is None:
        wire = _WIRES[key] = _make(_PAYLOADS[kind], window_bits)
    return wire


v1_wire = wire_for("v1")
"""The native protocol, uncompressed."""
v2_wire = wire_for("v2")
"""The native protocol version 2, uncompressed."""
gt_wire = wire_for("gt")
"""The group-terminal protocol, uncompressed."""
