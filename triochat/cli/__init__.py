"""The ``triochat`` command line.

:func:`main` takes the arguments and returns the exit status (0 success, 1 a
runtime failure with a one-line message, 2 bad usage), so it is easy to test;
:func:`run` is the console-script entry point.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import trio

from .._version import __version__
from . import serve


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``triochat`` command."""
    parser = argparse.ArgumentParser(prog="triochat", description="A Trio group chat.")
    parser.add_argument("--version", action="version", version=f"triochat {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    serve_parser = sub.add_parser("serve", help="run a chat server", description="Run a chat server.")
    serve.add_arguments(serve_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with *argv*; return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.command == "serve":
        return _run_serve(args)
    parser.print_usage(sys.stderr)
    return 2


def _run_serve(args: argparse.Namespace) -> int:
    try:
        settings = serve.settings_from(args)
        serve.setup_logging(settings.get("log_level"), settings.get("log_format"))
        server = serve.build_server(settings)
    except serve.UsageError as exc:
        print(f"triochat serve: {exc}", file=sys.stderr)
        return 2
    except serve.StartupError as exc:
        print(f"triochat serve: {exc}", file=sys.stderr)
        return 1
    status = 0
    try:
        status = trio.run(serve.serve, server)
    except* KeyboardInterrupt:
        print("triochat: interrupted, stopped at once", file=sys.stderr)
        status = 130
    except* OSError as group:
        error = _first(group)
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        print(f"triochat: cannot serve on {server.host}: {reason}", file=sys.stderr)
        status = 1
    return status


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
