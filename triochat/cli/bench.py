"""``triochat bench``: the entry point of the benchmark harness in ``benchmarks/``.

The harness lives beside the package in a source checkout (it starts peer
servers written with other libraries, which are no part of triochat itself).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCENARIOS: dict[str, str] = {
    "fanout": "fan-out saturation, N = 10, 100, 1000: triochat (WebSocket and TCP) and every peer",
    "latency": "p50/p90/p99/max at fixed delivered rates (10k and 50k per second, N = 100 and 1000)",
    "stalled": "the 50k/s latency point with and without one client that never reads",
    "churn": "fan-out at N = 100 with and without connect/disconnect churn",
    "idle": "memory per idle connection and idle CPU, 1k and 10k connections",
    "logins": "connections and logins per second",
}


def scenario_help() -> str:
    """The scenarios, one per line, for ``--help``."""
    width = max(map(len, SCENARIOS))
    lines = [f"  {name.ljust(width)}  {text}" for name, text in SCENARIOS.items()]
    return "scenarios:\n" + "\n".join(lines)


def harness_dir() -> Path | None:
    """The ``benchmarks`` folder of the source checkout this package runs from."""
    candidate = Path(__file__).resolve().parents[2] / "benchmarks"
    return candidate if (candidate / "run.py").is_file() else None


def run_bench(scenarios: list[str], *, quick: bool) -> int:
    """Run *scenarios* (all if empty) with the harness; return its exit status."""
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        print(f"triochat bench: unknown scenario {unknown[0]!r}\n{scenario_help()}", file=sys.stderr)
        return 2
    folder = harness_dir()
    if folder is None:
        print("triochat bench: the harness is in the source checkout's benchmarks/ folder", file=sys.stderr)
        return 1
    command = [sys.executable, "-m", "benchmarks.run", *scenarios, *(["--quick"] if quick else [])]
    return subprocess.run(command, cwd=folder.parent, check=False).returncode
