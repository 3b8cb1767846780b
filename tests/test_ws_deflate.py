"""permessage-deflate: negotiated by default, compressed once per message and format, bounded."""

import json
import zlib

import pytest
import trio
import trio.testing
from websockets.sync.client import connect as sync_connect

from triochat.cli import build_parser, serve
from triochat.protocol import wsdeflate
from triochat.protocol.wsdeflate import Inflater, MessageTooBig, accept_offer
from triochat.testing import connect, open_test_server

from .wsraw import Frame, RawClient, deflate, frame, text

LONG = "a long message that is well over the threshold " * 8


def _browser_like_client(port: int, messages: int) -> tuple[str | None, list[dict[str, object]]]:
    """A `websockets` client (it offers permessage-deflate): log in, read *messages* chat frames."""
    with sync_connect(f"ws://127.0.0.1:{port}/v1", open_timeout=10) as ws:
        assert ws.response is not None
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
        ws.send(json.dumps({"type": "login", "name": "browser"}))
        got: list[dict[str, object]] = []
        while len(got) < messages:
            frame = json.loads(ws.recv(timeout=10))
            if frame["type"] == "message":
                got.append(frame)
            elif frame["type"] == "welcome":
                ws.send(json.dumps({"type": "say", "text": "ready"}))
        ws.send(json.dumps({"type": "quit"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "goodbye"
        return extensions, got


async def test_websockets_client_negotiates_compression_and_reads_every_message() -> None:
    async with open_test_server(tcp_port=0) as server:
        assert server.ws_port
        line = await connect(server, "liner")
        texts = [f"{i}: {LONG}" if i % 2 else f"short {i}" for i in range(40)]

        async def feed() -> None:
            assert await line.receive() == "*** browser has joined the chat ***"
            assert await line.receive() == "browser: ready"
            for message in texts:
                await line.send(message)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(feed)
            extensions, got = await trio.to_thread.run_sync(_browser_like_client, server.ws_port, len(texts))
        assert extensions is not None and extensions.startswith("permessage-deflate")
        assert "server_no_context_takeover" in extensions
        assert [m["text"] for m in got] == texts


async def test_short_messages_go_uncompressed_and_long_ones_compressed() -> None:
    async with open_test_server() as server:
        line = await connect(server, "liner")
        async with RawClient.attach(server) as client:
            await client.login("alice", extensions="permessage-deflate; client_max_window_bits")
            assert b"permessage-deflate; server_no_context_takeover" in client.response
            assert await line.receive() == "*** alice has joined the chat ***"
            await line.send("hi")
            short = await client.next_data()
            assert not short.rsv1 and short.json()["text"] == "hi"
            await line.send(LONG)
            long = await client.next_data()
            assert long.rsv1 and long.json()["text"] == LONG
            assert len(long.payload) < len(LONG)


async def test_compressed_client_messages_are_read() -> None:
    async with open_test_server() as server:
        line = await connect(server, "liner")
        async with RawClient.attach(server) as client:
            await client.login("alice", extensions="permessage-deflate")
            say = json.dumps({"type": "say", "text": LONG}).encode()
            half = len(say) // 2
            packed = deflate(say)
            # Fragmented: RSV1 on the first frame only.
            await client.send(text(packed[:half], rsv=4, fin=False) + frame(0x0, packed[half:]))
            assert await line.receive() == "*** alice has joined the chat ***"
            assert await line.receive() == f"alice: {LONG}"


async def test_zip_bomb_closes_with_1009() -> None:
    async with open_test_server(max_message_bytes=64 * 1024) as server, RawClient.attach(server) as client:
        await client.login("alice", extensions="permessage-deflate")
        bomb = deflate(b"[" * (50 * 1024 * 1024))
        assert len(bomb) < 64 * 1024
        await client.send(text(bomb, rsv=4))
        _, closing = await client.expect_close(1009)
        assert b"65536" in closing.payload


def test_inflater_never_produces_much_more_than_its_limit() -> None:
    bomb = deflate(b"\0" * (20 * 1024 * 1024))
    inflater = Inflater(10_000)
    with pytest.raises(MessageTooBig):
        for i in range(0, len(bomb), 1000):
            inflater.feed(bomb[i : i + 1000])
        inflater.finish()
    assert inflater.size <= 10_001


async def _next_message(client: RawClient) -> Frame:
    while (got := await client.next_data()).json()["type"] != "message":
        pass
    return got


async def test_one_compression_per_message_and_wire_format(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []
    real = wsdeflate.compress

    def counting(payload: bytes, window_bits: int = 15) -> bytes:
        calls.append(payload)
        return real(payload, window_bits)

    monkeypatch.setattr(wsdeflate, "compress", counting)
    async with open_test_server() as server:
        line = await connect(server, "liner")
        clients = [RawClient.attach(server) for _ in range(3)]
        for i, client in enumerate(clients):
            await client.login(f"user{i}", extensions="permessage-deflate")
        async with RawClient.attach(server) as gt:
            await gt.handshake("/ws/gtuser", extensions="permessage-deflate")
            await gt.send(text(b'{"type":"connect","username":"gtuser"}'))
            assert (await gt.next_data()).json()["success"] is True
            await trio.testing.wait_all_tasks_blocked()
            calls.clear()
            await line.send(LONG)
            received = [await _next_message(client) for client in clients]
            assert (await gt.next_data()).json()["content"] == LONG
        # Once for the three native clients, once for the group-terminal one.
        assert len(calls) == 2
        assert len({f.payload for f in received}) == 1
        assert all(f.rsv1 and f.json()["text"] == LONG for f in received)
        for client in clients:
            await client.stream.aclose()


@pytest.mark.parametrize(
    ("offer", "response"),
    [
        ("permessage-deflate", "server_no_context_takeover; client_no_context_takeover"),
        (
            "permessage-deflate; client_max_window_bits",
            "server_no_context_takeover; client_no_context_takeover",
        ),
        (
            "permessage-deflate; server_max_window_bits=10; client_no_context_takeover",
            "server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10",
        ),
        (
            "permessage-deflate; client_max_window_bits=9",
            "server_no_context_takeover; client_no_context_takeover",
        ),
        (
            "permessage-deflate; server_max_window_bits=8",
            "server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8",
        ),
        ("permessage-deflate; server_max_window_bits", None),
        ("permessage-deflate; server_max_window_bits=16", None),
        ("permessage-deflate; client_max_window_bits=7", None),
        ("permessage-deflate; server_no_context_takeover=1", None),
        ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", None),
        ("permessage-deflate; mystery", None),
        ("x-webkit-deflate-frame", None),
    ],
)
def test_offers(offer: str, response: str | None) -> None:
    agreed = accept_offer(offer)
    assert (agreed[1] if agreed else None) == response


async def test_first_acceptable_offer_wins_and_its_window_is_used() -> None:
    async with open_test_server() as server:
        line = await connect(server, "liner")
        async with RawClient.attach(server) as client:
            await client.login(
                "alice",
                extensions="permessage-deflate; server_max_window_bits=x, "
                "permessage-deflate; server_max_window_bits=9, permessage-deflate",
            )
            assert client.response.lower().count(b"permessage-deflate") == 1
            assert b"server_max_window_bits=9" in client.response
            await line.send(LONG * 3)
            got = await client.next_data()
            assert got.rsv1
            data = zlib.decompressobj(-9).decompress(got.payload + b"\x00\x00\xff\xff")
            assert json.loads(data)["text"] == LONG * 3


def test_no_compression_flag_turns_compression_off() -> None:
    def server(*argv: str) -> bool:
        args = build_parser().parse_args(["serve", *argv])
        return serve.build_server(serve.settings_from(args)).config.compression

    assert server() is True
    assert server("--no-compression") is False


async def test_a_window_of_8_bits_is_accepted_and_messages_go_uncompressed() -> None:
    async with open_test_server() as server:
        line = await connect(server, "liner")
        async with RawClient.attach(server) as client:
            await client.login("alice", extensions="permessage-deflate; server_max_window_bits=8")
            assert b"server_max_window_bits=8" in client.response
            await line.send(LONG * 3)
            got = await _next_message(client)
            assert not got.rsv1 and got.json()["text"] == LONG * 3
