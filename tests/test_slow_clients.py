"""A slow or stalled reader is cut off; nobody else notices."""

import pytest
import trio
import trio.testing

from triochat import ChatServer
from triochat.testing import LineTestClient, connect, connect_tcp, open_test_server


async def test_stalled_reader_among_active_ones_is_cut_off_on_overflow() -> None:
    with trio.fail_after(40):
        await _stalled_among_active()


async def _stalled_among_active() -> None:
    # The sender floods on purpose: no flood control here.
    async with open_test_server(
        tcp_port=0, outbox_limit=32 * 1024, send_timeout=30, rate_limit=None
    ) as server:
        port = server.tcp_port
        assert port is not None
        stalled = await connect_tcp("127.0.0.1", port, "stalled", receive_buffer=4096)
        readers = [await connect_tcp("127.0.0.1", port, f"reader{i}") for i in range(5)]
        sender = await connect(server, "sender")
        for reader in readers:
            await reader.receive_until("*** sender has joined the chat ***")

        payload = "x" * 500
        left_line = "*** stalled has left the chat (too slow: outbox overflow) ***"

        async def read_all(reader: LineTestClient, out: list[str]) -> None:
            while True:
                line = await reader.receive()
                out.append(line)
                if line == "sender: END":
                    return

        received: list[list[str]] = [[] for _ in readers]
        sent = 0
        async with trio.open_nursery() as nursery:
            for reader, out in zip(readers, received, strict=True):
                nursery.start_soon(read_all, reader, out)
            # The kernel buffers megabytes per socket on loopback; send until
            # the stalled client's outbox overflows (bounded), then a bit more.
            while server.statistics().slow_disconnects == 0 and sent < 40_000:
                await sender.send(f"{sent} {payload}")
                sent += 1
            for _ in range(100):
                await sender.send(f"{sent} {payload}")
                sent += 1
            await sender.send("END")
        stats = server.statistics()
        assert stats.slow_disconnects == 1
        assert stats.outbox_max_bytes <= 32 * 1024
        expected = [f"sender: {n} {payload}" for n in range(sent)]
        for out in received:
            assert [line for line in out if line.startswith("sender: ") and line != "sender: END"] == expected
            # Everyone else was told, once, why the stalled client left.
            assert [line for line in out if not line.startswith("sender: ")] == [left_line]
        assert left_line in await sender.receive_until(left_line)
        for client in (stalled, sender, *readers):
            await client.aclose()


async def _connect_lockstep(server: ChatServer) -> tuple[trio.abc.Stream, trio.abc.Stream]:
    server_side, client_side = trio.testing.lockstep_stream_pair()
    assert server.attach_line_stream(server_side)
    return server_side, client_side


async def test_stalled_reader_is_cut_off_at_its_send_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_test_server(send_timeout=5) as server:
        alice = await connect(server, "alice")
        _, raw = await _connect_lockstep(server)
        # A lockstep stream delivers only while the peer reads: read the
        # greeting and log in, then never read again.
        async with trio.open_nursery() as nursery:
            nursery.start_soon(raw.send_all, b"slowpoke\n")
            buffer = b""
            while b"Welcome slowpoke" not in buffer:
                buffer += await raw.receive_some()
        assert await alice.receive() == "*** slowpoke has joined the chat ***"
        start = trio.current_time()
        await alice.send("are you there?")
        assert await alice.receive() == "*** slowpoke has left the chat (too slow: send deadline missed) ***"
        assert trio.current_time() - start == pytest.approx(5)
        assert server.statistics().slow_disconnects == 1
        await raw.aclose()
