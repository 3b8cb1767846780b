"""permessage-deflate (RFC 7692) without I/O: negotiation, compression, bounded inflation.

triochat always answers an offer with ``server_no_context_takeover``: every
message the server sends is compressed on its own, so one compressed frame is
valid for every recipient that negotiated the same window size, and the server
keeps no compressor per connection.  It also asks for
``client_no_context_takeover``, so that it keeps no inflater between
messages either (an idle connection holds no zlib state).

Messages with a payload shorter than :data:`COMPRESSION_THRESHOLD` bytes are
sent uncompressed (RSV1 unset): compressing them saves next to nothing.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from .wsframe import frame

EXTENSION = "permessage-deflate"

COMPRESSION_THRESHOLD = 128
"""Payloads shorter than this many bytes are sent uncompressed."""

COMPRESSION_LEVEL = 6

_TAIL = b"\x00\x00\xff\xff"
"""What a sync flush ends with; removed by the sender, added back by the receiver."""


class InflateError(Exception):
    """A compressed message that cannot be accepted."""


class MessageTooBig(InflateError):
    """A compressed message expands beyond the size limit."""


class CorruptMessage(InflateError):
    """A compressed message that is not valid DEFLATE data."""


@dataclass(frozen=True, slots=True)
class DeflateParams:
    """What was agreed for one connection."""

    server_max_window_bits: int = 15
    """The largest window the server may compress with (8 to 15)."""

    @property
    def compression_window(self) -> int | None:
        """The window bits to compress with; ``None``: send uncompressed.

        zlib cannot compress with a 256-byte window, so a client that allows
        no more (``server_max_window_bits=8``) gets uncompressed messages,
        which RFC 7692 permits.
        """
        bits = self.server_max_window_bits
        return bits if bits >= 9 else None


def _parse_offer(offer: str) -> dict[str, str | None] | None:
    """The parameters of one ``permessage-deflate`` offer, or ``None`` if it is not one."""
    name, _, rest = offer.partition(";")
    if name.strip().lower() != EXTENSION:
        return None
    params: dict[str, str | None] = {}
    for item in rest.split(";") if rest.strip() else ():
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if not key or key in params:
            return None  # a parameter may appear once
        params[key] = value.strip().strip('"') if eq else None
    return params


def _window_bits(value: str | None) -> int | None:
    if value is None or not value.isdigit() or len(value) > 2:
        return None
    bits = int(value)
    return bits if 8 <= bits <= 15 else None


def accept_offer(offer: str) -> tuple[DeflateParams, str] | None:
    """Agree to one ``permessage-deflate`` offer; ``None`` declines it.

    Returns what was agreed and the parameters for the response header.  An
    offer with an unknown, repeated or invalid parameter is declined, as RFC
    7692 asks.
    """
    params = _parse_offer(offer)
    if params is None:
        return None
    server_bits = 15
    response = ["server_no_context_takeover", "client_no_context_takeover"]
    for key, value in params.items():
        if key in ("server_no_context_takeover", "client_no_context_takeover"):
            if value is not None:
                return None
        elif key == "server_max_window_bits":
            bits = _window_bits(value)
            if bits is None:
                return None
            server_bits = bits
            response.append(f"server_max_window_bits={bits}")
        elif key == "client_max_window_bits":
            # Only says the client could take a limit; the inflater accepts any window.
            if value is not None and _window_bits(value) is None:
                return None
        else:
            return None
    return DeflateParams(server_bits), "; ".join(response)


def compress(payload: bytes, window_bits: int = 15) -> bytes:
    """*payload* compressed as one permessage-deflate message, without context."""
    compressor = zlib.compressobj(COMPRESSION_LEVEL, zlib.DEFLATED, -window_bits)
    data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return data[:-4] if data.endswith(_TAIL) else data


def message_frame(opcode: int, payload: bytes, window_bits: int | None) -> bytes:
    """A frame for *payload*, compressed if *window_bits* is set and it pays off."""
    if window_bits is not None and len(payload) >= COMPRESSION_THRESHOLD:
        compressed = compress(payload, window_bits)
        if len(compressed) < len(payload):
            return frame(opcode, compressed, rsv1=True)
    return frame(opcode, payload)


class Inflater:
    """Decompresses one message, never producing more than *limit* bytes.

    :meth:`feed` takes the message's compressed payload, fragment by
    fragment, and :meth:`finish` its end; both raise :class:`MessageTooBig`
    once the output would exceed *limit*, having allocated little more than
    that, and :class:`CorruptMessage` for data that is not DEFLATE.
    """

    __slots__ = ("_inflate", "limit", "size")

    def __init__(self, limit: int) -> None:
        self._inflate = zlib.decompressobj(-15)
        self.limit = limit
        self.size = 0
        """Bytes produced so far."""

    def feed(self, data: bytes) -> bytes:
        """Decompress the next part of the message."""
        room = self.limit - self.size
        try:
            out = self._inflate.decompress(data, room + 1)
        except zlib.error as exc:
            raise CorruptMessage(f"invalid compressed data: {exc}") from None
        self.size += len(out)
        if self.size > self.limit:
            raise MessageTooBig(f"the message expands beyond {self.limit} bytes")
        return out

    def finish(self) -> bytes:
        """Decompress what is left at the end of the message."""
        return self.feed(_TAIL)
