"""Server lifecycle bugs: failed binds, accept errors, shutdown races, leave bounds, start()."""

from __future__ import annotations

import errno
import logging
import socket
from typing import Any

import pytest
import trio
import trio.testing

import triochat._server
from triochat import ChatServer, open_chat_server
from triochat.protocol.events import ChatMessage
from triochat.testing import connect, connect_tcp, open_test_server
from triochat.transports import sockets
from triochat.transports.sockets import accept_loop


def _taken_port() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock


async def test_a_failed_bind_closes_the_listeners_already_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[socket.socket] = []
    real_bind_tcp = sockets.bind_tcp

    async def recording_bind_tcp(host: str | None, port: int, **kw: Any) -> list[socket.socket]:
        result = await real_bind_tcp(host, port, **kw)
        opened.extend(result)
        return result

    monkeypatch.setattr(triochat._server, "bind_tcp", recording_bind_tcp)
    with _taken_port() as taken:
        port = taken.getsockname()[1]
        server = ChatServer("127.0.0.1", port, tcp_port=0)
        async with trio.open_nursery() as nursery:
            with pytest.raises(OSError) as raised:
                await nursery.start(server.serve)
    # A plain OSError that says which listener failed, not an ExceptionGroup.
    assert type(raised.value) is OSError
    assert raised.value.errno == errno.EADDRINUSE
    assert f"cannot listen for WebSocket on 127.0.0.1:{port}" in str(raised.value)
    assert opened, "the TCP listener was bound first"
    assert all(sock.fileno() == -1 for sock in opened)
    assert server.listeners == ()


class _FlakyListener(socket.socket):
    """A listening socket whose accept() first fails with the given errors."""

    errors: list[int]

    def accept(self) -> tuple[socket.socket, Any]:
        if self.errors:
            code = self.errors.pop(0)
            raise OSError(code, "injected")
        return super().accept()


PER_CONNECTION = [
    errno.ECONNABORTED,
    errno.ECONNRESET,
    errno.EPROTO,
    errno.ENETDOWN,
    errno.ENOPROTOOPT,
    errno.EHOSTDOWN,
    errno.ENONET,
    errno.EHOSTUNREACH,
    errno.EOPNOTSUPP,
    errno.ENETUNREACH,
    errno.EPERM,
]
CAPACITY = [errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM]


async def test_the_accept_loop_survives_errors_for_one_connection(caplog: pytest.LogCaptureFixture) -> None:
    listener = _FlakyListener(socket.AF_INET, socket.SOCK_STREAM)
    listener.errors = [*PER_CONNECTION, *CAPACITY]
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    accepted: list[socket.socket] = []
    got_one = trio.Event()

    def handle(sock: socket.socket, peer: object) -> None:
        accepted.append(sock)
        got_one.set()

    with listener, caplog.at_level(logging.WARNING, logger="triochat.transports"):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(accept_loop, listener, handle)
            client = await trio.open_tcp_stream("127.0.0.1", listener.getsockname()[1])
            with trio.fail_after(10):
                await got_one.wait()
            nursery.cancel_scope.cancel()
        await client.aclose()
    assert listener.errors == []
    assert len(accepted) == 1
    accepted[0].close()
    capacity_logs = [r for r in caplog.records if "pausing new connections" in r.getMessage()]
    assert len(capacity_logs) == len(CAPACITY)


async def test_a_failing_setsockopt_drops_only_that_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    failures = [OSError(errno.EINVAL, "injected setsockopt failure")]
    real = sockets.set_keepalive

    def flaky_keepalive(sock: socket.socket) -> None:
        if failures:
            raise failures.pop()
        real(sock)

    monkeypatch.setattr(triochat._server, "set_keepalive", flaky_keepalive)
    async with open_test_server(tcp_port=0) as server:
        assert server.tcp_port is not None
        first = await connect_tcp("127.0.0.1", server.tcp_port)
        with trio.fail_after(10):
            assert await first.receive_all() == []  # closed without a word
        await first.aclose()
        assert not failures
        second = await connect_tcp("127.0.0.1", server.tcp_port, "alice")
        await second.send("hello")
        await second.aclose()
        assert server.statistics().connections <= 1


async def test_a_connection_attached_as_the_shutdown_starts_is_told_and_closed() -> None:
    gate = trio.Event()
    late: list[Any] = []
    async with trio.open_nursery() as nursery:
        server = ChatServer("127.0.0.1", 0, tcp_port=None)

        async def stall(message: ChatMessage, ctx: object) -> ChatMessage:
            await gate.wait()
            # The Shutdown request is queued behind this message: a stream
            # attached now is in runtime.connections before its task runs.
            late.append(await connect(server))
            return message

        server.add_middleware(stall)
        await nursery.start(server.serve)
        alice = await connect(server, "alice")
        await alice.send("hello")
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(server.stop)
        await trio.testing.wait_all_tasks_blocked()
        gate.set()
        with trio.fail_after(10):
            await server.join()
    assert server.statistics().handler_errors == 0
    lines = await late[0].receive_all()
    assert any("shutting down" in line for line in lines)


async def test_a_leave_waits_for_a_slow_handler_without_false_errors(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    async def slow(content: str, user: str) -> None:
        await trio.sleep(1000)

    with caplog.at_level(logging.WARNING, logger="triochat.server"):
        async with open_test_server(handler_timeout=10, grace_period=5) as server:
            server.add_handler(slow)
            alice = await connect(server, "alice")
            bob = await connect(server, "bob")
            await alice.send("wake the slow handler")
            await trio.testing.wait_all_tasks_blocked()
            await bob.aclose()
            await trio.sleep(30)
            again = await connect(server, "bob")  # the name was freed
            await again.send("back")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    assert any("took longer" in r.getMessage() for r in caplog.records)


class Boom(BaseException):
    """Not an Exception: what escapes a handler calling something like sys.exit()."""


def test_a_crash_in_a_started_server_surfaces_from_join() -> None:
    async def main() -> None:
        server = ChatServer("127.0.0.1", 0, tcp_port=None)

        async def explode(content: str, user: str) -> None:
            raise Boom("handler gave up")

        server.add_handler(explode)
        await server.start()
        alice = await connect(server, "alice")
        await alice.send("boom")
        with pytest.raises(BaseException) as raised:
            with trio.fail_after(10):
                await server.join()
        assert raised.group_contains(Boom) or isinstance(raised.value, Boom)

    trio.run(main)


async def test_open_chat_server_raises_a_failed_bind_as_a_plain_oserror() -> None:
    with _taken_port() as taken:
        port = taken.getsockname()[1]
        with pytest.raises(OSError) as raised:
            async with open_chat_server("127.0.0.1", 0, tcp_port=port):
                pytest.fail("the block must not run")
    assert type(raised.value) is OSError
    assert f"cannot listen for line protocol on 127.0.0.1:{port}" in str(raised.value)
