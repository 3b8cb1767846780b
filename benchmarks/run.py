"""The benchmark harness: triochat against its peers, side by side, in one run.

    python -m benchmarks.run [--quick] [--repeats N] [--only SERVER] [SCENARIO ...]
    python -m benchmarks.run --report benchmarks/results/<run>
    (also: triochat bench, nox -s bench)

Each run starts the server under test in its own process, then the load
generator (``benchmarks.loadgen``) in another; the server is stopped by its
PID afterwards.  Servers are interleaved and every point is run at least
twice; the report gives medians and ratios.  Results go to
``benchmarks/results/<time>/``: ``runs.jsonl`` (one JSON record per run),
``report.md`` (the tables) and ``chart.png``.  Loopback only; every run is
bounded in time.  The exit status is 1 when a leak run fails (see ``leak``
in ``benchmarks.loadgen``).
"""

from __future__ import annotations

import argparse
import atexit
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.clusterreport import ONE_NODE
from benchmarks.points import Point
from benchmarks.procstat import raise_fd_limit
from benchmarks.report import leak_failures, rebuild, write_report
from tests.redisproc import RedisProcess, RedisUnavailable, start_redis
from triochat.cli import bench

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


@dataclass(frozen=True)
class Subject:
    """A server under test and the dialect its clients speak."""

    name: str
    command: tuple[str, ...]
    dialect: str
    transport: str  # "ws" or "tcp": which announced port to use


