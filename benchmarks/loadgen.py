"""The load generator: one process driving N clients of one server.

    python -m benchmarks.loadgen '{"scenario": "fanout", "dialect": "triochat-ws", "port": 8723,
                                   "server_pid": 1234, "clients": 100, ...}'

Prints one JSON result on stdout.  Dialects say how to log in and how to send
and count messages for each server under test; receivers count deliveries by
walking WebSocket frame headers or counting newlines, and probe receivers
read a send timestamp out of each message for latency.  With ``deflate`` set,
WebSocket clients offer permessage-deflate and count messages by frame header
instead (see ``benchmarks.wsframes``).  Every wait is bounded; traffic goes to
127.0.0.1 only.
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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import trio

from benchmarks import sio
from benchmarks.procstat import client_sockets, open_fds, proc_cpu, proc_rss, raise_fd_limit
from benchmarks.redisstat import calls_between, command_calls, cpu_seconds
from benchmarks.wsframes import DEFLATE_OFFER, FrameReader, message_text, negotiated_extension

PAYLOAD = 64
FILLER = b"qz" * (PAYLOAD // 2)
"""Every benchmark message carries this once; receivers count it."""
STAMP = re.compile(rb"@(\d{12,20})@")


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def masked_frame(payload: bytes, opcode: int = 1) -> bytes:
    """A client frame, text by default (clients must mask; a zero key leaves the payload as is)."""
    size = len(payload)
    first = 0x80 | opcode
    header = struct.pack("!BB", first, 0x80 | size) if size < 126 else struct.pack("!BBH", first, 0xFE, size)
    return header + b"\0\0\0\0" + payload


@dataclass(frozen=True)
class Dialect:
    """How to talk to one server under test."""

    websocket: bool
    path: str = "/"
    login: str = "none"  # "none", "line", "triochat", "gt", "socketio"
    echo: bool = False  # the sender gets its own message back

    def encode(self, text: str) -> bytes:
        if not self.websocket:
            return text.encode() + b"\n"
        if self.login == "triochat":
            return masked_frame(json.dumps({"type": "say", "text": text}).encode())
        if self.login == "gt":
            return masked_frame(json.dumps({"type": "chat_message", "content": text}).encode())
        if self.login == "socketio":
            return masked_frame(sio.event("say", text).encode())
        return masked_frame(text.encode())

    def quit(self) -> bytes | None:
        """What a client sends to leave politely (None: it just closes)."""
        if self.login == "triochat":
            return masked_frame(b'{"type": "quit"}')
        if self.login == "line":
            return b"/quit\n"
        if self.websocket:
            return masked_frame(struct.pack("!H", 1000), opcode=8)
        return None


DIALECTS = {
    "triochat-ws": Dialect(websocket=True, path="/v1", login="triochat"),
    "triochat-tcp": Dialect(websocket=False, login="line"),
    "ws-plain": Dialect(websocket=True),
    "gt": Dialect(websocket=True, path="/ws/{name}", login="gt", echo=True),
    "tcp-plain": Dialect(websocket=False),
    # Engine.IO v4 / Socket.IO v5 over a plain WebSocket: connect to the default
    # namespace, then an acknowledged ``join`` of the benchmark room (see benchmarks.sio).
    "socketio": Dialect(websocket=True, path=sio.PATH, login="socketio"),
}
SOCKETIO_ROOM = "bench"


class Client:
    """One connection; counts deliveries and, as a probe, collects latencies."""

    def __init__(
        self,
        stream: trio.SocketStream,
        dialect: Dialect,
        frames: FrameReader | None = None,
        extension: str | None = None,
    ) -> None:
        self.stream = stream
        self.dialect = dialect
        self.count = 0
        self.wire = 0
        """Bytes received since the last drain (WebSocket frames or lines, without TCP/IP headers)."""
        self.progress = trio.Event()
        self.latencies: list[int] | None = None
        self.frames = frames
        """Set when the client offered permessage-deflate: messages are counted by frame header."""
        self.extension = extension
        """The extension the server accepted, if any."""
        self._rest = b""

    def _count(self, data: bytes) -> int:
        """Messages completed by *data*: each carries FILLER exactly once.

        ``bytes.count`` runs at C speed; the last ``len(FILLER) - 1`` bytes are
        kept so that a filler split across two reads is still counted once.
        Pings, join notices and handshake replies carry no filler.  With a
        frame reader, every data message counts instead.
        """
        self.wire += len(data)
        if self.frames is not None:
            return self.frames.feed(data)
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
        self.wire = 0
        if self.frames is None:
            self._rest = b""

    async def read_message(self, marker: bytes) -> bytes:
        """With a frame reader: read until a (decompressed) message contains *marker*."""
        assert self.frames is not None
        while True:
            for message in self.frames.take():
                if marker in message:
                    return message
            data = await self.stream.receive_some(65536)
            if not data:
                raise RuntimeError(f"closed before {marker!r}")
            self._count(data)


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


async def socketio_login(stream: trio.SocketStream, rest: bytes, room: str = SOCKETIO_ROOM) -> None:
    """After the upgrade: Engine.IO open, Socket.IO connect, an acknowledged join of *room*.

    *rest* is what came after the handshake answer.  Pings are answered; a
    connect error or a close fails the login.
    """
    frames = FrameReader(deflate=False)
    frames.feed(rest)
    step = sio.OPEN

    async def send(packet: str) -> None:
        await stream.send_all(masked_frame(packet.encode()))

    while True:
        for message in frames.take():
            packet = sio.decode(message.decode())
            if packet.engine == sio.PING:
                await send(sio.pong())
            elif packet.engine == sio.CLOSE or packet.kind in (sio.CONNECT_ERROR, sio.DISCONNECT):
                raise RuntimeError(f"Socket.IO login refused: {message[:200]!r}")
            elif step == sio.OPEN and packet.engine == sio.OPEN:
                await send(sio.connect())
                step = sio.CONNECT
            elif step == sio.CONNECT and packet.kind == sio.CONNECT:
                await send(sio.event("join", room, ack=1))
                step = sio.ACK
            elif step == sio.ACK and packet.kind == sio.ACK and packet.ack == 1:
                return
        if frames.close_seen:
            raise RuntimeError("the server closed the WebSocket during the Socket.IO login")
        data = await stream.receive_some(65536)
        if not data:
            raise RuntimeError("closed during the Socket.IO login")
        frames.feed(data)


async def connect(dialect: Dialect, port: int, name: str, *, deflate: bool = False, size: int = 0) -> Client:
    """Connect and log in; with *deflate*, offer permessage-deflate and read by frames.

    *size* is the length of the benchmark texts, for checking inflated messages.
    """
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    if dialect.websocket and deflate:
        return await _connect_framed(stream, dialect, port, name, size)
    if dialect.websocket:
        await stream.send_all(_upgrade_request(dialect, port, name, ""))
        buffer = await _read_until(stream, b"\r\n\r\n")
        if dialect.login == "socketio":
            head, _, rest = buffer.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 101"):
                raise RuntimeError(f"handshake refused: {head.splitlines()[0]!r}")
            await socketio_login(stream, rest)
        elif dialect.login == "triochat":
            await stream.send_all(masked_frame(json.dumps({"type": "login", "name": name}).encode()))
            await _read_until(stream, b'"welcome"')
        elif dialect.login == "gt":
            await stream.send_all(masked_frame(json.dumps({"type": "connect", "username": name}).encode()))
            await _read_until(stream, b'"connect_response"')
    elif dialect.login == "line":
        await stream.send_all(name.encode() + b"\n")
        await _read_until(stream, b"Welcome")
    return Client(stream, dialect)


def _upgrade_request(dialect: Dialect, port: int, name: str, extensions: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    path = dialect.path.replace("{name}", name)
    offer = f"Sec-WebSocket-Extensions: {extensions}\r\n" if extensions else ""
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
    ).encode()


async def _connect_framed(
    stream: trio.SocketStream, dialect: Dialect, port: int, name: str, size: int
) -> Client:
    """The WebSocket handshake offering permessage-deflate, then a login read frame by frame."""
    await stream.send_all(_upgrade_request(dialect, port, name, DEFLATE_OFFER))
    buffer = await _read_until(stream, b"\r\n\r\n")
    head, _, rest = buffer.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(f"handshake refused: {head.splitlines()[0]!r}")
    extension = negotiated_extension(head)
    deflate = extension is not None and extension.lower().startswith("permessage-deflate")
    client = Client(stream, dialect, FrameReader(deflate=deflate, size=size), extension)
    client._count(rest)
    if dialect.login == "triochat":
        await stream.send_all(masked_frame(json.dumps({"type": "login", "name": name}).encode()))
        await client.read_message(b'"welcome"')
    elif dialect.login == "gt":
        await stream.send_all(masked_frame(json.dumps({"type": "connect", "username": name}).encode()))
        await client.read_message(b'"connect_response"')
    return client


async def connect_all(
    dialect: Dialect,
    port: int | Sequence[int],
    count: int,
    prefix: str = "c",
    *,
    deflate: bool = False,
    size: int = 0,
) -> list[Client]:
    """Connect *count* clients, 50 at a time; over several ports (nodes) round-robin."""
    clients: list[Client | None] = [None] * count
    limiter = trio.CapacityLimiter(50)
    ports = [port] if isinstance(port, int) else list(port)

    async def one(i: int) -> None:
        async with limiter:
            port = ports[i % len(ports)]
            clients[i] = await connect(dialect, port, f"{prefix}{i}", deflate=deflate, size=size)

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
    """Saturation (``rate`` None) or fixed delivered rate (``rate`` deliveries/s).

    A cluster (``ports`` and ``server_pids`` of every node, ``redis_pid`` and
    ``redis_port``) gets its clients round-robin over the nodes; server CPU is
    summed over the nodes, and Redis's CPU and commands are read before and after.
    """
    dialect = DIALECTS[spec["dialect"]]
    port, pid, n = spec["port"], spec["server_pid"], spec["clients"]
    ports: list[int] = spec.get("ports") or [port]
    pids: list[int] = spec.get("server_pids") or [pid]
    rate: float | None = spec.get("rate")
    deflate, size = bool(spec.get("deflate")), int(spec.get("text_bytes", 0))
    with trio.fail_after(180):
        members = await connect_all(dialect, ports, n, deflate=deflate, size=size)
        await trio.sleep(0.3)
        async with trio.open_nursery() as nursery:
            for member in members:
                nursery.start_soon(member.drain)
    warm_up_s = None
    if "server_pids" in spec:
        try:
            warm_up_s = await warm_up(members, dialect, float(spec.get("warm_up_limit_s", WARM_UP_LIMIT)))
        except RuntimeError:
            for member in members:
                member.stream.socket.close()
            raise
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
    # With frame counting, a few receivers (not senders) inflate and check every
    # message they get; the others only walk frame headers.
    verifiers = members[senders : senders + 2] if deflate else []
    for member in members:
        if member.frames is not None:
            member.frames.keep = member in verifiers
            member.frames.collect = False

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
            if size:
                text = message_text(sent, size)
            else:
                text = f"@{time.perf_counter_ns()}@{filler}" if rate else filler
            await member.stream.send_all(dialect.encode(text))

    cluster = Cluster(pids, spec.get("redis_pid"), spec.get("redis_port"))
    await cluster.measure_idle(float(spec.get("redis_idle_s", 1.0)))
    cluster.start()
    cpu_self0 = self_cpu()
    start = time.perf_counter()
    timeout = spec.get("timeout_s") or (300 if rate is None else spec["seconds"] * 4 + 30)
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
    cpu_self = self_cpu() - cpu_self0
    cluster.stop()
    cpu_server = sum(cluster.node_cpu)
    delivered = sum(m.count for m in members)
    latencies = [x for probe in probes for x in (probe.latencies or [])]
    rss_after = proc_rss(pid)
    cut_off = [_was_cut_off(client) for client in stalled]
    clustered = "server_pids" in spec  # a cluster point (its one-node references too)
    peer_ports = [member.stream.socket.getpeername()[1] for member in members] if clustered else []
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
    result["wire_bytes_per_delivery"] = round(sum(m.wire for m in members) / max(delivered, 1), 1)
    if deflate:
        result.update(_deflate_result(members, verifiers, delivered))
    result.update(_stats(latencies))
    if stalled:
        result["stalled_cut_off"] = sum(cut_off)
        result["server_rss_growth_mib"] = round((rss_after - rss_before) / 2**20, 1)
    if spec.get("churn"):
        result["churned"] = churned
    if clustered:
        result["warm_up_s"] = warm_up_s
        result.update(cluster.result(elapsed, sent, cpu_self))
        result["clients_per_node"] = [peer_ports.count(p) for p in ports]
    return result


WARM_UP_LIMIT = 30.0


async def warm_up(members: list[Client], dialect: Dialect, limit: float = WARM_UP_LIMIT) -> float:
    """Before a cluster run: one message from the first member must reach every other member.

    Then every node serves the room, and the run measures the cluster rather than
    the moments it takes a node to join a room's traffic.  Returns the seconds it
    took; the counters start again from zero.
    """
    start = time.monotonic()
    await members[0].stream.send_all(dialect.encode(FILLER.decode()))
    targets = [1 if dialect.echo else 0] + [1] * (len(members) - 1)
    try:
        await trio.to_thread.run_sync(receive_all, members, targets, start + limit)
    except TimeoutError:
        missing = sum(1 for m, t in zip(members, targets, strict=True) if m.count < t)
        raise RuntimeError(f"a warm-up message did not reach {missing} members in {limit:g} s") from None
    for member in members:
        member.count = 0
        member.wire = 0
        member._rest = b""
    return round(time.monotonic() - start, 3)


class Cluster:
    """CPU of every node and of Redis, and Redis's commands, from :meth:`start` to :meth:`stop`."""

    def __init__(self, pids: list[int], redis_pid: int | None, redis_port: int | None) -> None:
        self.pids = pids
        self.redis_pid = redis_pid
        self.redis_port = redis_port
        self.redis_idle_share = 0.0
        self._calls0: dict[str, int] = {}
        self._redis_cpu0 = 0.0
        self._cpu0 = [0.0] * len(pids)
        self.node_cpu = [0.0] * len(pids)
        self.redis_cpu = 0.0
        self.calls: dict[str, int] = {}

    async def measure_idle(self, seconds: float) -> None:
        """Redis's CPU share while nothing is sent (its timers, the append-only file's fsync)."""
        if self.redis_pid and seconds > 0:
            before = self._redis_cpu()
            await trio.sleep(seconds)
            self.redis_idle_share = (self._redis_cpu() - before) / seconds

    def start(self) -> None:
        """Take the readings the run is measured from."""
        self._calls0 = command_calls(self.redis_port) if self.redis_port else {}
        self._redis_cpu0 = self._redis_cpu()
        self._cpu0 = [proc_cpu(p) for p in self.pids]

    def stop(self) -> None:
        """Take the readings again: what the run cost."""
        self.node_cpu = [proc_cpu(p) - c for p, c in zip(self.pids, self._cpu0, strict=True)]
        self.redis_cpu = self._redis_cpu() - self._redis_cpu0
        if self.redis_port:
            self.calls = calls_between(self._calls0, command_calls(self.redis_port))

    def _redis_cpu(self) -> float:
        """Redis's CPU seconds (from ``INFO cpu`` when its port is known: finer than ``/proc``)."""
        if self.redis_port:
            return cpu_seconds(self.redis_port)
        return proc_cpu(self.redis_pid) if self.redis_pid else 0.0

    def result(self, elapsed: float, messages: int, cpu_self: float) -> dict[str, Any]:
        """Per-node and Redis CPU shares, Redis's cost per message, and the busiest process."""
        shares = {f"node{i + 1}": cpu / elapsed for i, cpu in enumerate(self.node_cpu)}
        result: dict[str, Any] = {
            "nodes": len(self.pids),
            "node_cpu_shares": [round(s, 2) for s in shares.values()],
        }
        if self.redis_pid:
            shares["redis"] = self.redis_cpu / elapsed
            result["redis_cpu_share"] = round(shares["redis"], 3)
            result["redis_idle_cpu_share"] = round(self.redis_idle_share, 4)
            # Less what Redis spends anyway: at N=1000 a run has few messages, and
            # its timers would otherwise be most of the figure.
            busy = max(0.0, self.redis_cpu - self.redis_idle_share * elapsed)
            result["redis_cpu_us_per_message"] = round(busy / max(messages, 1) * 1e6, 2)
        if self.redis_port:
            total = sum(self.calls.values())
            result["redis_commands_per_message"] = round(total / max(messages, 1), 3)
            result["redis_commands"] = {k: round(v / max(messages, 1), 3) for k, v in self.calls.items()}
        shares["loadgen"] = cpu_self / elapsed
        busiest = max(shares, key=lambda k: shares[k])
        result["busiest"] = busiest
        result["busiest_cpu_share"] = round(shares[busiest], 2)
        result["machine_cpu_share"] = round(sum(shares.values()), 2)
        return result


