"""Name theft: renaming an authenticated identity, or taking its name without it.

The server is built from the same settings as
``triochat serve --token A=alice --token B=bob --basic-auth FILE --auth-allow-tcp``
and runs on loopback; the clients are real TCP and WebSocket connections.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
import trio_websocket

from triochat import ChatServer
from triochat.cli.serve import build_server
from triochat.testing import LineTestClient, connect_tcp

Headers = list[tuple[bytes, bytes]]


def bearer(token: str) -> Headers:
    return [(b"Authorization", f"Bearer {token}".encode())]


def basic(user: str, password: str) -> Headers:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return [(b"Authorization", f"Basic {encoded}".encode())]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ChatServer]:
    passwords = tmp_path / "passwords"
    passwords.write_text("carol:c4rol\n", encoding="utf-8")
    chat = build_server(
        {
            "host": "127.0.0.1",
            "port": 0,
            "tcp_port": 0,
            "tokens": ["A=alice", "B=bob"],
            "basic_auth": str(passwords),
            "auth_allow_tcp": True,
        }
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(chat.serve)
        try:
            yield chat
        finally:
            await chat.stop()


@asynccontextmanager
async def websocket(
    server: ChatServer, headers: Headers
) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    async with trio_websocket.open_websocket(
        "127.0.0.1", server.ws_port or 0, "/v1", use_ssl=False, extra_headers=headers
    ) as ws:
        yield ws


async def send(ws: trio_websocket.WebSocketConnection, **frame: Any) -> None:
    await ws.send_message(json.dumps(frame))


async def next_of(ws: trio_websocket.WebSocketConnection, kind: str) -> dict[str, Any]:
    with trio.fail_after(5):
        while True:
            frame = json.loads(await ws.get_message())
            assert isinstance(frame, dict)
            if frame["type"] == kind:
                return frame


async def line_client(server: ChatServer, name: str | None = None) -> LineTestClient:
    assert server.tcp_port is not None
    return await connect_tcp("127.0.0.1", server.tcp_port, name)


async def receive(client: LineTestClient) -> str:
    with trio.fail_after(5):
        return await client.receive()


async def test_a_token_user_cannot_rename_to_another_identity(server: ChatServer) -> None:
    async with websocket(server, bearer("A")) as alice:
        await send(alice, type="login")
        assert (await next_of(alice, "welcome"))["name"] == "alice"
        await send(alice, type="nick", name="bob")
        refused = await next_of(alice, "error")
        assert refused["code"] == "identity_fixed"
        assert refused["message"] == "you are authenticated as alice; your name cannot change"
        async with websocket(server, bearer("B")) as bob:
            await send(bob, type="login")
            assert (await next_of(bob, "welcome"))["name"] == "bob"
            await send(alice, type="say", text="it is me")
            message = await next_of(bob, "message")
            assert (message["from"], message["text"]) == ("alice", "it is me")


async def test_a_basic_auth_user_cannot_rename(server: ChatServer) -> None:
    async with websocket(server, basic("carol", "c4rol")) as carol:
        await send(carol, type="login")
        assert (await next_of(carol, "welcome"))["name"] == "carol"
        for wanted in ("alice", "someone"):
            await send(carol, type="nick", name=wanted)
            assert (await next_of(carol, "error"))["code"] == "identity_fixed"
        await send(carol, type="who")
        assert (await next_of(carol, "who"))["members"] == ["carol"]


async def test_a_line_user_cannot_log_in_as_an_identity(server: ChatServer) -> None:
    thief = await line_client(server)
    with trio.fail_after(5):
        await thief.receive_until("Enter your name:")
    for name in ("alice", "bob", "carol"):
        await thief.send(name)
        assert await receive(thief) == f"error: the name {name} is taken, try another"
        assert await receive(thief) == "Enter your name:"
    await thief.send("mallory")
    assert await receive(thief) == "Welcome mallory. Send QUIT or /quit to disconnect."
    # The owners are not locked out.
    async with websocket(server, bearer("A")) as alice:
        await send(alice, type="login")
        assert (await next_of(alice, "welcome"))["name"] == "alice"
    await thief.aclose()


async def test_a_line_user_cannot_nick_to_an_identity(server: ChatServer) -> None:
    thief = await line_client(server, "mallory")
    for name in ("alice", "bob", "carol"):
        await thief.send(f"/nick {name}")
        assert await receive(thief) == f"error: the name {name} belongs to an authenticated user"
    await thief.send("/nick eve")
    assert await receive(thief) == "*** you are now known as eve ***"
    async with websocket(server, bearer("B")) as bob:
        await send(bob, type="login")
        assert (await next_of(bob, "welcome"))["name"] == "bob"
        await send(bob, type="who")
        assert (await next_of(bob, "who"))["members"] == ["bob", "eve"]
    await thief.aclose()
