"""Hostile users against moderation: non-operators, impersonators, forged reasons, bad input."""

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
from triochat._moderation import is_local_peer
from triochat.auth import Accept, ConnectionInfo, Reject, bearer_tokens
from triochat.cli import build_parser, main, serve
from triochat.testing import LineTestClient, connect, memory_line_pair, open_test_server, open_websocket

OPS: dict[str, Any] = {"operators": ("op",), "local_operators": True}
REMOTE = "203.0.113.7:40000"
"""A peer address that is not local: never trusted to be an operator."""


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


async def send(ws: WebSocketConnection, **frame: Any) -> None:
    await ws.send_message(json.dumps(frame))


async def remote_line(server: ChatServer, peer: str = REMOTE) -> LineTestClient:
    """A line client the server sees as coming from *peer*."""
    stream, client = memory_line_pair()
    assert server.attach_line_stream(stream, peer=peer)
    return client


@asynccontextmanager
async def remote_websocket(
    server: ChatServer, resource: str, headers: list[tuple[bytes, bytes]] | None = None
) -> AsyncIterator[WebSocketConnection]:
    """A WebSocket client the server sees as coming from a remote address."""
    server_stream, client_stream = trio.testing.memory_stream_pair()
    assert server.attach_websocket_stream(server_stream, peer=REMOTE)
    async with trio.open_nursery() as nursery:
        ws = await trio_websocket.wrap_client_stream(
            nursery,
            client_stream,  # type: ignore[arg-type]  # any trio Stream works
            "localhost",
            resource,
            extra_headers=headers,
        )
        try:
            yield ws
        finally:
            await ws.aclose()


# -- not an operator ---------------------------------------------------------------------------


async def test_a_non_operator_gets_not_operator_for_every_command() -> None:
    async with open_test_server(**OPS) as server:
        op = await connect(server, "op")
        alice = await connect(server, "alice")
        bob = await connect(server, "bob")
        await alice.receive_until("*** bob has joined the chat ***")
        for line, verb in [
            ("/kick bob", "kick"),
            ("/kick op you are fired", "kick"),
            ("/ban bob 1d", "ban"),
            ("/ban op", "ban"),
            ("/unban bob", "unban"),
            ("/mute bob", "mute"),
            ("/unmute bob", "unmute"),
            ("/topic mine now", "topic"),
        ]:
            await alice.send(line)
            assert await alice.receive() == f"error: only operators may use /{verb}", line
        async with open_websocket(server, "/v2") as carol:
            await send(carol, type="login", name="carol")
            await recv_type(carol, "room")
            frames: list[dict[str, Any]] = [
                {"type": "kick", "name": "bob"},
                {"type": "ban", "name": "bob", "duration": 60},
                {"type": "unban", "name": "bob"},
                {"type": "mute", "name": "bob"},
                {"type": "unmute", "name": "bob"},
                {"type": "topic", "text": "x"},
            ]
            for frame in frames:
                await send(carol, **frame)
                error = await recv_type(carol, "error")
                assert error == {
                    "type": "error",
                    "code": "not_operator",
                    "message": f"only operators may use /{frame['type']}",
                }
        await trio.testing.wait_all_tasks_blocked()
        # Nothing happened to anyone.
        seen = bob.lines_nowait() + op.lines_nowait()
        assert not [line for line in seen if "kicked" in line or "banned" in line or "topic" in line]


async def test_a_remote_user_cannot_log_in_as_a_local_operator_nor_take_the_name() -> None:
    async with open_test_server(**OPS) as server:
        mallory = await remote_line(server)
        await mallory.receive_until("Enter your name:")
        await mallory.send("op")
        assert await mallory.receive() == "error: the name op is taken, try another"
        await mallory.receive()
        await mallory.send("OP")
        assert await mallory.receive() == "error: the name OP is taken, try another"
        await mallory.receive()
        await mallory.send("mallory")
        await mallory.receive_until("Welcome mallory. Send QUIT or /quit to disconnect.")
        await mallory.send("/nick Op")
        assert await mallory.receive() == "error: the name Op belongs to an authenticated user"
        await mallory.send("/kick nobody")
        assert await mallory.receive() == "error: only operators may use /kick"
        async with remote_websocket(server, "/v2") as ws:
            await send(ws, type="login", name="op")
            assert (await recv(ws))["code"] == "name_taken"
        async with remote_websocket(server, "/ws/op") as ws:
            await send(ws, type="connect", username="op")
            assert (await recv(ws))["success"] is False
        # The real operator, on a local connection, is one.
        op = await connect(server, "op")
        await op.send("/kick mallory")
        assert await op.receive() == "*** mallory was kicked by op ***"


