"""/healthz and /readyz over real loopback sockets, and /readyz during a graceful stop."""

from __future__ import annotations

from pathlib import Path

import trio
import trio.testing

from triochat import ChatServer
from triochat._runtime import Runtime
from triochat._store import StoreError
from triochat._store.sqlite import SqliteStore
from triochat.testing import open_test_server

from .test_metrics import UPGRADE, http_get
from .wsraw import RawClient


def _runtime_of(server: ChatServer) -> Runtime:
    runtime = server._runtime
    assert runtime is not None
    return runtime


async def test_healthz_and_readyz_answer_200_on_a_running_server() -> None:
    async with open_test_server(tcp_port=0) as server:
        assert server.ws_port is not None
        assert await http_get(server.ws_port, "/healthz") == (
            200,
            {
                "content-type": "text/plain; charset=utf-8",
                "cache-control": "no-store",
                "content-length": "3",
                "connection": "close",
            },
            b"ok\n",
        )
        status, _, body = await http_get(server.ws_port, "/readyz")
        assert (status, body) == (200, b"ready\n")
        status, fields, body = await http_get(server.ws_port, "/readyz", "HEAD")
        assert (status, fields["content-length"], body) == (200, "6", b"")


async def test_readyz_reports_each_failing_check_with_503() -> None:
    async with open_test_server() as server:
        assert server.ws_port is not None
        health = _runtime_of(server).health
        health.checks.append(lambda: "redis: unreachable (connection refused)")
        health.checks.append(lambda: None)

        def broken() -> str | None:
            raise RuntimeError("oops")

        health.checks.append(broken)
        status, _, body = await http_get(server.ws_port, "/readyz")
        assert status == 503
        assert body == b"redis: unreachable (connection refused)\nbroken failed: oops\n"
        # Liveness is another question: the process still serves.
        assert (await http_get(server.ws_port, "/healthz"))[0] == 200


async def test_readyz_is_503_when_the_store_cannot_be_written(tmp_path: Path) -> None:
    async with open_test_server(store=f"sqlite:{tmp_path / 'chat.db'}") as server:
        assert server.ws_port is not None
        store = _runtime_of(server).broadcaster.store
        assert isinstance(store, SqliteStore)
        assert (await http_get(server.ws_port, "/readyz"))[0] == 200
        store.failure = StoreError("cannot write store: disk full")
        try:
            status, _, body = await http_get(server.ws_port, "/readyz")
        finally:
            store.failure = None  # let the server close the store cleanly
        assert (status, body) == (503, b"store: cannot write store: disk full\n")


async def _readyz_during_a_graceful_stop(server: ChatServer, health_port: int) -> None:
    """Stop *server* while a WebSocket client is connected (and does not answer the close)."""
    assert server.ws_port is not None
    ws_port = server.ws_port
    async with await RawClient.connect(server) as client:
        await client.login("lingering")
        assert (await http_get(health_port, "/readyz"))[0] == 200
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.stop)
            await trio.testing.wait_all_tasks_blocked()
            # The client is still connected: the server waits for its close frame.
            assert server.statistics().connections == 1
            status, _, body = await http_get(health_port, "/readyz")
            assert (status, body) == (503, b"stopping: the server is draining its clients\n")
            assert (await http_get(health_port, "/healthz"))[0] == 200
            # New clients are turned away with 503 on the WebSocket port meanwhile.
            with trio.fail_after(10):
                newcomer = await trio.open_tcp_stream("127.0.0.1", ws_port)
                async with newcomer:
                    await newcomer.send_all(UPGRADE)
                    assert (await newcomer.receive_some()).startswith(b"HTTP/1.1 503 ")
            assert server.statistics().connections == 1
            await client.stream.aclose()  # the client goes: the stop completes
    assert server.listeners == ()


async def test_readyz_is_503_as_soon_as_a_graceful_stop_begins() -> None:
    async with open_test_server(grace_period=30) as server:
        assert server.ws_port is not None
        await _readyz_during_a_graceful_stop(server, server.ws_port)


async def test_readyz_on_the_metrics_port_is_503_during_a_graceful_stop() -> None:
    async with open_test_server(grace_period=30, metrics_port=0) as server:
        (http,) = [listener for listener in server.listeners if listener.transport == "http"]
        await _readyz_during_a_graceful_stop(server, http.port)
