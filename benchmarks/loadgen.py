"""The load generator: one process driving N clients of one server.

    python -m benchmarks.loadgen '{"scenario": "fanout", "dialect": "triochat-ws", "port": 8723,
                                   "server_pid": 1234, "clients": 100, ...}'

Prints one JSON result on stdout.  Dialects say how to log in and how to send
and count messages for each server under test; receivers count deliveries by
walking WebSocket frame headers or counting newlines, and probe receivers
read a send timestamp out of each message for latency.  Every wait is
bounded; traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import json
import os
import re
import resource
import select
import socket
import struct
import sys
import time
from dataclasses import dataclass
from typing import Any

import trio

PAYLOAD = 64
FILLER = b"qz" * (PAYLOAD // 2)
"""Every benchmark message carries this once; receivers count it."""
STAMP = re.compile(rb"@(\d{12,20})@")


def proc_cpu(pid: int) -> float:
    """User plus system CPU seconds of process *pid*."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss(pid: int) -> int:
    """Resident memory of process *pid*, in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def masked_frame(payload: bytes) -> bytes:
    """A client text frame (clients must mask; a zero key leaves the payload as is)."""
    size = len(payload)
    header = struct.pack("!BB", 0x81, 0x80 | size) if size < 126 else struct.pack("!BBH", 0x81, 0xFE, size)
    return header + b"\0\0\0\0" + payload


@dataclass(frozen=True)
class Dialect:
    """How to talk to one server under test."""

    websocket: bool
    path: str = "/"
    login: str = "none"  # "none", "line", "triochat", "gt"
    echo: bool = False  # the sender gets its own message back

    def encode(self, text: str) -> bytes:
        if not self.websocket:
            return text.encode() + b"\n"
        if self.login == "triochat":
            return masked_frame(json.dumps({"type": "say", "text": text}).encode())
        if self.login == "gt":
            return masked_frame(json.dumps({"type": "chat_message", "content": text}).encode())
        return masked_frame(text.encode())


DIALECTS = {
    "triochat-ws": Dialect(websocket=True, path="/v1", login="triochat"),
    "triochat-tcp": Dialect(websocket=False, login="line"),
    "ws-plain": Dialect(websocket=True),
    "gt": Dialect(websocket=True, path="/ws/{name}", login="gt", echo=True),
    "tcp-plain": Dialect(websocket=False),
}


class Client:
    """One connection; counts deliveries and, as a probe, collects latencies."""

    def __init__(self, stream: trio.SocketStream, dialect: Dialect) -> None:
        self.stream = stream
        self.dialect = dialect
        self.count = 0
        self.progress = trio.Event()
        self.latencies: list[int] | None = None
        self._rest = b""

    def _count(self, data: bytes) -> int:
        """Messages completed by *data*: each carries FILLER exactly once.

        ``bytes.count`` runs at C speed; the last ``len(FILLER) - 1`` bytes are
        kept so that a filler split across two reads is still counted once.
        Pings, join notices and handshake replies carry no filler.
        """
        if self.latencies is not None:
            now = time.perf_counter_ns()
            self.latencies.extend(now - int(stamp) for stamp in STAMP.findall(data))
        buffer = self._rest + data
        self._rest = buffer[-(len(FILLER) - 1) :]
        return buffer.count(FILLER)

    @property
    def fd(self) -> int:
        return self.stream.socket.fileno()

    async def read(self, until: int | None) -> None:
        while until is None or self.count < until:
            data = await self.stream.receive_some(262144)
            if not data:
                raise RuntimeError("the server closed a benchmark connection")
            self.count += self._count(data)
            self.progress.set()
            self.progress = trio.Event()

    async def drain(self, quiet: float = 0.05) -> None:
        """Read what is pending (join notices) until quiet, then reset the counter."""
        while True:
            with trio.move_on_after(quiet):
                data = await self.stream.receive_some(1 << 20)
                if not data:
                    raise RuntimeError("the server closed a benchmark connection")
                self._count(data)
                continue
            break
        self.count = 0
        self._rest = b""


def receive_all(clients: list[Client], targets: list[int], deadline: float) -> None:
    """Read every client until it has its target count, in this (worker) thread.

    One ``epoll`` loop with plain ``os.read`` calls costs a few microseconds
    per read, where a Trio task would need a scheduler pass; this keeps the
    load generator from being what limits a run.
    """
    poller = select.epoll()
    by_fd: dict[int, tuple[Client, int]] = {}
    try:
        for client, target in zip(clients, targets, strict=True):
            if client.count < target:
                by_fd[client.fd] = (client, target)
                poller.register(client.fd, select.EPOLLIN)
        while by_fd:
            if time.monotonic() > deadline:
                raise TimeoutError("receivers timed out")
            for fd, _ in poller.poll(0.2):
                client, target = by_fd[fd]
                try:
                    data = os.read(fd, 262144)
                except BlockingIOError:
                    continue
                if not data:
                    raise RuntimeError("the server closed a benchmark connection")
                client.count += client._count(data)
                if client.count >= target:
                    poller.unregister(fd)
                    del by_fd[fd]
    finally:
        poller.close()


async def _read_until(stream: trio.SocketStream, marker: bytes) -> bytes:
    buffer = b""
    while marker not in buffer:
        chunk = await stream.receive_some(65536)
        if not chunk:
            raise RuntimeError(f"closed before {marker!r}: {buffer[-200:]!r}")
        buffer += chunk
    return buffer


async def connect(dialect: Dialect, port: int, name: str) -> Client:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    if dialect.websocket:
        key = base64.b64encode(os.urandom(16)).decode()
        path = dialect.path.replace("{name}", name)
        await stream.send_all(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        await _read_until(stream, b"\r\n\r\n")
        if dialect.login == "triochat":
            await stream.send_all(masked_frame(json.dumps({"type": "login", "name": name}).encode()))
            await _read_until(stream, b'"welcome"')
        elif dialect.login == "gt":
            await stream.send_all(masked_frame(json.dumps({"type": "connect", "username": name}).encode()))
            await _read_until(stream, b'"connect_response"')
    elif dialect.login == "line":
        await stream.send_all(name.encode() + b"\n")
        await _read_until(stream, b"Welcome")
    return Client(stream, dialect)


async def connect_all(dialect: Dialect, port: int, count: int, prefix: str = "c") -> list[Client]:
    """Connect *count* clients, 50 at a time."""
    clients: list[Client | None] = [None] * count
    limiter = trio.CapacityLimiter(50)

    async def one(i: int) -> None:
        async with limiter:
            clients[i] = await connect(dialect, port, f"{prefix}{i}")

    async with trio.open_nursery() as nursery:
        for i in range(count):
            nursery.start_soon(one, i)
    return [c for c in clients if c is not None]


def _stats(samples_ns: list[int]) -> dict[str, float]:
    if not samples_ns:
        return {}
    ordered = sorted(samples_ns)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] / 1e6

    return {"p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99), "max_ms": ordered[-1] / 1e6}


async def fanout(spec: dict[str, Any]) -> dict[str, Any]:
    """Saturation (``rate`` None) or fixed delivered rate (``rate`` deliveries/s)."""
    dialect = DIALECTS[spec["dialect"]]
    port, pid, n = spec["port"], spec["server_pid"], spec["clients"]
    rate: float | None = spec.get("rate")
    with trio.fail_after(180):
        members = await connect_all(dialect, port, n)
        await trio.sleep(0.3)
        async with trio.open_nursery() as nursery:
            for member in members:
                nursery.start_soon(member.drain)
    senders = max(1, min(4, n // 4))
    per_message = n if dialect.echo else n - 1
    if rate is None:
        messages = max(senders * 50, int(spec["deliveries"] // per_message))
    else:
        messages = max(senders, int(rate * spec["seconds"] / per_message))
    per_sender = messages // senders
    messages = per_sender * senders
    expected = [messages - (per_sender if (i < senders and not dialect.echo) else 0) for i in range(n)]
    stalled: list[Client] = []
    for i in range(spec.get("stalled", 0)):
        # Connected and logged in like everyone else, but never reads.
        client = await connect(dialect, port, f"stalled{i}")
        client.stream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.append(client)
    rss_before = proc_rss(pid)
    probes = members[senders : senders + 10] if rate is not None else []
    for probe in probes:
        probe.latencies = []
    watch = members[-1]
    window = max(4, min(200, 50_000 // n))
    sent = 0
    filler = FILLER.decode()

    async def send(member: Client, offset: float) -> None:
        nonlocal sent
        interval = senders * per_message / rate if rate else 0.0
        next_at = trio.current_time() + offset
        for _ in range(per_sender):
            if rate:
                await trio.sleep_until(next_at)
                next_at += interval
            else:
                # The receivers run in a thread, so there is no event to wait
                # on: look at their progress every half millisecond.
                while sent - watch.count >= window:  # noqa: ASYNC110
                    await trio.sleep(0.0005)
            sent += 1
            text = f"@{time.perf_counter_ns()}@{filler}" if rate else filler
            await member.stream.send_all(dialect.encode(text))

    cpu_server0, cpu_self0 = proc_cpu(pid), self_cpu()
    start = time.perf_counter()
    timeout = 300 if rate is None else spec["seconds"] * 4 + 30
    timed_out = False

    receivers_done = trio.Event()

    async def receive() -> None:
        nonlocal timed_out
        deadline = time.monotonic() + timeout
        try:
            await trio.to_thread.run_sync(receive_all, members, expected, deadline)
        except TimeoutError:
            timed_out = True
        finally:
            receivers_done.set()

    churned = 0

    async def churn(per_second: float) -> None:
        nonlocal churned
        while True:
            client = await connect(dialect, port, f"churn{churned}")
            await client.stream.aclose()
            churned += 1
            await trio.sleep(1 / per_second)

    with trio.move_on_after(timeout + 5):
        async with trio.open_nursery() as nursery:
            if spec.get("churn"):
                nursery.start_soon(churn, spec["churn"])
            nursery.start_soon(receive)
            async with trio.open_nursery() as sending:
                for i, member in enumerate(members[:senders]):
                    offset = (i / senders) * (senders * per_message / rate) if rate else 0.0
                    sending.start_soon(send, member, offset)
            while not receivers_done.is_set():
                await receivers_done.wait()
            nursery.cancel_scope.cancel()  # stops the churn
    elapsed = time.perf_counter() - start
    cpu_server, cpu_self = proc_cpu(pid) - cpu_server0, self_cpu() - cpu_self0
    delivered = sum(m.count for m in members)
    latencies = [x for probe in probes for x in (probe.latencies or [])]
    rss_after = proc_rss(pid)
    cut_off = [_was_cut_off(client) for client in stalled]
    for member in members + stalled:
        await member.stream.aclose()
    result: dict[str, Any] = {
        "delivered": delivered,
        "expected": sum(expected),
        "dropped": sum(expected) - delivered,
        "timed_out": timed_out,
        "seconds": round(elapsed, 3),
        "delivered_per_s": round(delivered / elapsed),
        "server_cpu_us_per_delivery": round(cpu_server / max(delivered, 1) * 1e6, 2),
        "server_cpu_share": round(cpu_server / elapsed, 2),
        "loadgen_cpu_share": round(cpu_self / elapsed, 2),
        "loadgen_bound": cpu_self / elapsed > 0.9,
    }
    result.update(_stats(latencies))
    if stalled:
        result["stalled_cut_off"] = sum(cut_off)
        result["server_rss_growth_mib"] = round((rss_after - rss_before) / 2**20, 1)
    if spec.get("churn"):
        result["churned"] = churned
    return result


def _was_cut_off(client: Client) -> bool:
    """Did the server close this (never reading) client?  Reads what is left to see."""
    fd = client.fd
    while True:
        try:
            data = os.read(fd, 1 << 20)
        except BlockingIOError:
            return False
        except ConnectionResetError:
            return True
        if not data:
            return True


async def idle(spec: dict[str, Any]) -> dict[str, Any]:
    """Memory per idle connection and the server's CPU while they idle."""
    dialect = DIALECTS[spec["dialect"]]
    port, pid, n = spec["port"], spec["server_pid"], spec["clients"]
    rss0 = proc_rss(pid)
    with trio.fail_after(300):
        members = await connect_all(dialect, port, n)
    await trio.sleep(1.0)
    for member in members:
        member.count = 0
    rss1 = proc_rss(pid)
    cpu0 = proc_cpu(pid)
    await trio.sleep(spec.get("seconds", 3.0))
    idle_cpu = (proc_cpu(pid) - cpu0) / spec.get("seconds", 3.0)
    for member in members:
        await member.stream.aclose()
    return {
        "connections": len(members),
        "rss_per_connection_kib": round((rss1 - rss0) / max(len(members), 1) / 1024, 2),
        "server_rss_mib": round(rss1 / 2**20, 1),
        "idle_cpu_share": round(idle_cpu, 3),
    }


