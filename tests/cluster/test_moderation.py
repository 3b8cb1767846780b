"""Bans and topics across nodes: kept in Redis, learned by every node."""

from __future__ import annotations

from typing import Any

import trio

from tests.redisproc import RedisProcess
from tests.test_moderation import closed_with, login, recv, recv_type, send
from triochat._cluster import keys
from triochat.testing import open_websocket

from .conftest import command, open_nodes

OPS: dict[str, Any] = {"operators": ("op",), "local_operators": True}


async def test_a_ban_on_one_node_kicks_the_user_on_another_and_refuses_their_login_there(
    redis_url: str,
) -> None:
    async with (
        open_nodes(redis_url, **OPS) as (one, two),
        open_websocket(one, "/v2") as op,
        open_websocket(two, "/v2") as bob,
        open_websocket(two, "/v2") as carol,
    ):
        await login(op, "op")
        await login(bob, "bob")
        await login(carol, "carol")
        await recv_type(carol, "room")
        await send(op, type="ban", name="bob", duration="1h", reason="spam")
        assert (await recv_type(op, "moderation"))["action"] == "ban"
        notice = await recv_type(op, "notice")
        assert notice["message"] == "bob is not connected to this node; the name is banned on every node"
        # bob is on the other node: it ends his connection, and tells his rooms there
        error = await recv_type(bob, "error")
        assert error == {"type": "error", "code": "banned", "message": "you were banned by op for 1h (spam)"}
        assert await closed_with(bob) == (1008, "banned by op")
        banned = await recv_type(carol, "moderation")
        assert (banned["action"], banned["name"], banned["by"], banned["reason"]) == (
            "ban",
            "bob",
            "op",
            "spam",
        )
        assert banned["duration"] == 3600.0
        # neither node lets the name back in
        for node in (two, one):
            async with open_websocket(node, "/v2") as again:
                await send(again, type="login", name="bob")
                refused = await recv(again)
                assert refused["code"] == "banned", refused
                assert refused["message"].startswith("bob is banned for ")
        # lifted on one node, it is lifted on the other
        await send(op, type="unban", name="bob")
        assert (await recv_type(op, "moderation"))["action"] == "unban"
        with trio.fail_after(10):
            while True:
                async with open_websocket(two, "/v2") as again:
                    await send(again, type="login", name="bob")
                    if (await recv(again))["type"] == "welcome":
                        break
                await trio.sleep(0.05)


async def test_a_node_that_starts_later_reads_the_bans_from_redis(redis: RedisProcess) -> None:
    async with open_nodes(redis.url, count=1, **OPS) as (one,):
        await one.ban("mallory", reason="abuse")
        with trio.fail_after(10):
            while True:
                if command(redis.port, "HLEN", keys.BANS) == ":1\r\n":
                    break
                await trio.sleep(0.02)
        async with open_nodes(redis.url, count=1, **OPS) as (later,), open_websocket(later, "/v2") as ws:
            await send(ws, type="login", name="mallory")
            refused = await recv(ws)
            assert refused == {
                "type": "error",
                "code": "banned",
                "message": "mallory is banned until an operator lifts the ban (abuse)",
            }


async def test_a_topic_set_on_one_node_is_shown_on_the_other(redis_url: str) -> None:
    async with (
        open_nodes(redis_url, **OPS) as (one, two),
        open_websocket(one, "/v2") as op,
        open_websocket(two, "/v2") as bob,
    ):
        await login(op, "op")
        await login(bob, "bob")
        await recv_type(bob, "room")
        await send(op, type="topic", text="ship it")
        assert await recv_type(bob, "topic") == {
            "type": "topic",
            "room": "lobby",
            "text": "ship it",
            "by": "op",
        }
        # a newcomer on the other node sees it on entering the room
        async with open_websocket(two, "/v2") as carol:
            await login(carol, "carol")
            assert await recv_type(carol, "topic") == {
                "type": "topic",
                "room": "lobby",
                "text": "ship it",
                "by": None,
            }
        await send(op, type="topic", text="")
        assert await recv_type(bob, "topic") == {"type": "topic", "room": "lobby", "text": "", "by": "op"}
        async with open_websocket(two, "/v2") as dave:
            await login(dave, "dave")
            await recv_type(dave, "room")
            await send(dave, type="topic")
            assert await recv_type(dave, "topic") == {
                "type": "topic",
                "room": "lobby",
                "text": "",
                "by": None,
            }


async def test_a_ban_made_while_redis_is_down_reaches_the_other_nodes_when_it_is_back(
    redis: RedisProcess,
) -> None:
    async with (
        open_nodes(redis.url, **OPS) as (one, two),
        open_websocket(two, "/v2") as bob,
    ):
        await login(bob, "bob")
        await recv_type(bob, "room")
        assert one._runtime is not None and one._runtime.cluster is not None
        cluster = one._runtime.cluster
        await trio.to_thread.run_sync(redis.stop)
        with trio.fail_after(20):
            while True:
                if not cluster.available:
                    break
                await trio.sleep(0.05)
        await one.ban("bob", reason="while away")
        await trio.to_thread.run_sync(redis.restart)
        error = await recv_type(bob, "error")
        assert error["code"] == "banned"
        assert error["message"] == "you were banned by server for good (while away)"
