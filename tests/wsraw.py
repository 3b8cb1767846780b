"""A hand-driven WebSocket client for tests: exact frames out, exact frames in.

It builds masked client frames byte by byte (so tests can send any
violation) and parses the server's frames without any library in between.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import trio

from triochat import ChatServer


@dataclass(frozen=True)
class Frame:
    fin: bool
    rsv: int
    opcode: int
    payload: bytes

    @property
    def rsv1(self) -> bool:
        return bool(self.rsv & 4)

    def close_code(self) -> int | None:
        assert self.opcode == 0x8, self
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    def text(self, *, inflate: bool = True) -> str:
        data = self.payload
        if self.rsv1 and inflate:
            data = zlib.decompressobj(-15).decompress(data + b"\x00\x00\xff\xff")
        return data.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.text())


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bool = True,
    length: int | None = None,
) -> bytes:
    """A client frame; *rsv* is the three RSV bits (4 = RSV1); *length* overrides the header's."""
    size = len(payload) if length is None else length
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    mask_bit = 0x80 if mask else 0
    if size < 126:
        head = bytes((first, mask_bit | size))
    elif size < 1 << 16:
        head = struct.pack("!BBH", first, mask_bit | 126, size)
    else:
        head = struct.pack("!BBQ", first, mask_bit | 127, size)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def text(data: str | bytes, **kwargs: Any) -> bytes:
    return frame(0x1, data.encode() if isinstance(data, str) else data, **kwargs)


def close(code: int | None = 1000, reason: bytes = b"") -> bytes:
    return frame(0x8, b"" if code is None else struct.pack("!H", code) + reason)


def deflate(data: bytes) -> bytes:
    """*data* compressed as one permessage-deflate message."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


class RawClient:
    """One WebSocket client connection over *stream*."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.buffer = bytearray()
        self.response = b""

    async def __aenter__(self) -> RawClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await trio.aclose_forcefully(self.stream)

    @classmethod
    def attach(cls, server: ChatServer) -> RawClient:
        server_stream, client_stream = trio.testing.memory_stream_pair()
        assert server.attach_websocket_stream(server_stream, peer="raw")
        return cls(client_stream)

    @classmethod
    async def connect(cls, server: ChatServer) -> RawClient:
        assert server.ws_port
        return cls(await trio.open_tcp_stream("127.0.0.1", server.ws_port))

    async def handshake(self, path: str = "/v1", *, extensions: str | None = None) -> bytes:
        """Send the upgrade request; return the response head (raises unless 101)."""
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            "Host: localhost",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if extensions is not None:
            lines.append(f"Sec-WebSocket-Extensions: {extensions}")
        await self.stream.send_all(("\r\n".join(lines) + "\r\n\r\n").encode())
        while b"\r\n\r\n" not in self.buffer:
            data = await self.stream.receive_some()
            assert data, f"no handshake response: {bytes(self.buffer)!r}"
            self.buffer += data
        end = self.buffer.index(b"\r\n\r\n") + 4
        self.response = bytes(self.buffer[:end])
        del self.buffer[:end]
        assert self.response.startswith(b"HTTP/1.1 101 "), self.response
        return self.response

    async def login(self, name: str, path: str = "/v1", *, extensions: str | None = None) -> None:
        await self.handshake(path, extensions=extensions)
        await self.send(text(json.dumps({"type": "login", "name": name})))
        assert (await self.next_data()).json()["type"] == "welcome"

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def send_json(self, **obj: Any) -> None:
        await self.send(text(json.dumps(obj)))

    async def _fill(self, need: int) -> bool:
        while len(self.buffer) < need:
            data = await self.stream.receive_some()
            if not data:
                return False
            self.buffer += data
        return True

    async def read_frame(self) -> Frame | None:
        """The next frame from the server; ``None`` at end of file."""
        if not await self._fill(2):
            assert not self.buffer, f"end of file inside a frame: {bytes(self.buffer)!r}"
            return None
        first, second = self.buffer[0], self.buffer[1]
        assert not second & 0x80, "server frames are never masked"
        size, offset = second & 0x7F, 2
        if size == 126:
            assert await self._fill(4)
            size, offset = struct.unpack("!H", self.buffer[2:4])[0], 4
        elif size == 127:
            assert await self._fill(10)
            size, offset = struct.unpack("!Q", self.buffer[2:10])[0], 10
        assert await self._fill(offset + size), "end of file inside a frame"
        payload = bytes(self.buffer[offset : offset + size])
        del self.buffer[: offset + size]
        return Frame(bool(first & 0x80), (first >> 4) & 7, first & 0xF, payload)

    async def next_data(self) -> Frame:
        """The next text or binary frame, skipping pings; fails on close or end of file."""
        while True:
            got = await self.read_frame()
            assert got is not None, "end of file"
            assert got.opcode != 0x8, f"closed: {got.close_code()} {got.payload[2:]!r}"
            if got.opcode in (0x1, 0x2):
                return got

    async def read_to_end(self) -> list[Frame]:
        """Every frame until end of file."""
        frames = []
        while (got := await self.read_frame()) is not None:
            frames.append(got)
        return frames

    async def expect_close(self, code: int, *, answer: bool = True) -> tuple[list[Frame], Frame]:
        """Read up to the close frame, check its code, answer it, then expect end of file.

        Returns the data frames before the close, and the close frame.
        """
        before: list[Frame] = []
        while True:
            got = await self.read_frame()
            assert got is not None, f"end of file without a close frame, after {before}"
            if got.opcode == 0x8:
                break
            if got.opcode in (0x1, 0x2):
                before.append(got)
        assert got.close_code() == code, (got.close_code(), got.payload)
        if answer:
            await self.send(close(code))
        assert await self.read_to_end() == []
        return before, got
