"""The load generator's frame reader: counting by header, inflating and checking a sample."""

from __future__ import annotations

import json
import struct
import zlib

import pytest

from benchmarks.wsframes import FrameReader, message_text, negotiated_extension


def frame(payload: bytes, *, opcode: int = 1, fin: bool = True, rsv1: bool = False) -> bytes:
    """A server frame (unmasked)."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    size = len(payload)
    if size < 126:
        return struct.pack("!BB", first, size) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", first, 126, size) + payload
    return struct.pack("!BBQ", first, 127, size) + payload


class Deflater:
    """A permessage-deflate sender with context takeover (like the websockets library's default)."""

    def __init__(self) -> None:
        self._compressor = zlib.compressobj(wbits=-12)

    def __call__(self, message: bytes) -> bytes:
        data = self._compressor.compress(message) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(b"\x00\x00\xff\xff")
        return data[:-4]


def test_message_text_is_reproducible_and_distinct() -> None:
    assert message_text(7, 200) == message_text(7, 200)
    assert message_text(7, 200) != message_text(8, 200)
    assert message_text(7, 200).startswith("~7~ ")
    assert 200 <= len(message_text(7, 200)) < 220


def test_negotiated_extension_is_read_from_the_response_head() -> None:
    head = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover"
    )
    assert negotiated_extension(head) == "permessage-deflate; server_no_context_takeover"
    assert negotiated_extension(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket") is None


def test_compressed_messages_split_anywhere_are_counted_and_verified() -> None:
    texts = [message_text(seq, 200) for seq in range(1, 40)]
    events = [json.dumps({"type": "message", "text": text}).encode() for text in texts]
    for step in (1, 3, 7, 1000):
        deflate = Deflater()  # context takeover: each message needs the ones before it
        ping = frame(b"", opcode=9)  # not a message
        stream = ping + b"".join(frame(deflate(e), rsv1=True) for e in events)
        reader = FrameReader(deflate=True, size=200)
        counted = sum(reader.feed(stream[i : i + step]) for i in range(0, len(stream), step))
        assert counted == len(events)
        assert reader.compressed == len(events)
        assert reader.verified == len(events)
        assert reader.verify_failures == 0
        assert reader.take() == events


def test_a_fragmented_message_counts_once() -> None:
    text = message_text(3, 300).encode()
    stream = frame(text[:100], fin=False) + frame(b"", opcode=10) + frame(text[100:], opcode=0)
    reader = FrameReader(deflate=False, size=300)
    assert reader.feed(stream) == 1
    assert reader.take() == [text]
    assert reader.verified == 1


def test_long_frames_are_walked() -> None:
    reader = FrameReader(deflate=False)
    reader.keep = False
    stream = frame(b"x" * 70_000) + frame(b"y" * 300) + frame(b"z")
    assert reader.feed(stream[:5]) == 0
    assert reader.feed(stream[5:]) == 3


def test_a_message_that_is_not_what_was_sent_is_a_verify_failure() -> None:
    wrong = message_text(5, 200).replace(" ", "  ", 1).encode()
    reader = FrameReader(deflate=False, size=200)
    assert reader.feed(frame(wrong)) == 1
    assert (reader.verified, reader.verify_failures) == (0, 1)


def test_counting_only_does_not_inflate_or_keep() -> None:
    reader = FrameReader(deflate=True, size=200)
    reader.keep = False
    # Not valid deflate data: a counting-only reader never looks inside.
    assert reader.feed(frame(b"\xff" * 300, rsv1=True) * 3) == 3
    assert reader.compressed == 3
    assert reader.take() == []


def test_compressed_frames_without_negotiation_are_refused() -> None:
    reader = FrameReader(deflate=False)
    with pytest.raises(RuntimeError, match="without permessage-deflate"):
        reader.feed(frame(b"abc", rsv1=True))


def test_messages_compressed_each_on_its_own_are_read_too() -> None:
    # server_no_context_takeover: one compressed frame, valid for every recipient.
    def alone(message: bytes) -> bytes:
        compressor = zlib.compressobj(wbits=-15)
        return (compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]

    texts = [message_text(seq, 120).encode() for seq in range(1, 6)]
    short = b'{"type": "joined"}'  # below a compression threshold: sent as it is
    stream = b"".join(frame(alone(t), rsv1=True) for t in texts) + frame(short)
    reader = FrameReader(deflate=True, size=120)
    assert reader.feed(stream) == 6
    assert reader.compressed == 5
    assert reader.take() == [*texts, short]
    assert reader.verified == 5
