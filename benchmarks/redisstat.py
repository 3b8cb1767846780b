"""What the harness reads from a ``redis-server``: its commands and its CPU time (``INFO``).

A plain blocking socket on loopback, used before and after a run, never during it.
"""

from __future__ import annotations

import re
import socket

_CALLS = re.compile(r"^cmdstat_([^:]+):calls=(\d+)", re.MULTILINE)
_CPU = re.compile(r"^used_cpu_(?:sys|user):([\d.]+)$", re.MULTILINE)
IGNORED = frozenset(("info",))
"""Commands the harness itself sends to read the statistics."""


def info(port: int, section: str, timeout: float = 5.0) -> str:
    """The text of ``INFO section`` from the server on 127.0.0.1:*port*."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"INFO {section}\r\n".encode())
        return _bulk(sock)


def command_calls(port: int) -> dict[str, int]:
    """Calls per command (lower-case names) since the server started, less the harness's own."""
    return {
        name: int(calls) for name, calls in _CALLS.findall(info(port, "commandstats")) if name not in IGNORED
    }


def cpu_seconds(port: int) -> float:
    """User plus system CPU seconds of the server (all its threads), to the microsecond.

    ``/proc/PID/stat`` counts in clock ticks (10 ms): too coarse for Redis's share of a short run.
    """
    return sum(float(value) for value in _CPU.findall(info(port, "cpu")))


def _bulk(sock: socket.socket) -> str:
    """Read one RESP bulk string reply (``$LEN\\r\\n...\\r\\n``)."""
    buffer = b""
    while b"\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("redis-server closed the connection")
        buffer += chunk
    head, _, body = buffer.partition(b"\r\n")
    if not head.startswith(b"$"):
        raise ConnectionError(f"unexpected reply from redis-server: {head[:80]!r}")
    size = int(head[1:])
    while len(body) < size + 2:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("redis-server closed the connection")
        body += chunk
    return body[:size].decode("utf-8", "replace").replace("\r\n", "\n")


def calls_between(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Commands run between two readings (only those that ran)."""
    delta = {name: after[name] - before.get(name, 0) for name in after}
    return {name: count for name, count in sorted(delta.items()) if count > 0}
