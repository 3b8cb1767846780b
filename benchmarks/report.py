"""The harness's report: tables of medians and ratios, the leak verdicts, issue 11's targets, the chart."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.clusterreport import cluster_report, cluster_series
from benchmarks.points import Point, kind

Runs = dict[str, list[dict[str, Any]]]
"""One point's results: server name to one record per repeat."""

_EXTRAS = (
    "server_cpu_us_per_delivery",
    "server_cpu_ms_per_login",
    "wire_bytes_per_delivery",
    "compressed_share",
    "verified",
    "p50_ms",
    "p99_ms",
    "idle_cpu_share",
    "stalled_cut_off",
    "server_rss_growth_mib",
    "churned",
    "loadgen_cpu_share",
    "redis_commands_per_message",
    "redis_cpu_us_per_message",
)


def headline(point: Point) -> tuple[str, bool]:
    """The metric a point is judged by, and whether higher is better."""
    what = kind(point)
    if what == "compression":
        return "server_cpu_us_per_delivery", False
    if point.scenario == "fanout":
        return ("p99_ms", False) if "rate" in point.params else ("delivered_per_s", True)
    if point.scenario == "idle":
        return "rss_per_connection_kib", False
    if point.scenario == "leak":
        return "rss_growth_mib", False
    return "logins_per_s", True


def median(runs: Runs, server: str, metric: str) -> float | None:
    """The median of *metric* over *server*'s runs, None without values."""
    values = [r[metric] for r in runs.get(server, []) if isinstance(r.get(metric), int | float)]
    return statistics.median(values) if values else None


