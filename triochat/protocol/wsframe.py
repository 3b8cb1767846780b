"""Server-to-client WebSocket frames, built once and sent to many.

Frames from a server are not masked, and triochat negotiates no extensions,
so one text frame is valid for every recipient of a message.
"""

from __future__ import annotations

import struct

CLOSE_FRAME_FIRST_BYTE = 0x88
"""FIN plus the close opcode: control frames are never fragmented."""


def text_frame(payload: bytes) -> bytes:
    """A complete, unfragmented text frame carrying *payload* (UTF-8)."""
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload


def is_close_frame(data: bytes | bytearray | memoryview) -> bool:
    """True if *data* starts with a close frame (never true of an HTTP response)."""
    return len(data) > 0 and data[0] == CLOSE_FRAME_FIRST_BYTE


KEEPALIVE_PING = bytes((0x89, 4)) + b"tcka"
"""An unmasked ping frame with a 4-byte payload, sent by the server to quiet peers."""
