"""The churn-and-leak scenario, short: it passes against triochat and catches a server that leaks."""

from __future__ import annotations

import functools
import os
import resource
from collections.abc import Iterator

import pytest
import trio

from benchmarks import loadgen, procstat, run


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


async def _closing_handshake_server(stream: trio.SocketStream) -> None:
    """Speaks just enough triochat-over-WebSocket; after ``quit`` it sends a close frame
    and closes TCP only once the client has answered with its own (as RFC 6455 servers do)."""
    buffer = b""

    async def until(marker: bytes) -> None:
        nonlocal buffer
        while marker not in buffer:
            data = await stream.receive_some(65536)
            if not data:
                raise trio.BrokenResourceError
            buffer += data
        buffer = buffer[buffer.index(marker) + len(marker) :]

    await until(b"\r\n\r\n")
    await stream.send_all(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    )
    await until(b'"login"')
    welcome = b'{"type": "welcome"}'
    await stream.send_all(bytes([0x81, len(welcome)]) + welcome)
    await until(b'"quit"')
    goodbye = b'{"type": "goodbye"}'
    await stream.send_all(bytes([0x81, len(goodbye)]) + goodbye + b"\x88\x02\x03\xe8")
    with trio.move_on_after(5):
        await until(b"\x88\x82")  # the client's close frame: FIN + close, masked, 2 bytes
        await stream.aclose()
        return
    await trio.sleep_forever()


@pytest.mark.timeout(20)
async def test_a_polite_leave_answers_the_servers_close_frame() -> None:
    async with trio.open_nursery() as nursery:
        serve = functools.partial(trio.serve_tcp, _closing_handshake_server, 0, host="127.0.0.1")
        listeners = await nursery.start(serve)
        port = listeners[0].socket.getsockname()[1]
        with trio.fail_after(1.5):
            answered = await loadgen._cycle(loadgen.DIALECTS["triochat-ws"], port, "ann", polite=True)
        nursery.cancel_scope.cancel()
    assert answered


def test_the_fd_limit_is_raised_for_10k_clients_or_the_shortfall_said() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY:
        with pytest.raises(RuntimeError, match=rf"needs {hard + 1} open files, but the limit is {hard}"):
            procstat.raise_fd_limit(hard + 1)
    assert procstat.raise_fd_limit(min(soft, 1024)) >= soft
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= soft
