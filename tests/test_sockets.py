import socket

import pytest
import trio
import trio.testing

from triochat.transports.sockets import SocketStream, accept_loop, bind_tcp


async def _socket_stream_pair() -> tuple[SocketStream, SocketStream]:
    a, b = socket.socketpair()
    return SocketStream(a), SocketStream(b)


async def test_socket_stream_meets_the_trio_stream_contract() -> None:
    await trio.testing.check_half_closeable_stream(_socket_stream_pair, None)


async def test_send_nowait_returns_what_the_kernel_took() -> None:
    a, b = await _socket_stream_pair()
    async with a, b:
        assert a.send_nowait(b"hello") == 5
        assert await b.receive_some(10) == b"hello"
        total = 0
        while True:
            sent = a.send_nowait(b"x" * 65536)
            if sent == 0:
                break
            total += sent
            assert total < 1 << 30
        assert total > 0


async def test_send_nowait_after_peer_reset_raises_broken() -> None:
    a, b = await _socket_stream_pair()
    await b.aclose()
    with pytest.raises(trio.BrokenResourceError):
        for _ in range(10):
            a.send_nowait(b"x" * 1024)
    await a.aclose()
    with pytest.raises(trio.ClosedResourceError):
        a.send_nowait(b"x")


async def test_bind_tcp_port_zero_and_accept() -> None:
    listeners = await bind_tcp("127.0.0.1", 0)
    assert len(listeners) == 1
    port = listeners[0].getsockname()[1]
    assert port != 0
    accepted: list[object] = []
    with listeners[0]:
        async with trio.open_nursery() as nursery:

            def handle(sock: socket.socket, peer: object) -> None:
                accepted.append(peer)
                sock.close()
                nursery.cancel_scope.cancel()

            nursery.start_soon(accept_loop, listeners[0], handle)
            client = await trio.open_tcp_stream("127.0.0.1", port)
            await client.aclose()
    assert len(accepted) == 1


async def test_bind_tcp_port_in_use_raises() -> None:
    first = await bind_tcp("127.0.0.1", 0)
    port = first[0].getsockname()[1]
    with first[0], pytest.raises(OSError):
        await bind_tcp("127.0.0.1", port)
