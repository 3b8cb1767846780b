"""The command line: exit statuses, and a real server process."""

import base64
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
import trustme

from triochat import ChatServer, __version__
from triochat.auth import Accept, ConnectionInfo, Reject
from triochat.cli import build_parser, main, serve
from triochat.testing import connect


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"triochat {__version__}"


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--no-such-flag"]) == 2
    assert "unrecognized arguments" in capsys.readouterr().err
    assert main([]) == 2


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--help"]) == 0
    assert "--tcp-port" in capsys.readouterr().out


def test_port_in_use_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = [
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--tcp-port",
            str(port),
            "--log-level",
            "error",
        ]
        assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("triochat serve: ")
    assert "line protocol" in err[0] and str(port) in err[0] and "in use" in err[0]
    assert "Traceback" not in err[0]


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--port", "99999"], "--port"),
        (["--tcp-port", "84568"], "--tcp-port"),
        (["--port", "-1"], "--port"),
        (["--port", "eighty"], "--port"),
    ],
)
def test_ports_out_of_range_are_usage_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str], flag: str
) -> None:
    assert main(["serve", *argv]) == 2
    err = capsys.readouterr().err
    assert f"argument {flag}" in err
    assert err.startswith("usage: triochat serve")


def test_errors_after_a_subcommand_show_its_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--prot", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: triochat serve")
    assert "unrecognized arguments: --prot 1" in err


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--port", "8800", "--tcp-port", "8800"], "both 8800"),
        (["--no-tcp", "--no-websocket"], "nothing to serve"),
    ],
)
def test_listener_conflicts_are_refused_before_binding(
    capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    assert main(["serve", "--host", "127.0.0.1", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0]


def test_serve_defaults_to_both_listeners_the_library_to_websocket_only() -> None:
    assert serve.build_server(_settings([])).config.tcp_port == 8724
    assert ChatServer().config.tcp_port is None
    assert ChatServer(host="0.0.0.0", port=8723).config.tcp_port is None


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"port": 70000}, "port must be a port number"),
        ({"tcp_port": -1}, "tcp_port must be a port number"),
        ({"port": 9000, "tcp_port": 9000}, "both 9000"),
    ],
)
def test_the_library_checks_ports_too(settings: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        ChatServer(**settings)


def _read_line(sock: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data.decode().rstrip("\r\n")


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_serve_process_chats_and_stops_gracefully_on_signal(stop_signal: int) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "triochat", "serve", "--host", "127.0.0.1", "--port", "0", "--tcp-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.fullmatch(r"triochat serving on tcp://127\.0\.0\.1:(\d+)\n", first)
        assert match, first
        assert re.fullmatch(r"triochat serving on ws://127\.0\.0\.1:\d+/\n", proc.stdout.readline())
        port = int(match.group(1))
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as a,
            socket.create_connection(("127.0.0.1", port), timeout=10) as b,
        ):
            assert _read_line(a).startswith("triochat ")
            assert _read_line(a) == "Enter your name:"
            a.sendall(b"alice\n")
            assert _read_line(a) == "Welcome alice. Send QUIT or /quit to disconnect."
            _read_line(b)
            _read_line(b)
            b.sendall(b"bob\n")
            _read_line(b)
            assert _read_line(a) == "*** bob has joined the chat ***"
            b.sendall(b"hi from bob\n")
            assert _read_line(a) == "bob: hi from bob"
            proc.send_signal(stop_signal)
            assert _read_line(a) == "*** server is shutting down ***"
            assert _read_line(a) == ""  # closed
        assert proc.wait(timeout=15) == 0
        assert proc.stderr is not None
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def _settings(argv: list[str]) -> dict[str, object]:
    args = build_parser().parse_args(["serve", *argv])
    return serve.settings_from(args)


def test_config_file_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "triochat.toml"
    config.write_text(
        '[serve]\nhost = "127.0.0.1"\ntcp-port = 9999\necho = true\nrooms = ["main", "ops"]\n'
        "idle_timeout = 300\nmax_message_bytes = 1000\n"
    )
    server = serve.build_server(_settings(["--config", str(config), "--tcp-port", "0", "--no-websocket"]))
    assert server.config.host == "127.0.0.1"
    assert server.config.tcp_port == 0  # the flag wins
    assert server.config.echo is True
    assert server.config.rooms == ("main", "ops")
    assert server.config.idle_timeout == 300
    assert server.config.max_message_bytes == 1000
    assert server.config.websocket is False
    off = serve.build_server(_settings(["--no-tcp", "--ping-interval", "off", "--idle-timeout", "off"]))
    assert off.config.tcp_port is None
    assert off.config.ping_interval is None
    assert off.config.idle_timeout is None
    assert serve.build_server(_settings(["--ping-interval", "5"])).config.ping_interval == 5


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("[serve]\ncolour = 'red'\n", "unknown setting 'colour'"),
        ("tcp-prot = 1\n", "unknown setting 'tcp-prot'"),
        ("[servre]\nport = 1\n", "unknown table [servre]"),
        ("[serve]\nport = 1\n[server]\nport = 2\n", "not both"),
        ("port = 99999\n", "port must be a port number"),
        ("not = = toml", "not valid TOML"),
    ],
)
def test_bad_config_is_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, fragment: str
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(content)
    assert main(["serve", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0]


@pytest.mark.parametrize("table", ["", "[serve]\n", "[server]\n"])
def test_config_tables_and_key_spellings(tmp_path: Path, table: str) -> None:
    config = tmp_path / "triochat.toml"
    config.write_text(f'{table}tcp-port = 0\nmax_rooms = 7\nroom = ["main"]\nno-websocket = true\n')
    server = serve.build_server(_settings(["--config", str(config)]))
    assert server.config.tcp_port == 0
    assert server.config.max_rooms == 7
    assert server.config.rooms == ("main",)
    assert server.config.websocket is False


def test_bad_values_and_missing_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--outbox-limit", "0"]) == 2
    assert "outbox_limit must be at least 1" in capsys.readouterr().err
    assert main(["serve", "--room", "bad room"]) == 2
    capsys.readouterr()
    assert main(["serve", "--certfile", str(tmp_path / "missing.pem")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot load the TLS certificate" in err[0]
    assert main(["serve", "--basic-auth", str(tmp_path / "nope")]) == 1
    assert "cannot read" in capsys.readouterr().err
    assert main(["serve", "--token", "no-equals-sign"]) == 2
    assert "TOKEN=NAME" in capsys.readouterr().err


async def test_tls_and_auth_flags(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    users = tmp_path / "users"
    users.write_text("# comment\nalice:pw\n")
    settings = _settings(
        [
            "--certfile",
            str(certfile),
            "--keyfile",
            str(keyfile),
            "--basic-auth",
            str(users),
            "--token",
            "t=bob",
        ]
    )
    server = serve.build_server(settings)
    assert server.config.ssl_context is not None
    hook = server.config.auth
    assert hook is not None
    basic = "Basic " + base64.b64encode(b"alice:pw").decode()
    for headers, expected in [
        ((("authorization", basic),), Accept("alice")),
        ((("authorization", "Bearer t"),), Accept("bob")),
    ]:
        assert await hook(ConnectionInfo("ws", "/v1", headers, "peer")) == expected
    assert isinstance(await hook(ConnectionInfo("ws", "/v1", (), "peer")), Reject)
    assert isinstance(await hook(ConnectionInfo("tcp", "", (), "peer")), Reject)


def test_json_log_lines() -> None:
    record = logging.LogRecord("triochat.server", logging.INFO, __file__, 1, "listening on %s", ("x",), None)
    entry = json.loads(serve.JsonFormatter().format(record))
    assert entry["level"] == "info"
    assert entry["logger"] == "triochat.server"
    assert entry["message"] == "listening on x"


async def test_a_second_signal_stops_at_once(autojump_clock: trio.testing.MockClock) -> None:
    release = trio.Event()

    async def stuck(content: str, username: str) -> None:
        await release.wait()

    server = ChatServer(
        "127.0.0.1", 0, tcp_port=None, websocket=False, handler_timeout=1000, grace_period=1000
    )
    server.add_handler(stuck)
    async with trio.open_nursery() as nursery:
        status: list[int] = []

        async def run() -> None:
            status.append(await serve.serve(server))

        nursery.start_soon(run)
        await trio.testing.wait_all_tasks_blocked()
        client = await connect(server, "alice")
        await client.send("this blocks the broadcaster")
        await trio.testing.wait_all_tasks_blocked()
        os.kill(os.getpid(), signal.SIGINT)
        await trio.sleep(10)
        assert not status  # the graceful stop is waiting
        os.kill(os.getpid(), signal.SIGINT)
        await trio.sleep(1)
        assert status == [1]
