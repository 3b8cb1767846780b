"""Hostile users trying to get around a mute or a ban, and operators giving absurd input."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing
import trio_websocket
from trio_websocket import WebSocketConnection

from triochat import ChatServer
from triochat.protocol import jsonwire
from triochat.protocol.durations import duration_problem
from triochat.testing import connect, open_test_server, open_websocket

OPS: dict[str, Any] = {"operators": ("op",), "local_operators": True}

HUGE = 10**400
"""An integer JSON may carry and no float can hold."""


async def recv(ws: WebSocketConnection) -> dict[str, Any]:
    with trio.fail_after(10):
        message = await ws.get_message()
    assert isinstance(message, str)
    obj = json.loads(message)
    assert isinstance(obj, dict)
    return obj


async def recv_type(ws: WebSocketConnection, kind: str) -> dict[str, Any]:
    while True:
        frame = await recv(ws)
        if frame["type"] == kind:
            return frame


def test_a_duration_too_large_for_a_float_is_refused_not_raised() -> None:
    assert duration_problem(HUGE) is not None
    assert duration_problem(-HUGE) is not None
    text = json.dumps({"type": "ban", "name": "bob", "duration": HUGE})
    frame = jsonwire.decode_client_frame(text)
    assert isinstance(frame, jsonwire.FrameError)
    assert frame.code == "bad_field"
    assert "at most 366 days" in frame.message


async def test_a_huge_integer_duration_gets_an_error_frame_and_the_server_goes_on() -> None:
    async with open_test_server(**OPS) as server:
        alice = await connect(server, "alice")
        async with open_websocket(server, "/v2") as op:
            await op.send_message(json.dumps({"type": "login", "name": "op"}))
            await recv_type(op, "room")
            for kind in ("ban", "mute"):
                await op.send_message(json.dumps({"type": kind, "name": "alice", "duration": HUGE}))
                assert (await recv_type(op, "error"))["code"] == "bad_field"
            await op.send_message(json.dumps({"type": "say", "text": "still here"}))
            assert await alice.receive_until("op: still here")
        with pytest.raises(ValueError, match="at most 366 days"):
            await server.ban("alice", HUGE)
        with pytest.raises(ValueError, match="at most 366 days"):
            await server.mute("alice", "lobby", HUGE)


async def test_a_muted_user_cannot_shed_the_mute_by_renaming() -> None:
    async with open_test_server(**OPS) as server:
        op = await connect(server, "op")
        alice = await connect(server, "alice")
        bob = await connect(server, "bob")
        await alice.receive_until("*** bob has joined the chat ***")
        await op.send("/mute alice")
        await alice.receive_until("*** alice was muted in #lobby by op until unmuted ***")
        await bob.receive_until("*** alice was muted in #lobby by op until unmuted ***")
        await alice.send("/nick alice2")
        answer = await alice.receive()
        assert answer.startswith("error: you are muted in #lobby"), answer
        await alice.send("still muted?")
        assert (await alice.receive()).startswith("error: you are muted in #lobby")
        await trio.testing.wait_all_tasks_blocked()
        assert bob.lines_nowait() == []  # neither a rename nor the message reached the room
        await op.send("/unmute alice")
        await alice.receive_until("*** alice was unmuted in #lobby by op ***")
        await alice.send("/nick alice2")
        await bob.receive_until("*** alice is now known as alice2 ***")


async def test_a_page_of_another_site_rebound_to_loopback_is_no_local_operator() -> None:
    """DNS rebinding: evil.example resolves to 127.0.0.1, so its page's Origin and Host agree.

    The Origin rule lets such a page in (it looks like the server's own page), but
    it must not get the trust a local operator gets: only a page the operator opened
    on a loopback address (http://localhost:PORT, http://127.0.0.1:PORT) does.
    """
    async with open_test_server(**OPS) as server:
        for host in ("evil.example:8723", "10.0.0.5:8723"):
            async with _page(server, host, f"http://{host}") as page:
                await page.send_message(json.dumps({"type": "login", "name": "op"}))
                refusal = await recv(page)
                assert refusal["type"] == "error" and refusal["code"] == "name_taken", refusal
        for host in ("localhost:8723", "127.0.0.1:8723", "[::1]:8723"):
            async with _page(server, host, f"http://{host}") as page:
                await page.send_message(json.dumps({"type": "login", "name": "op"}))
                assert (await recv(page))["type"] == "welcome", host
                await page.send_message(json.dumps({"type": "help"}))
                assert any("/kick" in line for line in (await recv_type(page, "help"))["lines"])
        async with open_websocket(server, "/v2") as program:  # no Origin: a program, as before
            await program.send_message(json.dumps({"type": "login", "name": "op"}))
            assert (await recv(program))["type"] == "welcome"


@asynccontextmanager
async def _page(server: ChatServer, host: str, origin: str) -> AsyncIterator[WebSocketConnection]:
    """A WebSocket from a browser page: this ``Host`` and ``Origin``, over a local connection."""
    server_stream, client_stream = trio.testing.memory_stream_pair()
    assert server.attach_websocket_stream(server_stream, peer="127.0.0.1:50000")
    async with trio.open_nursery() as nursery:
        ws = await trio_websocket.wrap_client_stream(
            nursery,
            client_stream,  # type: ignore[arg-type]  # any trio Stream works
            host,
            "/v2",
            extra_headers=[(b"Origin", origin.encode())],
        )
        try:
            yield ws
        finally:
            await ws.aclose()


@pytest.mark.parametrize("client", ["203.0.113.7", "2001:db8::1"])
async def test_a_client_behind_a_trusted_proxy_is_no_local_operator(client: str) -> None:
    """The proxy's X-Forwarded-For names the client by its address alone (no port): still not local."""
    async with open_test_server(**OPS, trusted_proxies=("127.0.0.1",)) as server:
        server_stream, client_stream = trio.testing.memory_stream_pair()
        assert server.attach_websocket_stream(server_stream, peer="127.0.0.1:50000")
        async with trio.open_nursery() as nursery:
            ws = await trio_websocket.wrap_client_stream(
                nursery,
                client_stream,  # type: ignore[arg-type]  # any trio Stream works
                "localhost",
                "/v2",
                extra_headers=[(b"X-Forwarded-For", client.encode())],
            )
            await ws.send_message(json.dumps({"type": "login", "name": "op"}))
            refusal = await recv(ws)
            assert refusal["type"] == "error" and refusal["code"] == "name_taken", refusal
            await ws.aclose()


async def test_a_mute_holds_for_me_actions_v1_frames_and_a_reconnect() -> None:
    async with open_test_server(**OPS) as server:
        op = await connect(server, "op")
        alice = await connect(server, "alice")
        await op.receive_until("*** alice has joined the chat ***")
        await op.send("/mute alice 10m")
        await alice.receive_until("*** alice was muted in #lobby by op for 10m ***")
        await alice.send("/me shouts anyway")
        assert (await alice.receive()).startswith("error: you are muted in #lobby for")
        await alice.send("/quit")
        await alice.receive_all()
        async with open_websocket(server, "/v1") as again:  # back under the same name, another protocol
            await again.send_message(json.dumps({"type": "login", "name": "alice"}))
            await recv_type(again, "welcome")
            for kind in ("say", "action"):
                await again.send_message(json.dumps({"type": kind, "text": "through a frame"}))
                error = await recv_type(again, "error")
                assert error["code"] == "muted", error
        await trio.testing.wait_all_tasks_blocked()
        assert not any("shouts" in line or "through a frame" in line for line in op.lines_nowait())
