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
from .._server import ChatServer
from ..auth import Accept, AuthHook, ConnectionInfo, Reject, basic_auth, bearer_tokens


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
OPTIONAL_TIMES = ("idle_timeout", "ping_interval")


def _seconds_or_off(text: str) -> float | str:
    return OFF if text.lower() in ("off", "none", "0") else float(text)


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
        int,
        f"WebSocket port (default: {DEFAULT_WS_PORT}; 0 picks a free port)",
    ),
    _Option(
        "--tcp-port",
        "tcp_port",
        int,
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
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``serve`` flags to *parser*."""
    parser.add_argument("--config", metavar="FILE", help="read settings from a TOML file (flags win)")
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
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="default: info")
    parser.add_argument(
        "--log-format", choices=["text", "json"], help="log line format on stderr (default: text)"
    )


def _read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from None
    section = data.get("serve", data)
    if not isinstance(section, dict):
        raise UsageError(f"{path}: [serve] must be a table")
    return {key.replace("-", "_"): value for key, value in section.items()}


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

    async def either(info: ConnectionInfo) -> Accept | Reject:
        decision: Accept | Reject = Reject(401, "authentication required")
        for hook in hooks:
            decision = await hook(info)
            if isinstance(decision, Accept):
                return decision
        return decision

    return either


def build_server(settings: dict[str, Any]) -> ChatServer:
    """A server from merged settings; :class:`UsageError` for bad ones."""
    settings = dict(settings)
    settings.pop("log_level", None)
    settings.pop("log_format", None)
    if settings.pop("no_tcp", False):
        settings["tcp_port"] = None
    if settings.pop("no_websocket", False):
        settings["websocket"] = False
    if settings.pop("no_compression", False):
        settings["compression"] = False
    settings["ssl_context"] = _tls_context(settings.pop("certfile", None), settings.pop("keyfile", None))
    settings["auth"] = _auth_hook(settings)
    if "rooms" in settings:
        settings["rooms"] = tuple(settings["rooms"])
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
    """Log to stderr at *level*, as text or JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or "info").upper())


async def serve(server: ChatServer) -> int:
    """Run *server* until SIGINT/SIGTERM; a second signal stops it at once."""
    forced = False
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(server.serve)
            for listener in listeners:
                print(f"triochat serving on {listener.url}", flush=True)
            async for _ in signals:
                print("triochat: stopping (again to stop at once)", file=sys.stderr, flush=True)
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
        print("triochat: stopped at once", file=sys.stderr, flush=True)
        return 1
    return 0
