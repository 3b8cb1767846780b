"""Fan-out saturation, server in its own process: TCP lines or WebSocket.

    python -m benchmarks.fanout --transport ws --clients 100 --messages 20000

Starts ``python -m triochat serve`` on loopback, connects N clients to one
room, lets S of them send 64-byte messages with a bounded in-flight window,
and waits until every receiver has every message.  Reports delivered
messages per second (summed over receivers), server CPU microseconds per
delivery (from /proc), and the load generator's own CPU share (above 0.9 the
result is bound by the load generator, not the server).  Traffic goes to
127.0.0.1 only, and every phase is bounded in time.

The WebSocket receivers do the handshake by hand and count frames by walking
their headers (server frames are unmasked), so that the load generator
spends as little as possible per delivery.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import resource
import struct
import subprocess
import sys
import time

import trio

PAYLOAD = 64


def _proc_cpu(pid: int) -> float:
    """User plus system CPU seconds of process *pid*."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _masked_text_frame(payload: bytes) -> bytes:
    """A client frame (clients must mask; a zero mask key leaves the payload as is)."""
    size = len(payload)
    short = size < 126
    header = struct.pack("!BB", 0x81, 0x80 | size) if short else struct.pack("!BBH", 0x81, 0xFE, size)
    return header + b"\0\0\0\0" + payload


class Client:
    """One benchmark connection; counts delivered messages."""

    def __init__(self, stream: trio.SocketStream, websocket: bool) -> None:
        self.stream = stream
        self.websocket = websocket
        self.count = 0
        self.progress = trio.Event()
        self._rest = b""

    def _count(self, data: bytes) -> int:
        if not self.websocket:
            return data.count(b"\n")
        buffer = self._rest + data if self._rest else data
        position, frames, end = 0, 0, len(buffer)
        while end - position >= 2:
            length = buffer[position + 1] & 0x7F
            header = 2
            if length == 126:
                if end - position < 4:
                    break
                length = struct.unpack_from("!H", buffer, position + 2)[0]
                header = 4
            elif length == 127:
                if end - position < 10:
                    break
                length = struct.unpack_from("!Q", buffer, position + 2)[0]
                header = 10
            if end - position < header + length:
                break
            if buffer[position] & 0x0F == 0x1:  # text frames only, not pings
                frames += 1
            position += header + length
        self._rest = buffer[position:]
        return frames

    async def read(self, until: int) -> None:
        while self.count < until:
            data = await self.stream.receive_some(262144)
            if not data:
                raise RuntimeError("the server closed a benchmark connection")
            self.count += self._count(data)
            self.progress.set()
            self.progress = trio.Event()

    async def drain(self) -> None:
        """Read whatever is pending (join notices) and reset the counter."""
        while True:
            with trio.move_on_after(0.05):
                self._count(await self.stream.receive_some(1 << 20))
                continue
            break
        self.count = 0


async def _read_until(stream: trio.SocketStream, marker: bytes) -> bytes:
    buffer = b""
    while marker not in buffer:
        chunk = await stream.receive_some(65536)
        if not chunk:
            raise RuntimeError(f"the server closed the connection before {marker!r}")
        buffer += chunk
    return buffer


async def _login(transport: str, port: int, name: str) -> Client:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    if transport == "tcp":
        await stream.send_all(name.encode() + b"\n")
        await _read_until(stream, b"Welcome")
        return Client(stream, websocket=False)
    key = base64.b64encode(os.urandom(16)).decode()
    await stream.send_all(
        (
            f"GET /v1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await _read_until(stream, b"\r\n\r\n")
    await stream.send_all(_masked_text_frame(json.dumps({"type": "login", "name": name}).encode()))
    await _read_until(stream, b'"welcome"')
    return Client(stream, websocket=True)


def _message(transport: str) -> bytes:
    if transport == "tcp":
        return b"x" * (PAYLOAD - 1) + b"\n"
    return _masked_text_frame(json.dumps({"type": "say", "text": "x" * PAYLOAD}).encode())


async def run(
    transport: str, port: int, server_pid: int, clients: int, senders: int, messages: int, window: int
) -> dict[str, object]:
    with trio.fail_after(120):
        members = [await _login(transport, port, f"c{i}") for i in range(clients)]
        for member in members:
            await member.drain()
    per_sender = messages // senders
    total = per_sender * senders
    expected = [total - (per_sender if i < senders else 0) for i in range(clients)]
    probe = members[-1]
    frame = _message(transport)
    sent = 0

    async def send(member: Client) -> None:
        nonlocal sent
        for _ in range(per_sender):
            while sent - probe.count >= window:
                await probe.progress.wait()
            sent += 1
            await member.stream.send_all(frame)

    cpu_server0, cpu_self0 = _proc_cpu(server_pid), _self_cpu()
    start = time.perf_counter()
    with trio.fail_after(300):
        async with trio.open_nursery() as nursery:
            for member, until in zip(members, expected, strict=True):
                nursery.start_soon(member.read, until)
            for member in members[:senders]:
                nursery.start_soon(send, member)
    elapsed = time.perf_counter() - start
    cpu_server, cpu_self = _proc_cpu(server_pid) - cpu_server0, _self_cpu() - cpu_self0
    delivered = sum(m.count for m in members)
    for member in members:
        await member.stream.aclose()
    return {
        "transport": transport,
        "clients": clients,
        "senders": senders,
        "messages": total,
        "window": window,
        "delivered": delivered,
        "expected": sum(expected),
        "seconds": round(elapsed, 3),
        "delivered_per_s": round(delivered / elapsed),
        "server_cpu_us_per_delivery": round(cpu_server / delivered * 1e6, 2),
        "server_cpu_share": round(cpu_server / elapsed, 2),
        "loadgen_cpu_share": round(cpu_self / elapsed, 2),
        "loadgen_bound": cpu_self / elapsed > 0.9,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--transport", choices=["tcp", "ws"], default="tcp")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--window", type=int, default=200)
    args = parser.parse_args()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "triochat",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--tcp-port",
            "0",
            "--log-level",
            "warning",
            "--max-connections",
            str(args.clients + 10),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        ports = {}
        for _ in range(2):
            match = re.search(r"(tcp|ws)://127\.0\.0\.1:(\d+)", server.stdout.readline())
            if not match:
                raise SystemExit("the server did not start")
            ports[match.group(1)] = int(match.group(2))
        result = trio.run(
            run,
            args.transport,
            ports[args.transport],
            server.pid,
            args.clients,
            args.senders,
            args.messages,
            args.window,
        )
        print(json.dumps(result))
    finally:
        server.terminate()
        server.wait(timeout=15)


if __name__ == "__main__":
    main()
