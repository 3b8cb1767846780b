"""``triochat bench``: the entry point of the benchmark harness in ``benchmarks/``.

The harness lives beside the package in a source checkout (it starts peer
servers written with other libraries, which are no part of triochat itself).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCENARIOS: dict[str, str] = {
    "fanout-tcp": "fan-out saturation over the TCP line transport, N = 10, 100, 1000",
    "fanout-ws": "fan-out saturation over WebSocket, N = 10, 100, 1000",
}


def scenario_help() -> str:
    """The scenarios, one per line, for ``--help``."""
    width = max(map(len, SCENARIOS))
    lines = [f"  {name.ljust(width)}  {text}" for name, text in SCENARIOS.items()]
    return "scenarios:\n" + "\n".join(lines)


def harness_dir() -> Path | None:
    """The ``benchmarks`` folder of the source checkout this package runs from."""
    candidate = Path(__file__).resolve().parents[2] / "benchmarks"
    return candidate if (candidate / "fanout.py").is_file() else None


def run_bench(scenarios: list[str], *, quick: bool) -> int:
    """Run *scenarios* (all if empty); return the exit status."""
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        print(f"triochat bench: unknown scenario {unknown[0]!r}\n{scenario_help()}", file=sys.stderr)
        return 2
    folder = harness_dir()
    if folder is None:
        print("triochat bench: the harness is in the source checkout's benchmarks/ folder", file=sys.stderr)
        return 1
    status = 0
    for name in scenarios or list(SCENARIOS):
        transport = name.split("-", 1)[1]
        for clients in (10, 100) if quick else (10, 100, 1000):
            messages = 2000 if quick else 20000
            command = [
                sys.executable,
                "-m",
                "benchmarks.fanout",
                "--transport",
                transport,
                "--clients",
                str(clients),
                "--messages",
                str(messages),
            ]
            result = subprocess.run(command, cwd=folder.parent, check=False)
            status = status or result.returncode
    return status
