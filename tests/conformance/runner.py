"""Run the Autobahn|Testsuite fuzzing client against triochat's WebSocket echo server.

``python -m tests.conformance [--cases 1.*,2.*] [--no-compression] [--server-cmd CMD]
[--report-dir DIR]`` installs the suite if needed, starts the echo server on a free loopback
port, runs ``wstest -m fuzzingclient``, stops the server, and exits 0 only when every case
came out OK, NON-STRICT or INFORMATIONAL (with ``--no-compression``, UNIMPLEMENTED is also
accepted for the compression sections 12 and 13). It prints a table of outcomes per section
and writes it to ``REPORT_DIR/summary.md``; the suite's HTML report is in ``REPORT_DIR/report/``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tests.conformance import install, report

AGENT = "triochat"
HOST = "127.0.0.1"
#: The echo application served by triochat's own WebSocket connection code.
DEFAULT_SERVER_CMD = (sys.executable, "-m", "triochat.transports.wsecho")
DEFAULT_REPORT_DIR = install.REPO_ROOT / "build" / "autobahn"
ALL_SECTIONS = ("1", "2", "3", "4", "5", "6", "7", "9", "10", "12", "13")
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
DEFAULT_TIMEOUT = 3600.0
_LISTENING = re.compile(r"^listening on ws://(?P<host>[^/\s]+):(?P<port>\d+)/\s*$")
_RUNNING_CASE = re.compile(r"Running test case ID (\S+)")


@dataclass
class Outcome:
    """What one run found: the judged cases and anything that went wrong around them."""

    results: list[report.CaseResult] = field(default_factory=list)
    failing: list[report.CaseResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    summary: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when cases ran, none failed, and the server and client behaved."""
        return bool(self.results) and not self.failing and not self.problems

    def explain(self) -> str:
        """A readable account of why the run did not pass (empty when it did)."""
        lines = list(self.problems)
        if not self.results and not self.problems:
            lines.append("no case ran")
        if self.failing:
            lines.append(f"{len(self.failing)} of {len(self.results)} cases failed:")
            lines += [f"  {report.describe_failure(r)}" for r in self.failing]
        return "\n".join(lines)


def default_cases(compression: bool) -> list[str]:
    """Every section; without compression, the compression sections are left out."""
    sections = [s for s in ALL_SECTIONS if compression or int(s) not in report.COMPRESSION_SECTIONS]
    return [f"{s}.*" for s in sections]


def spec(url: str, outdir: Path, cases: Sequence[str]) -> dict[str, object]:
    """The fuzzing client's test specification for one server."""
    return {
        "outdir": str(outdir),
        "servers": [{"agent": AGENT, "url": url}],
        "cases": list(cases),
        "exclude-cases": [],
        "exclude-agent-cases": {},
    }


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no output)"
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"


def _stop(proc: subprocess.Popen[bytes], grace: float) -> int | None:
    """SIGTERM, then SIGKILL after *grace* seconds; the exit status, ``None`` if it had to be killed."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


class ServerError(RuntimeError):
    """The echo server did not start as its command-line contract says."""


def start_server(cmd: Sequence[str], compression: bool, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start the echo server on port 0 and return it with the URL it printed."""
    argv = [*cmd, "--host", HOST, "--port", "0"]
    if not compression:
        argv.append("--no-compression")
    stdout_path, stderr_path = workdir / "server.out", workdir / "server.log"
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        try:
            proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        except OSError as exc:
            raise ServerError(f"cannot start the echo server {shlex.join(argv)}: {exc}") from exc
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        first = stdout_path.read_text(errors="replace").split("\n", 1)
        if len(first) == 2:
            match = _LISTENING.match(first[0])
            if match is None:
                _stop(proc, STOP_TIMEOUT)
                raise ServerError(f"the echo server printed {first[0]!r}, not 'listening on ws://HOST:PORT/'")
            return proc, f"ws://{match['host']}:{match['port']}"
        if proc.poll() is not None:
            raise ServerError(
                f"the echo server {shlex.join(argv)} exited with status {proc.returncode} before "
                f"listening:\n{_tail(stderr_path)}"
            )
        if time.monotonic() > deadline:
            _stop(proc, STOP_TIMEOUT)
            raise ServerError(f"the echo server did not say it was listening within {STARTUP_TIMEOUT:g} s")
        time.sleep(0.05)


def _run_wstest(wstest: Path, spec_path: Path, workdir: Path, timeout: float) -> list[str]:
    """Run the fuzzing client; the problems it had (empty when it finished normally)."""
    log = workdir / "wstest.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(wstest), "-m", "fuzzingclient", "-s", str(spec_path)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=install.py2_env(),
            cwd=workdir,
            start_new_session=True,
        )
        try:
            status = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            running = _RUNNING_CASE.findall(log.read_text(errors="replace"))
            last = f"; it was running case {running[-1]}" if running else ""
            return [f"the fuzzing client timed out after {timeout:g} s{last} (log: {log})"]
        except BaseException:
            # Interrupted (Ctrl-C): its own session does not get the terminal's SIGINT.
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    if status != 0:
        return [f"the fuzzing client exited with status {status}; log {log}:\n{_tail(log)}"]
    return []


