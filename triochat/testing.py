"""Helpers for testing triochat servers and the apps built on them.

Everything here runs a real :class:`~triochat.ChatServer` (the same
broadcaster, outboxes and sessions as in production) and talks to it over
trio's in-memory streams (:mod:`trio.testing`), or over loopback sockets when
asked to::

    from triochat.testing import open_test_server, connect

    async def test_greeting():
        async with open_test_server() as server:
            alice = await connect(server, "alice")
            bob = await connect(server, "bob")
            assert await alice.receive() == "*** bob has joined the chat ***"
            await bob.send("hi")
            assert await alice.receive() == "bob: hi"

With ``pytest-trio``, the fixtures in :mod:`triochat.pytest_plugin`
(``chat_server``, ``chat_client``) do the same setup.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import trio
import trio.testing
import trio_websocket

from ._server import ChatServer, open_chat_server
from .protocol.lines import Line, LineDecoder
from .transports.sockets import SocketStream

__all__ = [
    "LineTestClient",
    "open_websocket",
    "connect",
    "connect_tcp",
    "memory_line_pair",
    "open_test_server",
]


class LineTestClient:
    """A line-protocol client for tests: send lines, read lines.

    :meth:`receive` waits for the next line; :meth:`lines_nowait` returns the
    lines that have already arrived, without waiting, which together with
    :func:`trio.testing.wait_all_tasks_blocked` tells that nothing more came.
    """

    def __init__(
        self,
        send_stream: trio.abc.SendStream,
        read: Callable[[], Any],
        read_nowait: Callable[[], bytes | bytearray],
        *,
        name: str | None = None,
    ) -> None:
        self._send_stream = send_stream
        self._read = read
        self._read_nowait = read_nowait
        self._decoder = LineDecoder(1 << 20)
        self._lines: list[str] = []
        self.eof = False
        """True once the server closed the connection."""
        self.name = name
        """The name this client logged in with, if it did."""

    @classmethod
    def over(cls, stream: trio.abc.Stream, name: str | None = None) -> LineTestClient:
        """A client over any connected *stream* (e.g. TLS); :meth:`lines_nowait` sees nothing."""

        async def read() -> bytes | bytearray:
            try:
                return await stream.receive_some(65536)
            except trio.BrokenResourceError:
                return b""

        def read_nowait() -> bytes:
            raise trio.WouldBlock

        return cls(stream, read, read_nowait, name=name)

    async def send(self, line: str) -> None:
        """Send one line (``\\n`` is added)."""
        await self._send_stream.send_all(line.encode("utf-8") + b"\n")

    async def send_raw(self, data: bytes) -> None:
        """Send bytes as they are."""
        await self._send_stream.send_all(data)

    def _take(self, data: bytes | bytearray) -> None:
        if not data:
            self.eof = True
            return
        for event in self._decoder.feed(data):
            if isinstance(event, Line):
                self._lines.append(event.text)

    async def receive(self) -> str:
        """The next line from the server; :class:`EOFError` if it closed first."""
        while not self._lines:
            if self.eof:
                raise EOFError("the server closed the connection")
            self._take(await self._read())
        return self._lines.pop(0)

    async def receive_until(self, line: str) -> list[str]:
        """Read lines up to and including *line*; return them all."""
        seen: list[str] = []
        while True:
            seen.append(await self.receive())
            if seen[-1] == line:
                return seen

    def lines_nowait(self) -> list[str]:
        """Every complete line that has arrived and not been read yet."""
        while not self.eof:
            try:
                data = self._read_nowait()
            except trio.WouldBlock:
                break
            self._take(data)
        lines, self._lines = self._lines, []
        return lines

    async def receive_all(self) -> list[str]:
        """Read until the server closes the connection; return the lines."""
        lines: list[str] = []
        while True:
            try:
                lines.append(await self.receive())
            except EOFError:
                return lines

    async def login(self, name: str) -> None:
        """Answer the name prompt with *name* and read up to the welcome line."""
        await self.receive_until("Enter your name:")
        await self.send(name)
        await self.receive_until(f"Welcome {name}. Send QUIT or /quit to disconnect.")
        self.name = name

    async def aclose(self) -> None:
        """Close this client's side of the connection."""
        await self._send_stream.aclose()


