"""WebSocket connections end with a close frame and an orderly end of the TCP stream."""

import logging

import pytest
import trio
import trio.testing

from triochat.testing import connect, open_test_server

from .wsraw import RawClient, close, text


async def test_quit_when_idle_gets_goodbye_then_close_1000() -> None:
    async with open_test_server() as server, RawClient.attach(server) as client:
        await client.login("alice")
        await client.send_json(type="quit")
        before, _ = await client.expect_close(1000)
        assert [f.json() for f in before] == [{"type": "goodbye", "name": "alice"}]
        await trio.testing.wait_all_tasks_blocked()
        assert server.statistics().users == 0


async def test_quit_when_busy_gets_every_answer_then_goodbye_then_close_1000() -> None:
    async with open_test_server() as server, RawClient.attach(server) as client:
        await client.login("alice")
        # One write: the session queues both before the broadcaster answers either.
        await client.send(text('{"type":"who"}') + text('{"type":"quit"}'))
        before, _ = await client.expect_close(1000)
        assert [f.json()["type"] for f in before] == ["who", "goodbye"]


async def test_quit_over_loopback_ends_tcp_in_order() -> None:
    async with (
        open_test_server(tcp_port=None, port=0, host="127.0.0.1") as server,
        await RawClient.connect(server) as client,
    ):
        await client.login("alice")
        await client.send_json(type="quit")
        before, _ = await client.expect_close(1000)
        assert [f.json()["type"] for f in before] == ["goodbye"]


async def test_server_stop_sends_shutdown_then_close_1001() -> None:
    async with open_test_server() as server, RawClient.attach(server) as client:
        await client.login("alice")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.stop)
            before, _ = await client.expect_close(1001)
        assert [f.json()["type"] for f in before] == ["shutdown"]


async def test_server_stop_over_loopback_never_resets_unread_data() -> None:
    """The client writes while the server stops, then reads everything: no reset."""
    async with (
        open_test_server(tcp_port=None, port=0, host="127.0.0.1") as server,
        await RawClient.connect(server) as client,
    ):
        await client.login("alice")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.stop)
            assert (await client.next_data()).json()["type"] == "shutdown"
            # Bytes the server has not asked for when it ends the connection.
            await client.send(text('{"type":"say","text":"late"}') * 3 + close(1001))
            frames = await client.read_to_end()  # a reset would raise here
        assert [(f.opcode, f.close_code()) for f in frames] == [(0x8, 1001)]


async def test_client_close_is_answered_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="triochat.websocket")
    async with open_test_server() as server:
        watcher = await connect(server, "bob")
        async with RawClient.attach(server) as client:
            await client.login("alice")
            assert await watcher.receive() == "*** alice has joined the chat ***"
            await client.send(close(4321, b"bye now"))
            frames = await client.read_to_end()
            assert [(f.opcode, f.close_code()) for f in frames] == [(0x8, 4321)]
            assert await watcher.receive() == "*** alice has left the chat ***"
    assert any("4321 bye now" in r.getMessage() and "raw" in r.getMessage() for r in caplog.records)


async def test_peer_that_never_answers_the_close_is_closed_after_the_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_test_server() as server, RawClient.attach(server) as client:
        await client.login("alice")
        await client.send_json(type="quit")
        start = trio.current_time()
        frames = await client.read_to_end()
        assert [f.opcode for f in frames] == [0x1, 0x8]
        assert trio.current_time() - start <= 2.5
        await trio.testing.wait_all_tasks_blocked()
        assert server.statistics().connections == 0
