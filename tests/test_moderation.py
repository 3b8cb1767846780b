"""Moderation end to end: operators kick, ban, mute and set topics in every protocol."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
import trio_websocket
from trio_websocket import WebSocketConnection

from triochat import ChatServer, LoginRefused, open_chat_client
from triochat.protocol import commands, linewire
from triochat.protocol.events import ChatMessage, Error
from triochat.testing import LineTestClient, connect, open_test_server, open_websocket

OPS: dict[str, Any] = {"operators": ("op",), "local_operators": True}
"""A server whose operator is ``op``, trusted on local connections (the in-memory ones are)."""


async def recv(ws: WebSocketConnection) -> dict[str, Any]:
    with trio.fail_after(10):
        message = await ws.get_message()
    assert isinstance(message, str)
    obj = json.loads(message)
    assert isinstance(obj, dict)
    return obj


async def recv_type(ws: WebSocketConnection, kind: str) -> dict[str, Any]:
    """The next frame of type *kind*, skipping others (presence, history)."""
    while True:
        frame = await recv(ws)
        if frame["type"] == kind:
            return frame


async def send(ws: WebSocketConnection, **frame: Any) -> None:
    await ws.send_message(json.dumps(frame))


async def login(ws: WebSocketConnection, name: str, protocol: int = 2) -> None:
    await send(ws, type="login", name=name)
    assert await recv(ws) == {"type": "welcome", "name": name, "protocol": protocol}


async def quiet_line(client: LineTestClient) -> None:
    await trio.testing.wait_all_tasks_blocked()
    assert client.lines_nowait() == []


async def closed_with(ws: WebSocketConnection) -> tuple[int | None, str | None]:
    """Read until the server closes; the close code and reason."""
    with trio.fail_after(10):
        while True:
            try:
                await ws.get_message()
            except trio_websocket.ConnectionClosed as closed:
                assert closed.reason is not None
                return closed.reason.code, closed.reason.reason


@asynccontextmanager
async def three(
    **settings: Any,
) -> AsyncIterator[tuple[ChatServer, LineTestClient, LineTestClient, LineTestClient]]:
    """A server with the operator and alice and bob logged in over the line protocol, all read."""
    async with open_test_server(**{**OPS, **settings}) as server:
        op = await connect(server, "op")
        alice = await connect(server, "alice")
        bob = await connect(server, "bob")
        await op.receive_until("*** bob has joined the chat ***")
        await alice.receive_until("*** bob has joined the chat ***")
        yield server, op, alice, bob


# -- kick and ban over the line protocol ---------------------------------------------------


async def test_operator_kicks_over_the_line_protocol() -> None:
    async with three() as (server, op, alice, bob):
        await op.send("/kick alice spamming the room")
        notice = "*** alice was kicked by op (spamming the room) ***"
        assert await op.receive() == notice
        assert await bob.receive() == notice
        assert await alice.receive_all() == ["error: you were kicked by op (spamming the room)"]
        assert await bob.receive() == "*** alice has left the chat (kicked by op) ***"
        assert await op.receive() == "*** alice has left the chat (kicked by op) ***"
        await quiet_line(bob)
        # A kick is not a ban: alice may come back.
        again = await connect(server, "alice")
        await again.send("back")
        assert await bob.receive_until("alice: back")


async def test_operator_bans_over_the_line_protocol_and_the_name_stays_out() -> None:
    async with three() as (server, op, alice, bob):
        await op.send("/ban alice 2h flooding")
        notice = "*** alice was banned by op for 2h (flooding) ***"
        assert await op.receive() == notice
        assert await bob.receive() == notice
        assert await alice.receive_all() == ["error: you were banned by op for 2h (flooding)"]
        assert await bob.receive() == "*** alice has left the chat (banned by op) ***"
        # The name cannot log in again, in any spelling; another name can.
        again = await connect(server)
        await again.receive_until("Enter your name:")
        await again.send("ALICE")
        assert await again.receive() == "error: ALICE is banned for 2h more (flooding)"
        assert await again.receive() == "Enter your name:"
        await again.send("alice2")
        assert await again.receive() == "Welcome alice2. Send QUIT or /quit to disconnect."
        # Nor can someone take it with /nick.
        await bob.receive_until("*** alice2 has joined the chat ***")
        await bob.send("/nick Alice")
        assert await bob.receive() == "error: Alice is banned for 2h more (flooding)"


async def test_unban_lets_the_name_back_in_and_a_permanent_ban_says_so() -> None:
    async with three() as (server, op, alice, _bob):
        await op.send("/ban alice")
        assert await op.receive() == "*** alice was banned by op ***"
        assert await alice.receive_all() == ["error: you were banned by op for good"]
        again = await connect(server)
        await again.receive_until("Enter your name:")
        await again.send("alice")
        assert await again.receive() == "error: alice is banned until an operator lifts the ban"
        await op.receive_until("*** alice has left the chat (banned by op) ***")
        await op.send("/unban alice")
        assert await op.receive() == "*** alice was unbanned by op ***"
        await again.receive()  # the prompt
        await again.send("alice")
        assert await again.receive() == "Welcome alice. Send QUIT or /quit to disconnect."


async def test_bans_end_by_themselves() -> None:
    now = [1_000_000.0]
    async with three() as (server, op, alice, _bob):
        assert server._runtime is not None
        server._runtime.broadcaster.moderation.clock = lambda: now[0]  # wall-clock time, for bans
        await op.send("/ban alice 30s")
        assert await op.receive() == "*** alice was banned by op for 30s ***"
        await alice.receive_all()
        now[0] += 29.5
        late = await connect(server)
        await late.receive_until("Enter your name:")
        await late.send("alice")
        assert await late.receive() == "error: alice is banned for 1s more"
        await late.receive()
        now[0] += 1
        await late.send("alice")
        assert await late.receive() == "Welcome alice. Send QUIT or /quit to disconnect."


# -- kick and ban over /v2 (and what v1 and group-terminal users see) -------------------------


async def test_operator_kicks_and_bans_over_v2() -> None:
    async with (
        open_test_server(**OPS) as server,
        open_websocket(server, "/v2") as op,
        open_websocket(server, "/v2") as bob,
        open_websocket(server, "/v1") as carol,
        open_websocket(server, "/ws/dave") as dave,
    ):
        await login(op, "op")
        await login(bob, "bob")
        await login(carol, "carol", protocol=1)
        await send(dave, type="connect", username="dave")
        assert (await recv(dave))["success"] is True
        async with open_websocket(server, "/v2") as alice:
            await login(alice, "alice")
            await recv_type(op, "joined")
            await send(op, type="kick", name="alice", reason="off topic")
            kicked = {
                "type": "moderation",
                "action": "kick",
                "name": "alice",
                "by": "op",
                "reason": "off topic",
                "duration": None,
                "room": None,
            }
            assert await recv_type(op, "moderation") == kicked
            assert await recv_type(bob, "moderation") == kicked
            assert await recv_type(carol, "moderation") == kicked
            shown = await recv_type(dave, "chat_message")
            while shown.get("code") != "moderation":
                shown = await recv_type(dave, "chat_message")
            assert shown == {
                "type": "chat_message",
                "content": "*** alice was kicked by op (off topic) ***",
                "sender": "server",
                "agent": True,
                "code": "moderation",
            }
            assert await recv_type(alice, "error") == {
                "type": "error",
                "code": "kicked",
                "message": "you were kicked by op (off topic)",
            }
            assert await closed_with(alice) == (1008, "kicked by op")
        left = await recv_type(bob, "left")
        assert left["name"] == "alice" and left["reason"] == "kicked by op"

        async with open_websocket(server, "/v2") as alice:
            await login(alice, "alice")
            await recv_type(op, "joined")
            await send(op, type="ban", name="alice", duration="1d", reason="again")
            banned = await recv_type(bob, "moderation")
            assert banned["action"] == "ban" and banned["duration"] == 86400.0
            assert banned["reason"] == "again"
            error = await recv_type(alice, "error")
            assert error["code"] == "banned" and error["message"] == "you were banned by op for 1d (again)"
            assert await closed_with(alice) == (1008, "banned by op")
        # A banned user cannot log back in, whatever the protocol.
        async with open_websocket(server, "/v2") as alice:
            await send(alice, type="login", name="alice")
            assert await recv(alice) == {
                "type": "error",
                "code": "banned",
                "message": "alice is banned for 1d more (again)",
            }
            await send(alice, type="login", name="alice3")  # the connection stays open for another name
            assert (await recv(alice))["type"] == "welcome"
        async with open_websocket(server, "/v1") as alice:
            await send(alice, type="login", name="alice")
            assert (await recv(alice))["code"] == "banned"
        async with open_websocket(server, "/ws/alice") as alice:
            await send(alice, type="connect", username="alice")
            assert await recv(alice) == {
                "type": "connect_response",
                "success": False,
                "message": "alice is banned for 1d more (again)",
            }


async def test_a_ban_of_a_name_that_is_not_connected_holds_and_is_confirmed() -> None:
    async with open_test_server(**OPS) as server:
        op = await connect(server, "op")
        await op.send("/ban mallory 10m")
        assert await op.receive() == "*** mallory was banned by op for 10m ***"
        assert await op.receive() == "*** mallory is not connected; the name is banned ***"
        mallory = await connect(server)
        await mallory.receive_until("Enter your name:")
        await mallory.send("mallory")
        assert await mallory.receive() == "error: mallory is banned for 10m more"


# -- bans and topics across restarts --------------------------------------------------------


async def test_bans_and_topics_survive_a_restart_with_sqlite(tmp_path: Path) -> None:
    store = f"sqlite:{tmp_path / 'chat.db'}"
    async with open_test_server(store=store, **OPS) as server:
        op = await connect(server, "op")
        await op.send("/ban alice 1d spam")
        await op.send("/ban carol")
        await op.send("/topic release on Friday")
        await op.receive_until("*** op set the topic of #lobby: release on Friday ***")
        await op.send("/unban carol")
        await op.receive_until("*** carol was unbanned by op ***")
    async with open_test_server(store=store, **OPS) as server:
        alice = await connect(server)
        await alice.receive_until("Enter your name:")
        await alice.send("alice")
        line = await alice.receive()
        assert line.startswith("error: alice is banned for ") and line.endswith(" more (spam)")
        carol = await connect(server)
        await carol.receive_until("Enter your name:")
        await carol.send("carol")
        assert await carol.receive() == "Welcome carol. Send QUIT or /quit to disconnect."
        assert await carol.receive() == "*** topic of #lobby: release on Friday ***"
        await server.unban("alice")
        await alice.receive()
        await alice.send("alice")
        assert await alice.receive() == "Welcome alice. Send QUIT or /quit to disconnect."


async def test_with_the_memory_store_bans_last_for_the_run() -> None:
    async with open_test_server(**OPS) as server:
        await server.ban("alice")
        for attempt in range(2):  # across reconnects
            alice = await connect(server)
            await alice.receive_until("Enter your name:")
            await alice.send("alice")
            assert await alice.receive() == "error: alice is banned until an operator lifts the ban", attempt
            await alice.aclose()
    async with open_test_server(**OPS) as server:
        await connect(server, "alice")


# -- mutes -------------------------------------------------------------------------------


async def test_mutes_expire(autojump_clock: trio.testing.MockClock) -> None:
    async with three() as (_, op, alice, bob):
        await op.send("/mute alice 10m")
        notice = "*** alice was muted in #lobby by op for 10m ***"
        assert await op.receive() == notice
        assert await bob.receive() == notice
        assert await alice.receive() == notice
        await alice.send("can I talk?")
        assert await alice.receive() == "error: you are muted in #lobby for 10m more; nothing was sent"
        await alice.send("/me waves")
        assert (await alice.receive()).startswith("error: you are muted in #lobby")
        await alice.send("/msg bob private messages still go")
        assert await bob.receive() == "[private] alice: private messages still go"
        assert await alice.receive() == "[private to bob] private messages still go"
        await quiet_line(op)
        await trio.sleep(9 * 60)
        await alice.send("still?")
        assert await alice.receive() == "error: you are muted in #lobby for 1m more; nothing was sent"
        await trio.sleep(61)
        ended = "*** alice was unmuted in #lobby by server (the mute ended) ***"
        assert op.lines_nowait() == [ended]  # told when it ended, not when she next spoke
        assert bob.lines_nowait() == [ended]
        assert alice.lines_nowait() == [ended]
        await alice.send("free again")
        assert await bob.receive() == "alice: free again"
        assert await op.receive() == "alice: free again"


async def test_a_renewed_or_lifted_mute_does_not_end_early(autojump_clock: trio.testing.MockClock) -> None:
    async with three() as (server, op, alice, bob):
        await op.send("/mute alice 1m")
        await bob.receive()
        await trio.sleep(30)
        await op.send("/mute alice 10m")  # renewed: ends 10 minutes from now, not at 1m
        await bob.receive()
        await op.send("/mute bob 1m")
        await op.send("/unmute bob")  # lifted: nothing more is said when its time would be up
        await bob.receive_until("*** bob was unmuted in #lobby by op ***")
        await trio.sleep(5 * 60)
        assert bob.lines_nowait() == []
        await alice.send("still muted?")
        assert await alice.receive_until("error: you are muted in #lobby for 5m more; nothing was sent")
        await trio.sleep(5 * 60 + 1)
        assert bob.lines_nowait() == ["*** alice was unmuted in #lobby by server (the mute ended) ***"]
        await server.mute("bob", "lobby", "1h")  # still muted when the server stops: nothing hangs


async def test_mute_is_per_room_and_unmute_ends_it() -> None:
    async with three() as (_, op, alice, bob):
        await op.send("/mute alice")
        assert await bob.receive() == "*** alice was muted in #lobby by op until unmuted ***"
        await alice.receive()
        await alice.send("/join dev")
        await bob.send("/join dev")
        await alice.receive_until("*** bob has joined #dev ***")
        await alice.send("in dev I can talk")
        assert await bob.receive_until("alice: in dev I can talk")
        await alice.send("/join lobby")
        await alice.receive_until("*** you now talk in #lobby ***")
        await alice.send("not in lobby")
        assert (await alice.receive()).startswith(
            "error: you are muted in #lobby until an operator unmutes you"
        )
        await op.send("/unmute alice")
        assert await alice.receive() == "*** alice was unmuted in #lobby by op ***"
        await alice.send("now I can")
        assert await op.receive_until("alice: now I can")


# -- topics ---------------------------------------------------------------------------------


async def test_topic_is_shown_on_join_and_on_change_in_every_protocol() -> None:
    async with three() as (server, op, alice, bob):
        await alice.send("/topic")
        assert await alice.receive() == "*** #lobby has no topic ***"
        await op.send("/topic Welcome! Be nice.")
        changed = "*** op set the topic of #lobby: Welcome! Be nice. ***"
        assert await op.receive() == changed
        assert await alice.receive() == changed
        assert await bob.receive() == changed
        await bob.send("/topic")
        assert await bob.receive() == "*** topic of #lobby: Welcome! Be nice. ***"
        newcomer = await connect(server, "carol")
        assert await newcomer.receive() == "*** topic of #lobby: Welcome! Be nice. ***"
        async with open_websocket(server, "/v2") as dave:
            await login(dave, "dave")
            assert (await recv(dave))["type"] == "room"
            assert await recv(dave) == {
                "type": "topic",
                "room": "lobby",
                "text": "Welcome! Be nice.",
                "by": None,
            }
            await send(dave, type="topic")
            assert await recv(dave) == {
                "type": "topic",
                "room": "lobby",
                "text": "Welcome! Be nice.",
                "by": None,
            }
            await op.send("/topic -")
            assert await recv_type(dave, "topic") == {
                "type": "topic",
                "room": "lobby",
                "text": "",
                "by": "op",
            }
        assert await bob.receive_until("*** op cleared the topic of #lobby ***")


async def test_an_operator_sets_the_topic_of_a_named_room_over_v2() -> None:
    async with (
        open_test_server(**OPS) as server,
        open_websocket(server, "/v2") as op,
        open_websocket(server, "/ws/gina") as gina,
    ):
        await login(op, "op")
        await send(gina, type="connect", username="gina")
        await recv(gina)
        await send(op, type="join", room="dev")
        await recv_type(op, "room")
        await send(op, type="topic", text="ship it")
        assert (await recv_type(op, "error"))["code"] == "room_required"
        await send(op, type="topic", text="ship it", room="lobby")
        assert await recv_type(op, "topic") == {
            "type": "topic",
            "room": "lobby",
            "text": "ship it",
            "by": "op",
        }
        shown = await recv_type(gina, "chat_message")
        while shown.get("code") != "topic":
            shown = await recv_type(gina, "chat_message")
        assert shown["content"] == "*** op set the topic of #lobby: ship it ***"


# -- help ---------------------------------------------------------------------------------------


async def test_operator_commands_are_in_help_only_for_operators() -> None:
    async with three() as (_, op, alice, _bob):
        await op.send("/help")
        lines = await op.receive_until("Durations: 30s, 10m, 2h, 1d.")
        assert "Operator commands:" in lines
        assert any(line.startswith("  /ban NAME [duration] [reason]") for line in lines)
        await alice.send("/help")
        lines = await alice.receive_until("Start a line with // to send text that begins with /.")
        assert "  /topic            show the topic of this room" in lines
        await quiet_line(alice)
        assert not any("/kick" in line or "/ban" in line for line in lines)


# -- the API and a moderation bot -------------------------------------------------------------


async def test_a_moderation_bot_in_the_chain_bans_whoever_says_a_bad_word() -> None:
    async with open_test_server() as server:

        async def no_bad_words(message: ChatMessage, ctx: Any) -> ChatMessage | None:
            if "frobnicate" in message.content:
                await server.ban(message.sender, "1h", reason="bad word", by="modbot")
                return None
            return message

        server.add_middleware(no_bad_words)
        alice = await connect(server, "alice")
        bob = await connect(server, "bob")
        await alice.receive_until("*** bob has joined the chat ***")
        await alice.send("let us frobnicate")
        assert await bob.receive() == "*** alice was banned by modbot for 1h (bad word) ***"
        assert await alice.receive_all() == ["error: you were banned by modbot for 1h (bad word)"]
        assert await bob.receive() == "*** alice has left the chat (banned by modbot) ***"
        again = await connect(server)
        await again.receive_until("Enter your name:")
        await again.send("alice")
        assert await again.receive() == "error: alice is banned for 1h more (bad word)"
        await bob.send("fine words")
        await quiet_line(bob)


async def test_the_api_from_outside_a_handler() -> None:
    async with three() as (server, _op, _alice, bob):
        await server.set_topic("lobby", "api topic")
        assert await bob.receive() == "*** server set the topic of #lobby: api topic ***"
        await server.mute("alice", "lobby", 30)
        assert await bob.receive() == "*** alice was muted in #lobby by server for 30s ***"
        await server.unmute("alice", "lobby")
        assert await bob.receive() == "*** alice was unmuted in #lobby by server ***"
        await server.kick("alice", reason="api", by="admin")
        assert await bob.receive() == "*** alice was kicked by admin (api) ***"
        await server.kick("nobody")  # nothing to do, no error
        await server.unban("nobody")
        await server.mute("alice", "nowhere")
        await bob.receive_until("*** alice has left the chat (kicked by admin) ***")
        await quiet_line(bob)
        with pytest.raises(ValueError, match="may only contain"):
            await server.ban("bad name")
        with pytest.raises(ValueError, match="bad duration"):
            await server.ban("x", "forever")
        with pytest.raises(ValueError, match="more than 0"):
            await server.mute("x", "lobby", -5)
        with pytest.raises(ValueError, match="at most"):
            await server.kick("x", reason="r" * 1000)


@pytest.mark.parametrize("scheme", ["tcp", "ws"])
async def test_chat_client_operators_over_real_loopback_sockets(scheme: str) -> None:
    async with open_test_server(tcp_port=0, **OPS) as server:
        port = server.tcp_port if scheme == "tcp" else server.ws_port
        url = f"{scheme}://127.0.0.1:{port}"
        async with open_chat_client(url, name="op") as op, open_chat_client(url, name="alice") as alice:
            await op.command(commands.Topic("be kind"))
            await op.command(commands.Ban("alice", 600.0, "testing"))
            seen: list[str] = []
            with trio.fail_after(10):
                async for event in op:
                    seen.append(linewire.event_text(event))  # what a user reads, whatever the wire
                    if "alice was banned" in seen[-1]:
                        break
            assert seen[-2:] == [
                "*** op set the topic of #lobby: be kind ***",
                "*** alice was banned by op for 10m (testing) ***",
            ]
            async for event in alice:
                if isinstance(event, Error) and "banned" in event.text:
                    assert event.code in ("banned", "error")
                    assert event.text == "you were banned by op for 10m (testing)"
                    break
        with pytest.raises(LoginRefused) as refused:
            async with open_chat_client(url, name="alice"):
                pass
        assert refused.value.code == "banned"


async def test_a_ban_between_claiming_the_name_and_entering_keeps_the_user_out() -> None:
    gate = trio.Event()
    async with open_test_server() as server:

        async def slow(message: ChatMessage, ctx: Any) -> ChatMessage | None:
            if message.content == "hold":
                await gate.wait()  # alice claims her name and queues her login meanwhile
                await server.ban("alice", reason="pre-emptive")
                return None
            return message

        server.add_middleware(slow)
        bob = await connect(server, "bob")
        await bob.send("hold")
        alice = await connect(server)
        await alice.receive_until("Enter your name:")
        await alice.send("alice")
        assert await alice.receive() == "Welcome alice. Send QUIT or /quit to disconnect."
        await trio.testing.wait_all_tasks_blocked()
        gate.set()
        assert await alice.receive_all() == ["error: you were banned by server for good (pre-emptive)"]
        await bob.send("after")
        await trio.testing.wait_all_tasks_blocked()
        assert bob.lines_nowait() == []  # no join, no leave: alice never entered


async def test_moderation_and_refused_banned_logins_are_in_the_access_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="triochat.access")
    async with three() as (server, op, _alice, _bob):
        await op.send("/ban alice 1h spam")
        await op.receive_until("*** alice has left the chat (banned by op) ***")
        again = await connect(server)
        await again.receive_until("Enter your name:")
        await again.send("alice")
        await again.receive()
    messages = [r.getMessage() for r in caplog.records if r.name == "triochat.access"]
    assert "ban alice by op for 1h: spam" in messages
    assert "refused alice (tcp memory): alice is banned for 1h more (spam)" in messages