def memory_line_pair() -> tuple[trio.StapledStream[Any, Any], LineTestClient]:
    """An in-memory connection: the server's stream and a test client on the other end.

    Built from :class:`trio.testing.MemorySendStream` and
    :class:`trio.testing.MemoryReceiveStream` with :func:`trio.testing.memory_stream_pump`,
    the parts of :func:`trio.testing.memory_stream_pair`, so that the client can
    also read without waiting.
    """
    to_client = trio.testing.MemorySendStream()
    to_server_send, to_server_receive = trio.testing.memory_stream_one_way_pair()
    server_stream = trio.StapledStream(to_client, to_server_receive)

    async def read() -> bytearray:
        return await to_client.get_data()

    client = LineTestClient(to_server_send, read, to_client.get_data_nowait)
    return server_stream, client


async def connect(server: ChatServer, name: str | None = None) -> LineTestClient:
    """Connect an in-memory line client to *server*; log in as *name* if given."""
    server_stream, client = memory_line_pair()
    if not server.attach_line_stream(server_stream, peer="memory"):
        raise RuntimeError("the server is not running or is full")
    if name is not None:
        await client.login(name)
    return client


async def connect_tcp(
    host: str, port: int, name: str | None = None, *, receive_buffer: int | None = None
) -> LineTestClient:
    """Connect a line client to a real TCP listener; log in as *name* if given.

    *receive_buffer* sets the socket's ``SO_RCVBUF``, to make a client that
    stops reading fall behind quickly.
    """
    infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.setblocking(False)
    try:
        try:
            sock.connect(addr)
        except BlockingIOError:
            await trio.lowlevel.wait_writable(sock)
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                raise OSError(error, os.strerror(error)) from None
    except BaseException:
        sock.close()
        raise
    stream = SocketStream(sock)

    async def read() -> bytes:
        try:
            return await stream.receive_some(65536)
        except trio.BrokenResourceError:
            return b""

    def read_nowait() -> bytes:
        try:
            return stream.socket.recv(65536)
        except BlockingIOError:
            raise trio.WouldBlock from None
        except OSError as exc:
            if exc.errno == errno.ECONNRESET:
                return b""
            raise

    client = LineTestClient(stream, read, read_nowait)
    if name is not None:
        await client.login(name)
    return client


@asynccontextmanager
async def open_websocket(
    server: ChatServer,
    resource: str = "/v1",
    *,
    subprotocols: list[str] | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    """An in-memory WebSocket connection to *server* (trio-websocket's client).

    Raises :class:`trio_websocket.ConnectionRejected` if the server refuses
    the handshake.
    """
    server_stream, client_stream = trio.testing.memory_stream_pair()
    if not server.attach_websocket_stream(server_stream, peer="memory"):
        raise RuntimeError("the server is not running or is full")
    try:
        async with _websocket(client_stream, resource, subprotocols, headers) as ws:
            yield ws
    except BaseExceptionGroup as group:
        rejected = [e for e in group.exceptions if isinstance(e, trio_websocket.ConnectionRejected)]
        if len(rejected) == 1 and len(group.exceptions) == 1:
            raise rejected[0] from None
        raise


@asynccontextmanager
async def _websocket(
    client_stream: trio.abc.Stream,
    resource: str,
    subprotocols: list[str] | None,
    headers: list[tuple[bytes, bytes]] | None,
) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    async with trio.open_nursery() as nursery:
        ws = await trio_websocket.wrap_client_stream(
            nursery,
            client_stream,  # type: ignore[arg-type]  # any trio Stream works
            "localhost",
            resource,
            subprotocols=subprotocols,
            extra_headers=headers,
        )
        try:
            yield ws
        finally:
            with trio.move_on_after(1):
                await ws.aclose()
            nursery.cancel_scope.cancel()


@asynccontextmanager
async def open_test_server(**settings: Any) -> AsyncIterator[ChatServer]:
    """Run a server for the block: loopback, no TCP listener unless asked.

    Keyword arguments are :class:`~triochat.ServerConfig` settings; pass
    ``tcp_port=0`` to get a real loopback listener as well.
    """
    settings.setdefault("tcp_port", None)
    host = settings.pop("host", "127.0.0.1")
    port = settings.pop("port", 0)
    async with open_chat_server(host, port, **settings) as server:
        yield server
