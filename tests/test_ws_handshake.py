"""The WebSocket opening handshake: the sans-I/O parser, and the server's answers to bad requests."""

from __future__ import annotations

import base64
import json

import pytest
import trio
import trio.testing
from wsproto.frame_protocol import FrameProtocol

from triochat import ChatServer
from triochat.auth import Accept, ConnectionInfo, Reject
from triochat.protocol.wshandshake import (
    MAX_HEAD_BYTES,
    HandshakeError,
    UpgradeRequest,
    accept_key,
    accept_response,
    find_head_end,
    parse_request,
    refusal,
)
from triochat.testing import open_test_server
from triochat.transports.wsconn import _at_rest

from .wsraw import RawClient, frame, text

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
"""RFC 6455's example key (section 1.3)."""

GOOD = [
    "GET /v1 HTTP/1.1",
    "Host: localhost:8000",
    "Upgrade: websocket",
    "Connection: Upgrade",
    f"Sec-WebSocket-Key: {KEY}",
    "Sec-WebSocket-Version: 13",
]


def head(*lines: str, drop: tuple[str, ...] = (), base: list[str] = GOOD) -> bytes:
    """A request head: the good one without the fields named in *drop*, plus *lines*."""
    kept = [line for line in base if not line.startswith(drop)] if drop else list(base)
    return ("\r\n".join([*kept, *lines]) + "\r\n\r\n").encode("latin-1")


# -- the parser ---------------------------------------------------------------------------


def test_accept_key_is_rfc_6455s_example() -> None:
    assert accept_key(KEY.encode()) == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_a_good_request_parses() -> None:
    request = parse_request(
        head(
            "Sec-WebSocket-Protocol: triochat.v1, chat",
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-foo",
            "Sec-WebSocket-Protocol: other",
        )
    )
    assert request == UpgradeRequest(
        target="/v1",
        host="localhost:8000",
        key=KEY.encode(),
        subprotocols=("triochat.v1", "chat", "other"),
        extensions=("permessage-deflate; client_max_window_bits", "x-foo"),
    )


def test_names_and_tokens_are_case_insensitive_and_lists_are_lists() -> None:
    lines = [
        "GET /ws/alice?x=1 HTTP/1.1",
        "hOsT:example.org",
        "UPGRADE: WebSocket",
        "connection: keep-alive ,  upgrade",
        f"sec-websocket-key:   {KEY}  ",
        "Sec-Websocket-Version: 13",
    ]
    request = parse_request(head(base=lines))
    assert (request.target, request.host, request.key) == ("/ws/alice?x=1", "example.org", KEY.encode())


REFUSED = [
    (head(drop=("Host",)), 400, "Host"),
    (head("Host: evil"), 400, "more than one host"),
    (head(f"Sec-WebSocket-Key: {KEY}"), 400, "more than one sec-websocket-key"),
    (head("X-Long: a", " folded"), 400, "folding"),
    (head("X-Long: a", "\tfolded"), 400, "folding"),
    (head("Bad Name: x"), 400, "bad header field"),
    (head("X-Space : x"), 400, "bad header field"),
    (head(": x"), 400, "bad header field"),
    (head("X-Nul: a\x00b"), 400, "bad header field"),
    (head("X-Cr: a\rb"), 400, "bad header field"),
    (head("X-Lf: a\nb"), 400, "bad header field"),
    (head("X-Del: a\x7fb"), 400, "bad header field"),
    (head("no colon"), 400, "bad header field"),
    (head(base=["POST /v1 HTTP/1.1", *GOOD[1:]]), 400, "GET"),
    (head(base=["GET /v1 HTTP/1.0", *GOOD[1:]]), 400, "HTTP/1.1"),
    (head(base=["GET /v1 HTTP/2.0", *GOOD[1:]]), 400, "HTTP/1.1"),
    (head(base=["GET  /v1 HTTP/1.1", *GOOD[1:]]), 400, "request line"),
    (head(base=["GET /v 1 HTTP/1.1", *GOOD[1:]]), 400, "request line"),
    (head(base=["GET /v1 HTTP/1.1 ", *GOOD[1:]]), 400, "request line"),
    (head(base=["GET /v1\x01 HTTP/1.1", *GOOD[1:]]), 400, "request line"),
    (b"HELLO THERE\r\n\r\n", 400, "request line"),
    (head(drop=("Upgrade",)), 400, "Upgrade"),
    (head("Upgrade: h2c", drop=("Upgrade",)), 400, "Upgrade"),
    (head(drop=("Connection",)), 400, "Connection"),
    (head("Connection: keep-alive", drop=("Connection",)), 400, "Connection"),
    (head(drop=("Sec-WebSocket-Key",)), 400, "Sec-WebSocket-Key"),
    (head("Sec-WebSocket-Key: short==", drop=("Sec-WebSocket-Key",)), 400, "16 bytes"),
    (head("Sec-WebSocket-Key: " + "!" * 22 + "==", drop=("Sec-WebSocket-Key",)), 400, "16 bytes"),
    (
        head("Sec-WebSocket-Key: " + base64.b64encode(b"x" * 17).decode(), drop=("Sec-WebSocket-Key",)),
        400,
        "16",
    ),
    (head("Sec-WebSocket-Protocol: a b"), 400, "Sec-WebSocket-Protocol"),
    (head("Transfer-Encoding: chunked"), 400, "body"),
    (head("Content-Length: 5"), 400, "body"),
    (b"GET /v1 HTTP/1.1\nHost: x\n\n\r\n\r\n", 400, "request line"),
    (b"GET /v1 HTTP/1.1\r\nHost: x\r\n", 400, "incomplete"),
]


