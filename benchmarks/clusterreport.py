"""The cluster scenario's tables (issue 12): several nodes behind one Redis against one node.

For each clustered server and N: deliveries/s and server CPU per delivery (summed
over the nodes) at 1, 2 and 3 nodes, as ratios to the same server on one node
without Redis; the p99 at a fixed rate and what the hop through Redis adds to it;
Redis's commands and CPU per message; and which process was busiest, so the
table says what saturates first.
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.points import Point, kind

Runs = dict[str, list[dict[str, Any]]]

ONE_NODE = {"triochat-cluster": "triochat-ws", "socketio-redis": "socketio"}
"""Each clustered server's reference: the same chat on one node, without Redis."""
SATURATED = 0.9
"""A process using this share of a core or more is the one that saturates."""


def _ok(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in runs if "error" not in r]


def _median(runs: list[dict[str, Any]], metric: str) -> float | None:
    values = [r[metric] for r in _ok(runs) if isinstance(r.get(metric), int | float)]
    return statistics.median(values) if values else None


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "—"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}".rstrip("0").rstrip(".")


def _ratio(value: float | None, reference: float | None) -> str:
    if value is None or reference is None or reference == 0:
        return "—"
    return f"{value / reference:.2f}x"


def _commands(runs: list[dict[str, Any]]) -> str:
    """Redis commands per message (median), with the median of each command beside it."""
    total = _median(runs, "redis_commands_per_message")
    if total is None:
        return "no Redis"
    names = sorted({name for r in _ok(runs) for name in r.get("redis_commands", {})})
    parts = []
    for name in names:
        value = statistics.median(r.get("redis_commands", {}).get(name, 0) for r in _ok(runs))
        if value:
            parts.append(f"{name} {_fmt(value, 3)}")
    return f"{_fmt(total, 3)}" + (f" ({', '.join(parts)})" if parts else "")