TRIOCHAT = (
    PY,
    "-m",
    "triochat",
    "serve",
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--tcp-port",
    "0",
    "--ping-interval",
    "off",
    "--log-level",
    "warning",
    "--max-connections",
    "19000",
    # The peers announce no joins; without a limit, N logins into one room
    # cost N^2/2 join deliveries before a run starts.  See docs/benchmarks.md.
    "--presence-limit",
    "100",
    # The peers have no flood control; the load generator's senders go far
    # beyond the default 10 messages/s per user on purpose.
    "--rate-limit",
    "off",
)
SUBJECTS = {
    s.name: s
    for s in [
        Subject("triochat-ws", TRIOCHAT, "triochat-ws", "ws"),
        Subject("triochat-tcp", TRIOCHAT, "triochat-tcp", "tcp"),
        Subject("websockets", (PY, "-m", "benchmarks.peers.ws_broadcast", "0"), "ws-plain", "ws"),
        Subject("websockets-trio", (PY, "-m", "benchmarks.peers.ws_trio_broadcast", "0"), "ws-plain", "ws"),
        # The same two with the library's default permessage-deflate.
        Subject(
            "websockets-deflate",
            (PY, "-m", "benchmarks.peers.ws_broadcast", "0", "deflate"),
            "ws-plain",
            "ws",
        ),
        Subject(
            "websockets-trio-deflate",
            (PY, "-m", "benchmarks.peers.ws_trio_broadcast", "0", "deflate"),
            "ws-plain",
            "ws",
        ),
        Subject("asyncio-howto", (PY, "-m", "benchmarks.peers.asyncio_howto", "0"), "tcp-plain", "tcp"),
        Subject("asyncio-protocol", (PY, "-m", "benchmarks.peers.asyncio_protocol", "0"), "tcp-plain", "tcp"),
        Subject("group-terminal", (PY, "-m", "benchmarks.peers.group_terminal_server", "0"), "gt", "ws"),
        # The room log's cost: triochat-ws keeps 1000 messages per room in memory
        # (the default); these two turn history off, or keep it in an SQLite file
        # (a fresh one per start, see SCRATCH).
        Subject("triochat-ws-nohistory", (*TRIOCHAT, "--history-size", "0"), "triochat-ws", "ws"),
        Subject("triochat-ws-sqlite", (*TRIOCHAT, "--store", "sqlite:{scratch}"), "triochat-ws", "ws"),
        # The metrics' cost: triochat-ws counts for /metrics (the default); this one does not.
        Subject("triochat-ws-nometrics", (*TRIOCHAT, "--no-metrics"), "triochat-ws", "ws"),
    ]
}
HISTORY = ("triochat-ws-nohistory", "triochat-ws-sqlite")
"""triochat-ws with history off and with the SQLite store, beside triochat-ws at fan-out N=100."""
METRICS = ("triochat-ws-nometrics",)
"""triochat-ws without metrics, beside triochat-ws at fan-out N=100 (their overhead)."""
PLAIN = tuple(
    name for name in SUBJECTS if not name.endswith("-deflate") and name not in HISTORY and name not in METRICS
)
"""Every server, without compression."""
WEBSOCKET = ("triochat-ws", "websockets", "websockets-trio")
"""triochat's WebSocket side and the `websockets` library's servers (asyncio, Trio)."""
COMPRESSED = ("triochat-ws", "websockets-deflate", "websockets-trio-deflate", "websockets")
"""Compression runs: triochat as it serves (compression on when the server can), the
`websockets` servers with their default compression, and `websockets` without (the
uncompressed wire size)."""
LEAKED = ("triochat-ws", "triochat-tcp")
LEAK_RSS_BOUND_MIB = 8
"""How much a leak run's server may grow after its warm-up (a leak of 400 bytes per
cycle would show as 7.6 MiB over 20,000 cycles)."""
CLUSTER_SUBJECTS = {
    s.name: s
    for s in [
        # Issue 12's cluster: every node of one run gets the URL of the run's own
        # redis-server for ``{redis}`` (redis://127.0.0.1:PORT/0).
        Subject("triochat-cluster", (*TRIOCHAT, "--redis", "{redis}"), "triochat-ws", "ws"),
        Subject(
            "socketio-redis", (PY, "-m", "benchmarks.peers.socketio_redis", "0", "{redis}"), "socketio", "ws"
        ),
        # The same Socket.IO chat on one node with its rooms in memory (no Redis).
        Subject("socketio", (PY, "-m", "benchmarks.peers.socketio_redis", "0"), "socketio", "ws"),
    ]
}
"""Servers that run only in the ``cluster`` scenario (added to SUBJECTS after PLAIN is made)."""
SUBJECTS.update(CLUSTER_SUBJECTS)
CLUSTERED = ("triochat-cluster", "socketio-redis")
"""Servers run as 1, 2 and 3 nodes behind one Redis (the ``cluster`` scenario)."""
SINGLE = ONE_NODE
"""Each clustered server's one-node reference without Redis (run beside its 1-node cluster)."""
CLUSTER_NODES = (1, 2, 3)
SCENARIOS = (
    *("fanout", "latency", "stalled", "churn", "idle", "logins", "compression", "leak", "ws"),
    "cluster",
)
DEFAULT = tuple(s for s in SCENARIOS if s not in ("ws", "cluster"))
"""``ws`` repeats points of the others (issue 11's comparison) and ``cluster`` needs
``redis-server``: neither is in the default."""


def _merged(points: list[Point]) -> list[Point]:
    """One point per label, with the union of the servers asked for it (in order)."""
    merged: dict[str, Point] = {}
    for point in points:
        known = merged.get(point.label())
        if known is None:
            merged[point.label()] = point
        else:
            subjects = known.subjects + tuple(s for s in point.subjects if s not in known.subjects)
            merged[point.label()] = Point(known.scenario, subjects, known.params, known.once)
    return list(merged.values())


def _compression(quick: bool, subjects: tuple[str, ...] = COMPRESSED) -> list[Point]:
    # Chat-sized texts of about 200 characters, different in every message.
    deliveries = 40_000 if quick else 200_000
    params = {"deflate": 1, "text_bytes": 200, "deliveries": deliveries}
    return [Point("fanout", subjects, {"clients": n, **params}) for n in (10, 100)]