def _token_hook_and_open_door() -> Any:
    """Tokens for op and alice; everyone else gets in without an identity (and may pick a name)."""
    tokens = bearer_tokens({"op-secret": "op", "alice-secret": "alice"}, allow_tcp=True)

    async def hook(info: ConnectionInfo) -> Accept | Reject:
        if info.header("authorization") or info.query("token"):
            return await tokens(info)
        return Accept()  # a guest, no identity

    return hook


async def test_with_authentication_only_the_authenticated_operator_is_one() -> None:
    async with open_test_server(operators=("op",), auth=_token_hook_and_open_door()) as server:
        # A guest cannot log in as op, over any protocol, from anywhere (local ones included).
        guest = await connect(server)
        await guest.receive_until("Enter your name:")
        await guest.send("op")
        assert await guest.receive() == "error: the name op is taken, try another"
        async with open_websocket(server, "/v2") as ws:
            await send(ws, type="login", name="op")
            assert (await recv(ws))["code"] == "name_taken"
        # Another identity cannot use the name either.
        alice_auth = [(b"Authorization", b"Bearer alice-secret")]
        async with open_websocket(server, "/v2", headers=alice_auth) as alice:
            await send(alice, type="login", name="op")
            assert (await recv(alice))["code"] == "login_refused"
            await send(alice, type="login")
            assert (await recv(alice))["type"] == "welcome"
            await recv_type(alice, "room")
            await send(alice, type="ban", name="bob")
            assert (await recv_type(alice, "error"))["code"] == "not_operator"
            # The operator, authenticated by its token, is one.
            async with open_websocket(server, "/v2", headers=[(b"Authorization", b"Bearer op-secret")]) as op:
                await send(op, type="login")
                assert await recv(op) == {"type": "welcome", "name": "op", "protocol": 2}
                await recv_type(op, "room")
                await send(op, type="kick", name="alice", reason="test")
                assert (await recv_type(op, "moderation"))["action"] == "kick"
                assert (await recv_type(alice, "error"))["code"] == "kicked"


