"""The test Redis processes themselves: they start, answer, and stop by PID."""

from __future__ import annotations

import socket

from tests.redisproc import _cluster_ok, _ping, start_redis, start_redis_cluster


def test_a_standalone_server_starts_answers_restarts_and_stops() -> None:
    with start_redis() as server:
        assert _ping(server.port).startswith(b"+PONG")
        server.kill()
        assert server.process.poll() is not None
        server.restart()
        assert _ping(server.port).startswith(b"+PONG")
        port = server.port
    with socket.socket() as sock:  # stopped: nothing listens any more
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_a_three_master_cluster_reaches_state_ok() -> None:
    with start_redis_cluster() as cluster:
        assert len(cluster.nodes) == 3
        assert all(_cluster_ok(node.port) for node in cluster.nodes)
    assert all(node.process.poll() is not None for node in cluster.nodes)
