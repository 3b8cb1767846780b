"""What the logs tell an operator: logins, refusals and cut-offs, with their reasons."""

import logging
import re

import pytest
import trio

from triochat import ServerConfig
from triochat._connection import Connection
from triochat._runtime import Runtime
from triochat.auth import Accept, ConnectionInfo, Reject
from triochat.protocol import linewire
from triochat.testing import connect_tcp, open_test_server

ACCESS = "triochat.access"


def access_messages(caplog: pytest.LogCaptureFixture, level: int = logging.INFO) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == ACCESS and r.levelno >= level]


async def test_login_name_taken_and_logout_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="triochat")
    with trio.fail_after(10):
        async with open_test_server(tcp_port=0) as server:
            assert server.tcp_port is not None
            alice = await connect_tcp("127.0.0.1", server.tcp_port, "alice")
            copycat = await connect_tcp("127.0.0.1", server.tcp_port)
            await copycat.receive_until("Enter your name:")
            await copycat.send("ALICE")
            assert "taken" in await copycat.receive()
            await alice.send("/quit")
            await alice.receive_until("Goodbye alice.")
            await alice.aclose()
            await copycat.aclose()
    messages = access_messages(caplog)
    peer = r"\(tcp 127\.0\.0\.1:\d+\)"
    assert any(_matches(rf"login alice {peer}", m) for m in messages), messages
    assert any(_matches(rf"refused ALICE {peer}: name taken", m) for m in messages), messages
    assert any(_matches(rf"logout alice {peer}: left", m) for m in messages), messages
    assert any(r.levelno == logging.DEBUG and "connection from" in r.getMessage() for r in caplog.records)


async def test_idle_cut_off_is_logged_with_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="triochat")
    with trio.fail_after(10):
        async with open_test_server(tcp_port=0, idle_timeout=0.2) as server:
            assert server.tcp_port is not None
            sleepy = await connect_tcp("127.0.0.1", server.tcp_port, "sleepy")
            await sleepy.receive_until("error: idle for 0.2 s; closing")
            await sleepy.aclose()
    assert any(_matches(r"logout sleepy \(tcp [^)]*\): idle", m) for m in access_messages(caplog))


async def test_slow_reader_cut_off_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="triochat")
    with trio.fail_after(40):
        async with open_test_server(
            tcp_port=0, outbox_limit=8 * 1024, send_timeout=30, rate_limit=None
        ) as server:
            assert server.tcp_port is not None
            stalled = await connect_tcp("127.0.0.1", server.tcp_port, "stalled", receive_buffer=4096)
            talker = await connect_tcp("127.0.0.1", server.tcp_port, "talker")
            payload = "x" * 3000
            sent = 0
            while server.statistics().slow_disconnects == 0 and sent < 20_000:
                await talker.send(payload)
                sent += 1
            await talker.receive_until("*** stalled has left the chat (too slow: outbox overflow) ***")
            await stalled.aclose()
            await talker.aclose()
    warnings = access_messages(caplog, logging.WARNING)
    assert any(_matches(r"cutting off stalled \(tcp [^)]*\): too slow: outbox overflow", m) for m in warnings)
    assert any(
        _matches(r"logout stalled \(tcp [^)]*\): too slow: outbox overflow", m)
        for m in access_messages(caplog)
    )


async def test_auth_rejections_and_a_full_server_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="triochat")

    async def nobody(info: ConnectionInfo) -> Accept | Reject:
        return Reject(403, "nobody gets in")

    with trio.fail_after(10):
        async with open_test_server(tcp_port=0, auth=nobody) as server:
            assert server.tcp_port is not None
            refused = await connect_tcp("127.0.0.1", server.tcp_port)
            assert "nobody gets in" in await refused.receive()
            await refused.aclose()
        async with open_test_server(tcp_port=0, max_connections=1) as server:
            assert server.tcp_port is not None
            first = await connect_tcp("127.0.0.1", server.tcp_port, "first")
            second = await connect_tcp("127.0.0.1", server.tcp_port)
            assert "full" in await second.receive()
            await second.aclose()
            await first.aclose()
    messages = access_messages(caplog)
    assert any(
        _matches(r"refused 127\.0\.0\.1:\d+ \(tcp -\): authentication: 403 nobody gets in", m)
        for m in messages
    )
    assert any(
        _matches(r"refused 127\.0\.0\.1:\d+ \(tcp\): server full", m)
        for m in access_messages(caplog, logging.WARNING)
    )


def _matches(pattern: str, message: str) -> bool:
    return re.fullmatch(pattern, message) is not None


async def test_claim_name_refuses_and_logs_an_invalid_name(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="triochat")
    runtime = Runtime(ServerConfig(), [])
    conn = Connection(peer="10.0.0.1:5000", transport="ws", wire=linewire.encode_event, echo=False)
    assert not runtime.claim_name(conn, "bad name!")
    assert not conn.registered
    assert access_messages(caplog) == [
        "refused bad name! (ws 10.0.0.1:5000): invalid name: "
        "name may only contain letters, digits, '_', '-' and '.'"
    ]
    assert runtime.claim_name(conn, "good")
    assert access_messages(caplog)[-1] == "login good (ws 10.0.0.1:5000)"
