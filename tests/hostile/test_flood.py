"""Floods over TCP lines and WebSocket, against a server on loopback with default limits.

Two flooders send as fast as their sockets take it; two quiet members chat
at a human pace.  The quiet ones stay connected and see each other's
messages in well under a second; the flooders are slowed to the default
rate, told once, and lose nothing that the server accepted.
"""

from __future__ import annotations

import json
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
import trio_websocket

from triochat import ChatServer
from triochat._ratelimit import DEFAULT_BURST, DEFAULT_RATE
from triochat.testing import connect_tcp, open_test_server

PINGS = 10
PING_EVERY = 0.25
FLOOD_LINES = 20_000


@asynccontextmanager
async def websocket(server: ChatServer, name: str) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    async with trio_websocket.open_websocket("127.0.0.1", server.ws_port or 0, "/v1", use_ssl=False) as ws:
        await ws.send_message(json.dumps({"type": "login", "name": name}))
        assert json.loads(await ws.get_message())["type"] == "welcome"
        yield ws


def client_frame(text: str) -> bytes:
    """A masked text frame (the zero mask leaves the payload as it is)."""
    payload = text.encode()
    if len(payload) < 126:
        header = bytes([0x81, 0x80 | len(payload)])
    else:
        header = bytes([0x81, 0x80 | 126]) + struct.pack("!H", len(payload))
    return header + b"\0\0\0\0" + payload


class RawWebSocket:
    """A WebSocket client that writes frames as fast as the socket takes them.

    It never waits for the server to read, and it ends with a plain TCP
    close: what a flooder does.
    """

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.received = bytearray()

    @classmethod
    async def login(cls, port: int, name: str) -> RawWebSocket:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        client = cls(stream)
        await stream.send_all(
            b"GET /v1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        await client.read_until(b"\r\n\r\n")
        assert client.received.startswith(b"HTTP/1.1 101 ")
        await stream.send_all(client_frame(json.dumps({"type": "login", "name": name})))
        await client.read_until(b'"welcome"')
        return client

    async def read_until(self, marker: bytes) -> None:
        with trio.fail_after(5):
            while marker not in self.received:
                self.received += await self.stream.receive_some()

    async def drain(self) -> None:
        while data := await self.stream.receive_some():
            self.received += data


async def test_quiet_members_are_served_during_a_flood() -> None:
    async with open_test_server(tcp_port=0) as server:
        assert server.tcp_port is not None
        port = server.tcp_port
        line_flooder = await connect_tcp("127.0.0.1", port, "lineflood")
        quiet_line = await connect_tcp("127.0.0.1", port, "quietline")
        flood_seen: list[str] = []
        flooder_errors: list[str] = []
        latencies: list[float] = []
        sent_at: dict[str, float] = {}

        ws_flooder = await RawWebSocket.login(server.ws_port or 0, "wsflood")
        async with websocket(server, "quietws") as quiet_ws:
            with trio.fail_after(5):
                await quiet_line.receive_until("*** quietws has joined the chat ***")

            async def flood_lines() -> None:
                block = "".join(f"line {n}\n" for n in range(FLOOD_LINES)).encode()
                await line_flooder.send_raw(block)

            async def flood_ws() -> None:
                frames = b"".join(
                    client_frame(json.dumps({"type": "say", "text": f"ws {n}"})) for n in range(FLOOD_LINES)
                )
                await ws_flooder.stream.send_all(frames)

            async def drain_line_flooder() -> None:
                while True:
                    line = await line_flooder.receive()
                    if line.startswith("error:"):
                        flooder_errors.append(line)

            async def read_quiet_line() -> None:
                while True:
                    line = await quiet_line.receive()
                    if line.startswith("quietws: ping "):
                        latencies.append(trio.current_time() - sent_at[line.removeprefix("quietws: ")])
                    elif line.startswith(("lineflood: ", "wsflood: ")):
                        flood_seen.append(line)
                    else:
                        assert "has left" not in line, line

            async def read_quiet_ws() -> None:
                while True:
                    frame = json.loads(await quiet_ws.get_message())
                    if frame["type"] == "message" and frame["from"] == "quietline":
                        latencies.append(trio.current_time() - sent_at[frame["text"]])
                    assert frame["type"] != "left", frame

            async def say_ws(text: str) -> None:
                await quiet_ws.send_message(json.dumps({"type": "say", "text": text}))

            with trio.fail_after(30):
                async with trio.open_nursery() as nursery:
                    for task in (
                        flood_lines,
                        flood_ws,
                        drain_line_flooder,
                        ws_flooder.drain,
                        read_quiet_line,
                        read_quiet_ws,
                    ):
                        nursery.start_soon(task)
                    start = trio.current_time()
                    await trio.sleep(0.5)  # the flood is on
                    for k in range(PINGS):
                        for who, send in (("line", quiet_line.send), ("ws", say_ws)):
                            text = f"ping {who} {k}"
                            sent_at[text] = trio.current_time()
                            await send(text)
                        await trio.sleep(PING_EVERY)
                    await trio.sleep(0.5)
                    elapsed = trio.current_time() - start
                    nursery.cancel_scope.cancel()
        await ws_flooder.stream.aclose()
        await line_flooder.aclose()
        await quiet_line.aclose()

        stats = server.statistics()
        # Every ping arrived, each in under a second; nobody was cut off.
        assert len(latencies) == 2 * PINGS
        assert max(latencies) < 1.0, latencies
        assert stats.slow_disconnects == 0
        # Each flooder was slowed to the limit and told exactly once.
        assert flooder_errors == [
            "error: too fast: you may send 20 messages at once, then 10 per second; "
            "the rest are delayed, not lost"
        ]
        assert ws_flooder.received.count(b'"rate_limited"') == 1
        assert stats.rate_limited == 2
        allowed = DEFAULT_BURST + DEFAULT_RATE * elapsed + 2
        for flooder, prefix in (("lineflood", "line"), ("wsflood", "ws")):
            seen = [line for line in flood_seen if line.startswith(f"{flooder}: ")]
            # In order and without a gap: nothing accepted was lost.
            assert seen == [f"{flooder}: {prefix} {n}" for n in range(len(seen))]
            assert DEFAULT_BURST < len(seen) <= allowed
