"""Server-to-client WebSocket frames, built once and sent to many.

Frames from a server are not masked.  A chat frame carries no per-connection
state (compressed ones are built with ``server_no_context_takeover``, see
:mod:`triochat.protocol.wsdeflate`), so one frame is valid for every
recipient of a message.
"""

from __future__ import annotations

import struct

OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

FIN = 0x80
RSV1 = 0x40
"""Set on the first frame of a compressed message (RFC 7692)."""

CLOSE_FRAME_FIRST_BYTE = FIN | OP_CLOSE
"""FIN plus the close opcode: control frames are never fragmented."""

MAX_CONTROL_PAYLOAD = 125
"""The longest payload of a control frame (RFC 6455, section 5.5)."""


def frame(opcode: int, payload: bytes, *, rsv1: bool = False) -> bytes:
    """A complete, unfragmented frame with *opcode* carrying *payload*."""
    first = FIN | opcode | (RSV1 if rsv1 else 0)
    size = len(payload)
    if size < 126:
        return bytes((first, size)) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", first, 126, size) + payload
    return struct.pack("!BBQ", first, 127, size) + payload


def text_frame(payload: bytes) -> bytes:
    """A complete, unfragmented text frame carrying *payload* (UTF-8)."""
    return frame(OP_TEXT, payload)


def close_frame(code: int | None, reason: str = "") -> bytes:
    """A close frame with *code* and *reason* (cut to fit a control frame).

    ``code=None`` gives an empty close frame (the answer to one without a code).
    """
    if code is None:
        return frame(OP_CLOSE, b"")
    data = reason.encode("utf-8")
    if len(data) > MAX_CONTROL_PAYLOAD - 2:
        # Cut on a character boundary so the reason stays valid UTF-8.
        data = data[: MAX_CONTROL_PAYLOAD - 2].decode("utf-8", "ignore").encode("utf-8")
    return frame(OP_CLOSE, struct.pack("!H", code) + data)


def pong_frame(payload: bytes) -> bytes:
    """The pong answering a ping with *payload* (at most 125 bytes)."""
    return frame(OP_PONG, payload[:MAX_CONTROL_PAYLOAD])


def is_close_frame(data: bytes | bytearray | memoryview) -> bool:
    """True if *data* starts with a close frame (never true of an HTTP response)."""
    return len(data) > 0 and data[0] == CLOSE_FRAME_FIRST_BYTE


KEEPALIVE_PING = bytes((0x89, 4)) + b"tcka"
"""An unmasked ping frame with a 4-byte payload, sent by the server to quiet peers."""
