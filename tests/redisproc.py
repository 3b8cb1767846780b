"""Real ``redis-server`` processes on loopback, for the tests and the benchmark harness.

:func:`start_redis` starts one standalone server, :func:`start_redis_cluster`
three masters in cluster mode joined by ``redis-cli --cluster create``.  Each
listens on 127.0.0.1 on a free port, keeps its files in a temporary folder of
its own, and is stopped by its PID (:meth:`RedisProcess.stop`, or by leaving
the ``with`` block).  A missing ``redis-server`` raises
:class:`RedisUnavailable` with one line saying what to install: tests that
need Redis fail with it, they never skip.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "RedisCluster",
    "RedisProcess",
    "RedisUnavailable",
    "redis_binary",
    "start_redis",
    "start_redis_cluster",
]

START_TIMEOUT = 10.0
"""Seconds a server may take to answer PING (or a cluster to report ``cluster_state:ok``)."""


class RedisUnavailable(RuntimeError):
    """``redis-server`` (or ``redis-cli``) is not installed or does not start."""


def redis_binary(name: str = "redis-server") -> str:
    """The path of *name*; :class:`RedisUnavailable` with an install hint when missing."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None)
    if path is None:
        raise RedisUnavailable(
            f"{name} is not installed: `apt-get install redis-server` (Debian's package, 7.x); "
            ".ci/run installs it"
        )
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ping(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(64)


@dataclass
class RedisProcess:
    """One ``redis-server`` process that this process started."""

    port: int
    process: subprocess.Popen[bytes]
    directory: Path
    extra: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        """Stop the server by its PID (SIGTERM, then SIGKILL after *timeout*)."""
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout)
        if self.process.stderr is not None:
            self.process.stderr.close()

    def kill(self) -> None:
        """``kill -9`` the server."""
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        """Start the server again on the same port, with the same files (stop it first)."""
        if self.process.poll() is None:
            raise RuntimeError("stop the server before restarting it")
        self.process = _spawn(self.port, self.directory, self.extra)
        _wait_ready(self)


def _spawn(port: int, directory: Path, extra: Sequence[str]) -> subprocess.Popen[bytes]:
    command = [
        redis_binary(),
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(directory),
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--protected-mode",
        "no",
        "--loglevel",
        "warning",
        *extra,
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_ready(server: RedisProcess) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if server.process.poll() is not None:
            err = server.process.stderr.read().decode(errors="replace") if server.process.stderr else ""
            server.stop()
            raise RedisUnavailable(f"redis-server on port {server.port} exited: {err.strip()[-300:]}")
        try:
            if _ping(server.port).startswith(b"+PONG"):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.stop(signal.SIGKILL)
            raise RedisUnavailable(f"redis-server on port {server.port} did not answer in {START_TIMEOUT} s")
        time.sleep(0.02)


def _start(directory: Path, extra: Sequence[str] = ()) -> RedisProcess:
    last: Exception | None = None
    for _ in range(5):  # another process may take the free port first
        port = free_port()
        server = RedisProcess(port, _spawn(port, directory, extra), directory, tuple(extra))
        try:
            _wait_ready(server)
            return server
        except RedisUnavailable as exc:
            last = exc
    raise RedisUnavailable(str(last))


@contextmanager
def start_redis(*extra: str) -> Iterator[RedisProcess]:
    """A standalone ``redis-server`` (append-only file on) for the ``with`` block."""
    with tempfile.TemporaryDirectory(prefix="triochat-redis-") as directory:
        server = _start(Path(directory), extra)
        try:
            yield server
        finally:
            server.stop()


@dataclass
class RedisCluster:
    """Three ``redis-server`` masters in cluster mode, slots spread over all three."""

    nodes: list[RedisProcess] = field(default_factory=list)

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT`` of the first master (any master finds the others)."""
        return f"redis://127.0.0.1:{self.nodes[0].port}"

    def stop(self) -> None:
        """Stop every master by its PID."""
        for node in self.nodes:
            node.stop()


def _cluster_ok(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
        sock.sendall(b"CLUSTER INFO\r\n")
        data = b""
        while b"cluster_state" not in data or not data.endswith(b"\r\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return b"cluster_state:ok" in data


@contextmanager
def start_redis_cluster(masters: int = 3) -> Iterator[RedisCluster]:
    """A local Redis Cluster of *masters* masters, no replicas, for the ``with`` block."""
    cli = redis_binary("redis-cli")
    with tempfile.TemporaryDirectory(prefix="triochat-redis-cluster-") as root:
        cluster = RedisCluster()
        try:
            for index in range(masters):
                directory = Path(root) / str(index)
                directory.mkdir()
                config = str(directory / "nodes.conf")
                cluster.nodes.append(
                    _start(directory, ("--cluster-enabled", "yes", "--cluster-config-file", config))
                )
            addresses = [f"127.0.0.1:{node.port}" for node in cluster.nodes]
            created = subprocess.run(
                [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
                capture_output=True,
                timeout=60,
            )
            if created.returncode != 0:
                raise RedisUnavailable(
                    "redis-cli --cluster create failed: " + created.stdout.decode(errors="replace")[-300:]
                )
            deadline = time.monotonic() + START_TIMEOUT
            while not all(_cluster_ok(node.port) for node in cluster.nodes):
                if time.monotonic() > deadline:
                    raise RedisUnavailable("the Redis Cluster did not reach cluster_state:ok")
                time.sleep(0.05)
            yield cluster
        finally:
            cluster.stop()
