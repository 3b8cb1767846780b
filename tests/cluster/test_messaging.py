"""Nodes in one trio run, one real Redis: chat, order, history and handlers across nodes."""

from __future__ import annotations

from typing import Any

import trio

from tests.redisproc import RedisProcess
from tests.test_recovery import chat_messages, ws_url
from tests.test_v2 import login, recv, send
from triochat import ChatClient, ChatMessage, HandlerContext, open_chat_client
from triochat._cluster import codec, keys
from triochat.protocol.events import Joined
from triochat.testing import connect, open_websocket

from .conftest import command, command_calls, open_nodes


async def frames_until(ws: Any, kind: str, count: int = 1) -> list[dict[str, Any]]:
    """Frames up to and including the *count*-th of type *kind*."""
    got: list[dict[str, Any]] = []
    seen = 0
    while seen < count:
        got.append(await recv(ws))
        seen += got[-1]["type"] == kind
    return got


async def sees_join(client: ChatClient, name: str) -> None:
    """Wait until *client* is told that *name* joined."""
    with trio.fail_after(10):
        async for event in client:
            if isinstance(event, Joined) and event.name == name:
                return
    raise AssertionError("the stream ended")


async def test_line_users_on_two_nodes_chat_as_one(redis_url: str) -> None:
    async with open_nodes(redis_url) as (one, two):
        alice = await connect(one, "alice")
        bob = await connect(two, "bob")
        with trio.fail_after(10):
            await bob.send("hello from two")
            await alice.receive_until("bob: hello from two")
            await alice.send("hello from one")
            await bob.receive_until("alice: hello from one")
            # Without echo, nobody gets their own line back; /who is cluster-wide.
            await bob.send("/who")
            lines = await bob.receive_until("*** 2 in #lobby: alice, bob ***")
        assert not any(line.startswith("bob: ") for line in lines), lines


async def test_every_member_sees_one_order_with_the_rooms_positions(redis_url: str) -> None:
    async with (
        open_nodes(redis_url) as (one, two),
        open_websocket(one, "/v2") as alice,
        open_websocket(two, "/v2") as bob,
    ):
        await login(alice, "alice")
        room_a = await recv(alice)
        await login(bob, "bob")
        room_b = await recv(bob)
        assert room_a["epoch"] == room_b["epoch"]
        for n in range(10):
            await send(alice, type="say", text=f"a{n}")
            await send(bob, type="say", text=f"b{n}")
        seen_a = [f for f in await frames_until(alice, "message", 20) if f["type"] == "message"]
        seen_b = [f for f in await frames_until(bob, "message", 20) if f["type"] == "message"]
        order_a = [(f["seq"], f["text"]) for f in seen_a]
        assert order_a == [(f["seq"], f["text"]) for f in seen_b]
        assert [seq for seq, _ in order_a] == list(range(1, 21))
        assert {f["epoch"] for f in seen_a + seen_b} == {room_a["epoch"]}
        assert sorted(text for _, text in order_a) == sorted(
            [f"a{n}" for n in range(10)] + [f"b{n}" for n in range(10)]
        )


async def test_history_and_recovery_read_the_rooms_log_on_any_node(redis_url: str) -> None:
    async with open_nodes(redis_url, join_history=3) as (one, two):
        async with open_chat_client(ws_url(one), name="bob") as bob:
            async with open_chat_client(ws_url(two), name="alice") as alice:
                await sees_join(bob, "alice")  # alice is in: what follows is live for her
                for n in range(5):
                    await bob.send(f"m{n}")
                got = await chat_messages(alice, 5)
                assert [m.seq for m in got] == [1, 2, 3, 4, 5]
                positions = dict(alice.positions)
            async with open_chat_client(ws_url(one), name="watcher") as watcher:
                for n in range(5, 8):
                    await bob.send(f"m{n}")
                # once the watcher has them, node one has all eight
                while (await chat_messages(watcher, 1))[0].content != "m7":
                    pass
            # alice comes back on the other node: exactly what she missed
            async with open_chat_client(ws_url(one), name="alice", rooms=positions) as again:
                missed = await chat_messages(again, 3)
                assert [(m.seq, m.content, m.history) for m in missed] == [
                    (6, "m5", True),
                    (7, "m6", True),
                    (8, "m7", True),
                ]
                assert again.recovered == {"lobby": True}
        # a newcomer on node two gets the room's recent history
        async with open_chat_client(ws_url(two), name="carol") as carol:
            recent = await chat_messages(carol, 3)
            assert [(m.seq, m.content) for m in recent] == [(6, "m5"), (7, "m6"), (8, "m7")]


