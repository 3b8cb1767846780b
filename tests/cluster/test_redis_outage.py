"""Redis stops and comes back mid-traffic: nothing accepted is lost or doubled."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from typing import Any

import trio

from tests.redisproc import RedisProcess
from tests.test_v2 import login, recv, send
from triochat.testing import open_websocket

from .conftest import open_nodes

TOTAL = 240


async def test_redis_restarting_mid_traffic_loses_and_doubles_nothing_it_accepted(
    redis: RedisProcess,
) -> None:
    refused: dict[str, str] = {}
    echoed: Counter[str] = Counter()
    received: Counter[str] = Counter()
    async with (
        open_nodes(redis.url, rate_limit=None) as (one, two),
        open_websocket(one, "/v2") as alice,
        open_websocket(two, "/v2") as bob,
    ):
        await login(alice, "alice")
        await recv(alice)
        await login(bob, "bob")
        await recv(bob)
        settled = trio.Event()

        async def read(ws: Any, into: Counter[str], errors: dict[str, str] | None) -> None:
            while True:
                frame = json.loads(await ws.get_message())
                if frame["type"] == "message" and frame["from"] == "alice":
                    into[frame["text"]] += 1
                elif frame["type"] == "error" and errors is not None:
                    assert frame["code"] == "unavailable", frame
                    errors[f"refusal {len(errors)}"] = frame["message"]
                if len(refused) + len(received) >= TOTAL and set(echoed) == set(received):
                    settled.set()

        async def outage() -> None:
            await trio.to_thread.run_sync(redis.stop)
            await trio.sleep(1.0)  # the outage: real time, Redis is a real process
            await trio.to_thread.run_sync(redis.restart)

        with trio.fail_after(45):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(read, alice, echoed, refused)
                nursery.start_soon(read, bob, received, None)
                for n in range(TOTAL):
                    if n == TOTAL // 4:
                        nursery.start_soon(outage)
                    await send(alice, type="say", text=f"m{n}")
                    await trio.sleep(0.01)  # a steady rate of real traffic
                # Wait until every message was either refused or seen by both.
                await settled.wait()
                # Anything doubled would arrive now: read on for a moment.
                await trio.sleep(0.5)
                nursery.cancel_scope.cancel()
    sent = {f"m{n}" for n in range(TOTAL)}
    assert set(received) <= sent
    assert max(received.values()) == 1 and max(echoed.values()) == 1, "a message came twice"
    assert set(echoed) == set(received)
    # Redis was really away: some messages were refused, and most got through.
    assert refused, "no message was refused while Redis was down"
    assert len(received) > TOTAL // 4
    assert f"m{TOTAL - 1}" in received, "chat did not resume after Redis came back"
    # Every message was either delivered or refused (refusals name no message,
    # so the counts must add up exactly, allowing those that may have gone through).
    maybe = sum("may not have been delivered" in text for text in refused.values())
    assert TOTAL - maybe <= len(received) + len(refused) - maybe <= TOTAL


async def test_redis_that_lost_its_data_restarts_every_room_anew_and_knows_the_users_again(
    redis: RedisProcess,
) -> None:
    async with (
        open_nodes(redis.url) as (one, two),
        open_websocket(one, "/v2") as alice,
        open_websocket(two, "/v2") as bob,
    ):
        await login(alice, "alice")
        await recv(alice)
        await login(bob, "bob")
        first = await recv(bob)
        await send(alice, type="say", text="before")
        with trio.fail_after(10):
            frame = await recv(bob)
            while frame["type"] != "message":
                frame = await recv(bob)
        assert (frame["seq"], frame["epoch"]) == (1, first["epoch"])

        def wipe() -> None:
            redis.stop()
            for path in redis.directory.iterdir():
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            redis.restart()

        await trio.to_thread.run_sync(wipe)
        with trio.fail_after(20):
            # each node notices that the room's log started anew, and says so
            for ws in (alice, bob):
                frame = await recv(ws)
                while frame["type"] != "room":
                    frame = await recv(ws)
                assert frame["recovered"] is False and frame["epoch"] != first["epoch"]
                assert frame["members"] == ["alice", "bob"]  # both nodes told Redis who they hold
            new_epoch = frame["epoch"]
            await send(alice, type="say", text="after")
            frame = await recv(bob)
            while frame["type"] != "message":
                frame = await recv(bob)
        assert (frame["text"], frame["seq"], frame["epoch"]) == ("after", 1, new_epoch)
        # the names came back too: alice is still taken, cluster-wide
        async with open_websocket(two, "/v2") as other:
            await send(other, type="login", name="alice")
            with trio.fail_after(10):
                assert (await recv(other))["code"] == "name_taken"
