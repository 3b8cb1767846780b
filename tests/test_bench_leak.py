"""The churn-and-leak scenario, short: it passes against triochat and catches a server that leaks."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator

import pytest
import trio

from benchmarks import loadgen, run


@pytest.fixture(params=["triochat-tcp", "triochat-ws"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, int, int]]:
    """A ``triochat serve`` process as the harness starts it: (subject, port, pid)."""
    subject = run.SUBJECTS[request.param]
    proc, port = run.start_server(subject)
    try:
        yield subject.dialect, port, proc.pid
    finally:
        run.stop_server(proc)


@pytest.mark.timeout(40)
async def test_leak_run_against_triochat_ends_where_it_started(server: tuple[str, int, int]) -> None:
    dialect, port, pid = server
    spec = {"dialect": dialect, "port": port, "server_pid": pid, "cycles": 200, "rss_bound_mib": 8}
    result = await loadgen.leak(spec)
    assert result["problems"] == ""
    assert result["verdict"] == "PASS"
    assert result["cycles"] == 200
    assert result["fds_after"] <= result["fds_before"]
    assert result["client_sockets_after"] == 0
    assert result["users_after"] == 1  # only the probe that asked


@pytest.mark.timeout(20)
async def test_leak_run_fails_a_server_that_keeps_its_connections() -> None:
    kept: list[trio.SocketStream] = []

    async def keep(stream: trio.SocketStream) -> None:
        kept.append(stream)
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        serve = functools.partial(trio.serve_tcp, keep, 0, host="127.0.0.1")
        listeners = await nursery.start(serve)
        port = listeners[0].socket.getsockname()[1]
        spec = {
            "dialect": "tcp-plain",
            "port": port,
            "server_pid": os.getpid(),  # the leaking server runs in this process
            "cycles": 100,
            "rss_bound_mib": 8,
            "settle_limit_s": 0.3,
        }
        result = await loadgen.leak(spec)
        nursery.cancel_scope.cancel()
    for stream in kept:
        await stream.aclose()
    assert result["verdict"] == "FAIL"
    assert result["client_sockets_after"] >= 100
    assert result["fds_after"] >= result["fds_before"] + 100
    assert "client sockets still open" in result["problems"]
    assert "more open fds" in result["problems"]
