"""The echo application that conformance suites run against."""

import signal
import sys

import pytest
import trio
from websockets.sync.client import connect as sync_connect

from triochat.transports.wsecho import echo_config, serve_echo

from .wsraw import RawClient, close, deflate, frame, text


def _echo_round(port: int) -> tuple[str | None, object, object]:
    with sync_connect(f"ws://127.0.0.1:{port}/", open_timeout=10, max_size=None) as ws:
        assert ws.response is not None
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
        ws.send("héllo " * 100)
        echoed_text = ws.recv(timeout=10)
        ws.send(bytes(range(256)) * 4000)
        echoed_bytes = ws.recv(timeout=10)
    return extensions, echoed_text, echoed_bytes


@pytest.mark.parametrize("compression", [True, False])
async def test_echo_process_echoes_and_exits_0_on_sigterm(compression: bool) -> None:
    command = [sys.executable, "-m", "triochat.transports.wsecho", "--host", "127.0.0.1", "--port", "0"]
    if not compression:
        command.append("--no-compression")
    process = await trio.lowlevel.open_process(command, stdout=-1)
    try:
        assert process.stdout is not None
        line = b""
        with trio.fail_after(20):
            while not line.endswith(b"\n"):
                chunk = await process.stdout.receive_some(1)
                assert chunk, "the echo server exited before listening"
                line += chunk
        assert line.startswith(b"listening on ws://127.0.0.1:")
        port = int(line.decode().rstrip().rstrip("/").rsplit(":", 1)[1])
        extensions, echoed_text, echoed_bytes = await trio.to_thread.run_sync(_echo_round, port)
        assert echoed_text == "héllo " * 100
        assert echoed_bytes == bytes(range(256)) * 4000
        assert (extensions is not None) is compression
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(20):
            assert await process.wait() == 0
        assert await process.stdout.receive_some() == b""
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        if process.stdout is not None:
            await process.stdout.aclose()


async def test_echo_in_process_keeps_opcode_and_fragments() -> None:
    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve_echo, echo_config("127.0.0.1", 0))
        async with RawClient(await trio.open_tcp_stream("127.0.0.1", port)) as client:
            await client.handshake("/", extensions="permessage-deflate")
            await client.send(text(b"frag", fin=False) + frame(0x9, b"p") + frame(0x0, b"ment"))
            await client.send(frame(0x2, deflate(b"\x00" * 1000), rsv=4))
            pong = await client.read_frame()
            assert pong is not None and pong.opcode == 0xA
            first = await client.next_data()
            assert (first.opcode, first.text()) == (0x1, "fragment")
            second = await client.next_data()
            assert second.opcode == 0x2 and second.rsv1
            await client.send(close(1000))
            frames = await client.read_to_end()
            assert [(f.opcode, f.close_code()) for f in frames] == [(0x8, 1000)]
        nursery.cancel_scope.cancel()
