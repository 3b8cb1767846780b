"""The benchmark harness: triochat against its peers, side by side, in one run.

    python -m benchmarks.run [--quick] [SCENARIO ...]     (also: triochat bench, nox -s bench)

Each run starts the server under test in its own process, then the load
generator (``benchmarks.loadgen``) in another; the server is stopped by its
PID afterwards.  Servers are interleaved and every point is run at least
twice; the report gives medians and ratios.  Results go to
``benchmarks/results/<time>/``: ``runs.jsonl`` (one JSON record per run),
``report.md`` (the tables) and ``chart.png``.  Loopback only; every run is
bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
)
SUBJECTS = {
    s.name: s
    for s in [
        Subject("triochat-ws", TRIOCHAT, "triochat-ws", "ws"),
        Subject("triochat-tcp", TRIOCHAT, "triochat-tcp", "tcp"),
        Subject("websockets", (PY, "-m", "benchmarks.peers.ws_broadcast", "0"), "ws-plain", "ws"),
        Subject("asyncio-howto", (PY, "-m", "benchmarks.peers.asyncio_howto", "0"), "tcp-plain", "tcp"),
        Subject("asyncio-protocol", (PY, "-m", "benchmarks.peers.asyncio_protocol", "0"), "tcp-plain", "tcp"),
        Subject("group-terminal", (PY, "-m", "benchmarks.peers.group_terminal_server", "0"), "gt", "ws"),
    ]
}
ALL = list(SUBJECTS)


@dataclass(frozen=True)
class Point:
    scenario: str
    subjects: tuple[str, ...]
    params: dict[str, Any]

    def label(self) -> str:
        return f"{self.scenario} " + " ".join(f"{k}={v}" for k, v in self.params.items())


def plan(scenarios: list[str], quick: bool) -> list[Point]:
    points: list[Point] = []
    if "fanout" in scenarios:
        for n in (10, 100) if quick else (10, 100, 1000):
            deliveries = 60_000 if quick else 400_000
            points.append(Point("fanout", tuple(ALL), {"clients": n, "deliveries": deliveries}))
    if "latency" in scenarios:
        cases = [(100, 50_000)] if quick else [(100, 10_000), (100, 50_000), (1000, 50_000)]
        subjects = ("triochat-ws", "triochat-tcp", "websockets", "asyncio-howto", "asyncio-protocol")
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
        subjects = ("triochat-ws", "triochat-tcp", "websockets", "asyncio-howto")
        for n in (1000,) if quick else (1000, 10_000):
            points.append(Point("idle", subjects, {"clients": n, "seconds": 1.0 if quick else 3.0}))
    if "logins" in scenarios:
        subjects = ("triochat-ws", "triochat-tcp", "websockets", "group-terminal")
        points.append(Point("logins", subjects, {"clients": 500 if quick else 2000}))
    return points


def start_server(subject: Subject) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        subject.command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
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
    raise RuntimeError(f"{subject.name} did not start")


def stop_server(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=15)
    if proc.stdout is not None:
        proc.stdout.close()


def run_one(point: Point, subject: Subject) -> dict[str, Any]:
    proc, port = start_server(subject)
    try:
        spec = {
            "scenario": point.scenario,
            "dialect": subject.dialect,
            "port": port,
            "server_pid": proc.pid,
            **point.params,
        }
        done = subprocess.run(
            [PY, "-m", "benchmarks.loadgen", json.dumps(spec)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["?"])[-1]
            return {"error": tail}
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result
    except subprocess.TimeoutExpired:
        return {"error": "the load generator timed out"}
    finally:
        stop_server(proc)


def headline(point: Point) -> tuple[str, bool]:
    """The metric a point is judged by, and whether higher is better."""
    if point.scenario == "fanout":
        return ("p99_ms", False) if "rate" in point.params else ("delivered_per_s", True)
    if point.scenario == "idle":
        return "rss_per_connection_kib", False
    return "logins_per_s", True


def summarize(point: Point, runs: dict[str, list[dict[str, Any]]]) -> list[str]:
    metric, higher = headline(point)
    medians: dict[str, float] = {}
    rows = []
    for name, results in runs.items():
        values = [r[metric] for r in results if metric in r]
        errors = [r["error"] for r in results if "error" in r]
        if not values:
            rows.append((name, None, results, errors))
            continue
        medians[name] = statistics.median(values)
        rows.append((name, medians[name], results, errors))
    lines = [
        f"### {point.label()}",
        "",
        f"| server | {metric} (median) | runs | ratio triochat-ws | ratio triochat-tcp | notes |",
        "|---|---|---|---|---|---|",
    ]
    for name, value, results, errors in rows:
        cells = [name, "—" if value is None else f"{value:,.2f}".rstrip("0").rstrip("."), str(len(results))]
        for reference in ("triochat-ws", "triochat-tcp"):
            ref = medians.get(reference)
            if value is None or ref is None or value == 0 or ref == 0:
                cells.append("—")
            else:
                cells.append(f"{(ref / value) if higher else (value / ref):.2f}x")
        notes = []
        if errors:
            notes.append(f"errors: {errors[0]}")
        if any(r.get("loadgen_bound") for r in results):
            notes.append("load-generator-bound")
        drops = [r.get("dropped", 0) for r in results]
        if any(drops):
            notes.append(f"dropped {max(drops)}")
        extra = []
        for key in (
            "server_cpu_us_per_delivery",
            "server_cpu_ms_per_login",
            "p50_ms",
            "p99_ms",
            "idle_cpu_share",
            "stalled_cut_off",
            "server_rss_growth_mib",
            "churned",
            "loadgen_cpu_share",
        ):
            vals = [r[key] for r in results if key in r]
            if vals and key != metric:
                extra.append(f"{key} {statistics.median(vals):g}")
        cells.append("; ".join(notes + extra))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def chart(points: list[Point], runs: dict[int, dict[str, list[dict[str, Any]]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name in ALL:
        xs, ys, lx, ly = [], [], [], []
        for index, point in enumerate(points):
            if point.scenario != "fanout" or name not in runs[index]:
                continue
            metric, _ = headline(point)
            values = [r[metric] for r in runs[index][name] if metric in r]
            if not values:
                continue
            if "rate" in point.params:
                if point.params["rate"] == 50_000:
                    lx.append(point.params["clients"])
                    ly.append(statistics.median(values))
            else:
                xs.append(point.params["clients"])
                ys.append(statistics.median(values))
        if xs:
            left.plot(xs, ys, marker="o", label=name)
        if lx:
            right.plot(lx, ly, marker="o", label=name)
    left.set(
        xscale="log",
        yscale="log",
        xlabel="clients in the room (N)",
        ylabel="delivered messages/s",
        title="Fan-out saturation",
    )
    right.set(
        xscale="log",
        xlabel="clients in the room (N)",
        ylabel="p99 latency (ms, lower is better)",
        yscale="log",
        title="p99 at 50k deliveries/s",
    )
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write_report(
    out: Path,
    points: list[Point],
    all_runs: dict[int, dict[str, list[dict[str, Any]]]],
    command: str,
    repeats: int,
) -> list[str]:
    report = [
        "# triochat benchmark results",
        "",
        f"Command: `{command}`",
        f"Machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d %H:%M')}",
        f"Repeats per point: {repeats} (interleaved), medians shown. Ratio columns: how many "
        "times better the reference is than the row (above 1: triochat better).",
        "",
    ]
    for index, point in enumerate(points):
        report += summarize(point, all_runs[index])
    (out / "report.md").write_text("\n".join(report))
    chart(points, all_runs, out / "chart.png")
    return report


def rebuild(out: Path) -> list[str]:
    """Report and chart again from a finished run's ``runs.jsonl``."""
    records = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    points: list[Point] = []
    all_runs: dict[int, dict[str, list[dict[str, Any]]]] = {}
    index_of: dict[str, int] = {}
    for record in records:
        label = record["point"]
        if label not in index_of:
            index_of[label] = len(points)
            scenario, *pairs = label.split()
            params = {k: json.loads(v) for k, v in (pair.split("=", 1) for pair in pairs)}
            points.append(Point(scenario, (), params))
            all_runs[index_of[label]] = {}
        all_runs[index_of[label]].setdefault(record["server"], []).append(record)
    repeats = max(r["repeat"] for r in records)
    return write_report(out, points, all_runs, f"python -m benchmarks.run (rebuilt from {out.name})", repeats)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="triochat benchmark harness")
    parser.add_argument(
        "scenarios", nargs="*", default=[], help="fanout latency stalled churn idle logins (default: all)"
    )
    parser.add_argument("--quick", action="store_true", help="fewer, shorter runs (under 3 minutes)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per server and point (default: 2)")
    parser.add_argument("--only", action="append", help="run only these servers (repeatable)")
    parser.add_argument("--report", metavar="DIR", help="rebuild report.md and chart.png of a finished run")
    args = parser.parse_args(argv)
    if args.report:
        print("\n".join(rebuild(Path(args.report))))
        return 0
    scenarios = args.scenarios or ["fanout", "latency", "stalled", "churn", "idle", "logins"]
    points = plan(scenarios, args.quick)
    out = ROOT / "benchmarks" / "results" / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    all_runs: dict[int, dict[str, list[dict[str, Any]]]] = {}
    started = time.monotonic()
    total = sum(len(p.subjects) for p in points) * args.repeats
    done = 0
    with open(out / "runs.jsonl", "w") as log:
        for index, point in enumerate(points):
            subjects = [s for s in point.subjects if not args.only or s in args.only]
            all_runs[index] = {s: [] for s in subjects}
            for repeat in range(args.repeats):
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
