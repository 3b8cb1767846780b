"""``triochat serve``: run a server from flags and/or a TOML file."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import ssl
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import trio

from .._config import DEFAULT_TCP_PORT, DEFAULT_WS_PORT, ServerConfig
from .._ratelimit import DEFAULT_BURST, DEFAULT_RATE, RateLimit
from .._server import ChatServer
from ..auth import AuthHook, any_of, basic_auth, bearer_tokens


class UsageError(Exception):
    """Bad settings: reported as one line, exit status 2."""


class StartupError(Exception):
    """A file the settings name cannot be used: one line, exit status 1."""


@dataclass(frozen=True)
class _Option:
    flag: str
    setting: str
    kind: Callable[[str], Any]
    help: str


OFF = "off"
"""What ``--idle-timeout off`` and ``--ping-interval off`` parse to (``None`` means "not given")."""
OPTIONAL_TIMES = ("idle_timeout", "ping_interval", "rate_limit")


def _seconds_or_off(text: str) -> float | str:
    return OFF if text.lower() in ("off", "none", "0") else float(text)


MAX_PORT = 65535


def port_number(text: str) -> int:
    """A TCP port from the command line: 0 (any free port) to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"{port} is not a port: use 0-{MAX_PORT} (0 picks a free port)")
    return port


OPTIONS = [
    _Option(
        "--host",
        "host",
        str,
        "address to bind (default: localhost)",
    ),
    _Option(
        "--port",
        "port",
        port_number,
        f"WebSocket port (default: {DEFAULT_WS_PORT}; 0 picks a free port)",
    ),
    _Option(
        "--tcp-port",
        "tcp_port",
        port_number,
        f"line-protocol TCP port (default: {DEFAULT_TCP_PORT}; 0 picks one)",
    ),
    _Option(
        "--unix",
        "unix_path",
        str,
        "also serve WebSocket on this Unix-domain socket",
    ),
    _Option(
        "--max-connections",
        "max_connections",
        int,
        "connections at most (default: 10000)",
    ),
    _Option(
        "--max-message-bytes",
        "max_message_bytes",
        int,
        "largest WebSocket message (default: 65536)",
    ),
    _Option(
        "--max-line-bytes",
        "max_line_bytes",
        int,
        "longest line-protocol line (default: 4096)",
    ),
    _Option(
        "--outbox-limit",
        "outbox_limit",
        int,
        "bytes queued per client before it is cut off (default: 262144)",
    ),
    _Option(
        "--send-timeout",
        "send_timeout",
        float,
        "seconds one write to a client may take (default: 10)",
    ),
    _Option(
        "--login-timeout",
        "login_timeout",
        float,
        "seconds to log in (default: 30)",
    ),
    _Option(
        "--idle-timeout",
        "idle_timeout",
        _seconds_or_off,
        "close silent line users after N s (default: off)",
    ),
    _Option(
        "--ping-interval",
        "ping_interval",
        _seconds_or_off,
        "ping quiet WebSocket clients after N s (default: 20)",
    ),
    _Option(
        "--ping-timeout",
        "ping_timeout",
        float,
        "seconds to answer a ping (default: 20)",
    ),
    _Option(
        "--handshake-timeout",
        "handshake_timeout",
        float,
        "seconds for TLS and WebSocket handshakes (default: 10)",
    ),
    _Option(
        "--handler-timeout",
        "handler_timeout",
        float,
        "seconds one handler may take (default: 10)",
    ),
    _Option(
        "--grace-period",
        "grace_period",
        float,
        "seconds a graceful stop may take (default: 5)",
    ),
    _Option(
        "--inbound-capacity",
        "inbound_capacity",
        int,
        "requests queued for the broadcaster (default: 1024)",
    ),
    _Option(
        "--presence-limit",
        "presence_limit",
        int,
        "rooms bigger than N do not announce joins and leaves (default: no limit)",
    ),
    _Option(
        "--max-rooms",
        "max_rooms",
        int,
        "rooms at most (default: 1000)",
    ),
    _Option(
        "--rate-limit",
        "rate_limit",
        _seconds_or_off,
        f"messages per second one user may send, sustained (default: {DEFAULT_RATE:g}; off: no limit)",
    ),
    _Option(
        "--rate-burst",
        "rate_burst",
        int,
        f"messages one user may send at once (default: {DEFAULT_BURST})",
    ),
    _Option(
        "--store",
        "store",
        str,
        "where rooms keep their messages: memory (default) or sqlite:PATH (survives a restart)",
    ),
    _Option(
        "--history-size",
        "history_size",
        int,
        "messages each room keeps (default: 1000; 0: no history)",
    ),
    _Option(
        "--join-history",
        "join_history",
        int,
        "recent messages shown on entering a room (default: 20)",
    ),
    _Option(
        "--metrics-port",
        "metrics_port",
        port_number,
        "serve /metrics, /healthz and /readyz on this port (plain HTTP) instead of the WebSocket port",
    ),
    _Option(
        "--redis",
        "redis_url",
        str,
        "serve one chat with the other nodes on this Redis (redis://HOST:PORT/DB; needs triochat[redis])",
    ),
    _Option(
        "--redis-lease",
        "redis_lease",
        float,
        "seconds before the other nodes free a silent node's users (default: 10; at most 15)",
    ),
]


