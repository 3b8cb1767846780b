"""The command line: exit statuses, and a real server process."""

import os
import re
import signal
import socket
import subprocess
import sys

import pytest

from triochat import __version__
from triochat.cli import main


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
    assert err[0].startswith("triochat: cannot serve on 127.0.0.1")
    assert "Traceback" not in err[0]


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