async def test_v2_history_paging_reads_the_room_log(redis_url: str) -> None:
    async with (
        open_nodes(redis_url, join_history=0) as (one, two),
        open_websocket(one, "/v2") as alice,
    ):
        await login(alice, "alice")
        await recv(alice)
        for n in range(6):
            await send(alice, type="say", text=f"m{n}")
        async with open_websocket(two, "/v2") as bob:
            await login(bob, "bob")
            room = await recv(bob)
            assert room["type"] == "room"
            with trio.fail_after(10):
                while True:
                    await send(bob, type="history", room="lobby", before=7, limit=4)
                    page = await recv(bob)
                    while page["type"] != "history":
                        page = await recv(bob)
                    if len(page["messages"]) == 4:
                        break
                    await trio.sleep(0.05)
            assert [m["seq"] for m in page["messages"]] == [3, 4, 5, 6]


async def test_handlers_run_once_on_the_entry_node_and_replies_reach_every_node(
    redis_url: str,
) -> None:
    calls: list[tuple[str, str]] = []
    async with open_nodes(redis_url) as (one, two):
        for node, label in ((one, "one"), (two, "two")):

            async def shout(message: ChatMessage, ctx: HandlerContext, label: str = label) -> ChatMessage:
                calls.append((label, message.content))
                if message.content == "ping":
                    ctx.broadcast("pong", sender="bot")
                return message

            node.add_middleware(shout)
        alice = await connect(one, "alice")
        bob = await connect(two, "bob")
        await bob.send("ping")
        with trio.fail_after(10):
            await alice.receive_until("bot: pong")
            await bob.receive_until("bot: pong")
        await one.send_message("from the app", "app", room="lobby")
        with trio.fail_after(10):
            await bob.receive_until("app: from the app")
        assert calls == [("two", "ping")]


async def test_private_messages_reach_users_on_other_nodes(redis_url: str) -> None:
    async with open_nodes(redis_url) as (one, two):
        alice = await connect(one, "alice")
        bob = await connect(two, "bob")
        await alice.send("/msg bob psst")
        with trio.fail_after(10):
            await bob.receive_until("[private] alice: psst")
        await alice.send("/msg nobody hello")
        with trio.fail_after(10):
            got = ""
            while "nobody" not in got:
                got = await alice.receive()
            assert got.startswith("error:"), got


async def test_one_script_call_per_message_whatever_the_number_of_nodes(redis: RedisProcess) -> None:
    count = 200
    # A long lease: the keepers' lease checks (REAP, an EVALSHA per other node every
    # lease/3, 5 s here) stay out of the count even when a loaded machine makes the test slow.
    async with open_nodes(redis.url, count=3, rate_limit=None, redis_lease=15.0) as nodes:
        alice = await connect(nodes[0], "alice")
        watchers = [await connect(node, f"watcher{n}") for n, node in enumerate(nodes[1:])]
        await alice.send("warm up")
        for watcher in watchers:
            with trio.fail_after(10):
                await watcher.receive_until("alice: warm up")
        assert command(redis.port, "CONFIG", "RESETSTAT").startswith("+OK")
        for n in range(count):
            await alice.send(f"m{n}")
        for watcher in watchers:
            with trio.fail_after(20):
                await watcher.receive_until(f"alice: m{count - 1}")
        calls = command_calls(redis.port)
    # one EVALSHA per message; inside it one XADD and one PUBLISH, received by every node
    assert calls["evalsha"] == count, calls
    assert calls["xadd"] == calls["publish"] == count, calls
    assert "script|exists" not in calls and "xrange" not in calls, calls


async def test_a_message_lost_by_pub_sub_is_read_from_the_stream_in_its_place(redis: RedisProcess) -> None:
    async with (
        open_nodes(redis.url) as (one, two),
        open_websocket(one, "/v2") as alice,
        open_websocket(two, "/v2") as bob,
    ):
        await login(alice, "alice")
        await recv(alice)
        await login(bob, "bob")
        entered = await recv(bob)
        # What the publish script does, without the PUBLISH: as if pub/sub lost it.
        key = "lobby"
        seq = command(redis.port, "HINCRBY", keys.meta_key(key), "seq", "1")
        assert seq == ":1\r\n"
        lost = ChatMessage(0, 1.0, "ghost", "lobby", "lost on the way")
        body = codec.encode_entry(lost, "elsewhere")
        command(redis.port, "XADD", keys.log_key(key), "1-0", "e", entered["epoch"], "m", body)
        await send(alice, type="say", text="next")
        with trio.fail_after(10):
            got = [f for f in await frames_until(bob, "message", 2) if f["type"] == "message"]
        assert [(f["seq"], f["text"]) for f in got] == [(1, "lost on the way"), (2, "next")]
