"""Real ``triochat serve --redis`` processes for the process-level cluster tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import IO

import trio

SERVE = [sys.executable, "-m", "triochat", "serve", "--host", "127.0.0.1", "--port", "0", "--tcp-port", "0"]


@dataclass
class Node:
    """One running node: its process and the ports it announced."""

    process: trio.Process
    tcp_port: int
    ws_port: int
    log: IO[str]

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:PORT``."""
        return f"ws://127.0.0.1:{self.ws_port}"

    def stderr(self) -> str:
        """What the process has written to stderr so far."""
        self.log.seek(0)
        return self.log.read()


@asynccontextmanager
async def serve_node(url: str, *extra: str, lease: float = 2.0) -> AsyncIterator[Node]:
    """Start ``triochat serve --redis URL`` on free ports; stop it by its PID at the end."""
    with tempfile.TemporaryFile("w+") as log:
        process = await trio.lowlevel.open_process(
            [*SERVE, "--redis", url, "--redis-lease", str(lease), *extra],
            stdout=subprocess.PIPE,
            stderr=log,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            assert process.stdout is not None
            out = b""
            with trio.fail_after(20):
                while out.count(b"\n") < 2:
                    chunk = await process.stdout.receive_some()
                    if not chunk:
                        log.seek(0)
                        raise AssertionError(f"the node did not start: {log.read()}")
                    out += chunk
            text = out.decode()
            tcp = re.search(r"serving on tcp://127\.0\.0\.1:(\d+)", text)
            ws = re.search(r"serving on ws://127\.0\.0\.1:(\d+)/", text)
            assert tcp and ws, text
            yield Node(process, int(tcp.group(1)), int(ws.group(1)), log)
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                with trio.CancelScope(shield=True), trio.move_on_after(10) as waiting:
                    await process.wait()
                if waiting.cancelled_caught:
                    process.kill()
                    with trio.CancelScope(shield=True):
                        await process.wait()
            if process.stdout is not None:
                await process.stdout.aclose()