def _deflate_result(members: list[Client], verifiers: list[Client], delivered: int) -> dict[str, Any]:
    """What was negotiated, how much came compressed, and what the verifiers found."""
    extensions = {m.extension for m in members}
    negotiated = sorted(e for e in extensions if e)
    compressed = sum(m.frames.compressed for m in members if m.frames is not None)
    verified = sum(v.frames.verified for v in verifiers if v.frames is not None)
    failures = sum(v.frames.verify_failures for v in verifiers if v.frames is not None)
    result: dict[str, Any] = {
        "deflate": negotiated[0] if negotiated else "not negotiated",
        "compressed_share": round(compressed / max(delivered, 1), 3),
        "verified": verified,
        "verify_failures": failures,
    }
    if len(negotiated) > 1 or (negotiated and None in extensions):
        result["deflate"] += " (not on every connection)"
    if failures:
        result["error"] = f"{failures} inflated messages did not match what was sent"
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


async def _cycle(dialect: Dialect, port: int, name: str, polite: bool) -> bool:
    """Connect, log in and leave; politely (quit, then wait for the server to close) or not.

    Over WebSocket, a close frame from the server is answered with one (the
    closing handshake), unless the client's quit was itself a close frame.
    A reset counts as the server closing.  Returns whether a polite leave was
    answered by the server closing the connection within 2 s.
    """
    client = await connect(dialect, port, name)
    try:
        goodbye = dialect.quit() if polite else None
        if goodbye is None:
            return True
        await client.stream.send_all(goodbye)
        frames = FrameReader(deflate=False)
        frames.keep = False
        replied = dialect.login not in ("triochat", "line")  # our quit was a close frame
        with trio.move_on_after(2):
            try:
                while data := await client.stream.receive_some(65536):
                    if dialect.websocket and not replied:
                        frames.feed(data)
                        if frames.close_seen:
                            await client.stream.send_all(masked_frame(struct.pack("!H", 1000), opcode=8))
                            replied = True
            except trio.BrokenResourceError:
                pass
            return True
        return False
    finally:
        await client.stream.aclose()