def _websocket_comparison(quick: bool) -> list[Point]:
    """Issue 11's points: triochat's WebSocket side against the `websockets` servers."""
    points = [Point("logins", WEBSOCKET, {"clients": 500 if quick else 2000})]
    # 10,000 connections take a minute or more to open with some servers: --quick uses 2,000.
    idle = {"clients": 2000, "seconds": 1.0} if quick else {"clients": 10_000, "seconds": 3.0}
    points.append(Point("idle", WEBSOCKET, idle))
    for n in (10, 100) if quick else (10, 100, 1000):
        points.append(Point("fanout", WEBSOCKET, {"clients": n, "deliveries": 60_000 if quick else 400_000}))
    params = {"clients": 100, "rate": 50_000, "seconds": 2 if quick else 5}
    points.append(Point("fanout", (*WEBSOCKET, "asyncio-protocol"), params))
    return points + _compression(quick)


CLUSTER_RATE = 5_000
"""Deliveries per second of the cluster's fixed-rate points: the Socket.IO peer saturates
between 10,000 and 35,000 deliveries/s on the project's 2-core machine, and a p99 taken near
saturation measures its queue, not the hop through Redis."""


def _cluster(quick: bool) -> list[Point]:
    """Issue 12's points: 1, 2, 3 nodes behind one Redis; fan-out at N=100 and 1000, p99 at a fixed rate.

    The one-node references without Redis (``SINGLE``) run beside the 1-node cluster.
    """
    points = []
    deliveries = 30_000 if quick else 150_000
    for nodes in CLUSTER_NODES:
        subjects = CLUSTERED + (tuple(SINGLE.values()) if nodes == 1 else ())
        for n in (100, 1000):
            points.append(Point("fanout", subjects, {"clients": n, "deliveries": deliveries, "nodes": nodes}))
        params = {"clients": 100, "rate": CLUSTER_RATE, "seconds": 2 if quick else 5, "nodes": nodes}
        points.append(Point("fanout", subjects, params))
    return points


def plan(scenarios: list[str], quick: bool) -> list[Point]:
    points: list[Point] = []
    subjects: tuple[str, ...]
    if "fanout" in scenarios:
        for n in (10, 100) if quick else (10, 100, 1000):
            deliveries = 60_000 if quick else 400_000
            subjects = PLAIN + HISTORY + METRICS if n == 100 else PLAIN
            points.append(Point("fanout", subjects, {"clients": n, "deliveries": deliveries}))
    if "latency" in scenarios:
        cases = [(100, 50_000)] if quick else [(100, 10_000), (100, 50_000), (1000, 50_000)]
        subjects = (
            "triochat-ws",
            "triochat-tcp",
            "websockets",
            "websockets-trio",
            "asyncio-howto",
            "asyncio-protocol",
        )
        for n, rate in cases:
            points.append(
                Point("fanout", subjects, {"clients": n, "rate": rate, "seconds": 2 if quick else 5})
            )
    pairs = (
        ("triochat-ws", "websockets")
        if quick
        else ("triochat-ws", "triochat-tcp", "websockets", "asyncio-protocol")
    )
    if "stalled" in scenarios:
        # The same fixed-rate point with one client that never reads: the others'
        # p99 should not move, and the stalled one should be cut off.
        subjects = pairs
        for stalled in (0, 1):
            params = {"clients": 100, "rate": 50_000, "seconds": 2 if quick else 10, "stalled": stalled}
            points.append(Point("fanout", subjects, params))
    if "churn" in scenarios:
        subjects = pairs
        for churn in (0, 100):
            params = {"clients": 100, "deliveries": 100_000 if quick else 400_000, "churn": churn}
            points.append(Point("fanout", subjects, params))
    if "idle" in scenarios:
        subjects = ("triochat-ws", "triochat-tcp", "websockets", "websockets-trio", "asyncio-howto")
        for n in (1000,) if quick else (1000, 10_000):
            points.append(Point("idle", subjects, {"clients": n, "seconds": 1.0 if quick else 3.0}))
    if "logins" in scenarios:
        subjects = ("triochat-ws", "triochat-tcp", "websockets", "websockets-trio", "group-terminal")
        points.append(Point("logins", subjects, {"clients": 500 if quick else 2000}))
    if "compression" in scenarios:
        points += _compression(quick)
    if "leak" in scenarios:
        params = {"cycles": 5000 if quick else 20_000, "rss_bound_mib": LEAK_RSS_BOUND_MIB}
        points.append(Point("leak", LEAKED, params, once=True))
    if "ws" in scenarios:
        points += _websocket_comparison(quick)
    if "cluster" in scenarios:
        points += _cluster(quick)
    return _merged(points)


