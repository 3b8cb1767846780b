"""Fan-out saturation over the TCP line transport, server in its own process.

    python -m benchmarks.fanout_tcp --clients 100 --messages 20000

Starts ``python -m triochat serve`` on loopback, connects N clients to one
room, lets S of them send 64-byte messages with a bounded in-flight window,
and waits until every receiver has every message.  Reports delivered
messages per second (summed over receivers), server CPU microseconds per
delivery (from /proc), and the load generator's own CPU share.  Traffic goes
to 127.0.0.1 only, and every phase is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time

import trio

PAYLOAD = 64


def _proc_cpu(pid: int) -> float:
    """User plus system CPU seconds of process *pid*."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Client:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.lines = 0
        self.progress = trio.Event()

    async def read_lines(self, until: int) -> None:
        while self.lines < until:
            data = await self.stream.receive_some(262144)
            if not data:
                raise RuntimeError("server closed a benchmark connection")
            self.lines += data.count(b"\n")
            self.progress.set()
            self.progress = trio.Event()


async def _login(port: int, name: str) -> Client:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(name.encode() + b"\n")
    buffer = b""
    while b"Welcome" not in buffer:
        chunk = await stream.receive_some(65536)
        if not chunk:
            raise RuntimeError("login failed")
        buffer += chunk
    return Client(stream)


async def run(
    port: int, server_pid: int, clients: int, senders: int, messages: int, window: int
) -> dict[str, object]:
    with trio.fail_after(60):
        members = [await _login(port, f"c{i}") for i in range(clients)]
        # Let the join notices settle, then start counting from zero.
        await trio.sleep(0.5)
        for member in members:
            while True:
                with trio.move_on_after(0.01):
                    await member.stream.receive_some(1 << 20)
                    continue
                break
            member.lines = 0
    per_sender = messages // senders
    total_messages = per_sender * senders
    expected = {i: total_messages - (per_sender if i < senders else 0) for i in range(clients)}
    probe = members[-1]
    sent = 0
    line = b"x" * (PAYLOAD - 1) + b"\n"

    async def send(member: Client) -> None:
        nonlocal sent
        for _ in range(per_sender):
            while sent - probe.lines >= window:
                await probe.progress.wait()
            sent += 1
            await member.stream.send_all(line)

    cpu_server0, cpu_self0 = _proc_cpu(server_pid), _self_cpu()
    start = time.perf_counter()
    with trio.fail_after(300):
        async with trio.open_nursery() as nursery:
            for i, member in enumerate(members):
                nursery.start_soon(member.read_lines, expected[i])
            for member in members[:senders]:
                nursery.start_soon(send, member)
    elapsed = time.perf_counter() - start
    cpu_server, cpu_self = _proc_cpu(server_pid) - cpu_server0, _self_cpu() - cpu_self0
    delivered = sum(m.lines for m in members)
    for member in members:
        await member.stream.aclose()
    return {
        "transport": "tcp",
        "clients": clients,
        "senders": senders,
        "messages": total_messages,
        "window": window,
        "delivered": delivered,
        "expected": sum(expected.values()),
        "seconds": round(elapsed, 3),
        "delivered_per_s": round(delivered / elapsed),
        "server_cpu_us_per_delivery": round(cpu_server / delivered * 1e6, 2),
        "server_cpu_share": round(cpu_server / elapsed, 2),
        "loadgen_cpu_share": round(cpu_self / elapsed, 2),
        "loadgen_bound": cpu_self / elapsed > 0.9,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        match = re.search(r":(\d+)$", server.stdout.readline().strip())
        if not match:
            raise SystemExit("the server did not start")
        result = trio.run(
            run, int(match.group(1)), server.pid, args.clients, args.senders, args.messages, args.window
        )
        print(json.dumps(result))
    finally:
        server.terminate()
        server.wait(timeout=15)


if __name__ == "__main__":
    main()
