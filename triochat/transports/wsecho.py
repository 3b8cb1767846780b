"""A WebSocket echo server on triochat's own connection code, for conformance suites.

``python -m triochat.transports.wsecho --host 127.0.0.1 --port PORT [--no-compression]``
prints ``listening on ws://HOST:PORT/`` once it accepts connections, then
sends every text or binary message back (same opcode, compressed when
permessage-deflate was agreed) until SIGINT or SIGTERM.  Each connection runs
in a :class:`~triochat._runtime.Runtime` connection task over a
:class:`~triochat.transports.wsconn.WebSocketLink`, exactly as chat clients
do; only the session differs.
"""

from __future__ import annotations

import argparse
import functools
import signal
import socket
import sys

import trio

from .._config import ServerConfig
from .._connection import Connection
from .._runtime import Runtime
from ..protocol.events import Event
from ..protocol.wsdeflate import message_frame
from ..protocol.wsframe import OP_BINARY, OP_TEXT
from ..protocol.wshandshake import PlainRequest
from .sockets import SocketStream, accept_loop, bind_tcp
from .wsconn import WebSocketLink

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""The largest message echoed (the conformance suite's biggest is 16 MiB)."""


def _no_wire(event: Event) -> bytes:
    return b""


async def echo_session(runtime: Runtime, conn: Connection, stream: trio.abc.Stream) -> None:
    """Accept any WebSocket request and echo its messages until it closes."""
    config = runtime.config
    link = WebSocketLink(
        conn, stream, max_message_bytes=config.max_message_bytes, compression=config.compression
    )
    try:
        with trio.move_on_after(config.handshake_timeout):
            request = await link.receive_request()
            if isinstance(request, PlainRequest):
                link.refuse(426, headers=[(b"Upgrade", b"websocket")], body=b"a WebSocket echo server")
            elif request is not None:
                link.accept(None)
        if not link.opened:
            return
        bits = None if link.deflate is None else link.deflate.compression_window
        while (message := await link.next_message()) is not None:
            if isinstance(message, str):
                conn.outbox.push(message_frame(OP_TEXT, message.encode("utf-8"), bits))
            else:
                conn.outbox.push(message_frame(OP_BINARY, message, bits))
    except trio.Cancelled:
        link.start_closing(1001, "going away")
        raise
    finally:
        link.start_closing(1000, "")
        with trio.CancelScope(shield=True):
            await link.finish()


def echo_config(host: str, port: int, *, compression: bool = True) -> ServerConfig:
    """Settings for the echo server: big messages, big outboxes, no keepalive."""
    return ServerConfig(
        host=host,
        port=port,
        tcp_port=None,
        compression=compression,
        max_message_bytes=MAX_MESSAGE_BYTES,
        outbox_limit=4 * MAX_MESSAGE_BYTES,
        ping_interval=None,
    )


async def serve_echo(
    config: ServerConfig, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve the echo application until cancelled; reports the bound port."""
    runtime = Runtime(config, [])
    sockets = await bind_tcp(config.host, config.port)
    try:
        async with trio.open_nursery() as nursery:
            runtime.nursery = nursery

            def accept(sock: socket.socket, peer: object) -> None:
                stream = SocketStream(sock)
                if not runtime.spawn(
                    stream, peer=str(peer), transport="ws", wire=_no_wire, session=echo_session, echo=False
                ):
                    sock.close()

            for sock in sockets:
                nursery.start_soon(accept_loop, sock, accept)
            task_status.started(int(sockets[0].getsockname()[1]))
    finally:
        for sock in sockets:
            sock.close()


async def _main(host: str, port: int, compression: bool) -> None:
    config = echo_config(host, port, compression=compression)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            bound = await nursery.start(serve_echo, config)
            print(f"listening on ws://{host}:{bound}/", flush=True)
            async for _ in signals:
                nursery.cancel_scope.cancel()
                break


def main(argv: list[str] | None = None) -> int:
    """Run the echo server; exit status 0 after SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m triochat.transports.wsecho", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--no-compression", action="store_true", help="decline permessage-deflate")
    args = parser.parse_args(argv)
    try:
        trio.run(functools.partial(_main, args.host, args.port, not args.no_compression))
    except OSError as exc:
        print(f"wsecho: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
