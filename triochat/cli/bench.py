"""``triochat bench``: the entry point of the benchmark harness in ``benchmarks/``.

The harness lives beside the package in a source checkout (it starts peer
servers written with other libraries, which are no part of triochat itself).
Its options are defined here, once, for both ``triochat bench`` and
``python -m benchmarks.run``.
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
from pathlib import Path

EXTRA_MODULES = ("matplotlib", "websockets", "group_terminal", "socketio", "redis", "uvicorn")
"""What the ``bench`` extra installs, as the harness imports it."""
EXTRA_HINT = "triochat bench needs the bench extra: pip install 'triochat[bench]'"

SCENARIOS: dict[str, tuple[str, str]] = {
    "fanout": ("fan-out saturation, N = 10, 100, 1000, every server", "2.5 / 12"),
    "latency": ("p50/p99 at fixed delivered rates (10k and 50k/s, N = 100, 1000)", "1 / 5"),
    "stalled": ("the 50k/s latency point with and without a client that never reads", "0.5 / 4"),
    "churn": ("fan-out at N = 100 with and without connect/leave churn", "0.5 / 3"),
    "idle": ("memory per idle connection and idle CPU, 1k (and 10k) connections", "1 / 10"),
    "logins": ("connect, log in, leave cycles per second, 50 at a time", "0.5 / 1"),
    "compression": ("permessage-deflate offered as browsers do: wire bytes, CPU per delivery", "2.5 / 4"),
    "leak": ("20,000 connect/login/leave cycles per transport; fds, sockets, RSS back, or FAIL", "1 / 2"),
    "ws": ("issue 11's WebSocket comparison with websockets (asyncio, Trio); 10k idle", "6 / 16"),
    "cluster": ("issue 12's 1, 2, 3 nodes behind one Redis against python-socketio; redis-server", "2 / 9"),
}
"""Each scenario: what it measures, and about how many minutes it takes here (--quick / full)."""


def scenario_help() -> str:
    """The scenarios, one per line, with their running times, for ``--help``."""
    width = max(map(len, SCENARIOS))
    lines = [f"  {name.ljust(width)}  {text} [{time}]" for name, (text, time) in SCENARIOS.items()]
    return (
        "needs the bench extra: pip install 'triochat[bench]' (matplotlib, websockets, group-terminal,\n"
        "python-socketio, redis, uvicorn); 'cluster' also needs redis-server (Debian's package)\n\n"
        "scenarios [rough minutes on 2 shared cores, --quick / full, at the default 2 repeats]:\n"
        + "\n".join(lines)
        + "\n\nAll but 'ws' and 'cluster' (the default): about 10 minutes with --quick, about 40 without.\n"
        "--report DIR rebuilds report.md and chart.png of a finished run in seconds."
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The harness's options (``triochat bench`` and ``python -m benchmarks.run``)."""
    parser.add_argument(
        "scenarios",
        nargs="*",
        metavar="SCENARIO",
        help="scenarios to run (default: all but 'ws' and 'cluster'; see below)",
    )
    parser.add_argument("--quick", action="store_true", help="fewer, shorter runs, for a first look")
    parser.add_argument(
        "--repeats", type=int, default=2, metavar="N", help="runs per server and point (default: 2)"
    )
    parser.add_argument(
        "--only", action="append", metavar="SERVER", help="run only these servers (repeatable)"
    )
    parser.add_argument(
        "--report", metavar="DIR", help="rebuild report.md and chart.png of a finished run, run nothing"
    )


def forwarded(args: argparse.Namespace) -> list[str]:
    """The harness arguments that reproduce *args*."""
    argv = list(args.scenarios)
    if args.quick:
        argv.append("--quick")
    if args.repeats != 2:
        argv += ["--repeats", str(args.repeats)]
    for server in args.only or []:
        argv += ["--only", server]
    if args.report:
        # The harness runs from the checkout's root: a relative path must mean the caller's.
        argv += ["--report", str(Path(args.report).resolve())]
    return argv


def usage_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the scenarios or repeats asked for, if anything."""
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown:
        return f"unknown scenario {unknown[0]!r} (choose from {', '.join(SCENARIOS)})"
    if args.repeats < 1:
        return "--repeats must be at least 1"
    return None


def missing_extra() -> str | None:
    """The first module of the ``bench`` extra that cannot be imported, or None."""
    for name in EXTRA_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            return name
    return None


def harness_dir() -> Path | None:
    """The ``benchmarks`` folder of the source checkout this package runs from."""
    candidate = Path(__file__).resolve().parents[2] / "benchmarks"
    return candidate if (candidate / "run.py").is_file() else None


def run_bench(args: argparse.Namespace) -> int:
    """Check the extra and the arguments, then run the harness; return its exit status."""
    problem = usage_problem(args)
    if problem:
        print(f"triochat bench: {problem}", file=sys.stderr)
        return 2
    if missing_extra() is not None:
        print(EXTRA_HINT, file=sys.stderr)
        return 2
    folder = harness_dir()
    if folder is None:
        print("triochat bench: the harness is in the source checkout's benchmarks/ folder", file=sys.stderr)
        return 1
    command = [sys.executable, "-m", "benchmarks.run", *forwarded(args)]
    return subprocess.run(command, cwd=folder.parent, check=False).returncode