@pytest.mark.parametrize(("data", "status", "why"), REFUSED)
def test_bad_requests_are_refused_with_a_reason(data: bytes, status: int, why: str) -> None:
    with pytest.raises(HandshakeError) as refused:
        parse_request(data)
    assert refused.value.status == status
    assert why.lower() in refused.value.reason.lower()


def test_a_missing_version_is_400_and_a_wrong_one_426_both_naming_13() -> None:
    with pytest.raises(HandshakeError) as missing:
        parse_request(head(drop=("Sec-WebSocket-Version",)))
    with pytest.raises(HandshakeError) as wrong:
        parse_request(head("Sec-WebSocket-Version: 8", drop=("Sec-WebSocket-Version",)))
    assert (missing.value.status, wrong.value.status) == (400, 426)
    assert missing.value.headers == wrong.value.headers == ((b"Sec-WebSocket-Version", b"13"),)


BROWSERS = [
    # As a Chromium-based browser sends it.
    b"GET /v1 HTTP/1.1\r\nHost: chat.example:8000\r\nConnection: Upgrade\r\nPragma: no-cache\r\n"
    b"Cache-Control: no-cache\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nUpgrade: websocket\r\n"
    b"Origin: http://chat.example:8000\r\nSec-WebSocket-Version: 13\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\nAccept-Language: fr-FR,fr;q=0.9\r\n"
    b"Sec-WebSocket-Key: " + KEY.encode() + b"\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
    # As Firefox sends it: "keep-alive, Upgrade", a capitalised token, bytes beyond ASCII.
    b"GET /ws/al%C3%AFce HTTP/1.1\r\nHost: chat.example\r\nUser-Agent: Mozilla/5.0 \xc3\xa9\r\n"
    b"Accept: */*\r\nSec-WebSocket-Version: 13\r\nOrigin: https://chat.example\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate\r\nSec-WebSocket-Key: " + KEY.encode() + b"\r\n"
    b"Connection: keep-alive, Upgrade\r\nSec-Fetch-Mode: websocket\r\nUpgrade: WebSocket\r\n\r\n",
]


@pytest.mark.parametrize("data", BROWSERS)
def test_what_browsers_send_is_accepted(data: bytes) -> None:
    request = parse_request(data)
    assert request.key == KEY.encode()
    assert request.extensions[0].startswith("permessage-deflate")


def test_list_fields_may_come_in_several_lines() -> None:
    request = parse_request(
        head("Upgrade: foo", "Upgrade: WebSocket", "Connection: close", drop=("Upgrade",))
    )
    assert request.target == "/v1"


def test_content_length_zero_is_no_body() -> None:
    assert parse_request(head("Content-Length: 0")).target == "/v1"


def test_a_head_over_the_limit_is_refused_unparsed() -> None:
    filler = "X-Filler: " + "a" * MAX_HEAD_BYTES
    with pytest.raises(HandshakeError, match="too large"):
        parse_request(head(filler))
    exactly = head("X-Filler: ")
    exactly = head("X-Filler: " + "a" * (MAX_HEAD_BYTES - len(exactly)))
    assert len(exactly) == MAX_HEAD_BYTES
    assert parse_request(exactly).target == "/v1"


