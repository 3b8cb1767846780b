"""The ``triochat`` command line.

:func:`main` takes the arguments and returns the exit status (0 success, 1 a
runtime failure with a one-line message, 2 bad usage), so it is easy to test;
:func:`run` is the console-script entry point.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from collections.abc import Sequence

import trio

from .._store import StoreError
from .._version import __version__
from . import bench, serve


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``triochat`` command."""
    parser = argparse.ArgumentParser(prog="triochat", description="A Trio group chat.")
    parser.add_argument("--version", action="version", version=f"triochat {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    serve_parser = sub.add_parser("serve", help="run a chat server", description="Run a chat server.")
    serve.add_arguments(serve_parser)
    chat_parser = sub.add_parser(
        "chat",
        help="chat in a terminal (or as a line filter)",
        description=(
            "Chat on a triochat server. On a terminal: an input line with editing and history, "
            "messages above it. Otherwise each input line is sent and each message printed as a "
            "line; end of input quits."
        ),
    )
    chat_parser.add_argument("url", help="ws://HOST:PORT, wss://..., tcp://HOST:PORT or tcps://...")
    chat_parser.add_argument(
        "--name", help="your name (asked for on a terminal if left out; a --token may decide it)"
    )
    chat_parser.add_argument("--token", help="a bearer token for servers that require one (WebSocket)")
    chat_parser.add_argument(
        "--no-reconnect", action="store_true", help="exit when the connection is lost instead of retrying"
    )
    chat_parser.add_argument(
        "--cafile", metavar="FILE", help="trust the CA certificates in FILE (PEM) for wss:// and tcps://"
    )
    bench_parser = sub.add_parser(
        "bench",
        help="run the benchmark harness",
        description=(
            "Run benchmark scenarios against triochat and its peers (from a source checkout). "
            "Needs the bench extra: pip install 'triochat[bench]'."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=bench.scenario_help(),
    )
    bench.add_arguments(bench_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with *argv*; return the exit status."""
    parser = build_parser()
    try:
        args, extras = parser.parse_known_args(argv)
        if extras:
            # Report them with the subcommand's usage, not the top-level one.
            _subparser(parser, args.command).error(f"unrecognized arguments: {' '.join(extras)}")
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.command == "serve":
        return _run_serve(args)
    if args.command == "chat":
        return _run_chat(parser, args)
    if args.command == "bench":
        return bench.run_bench(args)
    parser.print_usage(sys.stderr)
    return 2


def _run_chat(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from urllib.parse import urlsplit

    from ..protocol.names import name_problem
    from .chat import run_chat, usage_problem

    if urlsplit(args.url).scheme not in ("ws", "wss", "tcp", "tcps"):
        print(f"triochat chat: {args.url!r} is not a ws://, wss://, tcp:// or tcps:// URL", file=sys.stderr)
        return 2
    if problem := usage_problem(args.url, args.name, args.token, args.cafile):
        print(f"triochat chat: {problem}", file=sys.stderr)
        return 2
    if args.name is not None and (problem := name_problem(args.name)):
        print(f"triochat chat: {problem}", file=sys.stderr)
        return 2
    try:
        return trio.run(
            functools.partial(
                run_chat,
                args.url,
                args.name,
                token=args.token,
                reconnect=not args.no_reconnect,
                cafile=args.cafile,
            )
        )
    except KeyboardInterrupt:
        print("triochat: interrupted", file=sys.stderr)
        return 130


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen: argparse.ArgumentParser = action.choices[command]
            return chosen
    return parser


def _run_serve(args: argparse.Namespace) -> int:
    say = serve.error_reporter(getattr(args, "log_format", None))
    try:
        settings = serve.settings_from(args)
        say = serve.error_reporter(settings.get("log_format"))
        serve.setup_logging(settings.get("log_level"), settings.get("log_format"))
        server = serve.build_server(settings)
    except serve.UsageError as exc:
        say(f"triochat serve: {exc}")
        return 2
    except serve.StartupError as exc:
        say(f"triochat serve: {exc}")
        return 1
    status = 0
    try:
        status = trio.run(serve.serve, server)
    except* KeyboardInterrupt:
        say("triochat: interrupted, stopped at once")
        status = 130
    except* StoreError as group:
        say(f"triochat serve: {_first(group)}")
        status = 1
    except* OSError as group:
        say(f"triochat serve: {serve.describe_os_error(_first(group), server.host)}")
        status = 1
    except* Exception:
        logging.getLogger("triochat.cli").exception("triochat serve stopped with an unexpected error")
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