def _scratch_file() -> str:
    """A new file name in a directory removed when the run ends (for ``{scratch}``)."""
    global _SCRATCH
    if _SCRATCH is None:
        _SCRATCH = tempfile.mkdtemp(prefix="triochat-bench-")
        atexit.register(shutil.rmtree, _SCRATCH, True)
    return os.path.join(_SCRATCH, f"{next(_SCRATCH_NAMES)}.db")


_SCRATCH: str | None = None
_SCRATCH_NAMES = itertools.count(1)


def uses_redis(subject: Subject) -> bool:
    """Whether the subject's command needs a Redis URL (``{redis}``)."""
    return any("{redis}" in part for part in subject.command)


def server_command(subject: Subject, redis_url: str | None = None) -> list[str]:
    """The subject's command with ``{scratch}`` (a new file) and ``{redis}`` filled in."""
    if uses_redis(subject) and redis_url is None:
        raise ValueError(f"{subject.name} needs a Redis URL")
    command = []
    for part in subject.command:
        if "{scratch}" in part:
            part = part.replace("{scratch}", _scratch_file())
        if "{redis}" in part and redis_url is not None:
            part = part.replace("{redis}", redis_url)
        command.append(part)
    return command


def start_server(subject: Subject, redis_url: str | None = None) -> tuple[subprocess.Popen[str], int]:
    command = server_command(subject, redis_url)
    with tempfile.TemporaryFile() as errors:  # what a server that fails to start says
        proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=errors, text=True)
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            ready = re.match(r"READY (\d+)", line)
            if ready:
                return proc, int(ready.group(1))
            announced = re.search(rf"{subject.transport}://127\.0\.0\.1:(\d+)", line)
            if announced:
                return proc, int(announced.group(1))
        stop_server(proc)
        errors.seek(0)
        said = errors.read().decode(errors="replace").strip().splitlines()
    raise RuntimeError(f"{subject.name} did not start" + (f": {said[-1].strip()}" if said else ""))


def stop_server(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=15)
    if proc.stdout is not None:
        proc.stdout.close()


def error_line(stderr: str) -> str:
    """The last exception named in a traceback (exception groups nest them in ``|`` boxes)."""
    lines = [line.strip(" |+-") for line in stderr.splitlines()]
    named = [line for line in lines if re.match(r"[\w.]+(Error|Exception|Exit)\b.*:", line)]
    return (named or [line for line in lines if line] or ["the load generator failed"])[-1]


def run_one(point: Point, subject: Subject) -> dict[str, Any]:
    if "nodes" in point.params:
        return run_cluster(point, subject)
    proc, port = start_server(subject)
    try:
        spec = {
            "scenario": point.scenario,
            "dialect": subject.dialect,
            "port": port,
            "server_pid": proc.pid,
            **point.params,
        }
        return run_loadgen(spec)
    finally:
        stop_server(proc)


@contextmanager
def cluster_nodes(
    subject: Subject, nodes: int, redis_url: str | None
) -> Iterator[list[tuple[subprocess.Popen[str], int]]]:
    """*nodes* server processes of *subject* (each pointed at *redis_url*), stopped by PID after."""
    started: list[tuple[subprocess.Popen[str], int]] = []
    try:
        for _ in range(nodes):
            started.append(start_server(subject, redis_url))
        yield started
    finally:
        for proc, _ in started:
            stop_server(proc)


