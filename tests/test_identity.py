"""Identities fixed by the auth hook cannot be renamed, and their names are reserved."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import trio
import trio_websocket

from triochat.auth import (
    Accept,
    ConnectionInfo,
    Reject,
    any_of,
    basic_auth,
    bearer_tokens,
    known_identities,
)
from triochat.cli.serve import build_server
from triochat.testing import connect, open_test_server, open_websocket


def bearer(token: str) -> list[tuple[bytes, bytes]]:
    return [(b"Authorization", f"Bearer {token}".encode())]


def basic(user: str, password: str) -> list[tuple[bytes, bytes]]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return [(b"Authorization", f"Basic {token}".encode())]


async def send(ws: trio_websocket.WebSocketConnection, **frame: Any) -> None:
    await ws.send_message(json.dumps(frame))


async def receive(ws: trio_websocket.WebSocketConnection) -> dict[str, Any]:
    with trio.fail_after(5):
        answer = json.loads(await ws.get_message())
    assert isinstance(answer, dict)
    return answer


async def receive_type(ws: trio_websocket.WebSocketConnection, kind: str) -> dict[str, Any]:
    while (answer := await receive(ws))["type"] != kind:
        pass
    return answer


async def test_a_token_identity_cannot_be_renamed() -> None:
    async with (
        open_test_server(auth=bearer_tokens({"A": "alice", "B": "bob"})) as server,
        open_websocket(server, headers=bearer("A")) as alice,
    ):
        await send(alice, type="login")
        assert (await receive(alice))["name"] == "alice"
        await send(alice, type="nick", name="bob")
        error = await receive_type(alice, "error")
        assert error["code"] == "identity_fixed"
        assert "alice" in error["message"]
        await send(alice, type="nick", name="someone-else")
        assert (await receive_type(alice, "error"))["code"] == "identity_fixed"
        # The real bob still gets his name.
        async with open_websocket(server, headers=bearer("B")) as bob:
            await send(bob, type="login")
            assert (await receive(bob))["type"] == "welcome"
            await send(bob, type="who")
            assert (await receive_type(bob, "who"))["members"] == ["alice", "bob"]


async def test_a_basic_auth_identity_cannot_be_renamed() -> None:
    async with (
        open_test_server(auth=basic_auth({"alice": "a", "bob": "b"})) as server,
        open_websocket(server, headers=basic("alice", "a")) as alice,
    ):
        await send(alice, type="login", name="alice")
        assert (await receive(alice))["type"] == "welcome"
        await send(alice, type="nick", name="bob")
        assert (await receive_type(alice, "error"))["code"] == "identity_fixed"
        # Asking for the name one already has is not an error.
        await send(alice, type="nick", name="alice")
        assert (await receive_type(alice, "notice"))["message"] == "you are already known as alice"


async def test_a_line_user_cannot_take_an_identity_at_login_or_by_nick() -> None:
    auth = bearer_tokens({"A": "alice"}, allow_tcp=True)
    async with open_test_server(auth=auth) as server:
        mallory = await connect(server)
        await mallory.receive_until("Enter your name:")
        await mallory.send("alice")
        assert await mallory.receive() == "error: the name alice is taken, try another"
        await mallory.login("mallory")
        await mallory.send("/nick alice")
        assert await mallory.receive() == "error: the name alice belongs to an authenticated user"
        await mallory.send("/nick carol")
        assert await mallory.receive() == "*** you are now known as carol ***"
        # alice, absent all along, logs in under her name.
        async with open_websocket(server, headers=bearer("A")) as alice:
            await send(alice, type="login")
            assert (await receive(alice))["name"] == "alice"
        assert await mallory.receive() == "*** alice has joined the chat ***"


async def test_an_identity_without_a_fixed_name_keeps_nick() -> None:
    async with open_test_server(auth=bearer_tokens({"A": "alice"}, allow_tcp=True)) as server:
        bob = await connect(server, "bob")
        await bob.send("/nick robert")
        assert await bob.receive() == "*** you are now known as robert ***"


class TeamHook:
    """A custom hook that declares the identities it can give."""

    identities = frozenset({"blue-lead"})

    async def __call__(self, info: ConnectionInfo) -> Accept | Reject:
        if info.transport == "tcp":
            return Accept()
        return Accept(identity="blue-lead")


async def test_a_custom_hook_reserves_its_identities() -> None:
    async with open_test_server(auth=TeamHook()) as server:
        guest = await connect(server)
        await guest.receive_until("Enter your name:")
        await guest.send("blue-lead")
        assert await guest.receive() == "error: the name blue-lead is taken, try another"
        await guest.login("guest")
        async with open_websocket(server) as lead:
            await send(lead, type="login")
            assert (await receive(lead))["name"] == "blue-lead"
            await send(lead, type="nick", name="guest2")
            assert (await receive_type(lead, "error"))["code"] == "identity_fixed"


async def test_hooks_expose_their_identities() -> None:
    def check(name: str, password: str) -> bool:
        return password == "x"

    async def plain(info: ConnectionInfo) -> Accept | Reject:
        return Accept()

    assert known_identities(bearer_tokens({"t1": "alice", "t2": "bob"})) == {"alice", "bob"}
    assert known_identities(basic_auth({"carol": "pw"})) == {"carol"}
    assert known_identities(basic_auth(check)) == frozenset()
    assert known_identities(basic_auth(check, identities=["dave"])) == {"dave"}
    both = any_of(basic_auth({"carol": "pw"}), bearer_tokens({"t": "alice"}))
    assert known_identities(both) == {"alice", "carol"}
    assert known_identities(plain) == frozenset()
    assert known_identities(None) == frozenset()
    assert known_identities(TeamHook()) == {"blue-lead"}
    # any_of accepts what either accepts, and refuses with the last refusal.
    info = ConnectionInfo("ws", "/v1", (("authorization", "Bearer t"),), "peer")
    assert await both(info) == Accept(identity="alice")
    refused = await both(ConnectionInfo("ws", "/v1", (), "peer"))
    assert isinstance(refused, Reject) and refused.status == 401


def test_the_cli_reserves_the_identities_of_tokens_and_password_files(tmp_path: Path) -> None:
    passwords = tmp_path / "users"
    passwords.write_text("carol:pw\n", encoding="utf-8")
    server = build_server({"tokens": ["T=alice"], "basic_auth": str(passwords), "auth_allow_tcp": True})
    assert known_identities(server.config.auth) == {"alice", "carol"}