def _number(value: float) -> str:
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def summarize(point: Point, runs: Runs) -> list[str]:
    """The table of one point: medians, ratios to triochat, notes."""
    if point.scenario == "leak":
        return leak_table(point, runs)
    metric, higher = headline(point)
    lines = [
        f"### {point.label()}",
        "",
        f"| server | {metric} (median) | runs | ratio triochat-ws | ratio triochat-tcp | notes |",
        "|---|---|---|---|---|---|",
    ]
    for name, results in runs.items():
        value = median(runs, name, metric)
        cells = [name, "—" if value is None else _number(value), str(len(results))]
        for reference in ("triochat-ws", "triochat-tcp"):
            ref = median(runs, reference, metric)
            if value is None or ref is None or value == 0 or ref == 0:
                cells.append("—")
            else:
                cells.append(f"{(ref / value) if higher else (value / ref):.2f}x")
        notes = []
        errors = [r["error"] for r in results if "error" in r]
        if errors:
            notes.append(f"errors: {errors[0]}")
        if any(r.get("loadgen_bound") for r in results):
            notes.append("load-generator-bound")
        drops = [r.get("dropped", 0) for r in results]
        if any(drops):
            notes.append(f"dropped {max(drops)}")
        deflate = [r["deflate"] for r in results if "deflate" in r]
        if deflate:
            notes.append(f"deflate: {deflate[0]}")
        for key in _EXTRAS:
            extra = median(runs, name, key)
            if extra is not None and key != metric:
                notes.append(f"{key} {extra:g}")
        cells.append("; ".join(notes))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def leak_table(point: Point, runs: Runs) -> list[str]:
    """The churn-and-leak verdicts: descriptors, sockets, RSS and users before and after."""
    lines = [
        f"### {point.label()}",
        "",
        "| server | cycles (failed) | cycles/s | open fds before → after | client sockets after "
        "| RSS MiB before → after (growth; bound) | users after | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, results in runs.items():
        for r in results:
            if "error" in r:
                lines.append(f"| {name} | — | — | — | — | — | — | **FAIL**: {r['error']} |")
                continue
            verdict = "PASS" if r["verdict"] == "PASS" else f"**FAIL**: {r['problems']}"
            users = "—" if r.get("users_after") is None else f"{r['users_after'] - 1} (+ the probe)"
            lines.append(
                f"| {name} | {r['cycles']:,} ({r['failed_cycles']}) | {r['cycles_per_s']:,} "
                f"| {r['fds_before']} → {r['fds_after']} | {r['client_sockets_after']} "
                f"| {r['rss_before_mib']} → {r['rss_after_mib']} ({r['rss_growth_mib']:+}; "
                f"{r['rss_bound_mib']:g}) | {users} | {verdict} |"
            )
    lines.append("")
    return lines


def leak_failures(points: list[Point], all_runs: dict[int, Runs]) -> list[str]:
    """One line per failed leak run (an error counts as a failure)."""
    failures = []
    for index, point in enumerate(points):
        if point.scenario != "leak":
            continue
        for name, results in all_runs[index].items():
            for r in results:
                if r.get("verdict") != "PASS":
                    failures.append(f"{name}: {r.get('problems') or r.get('error', 'no result')}")
    return failures


def _find(points: list[Point], all_runs: dict[int, Runs], what: str, **params: Any) -> Runs | None:
    for index, point in enumerate(points):
        if kind(point) == what and all(point.params.get(k) == v for k, v in params.items()):
            return all_runs[index]
    return None


def targets(points: list[Point], all_runs: dict[int, Runs]) -> list[str]:
    """Issue 11's targets as ratios within this run, for the points this run has."""
    rows: list[str] = []

    def row(
        label: str,
        runs: Runs | None,
        metric: str,
        peer: str,
        goal: str,
        ok: Callable[[float], bool] | None,
    ) -> None:
        if runs is None or "triochat-ws" not in runs or peer not in runs:
            return
        ours, theirs = median(runs, "triochat-ws", metric), median(runs, peer, metric)
        trio_peer = median(runs, "websockets-trio", metric) if peer == "websockets" else None
        if ours is None or theirs is None or theirs == 0:
            rows.append(f"| {label} | — | — | — | {goal} | no data |")
            return
        ratio = ours / theirs
        others = f" (websockets-trio {_number(trio_peer)})" if trio_peer is not None else ""
        verdict = "—" if ok is None else "yes" if ok(ratio) else "**no**"
        rows.append(
            f"| {label} | {_number(ours)} | {_number(theirs)}{others} | {ratio:.2f}x | {goal} | {verdict} |"
        )

    row("logins/s", _find(points, all_runs, "logins"), "logins_per_s", "websockets", "≥ 2x", lambda r: r >= 2)
    row(
        "KiB per idle connection, 10k",
        _find(points, all_runs, "idle", clients=10_000),
        "rss_per_connection_kib",
        "websockets",
        "≤ 0.75x",
        lambda r: r <= 0.75,
    )
    for n in (10, 100, 1000):
        row(
            f"server CPU µs per delivery, fan-out N={n}",
            _find(points, all_runs, "saturation", clients=n),
            "server_cpu_us_per_delivery",
            "websockets",
            "≤ 0.75x" if n == 10 else "no worse than main's (run it too)",
            (lambda r: r <= 0.75) if n == 10 else None,
        )
    row(
        "p99 ms at 50k deliveries/s, N=100",
        _find(points, all_runs, "latency", clients=100, rate=50_000),
        "p99_ms",
        "asyncio-protocol",
        "≤ 1x the floor",
        lambda r: r <= 1,
    )
    for n in (10, 100):
        runs = _find(points, all_runs, "compression", clients=n)
        if runs is not None and "triochat-ws" in runs:
            deflate = [r.get("deflate") for r in runs["triochat-ws"] if "deflate" in r]
            if deflate and deflate[0] == "not negotiated":
                rows.append(f"| compression, N={n} | not negotiated by triochat | — | — | — | no |")
                continue
        row(
            f"wire bytes per delivery, compressed, N={n}",
            runs,
            "wire_bytes_per_delivery",
            "websockets-deflate",
            "(reported)",
            None,
        )
        row(
            f"server CPU µs per delivery, compressed, N={n}",
            runs,
            "server_cpu_us_per_delivery",
            "websockets-deflate",
            "≤ 0.5x",
            lambda r: r <= 0.5,
        )
    if not rows:
        return []
    return [
        "## Issue 11's targets (ratios within this run)",
        "",
        "| measure | triochat-ws | peer | triochat / peer | goal | met? |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
    ]


def _line_panel(points: list[Point], all_runs: dict[int, Runs], what: str, metric: str) -> Any:
    """Per server, (N, median) pairs of the points of one kind (at 50k/s for latency)."""
    series: dict[str, tuple[list[int], list[float]]] = {}
    for index, point in enumerate(points):
        if kind(point) != what or (what == "latency" and point.params.get("rate") != 50_000):
            continue
        for name in all_runs[index]:
            value = median(all_runs[index], name, metric)
            if value is not None:
                xs, ys = series.setdefault(name, ([], []))
                xs.append(point.params["clients"])
                ys.append(value)
    return series


def chart(points: list[Point], all_runs: dict[int, Runs], path: Path) -> bool:
    """Draw the panels this run has data for; False (and no file) when it has none."""
    panels: list[tuple[str, str, Any]] = []
    saturation = _line_panel(points, all_runs, "saturation", "delivered_per_s")
    if saturation:
        panels.append(("line", "Fan-out saturation (delivered messages/s)", saturation))
    latency = _line_panel(points, all_runs, "latency", "p99_ms")
    if latency:
        panels.append(("line", "p99 latency at 50k deliveries/s (ms)", latency))
    nodes = cluster_series(points, all_runs)
    if nodes:
        panels.append(("nodes", "Cluster fan-out (delivered messages/s) against nodes", nodes))
    for index, point in enumerate(points):
        if kind(point) in ("logins", "idle", "compression"):
            metric, _ = headline(point)
            bars = {n: v for n in all_runs[index] if (v := median(all_runs[index], n, metric)) is not None}
            if bars:
                panels.append(("bar", f"{point.label()}\n{metric}", bars))
    if not panels:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(3, len(panels))
    rows = (len(panels) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(5.5 * columns, 4.5 * rows), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax, (style, title, data) in zip(axes.flat, panels, strict=False):
        ax.set_title(title, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        if style == "bar":
            ax.bar(list(data), list(data.values()))
            ax.tick_params(axis="x", labelrotation=30, labelsize=7)
            continue
        for name, (xs, ys) in data.items():
            ax.plot(xs, ys, marker="o", label=name)
        if style == "nodes":
            ax.set(yscale="log", xlabel="nodes behind one Redis", xticks=[1, 2, 3])
            ax.legend(fontsize=7)
            continue
        ax.set(xscale="log", yscale="log", xlabel="clients in the room (N)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_report(
    out: Path, points: list[Point], all_runs: dict[int, Runs], command: str, repeats: int
) -> list[str]:
    """Write ``report.md`` (and ``chart.png`` when there is something to draw); return the report."""
    report = [
        "# triochat benchmark results",
        "",
        f"Command: `{command}`",
        f"Machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d %H:%M')}",
        f"Repeats per point: {repeats} (interleaved; leak runs once), medians shown. Ratio columns: how "
        "many times better the reference is than the row (above 1: triochat better).",
        "",
    ]
    report += targets(points, all_runs)
    report += cluster_report(points, all_runs)
    for index, point in enumerate(points):
        report += summarize(point, all_runs[index])
    chart_path = out / "chart.png"
    chart_path.unlink(missing_ok=True)
    if chart(points, all_runs, chart_path):
        report.append("Chart: chart.png")
    else:
        report.append("No chart: these scenarios have nothing to plot.")
    (out / "report.md").write_text("\n".join(report) + "\n")
    return report


def rebuild(out: Path) -> list[str]:
    """Report and chart again from a finished run's ``runs.jsonl``."""
    records = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    points: list[Point] = []
    all_runs: dict[int, Runs] = {}
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
    repeats = max((r["repeat"] for r in records), default=0)
    return write_report(out, points, all_runs, f"python -m benchmarks.run (rebuilt from {out.name})", repeats)
