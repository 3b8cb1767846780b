"""The ``triochat`` command line.

:func:`main` takes the arguments and returns the exit status (0 success, 1 a
runtime failure with a one-line message, 2 bad usage), so it is easy to test;
:func:`run` is the console-script entry point.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import trio

from .._config import DEFAULT_TCP_PORT, DEFAULT_WS_PORT
from .._server import ChatServer
from .._version import __version__

log = logging.getLogger("triochat.cli")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``triochat`` command."""
    parser = argparse.ArgumentParser(prog="triochat", description="A Trio group chat.")
    parser.add_argument("--version", action="version", version=f"triochat {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    serve = sub.add_parser("serve", help="run a chat server", description="Run a chat server.")
    serve.add_argument("--host", default="localhost", help="address to bind (default: localhost)")
    serve.add_argument(
        "--port",
        type=int,
        default=DEFAULT_WS_PORT,
        help=f"WebSocket port (default: {DEFAULT_WS_PORT})",
    )
    serve.add_argument(
        "--tcp-port",
        type=int,
        default=DEFAULT_TCP_PORT,
        help=f"TCP line-protocol port (default: {DEFAULT_TCP_PORT}; 0 picks a free port)",
    )
    serve.add_argument("--no-tcp", action="store_true", help="do not serve the TCP line protocol")
    serve.add_argument("--echo", action="store_true", help="send line users their own messages back")
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="log level (default: info)",
    )
    return parser


async def _serve(server: ChatServer) -> None:
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(server.serve)
        for listener in listeners:
            print(f"triochat serving on {listener.url}", flush=True)
        with trio.open_signal_receiver(*_stop_signals()) as signals:
            async for _ in signals:
                print("triochat: stopping", file=sys.stderr, flush=True)
                break
        await server.stop()


def _stop_signals() -> list[int]:
    import signal

    return [signal.SIGINT, signal.SIGTERM]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with *argv*; return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.command == "serve":
        server = ChatServer(
            args.host, args.port, tcp_port=None if args.no_tcp else args.tcp_port, echo=args.echo
        )
        status = 0
        try:
            trio.run(_serve, server)
        except* KeyboardInterrupt:
            print("triochat: interrupted, stopped at once", file=sys.stderr)
            status = 130
        except* OSError as group:
            error = _first(group)
            reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
            print(f"triochat: cannot serve on {args.host}: {reason}", file=sys.stderr)
            status = 1
        return status
    parser.error(f"unknown command {args.command}")
    return 2


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
