"""The Autobahn|Testsuite against triochat's WebSocket echo server (``triochat.transports.wsecho``).

These tests install the suite under Python 2.7 on first use (about a minute) and fail, never
skip, when that cannot be done. In CI they run the sections that fit its time: 1 to 7, 9 and
10, and the quick compression cases; ``nox -s autobahn`` runs everything, compression included.
``TRIOCHAT_WSECHO_CMD`` replaces the echo server's command (the runner's ``--server-cmd``).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.conformance import install, runner

#: Sections 1-7, 9 and 10: every case that does not need compression.
CORE_CASES = ("1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*")
#: The quick permessage-deflate cases: each of 12's five payload kinds and each of 13's seven
#: parameter sets, with 16-byte to 1 KiB messages (the larger ones take minutes; nox runs them).
QUICK_COMPRESSION_CASES = tuple(f"12.{kind}.{size}" for kind in range(1, 6) for size in range(1, 5)) + tuple(
    f"13.{params}.{size}" for params in range(1, 8) for size in range(1, 5)
)


def _server_cmd() -> Sequence[str]:
    override = os.environ.get("TRIOCHAT_WSECHO_CMD")
    return shlex.split(override) if override else runner.DEFAULT_SERVER_CMD


def _installed() -> Path:
    try:
        return install.ensure_installed()
    except install.InstallError as exc:
        problem = f"the Autobahn|Testsuite cannot be installed: {exc}"
    pytest.fail(problem, pytrace=False)


def _run(
    cases: Sequence[str], compression: bool, server_cmd: Sequence[str], report_dir: Path
) -> runner.Outcome:
    try:
        return runner.run_suite(
            cases=cases,
            compression=compression,
            server_cmd=server_cmd,
            report_dir=report_dir,
            timeout=600,
        )
    except install.InstallError as exc:
        problem = f"the Autobahn|Testsuite cannot be installed: {exc}"
    except runner.ServerError as exc:
        problem = str(exc)
    pytest.fail(problem, pytrace=False)


@pytest.mark.conformance
@pytest.mark.timeout(900)
def test_install_is_idempotent_and_wstest_runs() -> None:
    """A second install is a stamp check, and the installed wstest runs under Python 2.7."""
    wstest = _installed()
    started = time.monotonic()
    assert _installed() == wstest
    assert time.monotonic() - started < 5
    version = subprocess.run(
        [str(wstest), "--autobahnversion"],
        capture_output=True,
        text=True,
        env=install.py2_env(),
        timeout=60,
        check=False,
    )
    assert version.returncode == 0, version.stderr
    assert "0.8.2" in version.stdout + version.stderr


@pytest.mark.conformance
@pytest.mark.timeout(900)
def test_suite_finds_a_wrong_echo(tmp_path: Path) -> None:
    """The runner itself can fail: a server that echoes one character too many fails 1.1.1-3."""
    broken = [sys.executable, str(Path(__file__).with_name("broken_echo.py"))]
    outcome = _run(["1.1.1", "1.1.2", "1.1.3"], False, broken, tmp_path)
    assert len(outcome.results) == 3
    assert [r.case for r in outcome.failing] == [f"1.1.{n}" for n in range(1, 4)]
    assert all(r.behavior == "FAILED" for r in outcome.failing)
    assert not outcome.ok
    assert "3 of 3 cases failed" in outcome.explain()
    assert "| 1 Framing | 3 |  |  |  |  | 3 |" in (tmp_path / "summary.md").read_text()


@pytest.mark.conformance
@pytest.mark.timeout(900)
def test_rfc6455_and_quick_compression_cases(tmp_path: Path) -> None:
    """Sections 1-7, 9 and 10, and the quick compression cases, all OK, NON-STRICT or INFORMATIONAL."""
    outcome = _run([*CORE_CASES, *QUICK_COMPRESSION_CASES], True, _server_cmd(), tmp_path)
    assert outcome.ok, f"{outcome.explain()}\n\n{outcome.summary}\nreport: {tmp_path / 'report'}"
    sections = {r.section for r in outcome.results}
    assert sections == {1, 2, 3, 4, 5, 6, 7, 9, 10, 12, 13}