def run_cluster(point: Point, subject: Subject) -> dict[str, Any]:
    """One run of a cluster point: a fresh redis-server (when the subject uses one), the nodes, the load.

    Clients go round-robin over the nodes; the load generator sums the nodes' CPU
    and reads Redis's CPU and commands before and after.  Everything is stopped by PID.
    """
    nodes = int(point.params["nodes"])
    if nodes > 1 and not uses_redis(subject):
        return {"error": f"{subject.name} runs on one node only (no Redis)"}
    try:
        with ExitStack() as stack:
            redis: RedisProcess | None = stack.enter_context(start_redis()) if uses_redis(subject) else None
            started = stack.enter_context(cluster_nodes(subject, nodes, redis.url if redis else None))
            spec = {
                "scenario": point.scenario,
                "dialect": subject.dialect,
                "port": started[0][1],
                "server_pid": started[0][0].pid,
                "ports": [port for _, port in started],
                "server_pids": [proc.pid for proc, _ in started],
                **point.params,
            }
            if redis is not None:
                spec.update(redis_pid=redis.pid, redis_port=redis.port)
            return run_loadgen(spec)
    except (RedisUnavailable, RuntimeError) as exc:
        return {"error": str(exc)}


def run_loadgen(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the load generator on *spec* in its own process; its JSON result or an error record."""
    try:
        done = subprocess.run(
            [PY, "-m", "benchmarks.loadgen", json.dumps(spec)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            return {"error": error_line(done.stderr)}
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result
    except subprocess.TimeoutExpired:
        return {"error": "the load generator timed out"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="triochat benchmark harness",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=bench.scenario_help(),
    )
    bench.add_arguments(parser)
    args = parser.parse_args(argv)
    problem = bench.usage_problem(args)
    unknown = [s for s in args.only or [] if s not in SUBJECTS]
    if unknown:
        problem = f"unknown server {unknown[0]!r} (choose from {', '.join(SUBJECTS)})"
    if problem:
        parser.error(problem)
    if bench.missing_extra() is not None:
        print(bench.EXTRA_HINT, file=sys.stderr)
        return 2
    if args.report:
        print("\n".join(rebuild(Path(args.report))))
        return 0
    # Servers and the load generator inherit this: 10,000 idle clients need 10,000 fds on each side.
    raise_fd_limit(12_000)
    points = plan(args.scenarios or list(DEFAULT), args.quick)
    out = ROOT / "benchmarks" / "results" / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    all_runs: dict[int, dict[str, list[dict[str, Any]]]] = {}
    started = time.monotonic()
    chosen = [[s for s in p.subjects if not args.only or s in args.only] for p in points]
    total = sum(len(s) * (1 if p.once else args.repeats) for p, s in zip(points, chosen, strict=True))
    done = 0
    with open(out / "runs.jsonl", "w") as log:
        for index, point in enumerate(points):
            subjects = chosen[index]
            all_runs[index] = {s: [] for s in subjects}
            for repeat in range(1 if point.once else args.repeats):
                for name in subjects:  # interleaved: every server once, then again
                    done += 1
                    elapsed = time.monotonic() - started
                    progress = f"[{done}/{total} {elapsed:5.0f}s] {point.label()} {name} #{repeat + 1}"
                    print(progress, file=sys.stderr, flush=True)
                    result = run_one(point, SUBJECTS[name])
                    record = {
                        "point": point.label(),
                        "server": name,
                        "repeat": repeat + 1,
                        **point.params,
                        **result,
                    }
                    log.write(json.dumps(record) + "\n")
                    log.flush()
                    all_runs[index][name].append(result)
    command = "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])
    report = write_report(out, points, all_runs, command.strip(), args.repeats)
    print("\n".join(report))
    print(f"\nresults: {out}", file=sys.stderr)
    failures = leak_failures(points, all_runs)
    for failure in failures:
        print(f"leak: FAIL {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
