"""Server frames and permessage-deflate, without I/O."""

import struct
import zlib

from hypothesis import given
from hypothesis import strategies as st

from triochat.protocol.wsdeflate import COMPRESSION_THRESHOLD, InflateError, Inflater, message_frame
from triochat.protocol.wsframe import OP_BINARY, OP_TEXT, close_frame, frame, pong_frame


def test_frame_lengths_use_the_shortest_header() -> None:
    assert frame(OP_TEXT, b"x" * 125)[:2] == bytes((0x81, 125))
    assert frame(OP_TEXT, b"x" * 126)[:4] == bytes((0x81, 126)) + struct.pack("!H", 126)
    assert frame(OP_BINARY, b"x" * 65536)[:10] == bytes((0x82, 127)) + struct.pack("!Q", 65536)
    assert frame(OP_TEXT, b"x", rsv1=True)[0] == 0xC1


def test_close_frames() -> None:
    assert close_frame(None) == b"\x88\x00"
    assert close_frame(1000, "bye") == b"\x88\x05\x03\xe8bye"
    long = close_frame(1009, "é" * 100)
    assert len(long) <= 2 + 125
    long[4:].decode("utf-8")  # cut on a character boundary
    assert pong_frame(b"p" * 200) == bytes((0x8A, 125)) + b"p" * 125


def test_message_frame_compresses_only_from_the_threshold_and_when_it_pays() -> None:
    short = b"a" * (COMPRESSION_THRESHOLD - 1)
    assert message_frame(OP_TEXT, short, 15) == frame(OP_TEXT, short)
    assert message_frame(OP_TEXT, b"a" * 1000, None) == frame(OP_TEXT, b"a" * 1000)
    packed = message_frame(OP_TEXT, b"a" * 1000, 15)
    assert packed[0] == 0xC1
    assert zlib.decompressobj(-15).decompress(packed[2:] + b"\x00\x00\xff\xff") == b"a" * 1000
    noise = bytes(range(256))
    assert message_frame(OP_BINARY, noise, 15) == frame(OP_BINARY, noise)  # would only grow


@given(st.lists(st.binary(max_size=300), max_size=5))
def test_inflater_raises_only_its_own_errors(parts: list[bytes]) -> None:
    inflater = Inflater(1000)
    try:
        for part in parts:
            inflater.feed(part)
        inflater.finish()
    except InflateError:
        pass
    assert inflater.size <= 1001


@given(st.binary(max_size=5000), st.integers(min_value=1, max_value=50))
def test_inflater_round_trips_in_any_split(data: bytes, pieces: int) -> None:
    packed = message_frame(OP_BINARY, data, 15)
    payload = packed[2:] if packed[1] < 126 else packed[4:]
    if not packed[0] & 0x40:
        return
    step = max(1, len(payload) // pieces)
    inflater = Inflater(len(data))
    out = b"".join(inflater.feed(payload[i : i + step]) for i in range(0, len(payload), step))
    assert out + inflater.finish() == data