def test_find_head_end_resumes_where_it_stopped() -> None:
    data = head()
    assert find_head_end(data) == len(data)
    assert find_head_end(data + b"\x81\x00") == len(data)
    assert find_head_end(data[:-1]) == -1
    # The terminator straddling two reads is still found when resuming.
    assert find_head_end(data, len(data) - 2) == len(data)
    assert find_head_end(data, len(data) - 4) == len(data)


def test_the_101_response() -> None:
    response = accept_response(KEY.encode(), "triochat.v1", "permessage-deflate; server_no_context_takeover")
    assert response == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"Sec-WebSocket-Protocol: triochat.v1\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\r\n"
    )
    assert accept_response(KEY.encode()).endswith(
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    )


def test_refusal_counts_its_body_and_never_sends_a_broken_field() -> None:
    assert refusal(404, [(b"X-A", b"1")], b"nope") == (
        b"HTTP/1.1 404 Not Found\r\nX-A: 1\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope"
    )
    for name, value in [(b"X-A", b"1\r\nSet-Cookie: x=1"), (b"X A", b"1"), (b"X-A\r\n", b"1"), (b"", b"1")]:
        with pytest.raises(ValueError):
            refusal(400, [(name, value)], b"")
    with pytest.raises(ValueError):
        refusal(101, [], b"")


# -- the server's answers -------------------------------------------------------------------


async def exchange(server: ChatServer, data: bytes) -> bytes:
    """Send *data* as a fresh connection's first bytes; everything the server says until it closes."""
    server_stream, client = trio.testing.memory_stream_pair()
    assert server.attach_websocket_stream(server_stream)
    await client.send_all(data)
    response = b""
    while chunk := await client.receive_some():
        response += chunk
    return response


async def test_the_server_answers_bad_requests_with_their_status(chat_server: ChatServer) -> None:
    for data, status, why in REFUSED[:8]:
        response = await exchange(chat_server, data)
        assert response.startswith(f"HTTP/1.1 {status} ".encode()), response
        assert why.lower().encode() in response.lower()
    response = await exchange(chat_server, head("Sec-WebSocket-Version: 7", drop=("Sec-WebSocket-Version",)))
    assert response.startswith(b"HTTP/1.1 426 ")
    assert b"\r\nSec-WebSocket-Version: 13\r\n" in response
    assert chat_server.statistics().connections == 0