async def logins(spec: dict[str, Any]) -> dict[str, Any]:
    """Logins per second: 50 workers each connect, log in and disconnect, over and over.

    Clients leave right after logging in, so the room stays small: the
    figure is the cost of a handshake and login, not of announcing a join
    to an ever larger room.
    """
    dialect = DIALECTS[spec["dialect"]]
    port, pid, total = spec["port"], spec["server_pid"], spec["clients"]
    workers = 50
    done = 0

    async def worker(index: int) -> None:
        nonlocal done
        for round_ in range(total // workers):
            client = await connect(dialect, port, f"w{index}r{round_}")
            await client.stream.aclose()
            done += 1

    cpu_server0, cpu_self0 = proc_cpu(pid), self_cpu()
    start = time.perf_counter()
    with trio.fail_after(300):
        async with trio.open_nursery() as nursery:
            for i in range(workers):
                nursery.start_soon(worker, i)
    elapsed = time.perf_counter() - start
    cpu_server, cpu_self = proc_cpu(pid) - cpu_server0, self_cpu() - cpu_self0
    return {
        "logins": done,
        "logins_per_s": round(done / elapsed),
        "server_cpu_ms_per_login": round(cpu_server / max(done, 1) * 1000, 3),
        "server_cpu_share": round(cpu_server / elapsed, 2),
        "loadgen_cpu_share": round(cpu_self / elapsed, 2),
        "loadgen_bound": cpu_self / elapsed > 0.9,
    }


SCENARIOS = {"fanout": fanout, "idle": idle, "logins": logins}


def main() -> None:
    spec = json.loads(sys.argv[1])
    # The receiver thread and the senders share the GIL; with the default 5 ms
    # switch interval a waiting thread can add milliseconds to a measurement.
    sys.setswitchinterval(0.0005)
    result = trio.run(SCENARIOS[spec["scenario"]], spec)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
