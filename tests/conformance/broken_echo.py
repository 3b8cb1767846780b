"""A deliberately wrong echo server for the runner's own tests: it answers every message with one
character too many.

Same command-line contract as ``python -m triochat.transports.wsecho`` (``--host``, ``--port``,
``--no-compression``; prints ``listening on ws://HOST:PORT/``; exits 0 on SIGTERM), so the
runner must start it, stop it, and report the echo cases it fails.
"""

from __future__ import annotations

import argparse
import signal
import sys

import trio
from trio_websocket import ConnectionClosed, WebSocketRequest, WebSocketServer, serve_websocket


async def _echo_one_more(request: WebSocketRequest) -> None:
    ws = await request.accept()
    while True:
        try:
            message = await ws.get_message()
            await ws.send_message(message + "!" if isinstance(message, str) else message + b"!")
        except ConnectionClosed:
            return


async def _serve(host: str, port: int, task_status: trio.TaskStatus[WebSocketServer]) -> None:
    await serve_websocket(_echo_one_more, host, port, None, task_status=task_status)


async def _main(host: str, port: int) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            server: WebSocketServer = await nursery.start(_serve, host, port)
            print(f"listening on ws://{host}:{server.port}/", flush=True)
            async for _ in signals:
                nursery.cancel_scope.cancel()
                break


def main() -> int:
    """Serve until SIGTERM or SIGINT; exit 0."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--no-compression", action="store_true")
    args = parser.parse_args()
    trio.run(_main, args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
