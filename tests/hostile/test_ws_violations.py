"""RFC 6455 violations close with the code the RFC asks for, never by dropping TCP."""

import logging
import struct

import pytest

from triochat.testing import open_test_server

from ..wsraw import RawClient, close, deflate, frame, text

LIMIT = 1000

SAY = b'{"type":"say","text":"caf\xc3\xa9 \xf0\x9f\x98\x80"}'
"""A say frame with two- and four-byte UTF-8 sequences."""

CASES: dict[str, tuple[bytes, int]] = {
    "rsv1 without an extension": (text(SAY, rsv=4), 1002),
    "rsv2": (text(SAY, rsv=2), 1002),
    "rsv3": (text(SAY, rsv=1), 1002),
    "reserved data opcode 0x3": (frame(0x3, b"x"), 1002),
    "reserved control opcode 0xB": (frame(0xB, b"x"), 1002),
    "unmasked client frame": (text(SAY, mask=False), 1002),
    "fragmented ping": (frame(0x9, b"x", fin=False), 1002),
    "ping over 125 bytes": (frame(0x9, b"x" * 126), 1002),
    "continuation without a start": (frame(0x0, b"x"), 1002),
    "new message inside a fragmented one": (text(b"{", fin=False) + text(b"}"), 1002),
    "close with a one-byte payload": (frame(0x8, b"\x03"), 1002),
    "close code 999": (close(999), 1002),
    "close code 1004": (close(1004), 1002),
    "close code 1005": (close(1005), 1002),
    "close code 1006": (close(1006), 1002),
    "close code 1016": (close(1016), 1002),
    "close code 5000": (close(5000), 1002),
    "invalid utf-8": (text(b'{"type":"say","text":"\xff"}'), 1007),
    "invalid utf-8 across fragments": (
        text(b'{"type":"say","text":"\xf0\x9f', fin=False) + frame(0x0, b'\x28"}'),
        1007,
    ),
    "invalid utf-8 in a close reason": (close(1000, b"\xc3\x28"), 1007),
    "frame bigger than the limit": (text(b"x" * (LIMIT + 1)), 1009),
    "declared length beyond the limit": (frame(0x1, b"", length=1 << 40), 1009),
    "message bigger than the limit across fragments": (
        text(b"x" * 600, fin=False) + frame(0x0, b"x" * 600),
        1009,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_violation_closes_with_its_code(name: str) -> None:
    data, code = CASES[name]
    async with open_test_server(max_message_bytes=LIMIT) as server:
        async with RawClient.attach(server) as client:
            await client.login("alice")
            await client.send(data)
            _, closing = await client.expect_close(code)
            if code == 1009:
                assert str(LIMIT).encode() in closing.payload
        assert server.statistics().connections <= 1


async def test_rsv1_is_a_violation_when_compression_is_off() -> None:
    async with open_test_server(compression=False) as server, RawClient.attach(server) as client:
        await client.login("alice", extensions="permessage-deflate")
        assert b"sec-websocket-extensions" not in client.response.lower()
        await client.send(text(deflate(SAY * 4), rsv=4))
        await client.expect_close(1002)


async def test_code_point_split_across_fragments_is_valid() -> None:
    async with open_test_server() as server, RawClient.attach(server) as client:
        await client.login("alice")
        split = SAY.index(b"\xf0") + 2
        await client.send(text(SAY[:split], fin=False) + frame(0x9, b"between") + frame(0x0, SAY[split:]))
        pong = await client.read_frame()
        assert pong is not None and (pong.opcode, pong.payload) == (0xA, b"between")
        await client.send_json(type="who")
        assert (await client.next_data()).json()["members"] == ["alice"]


async def test_violation_is_logged_with_peer_and_code(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="triochat.websocket")
    async with open_test_server() as server, RawClient.attach(server) as client:
        await client.login("alice")
        await client.send(frame(0x3, b"x"))
        await client.expect_close(1002)
    assert any("raw" in r.getMessage() and "1002" in r.getMessage() for r in caplog.records)


async def test_violation_over_loopback_never_resets() -> None:
    async with open_test_server() as server, await RawClient.connect(server) as client:
        await client.login("alice")
        # The violation, then more bytes the server never parses.
        await client.send(frame(0x3, b"x") + text(SAY) * 20)
        _, closing = await client.expect_close(1002)
        assert struct.unpack("!H", closing.payload[:2]) == (1002,)


async def test_compressed_bytes_are_bounded_even_when_they_expand_to_nothing() -> None:
    async with open_test_server(max_message_bytes=LIMIT) as server, RawClient.attach(server) as client:
        await client.login("alice", extensions="permessage-deflate")
        # Empty stored blocks: endless input that inflates to no output at all.
        empty_blocks = b"\x00\x00\x00\xff\xff" * 1000
        await client.send(text(empty_blocks, rsv=4, fin=False))
        await client.expect_close(1009)