FLAG_SETTINGS = (
    "no_tcp",
    "no_websocket",
    "no_compression",
    "echo",
    "rooms",
    "certfile",
    "keyfile",
    "basic_auth",
    "tokens",
    "auth_allow_tcp",
    "rate_limit_for",
    "log_level",
    "log_format",
    "no_metrics",
    "trusted_proxies",
    "operators",
    "local_operators",
    "no_web",
    "allowed_origins",
)
"""Settings of ``triochat serve`` besides :data:`OPTIONS` (flags with their own handling)."""

SETTING_NAMES = frozenset(option.setting for option in OPTIONS) | frozenset(FLAG_SETTINGS)
"""Every key a config file may set (``-`` and ``_`` are the same)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``serve`` flags to *parser*."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="read settings from a TOML file: keys named like the flags without '--' "
        "(tcp-port = 0, room = [...]), at the top level or in a [serve] table; flags win",
    )
    for option in OPTIONS:
        parser.add_argument(option.flag, dest=option.setting, type=option.kind, help=option.help)
    parser.add_argument("--no-tcp", action="store_true", default=None, help="no line-protocol listener")
    parser.add_argument("--no-websocket", action="store_true", default=None, help="no WebSocket TCP listener")
    parser.add_argument(
        "--no-compression",
        action="store_true",
        default=None,
        help="decline WebSocket permessage-deflate offers",
    )
    parser.add_argument(
        "--echo", action="store_true", default=None, help="line users get their own messages back"
    )
    parser.add_argument(
        "--room",
        action="append",
        dest="rooms",
        metavar="NAME",
        help="a permanent room (repeatable; the first is where everyone starts)",
    )
    parser.add_argument("--certfile", help="TLS certificate chain (PEM): serve wss:// and TLS-wrapped TCP")
    parser.add_argument("--keyfile", help="TLS private key (PEM), if not in --certfile")
    parser.add_argument(
        "--basic-auth", metavar="FILE", help="require HTTP Basic auth; FILE has user:password lines"
    )
    parser.add_argument(
        "--token",
        action="append",
        dest="tokens",
        metavar="TOKEN=NAME",
        help="accept a bearer token for a user (repeatable)",
    )
    parser.add_argument(
        "--auth-allow-tcp",
        action="store_true",
        default=None,
        help="with auth, still let line-protocol users in (they cannot authenticate)",
    )
    parser.add_argument(
        "--rate-limit-for",
        action="append",
        dest="rate_limit_for",
        metavar="NAME=RATE[/BURST]",
        help="another rate limit (or off) for the user logged in as NAME, e.g. a trusted bot (repeatable)",
    )
    parser.add_argument(
        "--no-metrics",
        action="store_true",
        default=None,
        help="no /metrics (Prometheus); /healthz and /readyz stay",
    )
    parser.add_argument(
        "--trusted-proxy",
        action="append",
        dest="trusted_proxies",
        metavar="ADDR",
        help="a reverse proxy (address or network, or 'unix') whose X-Forwarded-For names the client "
        "(repeatable); from anyone else the field is ignored",
    )
    parser.add_argument(
        "--operator",
        action="append",
        dest="operators",
        metavar="NAME",
        help="a user who may /kick, /ban, /mute and set /topic (repeatable); needs --token or "
        "--basic-auth for NAME, or --local-operators",
    )
    parser.add_argument(
        "--local-operators",
        action="store_true",
        default=None,
        help="trust loopback and Unix-socket users to be the operator they log in as "
        "(not behind a local reverse proxy)",
    )
    parser.add_argument(
        "--no-web", action="store_true", default=None, help="do not serve the chat page on the WebSocket port"
    )
    parser.add_argument(
        "--allow-origin",
        action="append",
        dest="allowed_origins",
        metavar="ORIGIN",
        help="let pages from ORIGIN (e.g. https://chat.example.com) open WebSocket connections, "
        "besides the server's own page (repeatable)",
    )
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="default: info")
    parser.add_argument(
        "--log-format", choices=["text", "json"], help="log line format on stderr (default: text)"
    )


TOML_TABLES = ("serve", "server")
"""The tables a config file may put its settings in (or none: top-level keys)."""

_TOML_ALIASES = {
    "room": "rooms",
    "token": "tokens",
    "trusted_proxy": "trusted_proxies",
    "unix": "unix_path",
    "operator": "operators",
    "allow_origin": "allowed_origins",
    "redis": "redis_url",
}
"""Keys spelled like their (repeatable) flag, for settings whose name is a plural."""


def _toml_settings(path: str, data: dict[str, Any]) -> dict[str, Any]:
    """The settings in a parsed config file, with keys as setting names."""
    tables = [key for key, value in data.items() if isinstance(value, dict)]
    unknown_tables = [key for key in tables if key not in TOML_TABLES]
    if unknown_tables:
        raise UsageError(
            f"{path}: unknown table [{unknown_tables[0]}]; put settings at the top level or in [serve]"
        )
    if len(tables) > 1:
        raise UsageError(f"{path}: use one of [serve] and [server], not both")
    if tables:
        top = [key for key in data if key not in tables]
        if top:
            raise UsageError(f"{path}: {top[0]!r} is outside [{tables[0]}]; put every setting in it")
        section: dict[str, Any] = data[tables[0]]
    else:
        section = data
    settings: dict[str, Any] = {}
    for key, value in section.items():
        name = key.replace("-", "_")
        name = _TOML_ALIASES.get(name, name)
        if name not in SETTING_NAMES:
            raise UsageError(f"{path}: unknown setting {key!r} (keys are the flags without '--')")
        settings[name] = value
    return settings


def _read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from None
    return _toml_settings(path, data)


def settings_from(args: argparse.Namespace) -> dict[str, Any]:
    """Merge the TOML file (if any) and the flags; flags win."""
    settings: dict[str, Any] = _read_toml(args.config) if args.config else {}
    for key, value in vars(args).items():
        if value is not None and key not in ("config", "command", "func"):
            settings[key] = value
    return settings


def _tls_context(certfile: str | None, keyfile: str | None) -> ssl.SSLContext | None:
    if certfile is None:
        if keyfile is not None:
            raise UsageError("--keyfile needs --certfile")
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise StartupError(f"cannot load the TLS certificate {certfile}: {reason}") from None
    return context


def _auth_hook(settings: dict[str, Any]) -> AuthHook | None:
    allow_tcp = bool(settings.pop("auth_allow_tcp", False))
    hooks: list[AuthHook] = []
    basic_file = settings.pop("basic_auth", None)
    if basic_file:
        users: dict[str, str] = {}
        try:
            with open(basic_file, encoding="utf-8") as f:
                for number, line in enumerate(f, 1):
                    line = line.strip()
                    if not line or line.startswith("#"):
                        continue
                    user, sep, password = line.partition(":")
                    if not sep or not user:
                        raise UsageError(f"{basic_file}:{number}: expected user:password")
                    users[user] = password
        except OSError as exc:
            raise StartupError(f"cannot read {basic_file}: {exc.strerror or exc}") from None
        hooks.append(basic_auth(users, allow_tcp=allow_tcp))
    tokens_given = settings.pop("tokens", None) or []
    if tokens_given:
        tokens: dict[str, str] = {}
        for item in tokens_given:
            token, sep, name = str(item).partition("=")
            if not sep or not token or not name:
                raise UsageError(f"--token wants TOKEN=NAME, not {item!r}")
            tokens[token] = name
        hooks.append(bearer_tokens(tokens, allow_tcp=allow_tcp))
    if not hooks:
        return None
    if len(hooks) == 1:
        return hooks[0]
    # Either kind of credentials; the identities of both are reserved.
    return any_of(*hooks)


def _rate_limits(given: Any, burst: Any) -> dict[str, RateLimit | None]:
    """``NAME=RATE[/BURST]`` items (flags, or a TOML list), or a TOML table of ``NAME = "RATE[/BURST]"``."""
    default_burst = burst if isinstance(burst, int) else DEFAULT_BURST
    if isinstance(given, dict):
        items = [(str(name), str(spec)) for name, spec in given.items()]
    elif isinstance(given, list):
        items = []
        for item in given:
            name, sep, spec = str(item).partition("=")
            if not sep or not name.strip():
                raise UsageError(f"--rate-limit-for wants NAME=RATE[/BURST], not {item!r}")
            items.append((name.strip(), spec))
    else:
        raise UsageError("rate_limit_for must be a list of NAME=RATE[/BURST] or a table")
    limits: dict[str, RateLimit | None] = {}
    for name, spec in items:
        try:
            limits[name] = RateLimit.parse(spec, burst=default_burst)
        except ValueError as exc:
            raise UsageError(f"--rate-limit-for {name}: {exc}") from None
    return limits


def build_server(settings: dict[str, Any]) -> ChatServer:
    """A server from merged settings; :class:`UsageError` for bad ones."""
    settings = dict(settings)
    settings.pop("log_level", None)
    settings.pop("log_format", None)
    if settings.pop("no_tcp", False):
        settings["tcp_port"] = None
    else:
        # The command serves the line protocol by default; the library only when asked.
        settings.setdefault("tcp_port", DEFAULT_TCP_PORT)
    if settings.pop("no_websocket", False):
        settings["websocket"] = False
    websocket = settings.get("websocket", True)
    if settings["tcp_port"] is None and not websocket and not settings.get("unix_path"):
        raise UsageError("nothing to serve: --no-tcp and --no-websocket leave no listener (add --unix PATH?)")
    ws_port = settings.get("port", DEFAULT_WS_PORT)
    if websocket and settings["tcp_port"] == ws_port and ws_port != 0:
        raise UsageError(f"--port and --tcp-port are both {ws_port}; each listener needs its own port")
    if settings.pop("no_compression", False):
        settings["compression"] = False
    if settings.pop("no_metrics", False):
        settings["metrics"] = False
    if "trusted_proxies" in settings:
        proxies = settings["trusted_proxies"]
        if isinstance(proxies, str) or not all(isinstance(p, str) for p in proxies):
            raise UsageError('trusted-proxy must be a list of addresses, e.g. ["127.0.0.1", "10.0.0.0/8"]')
        settings["trusted_proxies"] = tuple(proxies)
    settings["ssl_context"] = _tls_context(settings.pop("certfile", None), settings.pop("keyfile", None))
    settings["auth"] = _auth_hook(settings)
    if "rate_limit_for" in settings:
        settings["rate_limit_for"] = _rate_limits(settings["rate_limit_for"], settings.get("rate_burst"))
    if "rooms" in settings:
        settings["rooms"] = tuple(settings["rooms"])
    if "operators" in settings:
        operators = settings["operators"]
        if not isinstance(operators, list) or not all(isinstance(name, str) for name in operators):
            raise UsageError('operators must be a list of names, e.g. operators = ["alice"]')
        settings["operators"] = tuple(operators)
    if settings.pop("no_web", False):
        settings["web"] = False
    if "allowed_origins" in settings:
        given = settings["allowed_origins"]
        if not isinstance(given, str | list | tuple):
            raise UsageError(
                "allow-origin must be an origin or a list of origins, e.g. https://chat.example.com"
            )
        settings["allowed_origins"] = (given,) if isinstance(given, str) else tuple(given)
    for key in OPTIONAL_TIMES:
        if isinstance(settings.get(key), str) and str(settings[key]).lower() == OFF:
            settings[key] = None
    known = {f.name for f in fields(ServerConfig)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise UsageError(f"unknown settings: {', '.join(unknown)}")
    host = settings.pop("host", "localhost")
    port = settings.pop("port", DEFAULT_WS_PORT)
    try:
        return ChatServer(host, port, **settings)
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from None


class JsonFormatter(logging.Formatter):
    """One JSON object per log line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str | None, fmt: str | None) -> None:
    """Log to stderr at *level*, as text or JSON lines.

    Python warnings go through the log too, so that with ``json`` every line
    on stderr is a JSON object.
    """
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or "info").upper())
    logging.captureWarnings(True)


