"""Starting, stopping and supervising a server."""

import socket

import pytest
import trio
import trio.testing

from triochat import ChatServer, Listener, open_chat_server
from triochat.testing import connect, connect_tcp, open_test_server


async def test_group_terminal_example_runs_under_trio() -> None:
    """group-terminal's documented example with only the import and event loop changed."""
    received: list[tuple[str, str]] = []
    got_one = trio.Event()

    async def handle_message(content: str, username: str) -> None:
        received.append((content, username))
        got_one.set()

    async def example(server: ChatServer) -> None:
        server.add_handler(handle_message)
        await server.start()
        await server.join()

    server = ChatServer(host="127.0.0.1", port=0, tcp_port=0)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(example, server)
            while server.tcp_port is None:
                await trio.testing.wait_all_tasks_blocked()
            assert server.tcp_port is not None
            alice = await connect_tcp("127.0.0.1", server.tcp_port, "alice")
            await alice.send("hello from nc")
            await got_one.wait()
            await server.stop()
            assert await alice.receive_all() == ["*** server is shutting down ***"]
            await alice.aclose()
    assert received == [("hello from nc", "alice")]


async def test_start_raises_when_the_port_is_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = ChatServer(host="127.0.0.1", port=0, tcp_port=taken.getsockname()[1])
        with pytest.raises(OSError):
            await server.start()
        with pytest.raises(OSError):
            await server.join()


async def test_nursery_start_reports_bound_listeners() -> None:
    server = ChatServer("127.0.0.1", 0, tcp_port=0)
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(server.serve)
        assert listeners == server.listeners
        assert [type(x) for x in listeners] == [Listener, Listener]
        listener, ws = listeners
        assert listener.transport == "tcp"
        assert listener.port == server.tcp_port != 0
        assert listener.url == f"tcp://127.0.0.1:{listener.port}"
        assert ws.transport == "ws"
        assert ws.port == server.ws_port != 0
        assert ws.url == f"ws://127.0.0.1:{ws.port}/"
        client = await connect_tcp("127.0.0.1", listener.port, "x")
        await server.stop()
        await client.aclose()
    assert server.listeners == ()
    with pytest.raises(RuntimeError):
        await server.serve()


async def test_graceful_stop_delivers_what_was_accepted_and_tells_everyone() -> None:
    release = trio.Event()

    async def hold_first(content: str, username: str) -> None:
        if content == "m0":
            await release.wait()

    async with open_test_server(rate_limit=None) as server:  # bob sends 50 at once
        server.add_handler(hold_first)
        alice = await connect(server, "alice")
        bob = await connect(server, "bob")
        watcher = await connect(server)
        await alice.receive()
        for n in range(50):
            await bob.send(f"m{n}")
        await trio.testing.wait_all_tasks_blocked()
        # m0 is in the handler, m1..m49 wait in the broadcaster's queue.
        assert server.statistics().inbound_queued == 49
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.stop)
            await trio.testing.wait_all_tasks_blocked()
            release.set()
        lines = await alice.receive_all()
        assert lines == [f"bob: m{n}" for n in range(50)] + ["*** server is shutting down ***"]
        assert await bob.receive_all() == ["*** server is shutting down ***"]
        assert (await watcher.receive_all())[-1] == "*** server is shutting down ***"
        assert server.statistics().connections == 0


async def test_stop_finishes_within_the_grace_period_despite_a_stalled_client(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_test_server(grace_period=3, send_timeout=100) as server:
        stalled_server_side, stalled = trio.testing.lockstep_stream_pair()
        assert server.attach_line_stream(stalled_server_side)
        alice = await connect(server, "alice")
        await trio.testing.wait_all_tasks_blocked()
        start = trio.current_time()
        await server.stop()
        assert trio.current_time() - start <= 3
        assert await alice.receive_all() == ["*** server is shutting down ***"]
        await stalled.aclose()


async def test_open_chat_server_and_statistics() -> None:
    async with open_chat_server("127.0.0.1", 0, tcp_port=0) as server:
        assert server.tcp_port
        alice = await connect(server, "alice")
        bob = await connect(server, "bob")
        await alice.receive()
        await bob.send("hi")
        await alice.receive()
        stats = server.statistics()
        assert stats.connections == 2
        assert stats.users == 2
        assert stats.rooms == 1
        assert stats.messages_in == 1
        assert stats.deliveries >= 2  # the join line and the message
        assert stats.inbound_queued == 0
        assert stats.inbound_capacity == 1024
    assert server.statistics().connections == 0


async def test_server_full_refuses_with_an_error_line() -> None:
    async with open_test_server(tcp_port=0, max_connections=1) as server:
        assert server.tcp_port
        first = await connect(server, "first")
        second = await connect_tcp("127.0.0.1", server.tcp_port)
        assert await second.receive_all() == ["error: the server is full or stopping; try later"]
        await second.aclose()
        await first.aclose()


async def test_unknown_setting_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="unknown ChatServer settings: colour"):
        ChatServer(colour="red")
    with pytest.raises(ValueError):
        ChatServer(outbox_limit=0)


async def test_reset_connection_is_cleaned_up_and_announced_once() -> None:
    async with open_test_server(tcp_port=0) as server:
        assert server.tcp_port
        alice = await connect(server, "alice")
        sock = socket.create_connection(("127.0.0.1", server.tcp_port))
        sock.sendall(b"bob\n")
        assert await alice.receive() == "*** bob has joined the chat ***"
        # An abortive close sends RST instead of FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
        assert await alice.receive() == "*** bob has left the chat ***"
        with trio.move_on_after(0.2):
            await alice.receive()
            pytest.fail("a second leave line arrived")
        assert server.statistics().users == 1
