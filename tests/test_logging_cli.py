"""``triochat serve --log-format json``: every line on stderr is a JSON object."""

import json
import os
import re
import signal
import socket
import subprocess
import sys

from tests.test_cli import _read_line


def test_json_log_format_writes_only_json_lines_with_access_records() -> None:
    command = [sys.executable, "-m", "triochat", "serve", "--host", "127.0.0.1", "--port", "0"]
    command += ["--tcp-port", "0", "--log-format", "json", "--log-level", "debug"]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONWARNINGS": "always"},
    )
    try:
        assert proc.stdout is not None
        match = re.fullmatch(r"triochat serving on tcp://127\.0\.0\.1:(\d+)\n", proc.stdout.readline())
        assert match
        port = int(match.group(1))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as a:
            _read_line(a)
            _read_line(a)
            a.sendall(b"bad name!\nalice\n")
            assert _read_line(a).startswith("error: invalid name")
            _read_line(a)
            assert _read_line(a).startswith("Welcome alice")
            a.sendall(b"QUIT\n")
            assert _read_line(a) == "Goodbye alice."
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    lines = err.splitlines()
    entries = [json.loads(line) for line in lines]  # every line parses
    assert all(isinstance(e, dict) and {"time", "level", "logger", "message"} <= e.keys() for e in entries)
    messages = [(e["logger"], e["message"]) for e in entries]
    assert any(logger == "triochat.access" and msg.startswith("login alice") for logger, msg in messages)
    assert any(logger == "triochat.access" and msg.startswith("logout alice") for logger, msg in messages)
    assert any("stopping" in msg for _, msg in messages)


def test_json_log_format_reports_usage_and_startup_errors_as_json() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [sys.executable, "-m", "triochat", "serve", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--tcp-port", "0", "--log-format", "json"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 1
    entries = [json.loads(line) for line in done.stderr.splitlines()]
    assert len(entries) == 1
    assert entries[0]["level"] == "error" and str(port) in entries[0]["message"]
    done = subprocess.run(
        [sys.executable, "-m", "triochat", "serve", "--no-tcp", "--no-websocket", "--log-format", "json"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "nothing to serve" in json.loads(done.stderr.strip())["message"]