def run_suite(
    *,
    cases: Sequence[str] | None = None,
    compression: bool = True,
    server_cmd: Sequence[str] = DEFAULT_SERVER_CMD,
    report_dir: Path = DEFAULT_REPORT_DIR,
    timeout: float = DEFAULT_TIMEOUT,
) -> Outcome:
    """Install the suite if needed, run it against the echo server, and judge the report.

    Raises :class:`install.InstallError` when the suite cannot be installed and
    :class:`ServerError` when the server does not start; everything else that goes wrong
    is in the outcome's ``problems``.
    """
    wstest = install.ensure_installed()
    chosen = list(cases) if cases else default_cases(compression)
    started = time.monotonic()
    report_dir.mkdir(parents=True, exist_ok=True)
    outdir = report_dir / "report"
    shutil.rmtree(outdir, ignore_errors=True)
    outcome = Outcome()
    server, url = start_server(server_cmd, compression, report_dir)
    try:
        spec_path = report_dir / "spec.json"
        spec_path.write_text(json.dumps(spec(url, outdir, chosen), indent=2) + "\n")
        outcome.problems += _run_wstest(wstest, spec_path, report_dir, timeout)
        if server.poll() is not None:
            outcome.problems.append(
                f"the echo server died during the run (status {server.returncode}):\n"
                f"{_tail(report_dir / 'server.log')}"
            )
    finally:
        status = _stop(server, STOP_TIMEOUT)
    if status is None:
        outcome.problems.append(f"the echo server did not exit within {STOP_TIMEOUT:g} s of SIGTERM")
    elif status != 0 and not outcome.problems:
        outcome.problems.append(f"the echo server exited with status {status} on SIGTERM")
    outcome.seconds = time.monotonic() - started
    try:
        outcome.results = report.load_index(outdir / "index.json", AGENT)
    except report.ReportError as exc:
        outcome.problems.append(str(exc))
    outcome.failing = report.failures(outcome.results, compression=compression)
    outcome.summary = _summary_document(outcome, chosen, compression, server_cmd)
    (report_dir / "summary.md").write_text(outcome.summary)
    return outcome


def _summary_document(
    outcome: Outcome, cases: Sequence[str], compression: bool, server_cmd: Sequence[str]
) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = [
        f"Autobahn|Testsuite 0.8.2 fuzzing client, {when}: cases {', '.join(cases)}; "
        f"compression {'on' if compression else 'off'}; server `{shlex.join(server_cmd)}`; "
        f"{len(outcome.results)} cases in {outcome.seconds:.0f} s; "
        f"{'PASS' if outcome.ok else 'FAIL'}.",
    ]
    body = report.summary_markdown(outcome.results) if outcome.results else "No case ran.\n"
    tail = "" if outcome.ok else "\n```\n" + outcome.explain() + "\n```\n"
    return "\n".join(head) + "\n\n" + body + tail


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; exit status 0 when the server passes, 1 when it does not, 2 on setup errors."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.conformance",
        description="Run the Autobahn|Testsuite fuzzing client against triochat's WebSocket echo server.",
    )
    parser.add_argument(
        "--cases",
        help="comma-separated case patterns, e.g. '1.*,2.*,12.1.*' (default: every section; "
        "without compression, all but 12 and 13)",
    )
    parser.add_argument(
        "--no-compression", action="store_true", help="start the server with --no-compression"
    )
    parser.add_argument(
        "--server-cmd",
        default=shlex.join(DEFAULT_SERVER_CMD),
        help="the echo server's command; '--host 127.0.0.1 --port 0' is appended (default: %(default)s)",
    )
    parser.add_argument(
        "--report-dir", type=Path, default=DEFAULT_REPORT_DIR, help="where reports go (default: %(default)s)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="give up on the fuzzing client after this many seconds (default: %(default)g)",
    )
    args = parser.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()] if args.cases else None
    try:
        outcome = run_suite(
            cases=cases,
            compression=not args.no_compression,
            server_cmd=shlex.split(args.server_cmd),
            report_dir=args.report_dir,
            timeout=args.timeout,
        )
    except (install.InstallError, ServerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(outcome.summary)
    print(f"summary: {args.report_dir / 'summary.md'}; report: {args.report_dir / 'report' / 'index.html'}")
    if not outcome.ok:
        print(outcome.explain(), file=sys.stderr)
        return 1
    return 0
