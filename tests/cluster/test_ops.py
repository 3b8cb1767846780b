"""A node's Redis link in ``/metrics`` and ``/readyz``, with a real Redis stopped and restarted."""

from __future__ import annotations

import trio

from tests.redisproc import RedisProcess
from tests.test_metrics import http_get, scrape
from tests.test_v2 import login, recv, send
from triochat.testing import open_websocket

from .conftest import open_nodes

REDIS_FAMILIES = {
    "triochat_redis_round_trip_seconds": "histogram",
    "triochat_redis_reconnects": "counter",
    "triochat_redis_up": "gauge",
    "triochat_redis_messages_published": "counter",
    "triochat_redis_messages_received": "counter",
}


async def ready(port: int | None) -> tuple[int, str]:
    """``GET /readyz``: the status and the body."""
    assert port is not None
    status, _, body = await http_get(port, "/readyz")
    return status, body.decode()


async def wait_ready(port: int | None, status: int) -> str:
    """Ask ``/readyz`` every 50 ms until it answers *status*; its body."""
    with trio.fail_after(20):
        while True:
            got, body = await ready(port)
            if got == status:
                return body
            await trio.sleep(0.05)


async def test_a_scrape_reports_the_redis_link_and_reconnects_move_after_a_restart(
    redis: RedisProcess,
) -> None:
    async with (
        open_nodes(redis.url) as (one, two),
        open_websocket(one, "/v2") as alice,
        open_websocket(two, "/v2") as bob,
    ):
        before = await scrape(one.ws_port)
        for name, kind in REDIS_FAMILIES.items():
            assert before.types.get(name) == kind, name
        assert before("triochat_redis_up") == 1
        assert before("triochat_redis_reconnects_total") == 0
        await login(alice, "alice")
        await recv(alice)
        await login(bob, "bob")
        await recv(bob)
        for n in range(3):
            await send(alice, type="say", text=f"m{n}")
        with trio.fail_after(10):
            seen = 0
            while seen < 3:
                seen += (await recv(bob))["type"] == "message"
        sender, receiver = await scrape(one.ws_port), await scrape(two.ws_port)
        assert sender("triochat_redis_messages_published_total") == 3
        assert receiver("triochat_redis_messages_received_total") == 3
        assert receiver("triochat_redis_messages_published_total") == 0
        # the logins' claims and the pipelines were timed
        assert sender("triochat_redis_round_trip_seconds_count") >= 2
        assert 0 < sender("triochat_redis_round_trip_seconds_sum") < 10

        await trio.to_thread.run_sync(redis.stop)
        with trio.fail_after(20):
            while True:
                if (await scrape(one.ws_port))("triochat_redis_up") == 0:
                    break
                await trio.sleep(0.05)
        await trio.to_thread.run_sync(redis.restart)
        with trio.fail_after(20):
            while True:
                after = await scrape(one.ws_port)
                if after("triochat_redis_up") == 1:
                    break
                await trio.sleep(0.05)
        assert after("triochat_redis_reconnects_total") >= 1


async def test_readyz_says_redis_unreachable_while_the_link_is_down(redis: RedisProcess) -> None:
    async with open_nodes(redis.url, count=1) as (one,):
        assert await ready(one.ws_port) == (200, "ready\n")
        await trio.to_thread.run_sync(redis.stop)
        body = await wait_ready(one.ws_port, 503)
        assert body == "Redis unreachable\n"
        # /healthz does not depend on Redis
        assert one.ws_port is not None
        assert (await http_get(one.ws_port, "/healthz"))[0] == 200
        await trio.to_thread.run_sync(redis.restart)
        assert await wait_ready(one.ws_port, 200) == "ready\n"