async def test_a_head_larger_than_the_limit_is_refused_without_waiting_for_its_end(
    chat_server: ChatServer,
) -> None:
    server_stream, client = trio.testing.memory_stream_pair()
    assert chat_server.attach_websocket_stream(server_stream)
    await client.send_all(b"GET /v1 HTTP/1.1\r\n")
    with trio.fail_after(5):
        # Header lines that never end: the server refuses once it holds more than the limit.
        for _ in range(4 * MAX_HEAD_BYTES // 1012):
            try:
                await client.send_all(b"X-Filler: " + b"a" * 1000 + b"\r\n")
            except trio.BrokenResourceError:
                break  # the server stopped reading
            await trio.testing.wait_all_tasks_blocked()
        response = b""
        while chunk := await client.receive_some():
            response += chunk
    assert response.startswith(b"HTTP/1.1 400 ")
    assert response.endswith(b"request head too large")


async def test_a_complete_head_over_the_limit_is_refused(chat_server: ChatServer) -> None:
    response = await exchange(chat_server, head("X-Filler: " + "a" * MAX_HEAD_BYTES))
    assert response.startswith(b"HTTP/1.1 400 ")
    assert response.endswith(b"request head too large")


async def test_a_slow_head_is_cut_off_at_the_handshake_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_test_server(handshake_timeout=10) as server:
        server_stream, client = trio.testing.memory_stream_pair()
        assert server.attach_websocket_stream(server_stream)
        start = trio.current_time()
        data = head()

        async def trickle() -> None:
            # A byte a second: the whole head would take minutes.
            for byte in data:
                try:
                    await client.send_all(bytes((byte,)))
                except trio.BrokenResourceError:
                    return
                await trio.sleep(1)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(trickle)
            assert await client.receive_some() == b""
            nursery.cancel_scope.cancel()
        assert trio.current_time() - start == pytest.approx(10, abs=1)
        assert server.statistics().connections == 0


async def test_frames_right_behind_the_request_are_read(chat_server: ChatServer) -> None:
    client = RawClient.attach(chat_server)
    async with client:
        login = text(json.dumps({"type": "login", "name": "eager"}))
        await client.send(head() + login)  # in one write: the login arrives with the head
        while b"\r\n\r\n" not in client.buffer:
            client.buffer += await client.stream.receive_some()
        response, _, rest = bytes(client.buffer).partition(b"\r\n\r\n")
        assert response.startswith(b"HTTP/1.1 101 ")
        client.buffer = bytearray(rest)
        assert (await client.next_data()).json() == {"type": "welcome", "name": "eager", "protocol": 1}


async def test_subprotocol_and_deflate_are_agreed_in_the_101(chat_server: ChatServer) -> None:
    response = await first_response(
        chat_server,
        head(
            "Sec-WebSocket-Protocol: chat, triochat.v1",
            "Sec-WebSocket-Extensions: x-unknown, permessage-deflate; client_max_window_bits, "
            "permessage-deflate; server_max_window_bits=10",
        ),
    )
    assert response.startswith(b"HTTP/1.1 101 ")
    assert b"\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in response
    assert b"\r\nSec-WebSocket-Protocol: triochat.v1\r\n" in response
    # Only the first acceptable offer is answered.
    assert response.count(b"Sec-WebSocket-Extensions") == 1
    assert b"server_max_window_bits" not in response


async def first_response(server: ChatServer, data: bytes) -> bytes:
    server_stream, client = trio.testing.memory_stream_pair()
    assert server.attach_websocket_stream(server_stream)
    await client.send_all(data)
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = await client.receive_some()
        assert chunk, response
        response += chunk
    await trio.aclose_forcefully(client)
    return response


async def test_an_auth_hook_cannot_inject_header_fields() -> None:
    async def hook(info: ConnectionInfo) -> Accept | Reject:
        return Reject(401, "no", headers=(("WWW-Authenticate", 'Basic realm="x"\r\nSet-Cookie: a=1'),))

    async with open_test_server(auth=hook) as server:
        response = await exchange(server, head())
    assert response.startswith(b"HTTP/1.1 401 ")
    assert b"Set-Cookie" not in response.split(b"\r\n\r\n")[0]
    assert response.endswith(b"\r\n\r\nno")


async def test_an_auth_hook_with_an_impossible_status_gets_500() -> None:
    async def hook(info: ConnectionInfo) -> Accept | Reject:
        return Reject(42, "odd")

    async with open_test_server(auth=hook) as server:
        response = await exchange(server, head())
    assert response.startswith(b"HTTP/1.1 500 ")


# -- the frame parser of an idle connection ------------------------------------------------


def test_the_parser_is_at_rest_only_between_messages() -> None:
    proto = FrameProtocol(False, [])
    assert _at_rest(proto)
    whole = text("hello")
    proto.receive_bytes(whole[:3])
    assert [f.payload for f in proto.received_frames()] == [] and not _at_rest(proto)
    proto.receive_bytes(whole[3:])
    assert [f.payload for f in proto.received_frames()] == ["hello"] and _at_rest(proto)
    proto.receive_bytes(text("he", fin=False))
    assert [f.payload for f in proto.received_frames()] == ["he"] and not _at_rest(proto)
    proto.receive_bytes(frame(0x0, b"llo"))
    assert [f.payload for f in proto.received_frames()] == ["llo"] and _at_rest(proto)


async def test_messages_split_anywhere_across_quiet_reads_arrive_whole(chat_server: ChatServer) -> None:
    async with RawClient.attach(chat_server) as reader, RawClient.attach(chat_server) as splitter:
        await reader.login("reader")
        await splitter.login("splitter")
        # A fragmented message, each byte its own read, the server idle in between:
        # the parser must survive every pause, even where an idle link drops it.
        data = text('{"type": "say", ', fin=False) + frame(0x0, b'"text": "whole"}')
        for i in range(len(data)):
            await splitter.send(data[i : i + 1])
            await trio.testing.wait_all_tasks_blocked()
        with trio.fail_after(5):
            while (got := (await reader.next_data()).json())["type"] != "message":
                pass
        assert (got["from"], got["text"]) == ("splitter", "whole"), got
