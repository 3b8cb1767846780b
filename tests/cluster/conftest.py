"""Fixtures of the cluster tests: one real redis-server for the session, flushed per test."""

from __future__ import annotations

import gc
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from tests.redisproc import RedisCluster, RedisProcess, start_redis, start_redis_cluster
from triochat import ChatServer
from triochat.testing import open_test_server

COREDIS_LEAK = pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <function MemoryObject:pytest.PytestUnraisableExceptionWarning"
)
"""coredis 6.9 makes anyio memory streams for every connection and leaves those of
connections that failed (Redis went away) to the garbage collector, which warns.
Only that warning is ignored, and only in these tests."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the cluster tests with :data:`COREDIS_LEAK`."""
    for item in items:
        if "tests/cluster/" in str(item.path):
            item.add_marker(COREDIS_LEAK)


@pytest.fixture(autouse=True)
def collect_coredis_garbage() -> Iterator[None]:
    """Collect coredis's leftovers while :data:`COREDIS_LEAK` still applies (not in a later test)."""
    yield
    gc.collect()


def flush(port: int) -> None:
    """FLUSHALL on the server at *port* (a plain socket: no client library needed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5.0) as sock:
        sock.sendall(b"FLUSHALL\r\n")
        assert sock.recv(64).startswith(b"+OK")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisProcess]:
    """One standalone redis-server for the whole session (fails when redis-server is missing)."""
    with start_redis() as server:
        yield server


@pytest.fixture
def redis(redis_server: RedisProcess) -> RedisProcess:
    """The session's redis-server, running and empty."""
    if redis_server.process.poll() is not None:
        redis_server.restart()
    flush(redis_server.port)
    return redis_server


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """A local 3-master Redis Cluster for the whole session."""
    with start_redis_cluster() as cluster:
        yield cluster


@pytest.fixture(params=["standalone", "cluster"])
def redis_url(request: pytest.FixtureRequest) -> str:
    """The URL of an empty Redis: standalone, then a 3-master Redis Cluster."""
    if request.param == "standalone":
        server: RedisProcess = request.getfixturevalue("redis")
        return server.url
    cluster: RedisCluster = request.getfixturevalue("redis_cluster")
    for node in cluster.nodes:
        flush(node.port)
    return cluster.url


@asynccontextmanager
async def open_nodes(url: str, count: int = 2, **settings: Any) -> AsyncIterator[list[ChatServer]]:
    """*count* servers in this trio run, one cluster on the Redis at *url*."""
    settings.setdefault("redis_lease", 2.0)
    async with open_test_server(redis_url=url, **settings) as first:
        if count == 1:
            yield [first]
            return
        async with open_nodes(url, count - 1, **settings) as rest:
            yield [first, *rest]


def command(port: int, *args: str) -> str:
    """One command to the Redis at *port* over a plain socket; its raw reply."""
    request = f"*{len(args)}\r\n" + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)
    with socket.create_connection(("127.0.0.1", port), timeout=5.0) as sock:
        sock.sendall(request.encode())
        data = b""
        while not data.endswith(b"\r\n") or (data.startswith(b"$") and data.count(b"\r\n") < 2):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data.decode()


def command_calls(port: int) -> dict[str, int]:
    """``INFO commandstats``: calls per command since the last ``CONFIG RESETSTAT``."""
    calls: dict[str, int] = {}
    for line in command(port, "INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_"):
            name, _, rest = line[len("cmdstat_") :].partition(":")
            calls[name] = int(rest.split(",")[0].removeprefix("calls="))
    return calls
