"""Hostile and clumsy plain-HTTP requests on the WebSocket port and the metrics port (loopback)."""

from __future__ import annotations

import pytest
import trio

from triochat.protocol.wshandshake import HandshakeError, find_head_end, parse_head
from triochat.testing import open_test_server


async def _exchange(port: int, request: bytes) -> bytes:
    """Send *request*, read until the server closes (at most 5 s: no waiting for a timeout)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(request)
        answer = b""
        with trio.fail_after(5):
            while chunk := await stream.receive_some(65536):
                answer += chunk
    return answer


def test_a_head_with_bare_line_feeds_ends_and_is_refused_in_words() -> None:
    head = b"GET / HTTP/1.1\nHost: x\n\n"
    assert find_head_end(head + b"more") == len(head)
    with pytest.raises(HandshakeError, match="CRLF"):
        parse_head(head)
    # A CRLF head that comes first is still found as it is.
    proper = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    assert find_head_end(proper + b"\n\n") == len(proper)
    # Split across reads, byte by byte.
    buffer = bytearray()
    found = -1
    for byte in head:
        searched = len(buffer)
        buffer.append(byte)
        found = find_head_end(buffer, searched)
        if found >= 0:
            break
    assert found == len(head)


@pytest.mark.parametrize("which", ["websocket", "metrics"])
async def test_a_request_typed_with_bare_line_feeds_gets_400_at_once(which: str) -> None:
    """``nc`` without ``-C`` sends LF line ends: a clear 400, not a silence until the handshake timeout."""
    async with open_test_server(handshake_timeout=30, metrics_port=0) as server:
        (ops,) = [listener for listener in server.listeners if listener.transport == "http"]
        port = server.ws_port if which == "websocket" else ops.port
        assert port is not None
        answer = await _exchange(port, b"GET /healthz HTTP/1.1\nHost: localhost\n\n")
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert b"CRLF" in answer