def test_operators_without_a_way_to_prove_it_are_refused_at_startup(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(ValueError, match="operators need a way to prove who they are"):
        ChatServer(operators=("op",))
    with pytest.raises(ValueError, match="operator 'bad name'"):
        ChatServer(operators=("bad name",), local_operators=True)
    assert main(["serve", "--operator", "op"]) == 2
    err = capsys.readouterr().err
    assert "operators need a way to prove who they are" in err
    assert "Traceback" not in err


def test_operators_from_flags_and_the_config_file(tmp_path: Any) -> None:
    args = build_parser().parse_args(["serve", "--operator", "op", "--operator", "root", "--local-operators"])
    server = serve.build_server(serve.settings_from(args))
    assert server.config.operators == ("op", "root") and server.config.local_operators
    config = tmp_path / "triochat.toml"
    config.write_text('operators = ["op"]\ntoken = ["s3cret=op"]\n')
    args = build_parser().parse_args(["serve", "--config", str(config)])
    server = serve.build_server(serve.settings_from(args))
    assert server.config.operators == ("op",) and not server.config.local_operators
    config.write_text('operators = "op"\nlocal-operators = true\n')
    assert main(["serve", "--config", str(config)]) == 2


# -- forged reasons and topics -------------------------------------------------------------------


async def test_a_reason_with_line_breaks_and_controls_cannot_forge_lines() -> None:
    async with open_test_server(**OPS) as server:
        bob = await connect(server, "bob")
        alice = await connect(server, "alice")
        await bob.receive_until("*** alice has joined the chat ***")
        async with open_websocket(server, "/v2") as op:
            await send(op, type="login", name="op")
            await recv_type(op, "room")
            await bob.receive_until("*** op has joined the chat ***")
            forged = "spam ***\r\n*** bob was banned by op ***\n\x1b[2Jerror: \u202egotcha"
            await send(op, type="kick", name="alice", reason=forged)
            assert (await recv_type(op, "moderation"))["reason"] == forged  # JSON clients get it as it is
            await send(op, type="topic", text="line one\nerror: line two\x07")
            await recv_type(op, "topic")
        lines = await bob.receive_until("*** op has left the chat ***")
        assert lines[0] == (
            "*** alice was kicked by op (spam ***\\r\\n*** bob was banned by op ***\\n"
            "\\x1b[2Jerror: \\u202egotcha) ***"
        )
        assert lines[1] == "*** alice has left the chat (kicked by op) ***"
        assert lines[2] == "*** op set the topic of #lobby: line one\\nerror: line two\\x07 ***"
        last = await alice.receive_all()
        assert last[-1].startswith("error: you were kicked by op (spam ***\\r\\n*** bob")
        assert all("\n" not in line and "\x1b" not in line for line in lines + last)


# -- bad targets and bad input ---------------------------------------------------------------------


async def test_bad_targets_and_bad_input_get_clear_errors() -> None:
    async with open_test_server(operators=("op", "root"), local_operators=True) as server:
        op = await connect(server, "op")
        root = await connect(server, "root")
        await op.receive_until("*** root has joined the chat ***")
        cases = [
            ("/ban op", "error: you cannot ban yourself"),
            ("/kick OP", "error: you cannot kick yourself"),
            ("/mute op", "error: you cannot mute yourself"),
            ("/kick root", "error: root is an operator: operators cannot be kicked"),
            ("/ban root 1d", "error: root is an operator: operators cannot be banned"),
            ("/kick nobody", "error: there is no user named nobody"),
            ("/mute nobody 5m", "error: there is no user named nobody"),
            ("/unban nobody", "error: nobody is not banned"),
            ("/unmute root", "error: root is not muted in #lobby"),
            ("/kick", "error: usage: /kick NAME [reason]"),
            ("/ban", "error: usage: /ban NAME [duration] [reason]"),
            ("/ban bad!name", "error: name may only contain letters, digits, '_', '-' and '.'"),
            ("/ban bob 10", "error: bad duration '10': use a number and a unit: 30s, 10m, 2h or 1d"),
            ("/ban bob 0m", "error: bad duration '0m': a duration must be more than 0 seconds"),
            (
                "/ban bob 999d",
                "error: bad duration '999d': a duration is at most 366 days (give none for a permanent one)",
            ),
            ("/mute bob 5x", "error: bad duration '5x': use a number and a unit: 30s, 10m, 2h or 1d"),
            ("/mute bob 5m because", "error: usage: /mute NAME [duration], e.g. /mute bob 10m"),
            ("/unban a b", "error: usage: /unban NAME"),
            ("/kick bob " + "x" * 301, "error: a reason is at most 300 characters"),
            ("/topic " + "t" * 301, "error: a topic is at most 300 characters"),
        ]
        for line, answer in cases:
            await op.send(line)
            assert await op.receive() == answer, line
        await trio.testing.wait_all_tasks_blocked()
        assert root.lines_nowait() == []  # nothing happened to the other operator
        async with open_websocket(server, "/v2") as ws:
            await send(ws, type="login", name="op2")
            await recv_type(ws, "room")
            bad_frames: list[tuple[dict[str, Any], str]] = [
                ({"type": "ban", "name": "x", "duration": -1}, "bad_field"),
                ({"type": "ban", "name": "x", "duration": True}, "bad_field"),
                ({"type": "ban", "name": "x", "duration": "soon"}, "bad_field"),
                ({"type": "ban", "name": "x", "duration": 1e300}, "bad_field"),
                ({"type": "ban", "name": "x", "reason": 5}, "bad_field"),
                ({"type": "kick"}, "bad_field"),
                ({"type": "kick", "name": "bad name"}, "bad_name"),
                ({"type": "mute", "name": "x", "room": "no room!"}, "bad_name"),
                ({"type": "topic", "text": ["x"]}, "bad_field"),
            ]
            for frame, code in bad_frames:
                await send(ws, **frame)
                assert (await recv_type(ws, "error"))["code"] == code, frame


async def test_an_operator_muting_in_a_room_that_does_not_exist_is_told() -> None:
    async with open_test_server(**OPS) as server, open_websocket(server, "/v2") as op:
        await send(op, type="login", name="op")
        await recv_type(op, "room")
        await send(op, type="mute", name="op2", room="nowhere")
        assert await recv_type(op, "error") == {
            "type": "error",
            "code": "no_such_room",
            "message": "there is no room #nowhere",
        }


@pytest.mark.parametrize(
    ("peer", "local"),
    [
        ("127.0.0.1:5000", True),
        ("127.8.9.10:1", True),
        ("[::1]:5000", True),
        ("10.0.0.1:5000", False),
        ("[2001:db8::1]:443", False),
        ("[::ffff:203.0.113.7]:1", False),
        ("[::ffff:127.0.0.1]:1", True),
        ("203.0.113.7:40000", False),
        ("/run/triochat.sock", True),
        ("memory", True),
        ("203.0.113.7", False),  # a trusted proxy's X-Forwarded-For client: no port
        ("2001:db8::1", False),
        ("127.0.0.1", True),
        ("::1", True),
    ],
)
def test_which_peers_are_local(peer: str, local: bool) -> None:
    assert is_local_peer(peer) is local


async def test_a_forged_ban_reason_cannot_forge_the_login_refusal() -> None:
    async with open_test_server(**OPS) as server:
        await server.ban("alice", "1h", reason="x)\r\nWelcome alice. Send QUIT or /quit to disconnect.")
        alice = await connect(server)
        await alice.receive_until("Enter your name:")
        await alice.send("alice")
        assert await alice.receive() == (
            "error: alice is banned for 1h more (x)\\r\\nWelcome alice. Send QUIT or /quit to disconnect.)"
        )
        assert await alice.receive() == "Enter your name:"
