"""Names, membership and presence are cluster-wide (nodes in one trio run, one Redis)."""

from __future__ import annotations

import trio

from tests.redisproc import RedisProcess
from tests.test_v2 import recv, send
from triochat.testing import LineTestClient, connect, open_websocket

from .conftest import open_nodes


async def try_login(client: LineTestClient, name: str) -> bool:
    """Answer the name prompt; True if welcomed, False if told the name is taken."""
    await client.receive_until("Enter your name:")
    await client.send(name)
    while True:
        line = await client.receive()
        if line.startswith("Welcome "):
            return True
        if "taken" in line:
            return False


async def test_a_name_in_use_on_another_node_is_refused_and_never_evicts_the_owner(
    redis: RedisProcess,
) -> None:
    async with open_nodes(redis.url) as (one, two), open_websocket(two, "/v2") as ws:
        alice = await connect(one, "alice")
        with trio.fail_after(10):
            second = await connect(two)
            assert not await try_login(second, "ALICE")
            await send(ws, type="login", name="alice")
            assert (await recv(ws))["code"] == "name_taken"
            # the owner is still there and still chats
            bob = await connect(two, "bob")
            await alice.send("still here")
            await bob.receive_until("alice: still here")


async def test_a_name_is_free_everywhere_once_its_owner_leaves(redis: RedisProcess) -> None:
    async with open_nodes(redis.url) as (one, two):
        alice = await connect(one, "alice")
        watcher = await connect(two, "watcher")
        with trio.fail_after(10):
            await alice.receive_until("*** watcher has joined the chat ***")
            await alice.send("/quit")
            await watcher.receive_until("*** alice has left the chat ***")
            again = await connect(two)
            assert await try_login(again, "alice")


async def test_many_concurrent_logins_of_one_name_on_two_nodes_one_wins(redis: RedisProcess) -> None:
    results: list[bool] = []
    async with open_nodes(redis.url) as nodes:

        async def attempt(n: int) -> None:
            client = await connect(nodes[n % 2])
            results.append(await try_login(client, "Highlander"))

        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                for n in range(40):
                    nursery.start_soon(attempt, n)
    assert len(results) == 40
    assert results.count(True) == 1


async def test_renames_claim_the_new_name_then_free_the_old_one_cluster_wide(redis: RedisProcess) -> None:
    async with open_nodes(redis.url) as (one, two):
        alice = await connect(one, "alice")
        bob = await connect(two, "bob")
        with trio.fail_after(10):
            await bob.send("/nick alice")  # taken on node one
            await bob.receive_until("error: the name alice is taken")
            await bob.send("/nick robert")
            await alice.receive_until("*** bob is now known as robert ***")
            taker = await connect(one)
            assert not await try_login(taker, "robert")
            other = await connect(one)
            assert await try_login(other, "bob")


async def test_joins_leaves_who_and_rooms_are_cluster_wide(redis: RedisProcess) -> None:
    async with open_nodes(redis.url) as (one, two):
        alice = await connect(one, "alice")
        bob = await connect(two, "bob")
        with trio.fail_after(10):
            await alice.send("/join dev")
            await alice.receive_until("*** you are in #dev with 1: alice ***")
            await bob.send("/join DEV")
            await bob.receive_until("*** you are in #dev with 2: alice, bob ***")
            await alice.receive_until("*** bob has joined #dev ***")
            await alice.send("/rooms")
            await alice.receive_until("*** rooms: #dev (2) [here], #lobby (2) [joined] ***")
            await bob.send("/part dev")
            await alice.receive_until("*** bob has left #dev ***")
            await alice.send("/who")
            await alice.receive_until("*** 1 in #dev: alice ***")


async def test_a_node_follows_only_rooms_with_members_on_it(redis: RedisProcess) -> None:
    async with open_nodes(redis.url) as (one, two):
        alice = await connect(one, "alice")
        bob = await connect(two, "bob")
        with trio.fail_after(10):
            await alice.send("/join dev")
            await alice.receive_until("*** you are in #dev with 1: alice ***")
            await alice.send("only for dev")
            await bob.send("/rooms")
            await bob.receive_until("*** rooms: #dev (1), #lobby (2) [here] ***")
        assert one._runtime is not None and two._runtime is not None
        cluster_one, cluster_two = one._runtime.cluster, two._runtime.cluster
        assert cluster_one is not None and cluster_two is not None
        assert set(cluster_one.feeds) == {"lobby", "dev"}
        assert set(cluster_two.feeds) == {"lobby"}  # nobody here is in #dev