def _busiest(runs: list[dict[str, Any]]) -> str:
    """The busiest process of the median run (by delivered/s), and the machine's total share."""
    ok = [r for r in _ok(runs) if "busiest" in r]
    if not ok:
        return "—"
    ordered = sorted(ok, key=lambda r: r.get("delivered_per_s", 0))
    run = ordered[(len(ordered) - 1) // 2]
    share = run["busiest_cpu_share"]
    mark = " **saturated**" if share >= SATURATED else ""
    nodes = "/".join(f"{s:g}" for s in run.get("node_cpu_shares", []))
    redis = f", Redis {run['redis_cpu_share']:g}" if "redis_cpu_share" in run else ""
    return (
        f"{run['busiest']} {share:g}{mark} (nodes {nodes}{redis}, load generator "
        f"{run.get('loadgen_cpu_share', 0):g}; all {run.get('machine_cpu_share', 0):g})"
    )


def _error(runs: list[dict[str, Any]]) -> str | None:
    if runs and not _ok(runs):
        return str(runs[0].get("error", "no result"))
    return None


def _cells(points: list[Point], all_runs: dict[int, Runs], rate: bool) -> dict[tuple[str, int, int], Runs]:
    """(server, N, nodes) -> that point's runs, for the saturation (or fixed-rate) cluster points."""
    table: dict[tuple[str, int, int], Runs] = {}
    for index, point in enumerate(points):
        if kind(point) != "cluster" or ("rate" in point.params) != rate:
            continue
        for server, runs in all_runs[index].items():
            key = (server, int(point.params["clients"]), int(point.params["nodes"]))
            table[key] = {server: runs}
    return table


def _order(servers: set[str]) -> list[str]:
    """References first, each before its clustered server; then anything else."""
    ordered = []
    for clustered, single in ONE_NODE.items():
        ordered += [s for s in (single, clustered) if s in servers]
    return ordered + sorted(servers - set(ordered))


def saturation_table(points: list[Point], all_runs: dict[int, Runs]) -> list[str]:
    """Fan-out at saturation per server, N and nodes, against the one-node reference."""
    cells = _cells(points, all_runs, rate=False)
    if not cells:
        return []
    lines = [
        "### Cluster fan-out at saturation",
        "",
        "Ratios are to the same chat on one node without Redis (triochat-ws for triochat-cluster, "
        "socketio for socketio-redis), in this run. Server CPU is summed over the nodes. "
        f"Busiest process: its share of a core in the median run (at {SATURATED:g} or more it is "
        "what saturates), then every process's share and their sum (the machine's cores in use).",
        "",
        "| server | N | nodes | delivered/s | vs one node | server CPU µs per delivery | vs one node "
        "| Redis commands per message | Redis CPU µs per message | busiest process |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    servers = {server for server, _, _ in cells}
    for server in _order(servers):
        for n in sorted({n for s, n, _ in cells if s == server}):
            for nodes in sorted({k for s, m, k in cells if s == server and m == n}):
                runs = cells[(server, n, nodes)][server]
                error = _error(runs)
                if error is not None:
                    lines.append(f"| {server} | {n} | {nodes} | error: {error} | | | | | | |")
                    continue
                reference = cells.get((ONE_NODE.get(server, server), n, 1), {})
                ref_runs = next(iter(reference.values()), [])
                rate, cpu = _median(runs, "delivered_per_s"), _median(runs, "server_cpu_us_per_delivery")
                lines.append(
                    f"| {server} | {n} | {nodes} | {_fmt(rate)} "
                    f"| {_ratio(rate, _median(ref_runs, 'delivered_per_s'))} | {_fmt(cpu)} "
                    f"| {_ratio(cpu, _median(ref_runs, 'server_cpu_us_per_delivery'))} | {_commands(runs)} "
                    f"| {_fmt(_median(runs, 'redis_cpu_us_per_message'))} | {_busiest(runs)} |"
                )
    return [*lines, ""]


def latency_table(points: list[Point], all_runs: dict[int, Runs]) -> list[str]:
    """p50/p99 at the fixed rate per server and nodes, and the p99 the hop through Redis adds."""
    cells = _cells(points, all_runs, rate=True)
    if not cells:
        return []
    rates = sorted({p.params["rate"] for p in points if kind(p) == "cluster" and "rate" in p.params})
    lines = [
        f"### Cluster latency at {', '.join(f'{r:,}' for r in rates)} deliveries/s",
        "",
        "p99 added by the hop: this p99 minus the one-node reference's (no Redis) in this run. "
        "The lowest p99 of the runs is beside the median: on a shared machine one stall moves a p99.",
        "",
        "| server | N | nodes | p50 ms | p99 ms | lowest p99 ms | p99 added by the hop, ms "
        "| Redis commands per message | Redis CPU µs per message | delivered (expected) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for server in _order({server for server, _, _ in cells}):
        for n in sorted({n for s, n, _ in cells if s == server}):
            for nodes in sorted({k for s, m, k in cells if s == server and m == n}):
                runs = cells[(server, n, nodes)][server]
                error = _error(runs)
                if error is not None:
                    lines.append(f"| {server} | {n} | {nodes} | error: {error} | | | | | | |")
                    continue
                reference = cells.get((ONE_NODE.get(server, server), n, 1), {})
                lowest = min((r["p99_ms"] for r in _ok(runs) if "p99_ms" in r), default=None)
                ref_p99 = _median(next(iter(reference.values()), []), "p99_ms")
                p99 = _median(runs, "p99_ms")
                added = "—" if p99 is None or ref_p99 is None else f"{p99 - ref_p99:+.2f}"
                delivered = sum(r.get("delivered", 0) for r in _ok(runs))
                expected = sum(r.get("expected", 0) for r in _ok(runs))
                lines.append(
                    f"| {server} | {n} | {nodes} | {_fmt(_median(runs, 'p50_ms'))} | {_fmt(p99)} "
                    f"| {_fmt(lowest)} | {added} "
                    f"| {_commands(runs)} | {_fmt(_median(runs, 'redis_cpu_us_per_message'))} "
                    f"| {delivered:,} ({expected:,}) |"
                )
    return [*lines, ""]


Series = dict[str, tuple[list[int], list[float]]]


def cluster_series(points: list[Point], all_runs: dict[int, Runs]) -> Series:
    """For the chart: per server and N, (nodes, median delivered/s) of the saturation cluster points."""
    series: Series = {}
    cells = _cells(points, all_runs, rate=False)
    for (server, n, nodes), runs in sorted(cells.items()):
        value = _median(runs[server], "delivered_per_s")
        if value is not None:
            xs, ys = series.setdefault(f"{server} N={n}", ([], []))
            xs.append(nodes)
            ys.append(value)
    return series


def cluster_report(points: list[Point], all_runs: dict[int, Runs]) -> list[str]:
    """The cluster section of a report (empty when the run has no cluster points)."""
    tables = saturation_table(points, all_runs) + latency_table(points, all_runs)
    if not tables:
        return []
    return ["## Cluster: nodes behind one Redis (issue 12)", "", *tables]