async def _cycles(dialect: Dialect, port: int, total: int, prefix: str) -> dict[str, Any]:
    """*total* connect/login/leave cycles, 50 at a time; every other one leaves politely."""
    workers = 50
    done = failed = unanswered = 0
    first_error = ""

    async def worker(index: int) -> None:
        nonlocal done, failed, unanswered, first_error
        for round_ in range(index, total, workers):
            try:
                with trio.fail_after(15):
                    if not await _cycle(dialect, port, f"{prefix}{round_}", polite=round_ % 2 == 0):
                        unanswered += 1
                done += 1
            except (OSError, RuntimeError, trio.TooSlowError, trio.BrokenResourceError) as exc:
                failed += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"

    async with trio.open_nursery() as nursery:
        for i in range(min(workers, total)):
            nursery.start_soon(worker, i)
    return {"done": done, "failed": failed, "unanswered": unanswered, "first_error": first_error}


async def _settle(pid: int, fds: int | None, limit: float = 10.0) -> float:
    """Wait (at most *limit* s) until the server holds no client sockets and at most *fds* fds."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if client_sockets(pid) == 0 and (fds is None or open_fds(pid) <= fds):
            break
        await trio.sleep(0.1)
    return time.monotonic() - start


async def users_online(dialect: Dialect, port: int) -> int | None:
    """Ask a triochat server how many users are logged in (rooms and their member counts).

    The asking client is one of them.  None for servers that cannot say.
    """
    if dialect.login not in ("triochat", "line"):
        return None
    client = await connect(dialect, port, "leakprobe")
    try:
        if dialect.login == "line":
            await client.stream.send_all(b"/rooms\n")
            buffer = await _read_until(client.stream, b"rooms:")
            line = buffer[buffer.rindex(b"rooms:") :]
            while b"\n" not in line:
                line += await client.stream.receive_some(65536)
            counts = re.findall(rb"#\S+ \((\d+)\)", line.split(b"\n", 1)[0])
            return sum(int(c) for c in counts)
        reader = FrameReader(deflate=False)
        await client.stream.send_all(masked_frame(b'{"type": "rooms"}'))
        while True:
            data = await client.stream.receive_some(65536)
            if not data:
                raise RuntimeError("closed before the rooms answer")
            reader.feed(data)
            for message in reader.take():
                event = json.loads(message)
                if event.get("type") == "rooms":
                    return sum(int(room["members"]) for room in event["rooms"])
    finally:
        await client.stream.aclose()


async def leak(spec: dict[str, Any]) -> dict[str, Any]:
    """Churn and leaks: many connect/login/leave cycles; the server must end where it started.

    After a warm-up (so one-time allocations are not counted) the server's
    open file descriptors, its client sockets and its RSS are read; then
    ``cycles`` cycles, 50 at a time (even ones quit politely, odd ones just
    close); then, once the server has settled, the same again.  The run
    passes when the descriptors are back at the baseline, no client socket
    is left, RSS grew by at most ``rss_bound_mib``, every cycle worked, and
    (for triochat) the server counts no user but the one asking.
    """
    dialect = DIALECTS[spec["dialect"]]
    port, pid, cycles = spec["port"], spec["server_pid"], spec["cycles"]
    bound = float(spec.get("rss_bound_mib", 8))
    settle_limit = float(spec.get("settle_limit_s", 10))
    with trio.fail_after(600):
        await _cycles(dialect, port, min(1000, max(50, cycles // 10)), "warm")
        await _settle(pid, None, settle_limit)
        await trio.sleep(0.5)
        fds0, sockets0, rss0 = open_fds(pid), client_sockets(pid), proc_rss(pid)
        cpu0 = proc_cpu(pid)
        start = time.perf_counter()
        outcome = await _cycles(dialect, port, cycles, "leak")
        elapsed = time.perf_counter() - start
        cpu = proc_cpu(pid) - cpu0
        settled = await _settle(pid, fds0, settle_limit)
        fds1, sockets1, rss1 = open_fds(pid), client_sockets(pid), proc_rss(pid)
        users = await users_online(dialect, port)
    growth = (rss1 - rss0) / 2**20
    problems = []
    if fds1 > fds0:
        problems.append(f"{fds1 - fds0} more open fds")
    if sockets1:
        problems.append(f"{sockets1} client sockets still open")
    if growth > bound:
        problems.append(f"RSS grew {growth:.1f} MiB (bound {bound:g})")
    if outcome["failed"]:
        problems.append(f"{outcome['failed']} cycles failed ({outcome['first_error']})")
    if outcome["unanswered"]:
        problems.append(f"{outcome['unanswered']} polite leaves not closed by the server within 2 s")
    if users is not None and users != 1:
        problems.append(f"the server counts {users - 1} users besides the probe")
    return {
        "cycles": outcome["done"],
        "failed_cycles": outcome["failed"],
        "cycles_per_s": round(outcome["done"] / elapsed),
        "server_cpu_ms_per_cycle": round(cpu / max(outcome["done"], 1) * 1000, 3),
        "fds_before": fds0,
        "fds_after": fds1,
        "client_sockets_before": sockets0,
        "client_sockets_after": sockets1,
        "rss_before_mib": round(rss0 / 2**20, 1),
        "rss_after_mib": round(rss1 / 2**20, 1),
        "rss_growth_mib": round(growth, 2),
        "rss_bound_mib": bound,
        "users_after": users,
        "settle_s": round(settled, 2),
        "verdict": "FAIL" if problems else "PASS",
        "problems": "; ".join(problems),
    }


SCENARIOS = {"fanout": fanout, "idle": idle, "logins": logins, "leak": leak}


def main() -> None:
    spec = json.loads(sys.argv[1])
    # Each client is a socket; 10,000 idle clients need more than the usual 1024.
    raise_fd_limit(int(spec.get("clients", 0)) + 256)
    # The receiver thread and the senders share the GIL; with the default 5 ms
    # switch interval a waiting thread can add milliseconds to a measurement.
    sys.setswitchinterval(0.0005)
    result = trio.run(SCENARIOS[spec["scenario"]], spec)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