_cli_log = logging.getLogger("triochat.cli")


def error_reporter(fmt: str | None) -> Callable[[str], None]:
    """How the command reports a one-line problem: a plain line, or a JSON log line."""
    if fmt != "json":
        return lambda message: print(message, file=sys.stderr, flush=True)

    def log_json(message: str) -> None:
        if not logging.getLogger().handlers:
            setup_logging(None, "json")
        _cli_log.error("%s", message)

    return log_json


def _note(message: str) -> None:
    """A line for the operator: a log record when logging is set up, else plain stderr."""
    if logging.getLogger().handlers:
        _cli_log.warning("%s", message)
    else:
        print(message, file=sys.stderr, flush=True)


def describe_os_error(error: BaseException, host: str) -> str:
    """One line for an error that kept the server from listening."""
    if isinstance(error, OSError) and error.strerror:
        reason = error.strerror
        if error.filename is not None:
            reason = f"{reason}: {error.filename}"
    else:
        reason = str(error)
    return reason if str(host) in reason else f"cannot serve on {host}: {reason}"


async def serve(server: ChatServer) -> int:
    """Run *server* until SIGINT/SIGTERM; a second signal stops it at once."""
    forced = False
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(server.serve)
            for listener in listeners:
                print(f"triochat serving on {listener.url}", flush=True)
            async for _ in signals:
                _note("triochat: stopping (again to stop at once)")
                break

            async def stop_at_once_on_second_signal() -> None:
                nonlocal forced
                async for _ in signals:
                    forced = True
                    nursery.cancel_scope.cancel()
                    return

            async with trio.open_nursery() as stopping:
                stopping.start_soon(stop_at_once_on_second_signal)
                await server.stop()
                stopping.cancel_scope.cancel()
    if forced:
        _note("triochat: stopped at once")
        return 1
    return 0
