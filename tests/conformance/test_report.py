"""The runner's judgement of a report, its server handling, and its install checks (no Python 2 needed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conformance import install, report, runner


def _case(case: str, behavior: str, close: str = "OK", code: int | None = 1000) -> report.CaseResult:
    return report.CaseResult(case, behavior, close, code, 5)


def test_passing_behaviours() -> None:
    for behavior in ("OK", "NON-STRICT", "INFORMATIONAL"):
        assert not report.is_failure(_case("6.4.1", behavior), compression=True)
    for behavior in ("FAILED", "WRONG CODE", "UNCLEAN", "UNIMPLEMENTED"):
        assert report.is_failure(_case("6.4.1", behavior), compression=False)


def test_unimplemented_compression_passes_only_without_compression() -> None:
    for case in ("12.1.1", "13.7.18"):
        assert report.is_failure(_case(case, "UNIMPLEMENTED"), compression=True)
        assert not report.is_failure(_case(case, "UNIMPLEMENTED"), compression=False)
        assert report.is_failure(_case(case, "FAILED"), compression=False)


def _write_index(path: Path, cases: dict[str, dict[str, object]]) -> Path:
    path.write_text(json.dumps({"triochat": cases}))
    return path


def test_load_index_sorts_cases_numerically(tmp_path: Path) -> None:
    entry: dict[str, object] = {
        "behavior": "OK",
        "behaviorClose": "OK",
        "remoteCloseCode": 1000,
        "duration": 3,
    }
    index = _write_index(tmp_path / "index.json", {"9.10.1": entry, "9.2.1": entry, "10.1.1": entry})
    results = report.load_index(index, "triochat")
    assert [r.case for r in results] == ["9.2.1", "9.10.1", "10.1.1"]
    assert [r.section for r in results] == [9, 9, 10]
    assert results[0].remote_close_code == 1000


def test_load_index_errors(tmp_path: Path) -> None:
    with pytest.raises(report.ReportError, match="no report"):
        report.load_index(tmp_path / "missing.json", "triochat")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(report.ReportError, match="cannot read"):
        report.load_index(tmp_path / "bad.json", "triochat")
    index = _write_index(tmp_path / "index.json", {"1.1.1": {"behavior": "OK"}})
    with pytest.raises(report.ReportError, match="no results for agent 'other'"):
        report.load_index(index, "other")
    index = _write_index(tmp_path / "index.json", {"1.1.1": {"duration": 1}})
    with pytest.raises(report.ReportError, match=r"case 1\.1\.1 has no behaviour"):
        report.load_index(index, "triochat")


def test_summary_counts_per_section() -> None:
    results = [
        _case("1.1.1", "OK"),
        _case("1.1.2", "OK"),
        _case("3.2", "NON-STRICT"),
        _case("7.1.6", "INFORMATIONAL"),
        _case("7.9.1", "WRONG CODE"),
        _case("12.1.1", "UNIMPLEMENTED"),
        _case("12.1.2", "SOMETHING NEW"),
    ]
    table = report.summary_markdown(results).splitlines()
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")] for line in table[2:]}
    assert header[-2] == "SOMETHING NEW"
    assert rows["1 Framing"][header.index("OK")] == "2"
    assert rows["7 Close handling"][header.index("WRONG CODE")] == "1"
    assert rows["7 Close handling"][header.index("Cases")] == "2"
    assert rows["12 Compression (payloads)"][header.index("SOMETHING NEW")] == "1"
    assert rows["All"][header.index("Cases")] == "7"
    assert "3 Reserved bits" in rows


def test_failures_are_described_readably() -> None:
    outcome = runner.Outcome(results=[_case("1.1.1", "OK"), _case("7.9.1", "WRONG CODE", "OK", 1000)])
    outcome.failing = report.failures(outcome.results, compression=False)
    assert not outcome.ok
    assert outcome.explain() == (
        "1 of 2 cases failed:\n  case 7.9.1: WRONG CODE (close: OK, server's close code: 1000)"
    )
    assert "no case ran" in runner.Outcome().explain()


def test_default_cases_leave_out_compression_only_without_it() -> None:
    assert "12.*" in runner.default_cases(True)
    assert "13.*" in runner.default_cases(True)
    assert "12.*" not in runner.default_cases(False)
    assert runner.default_cases(False)[:7] == ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*"]
    assert "9.*" in runner.default_cases(False)


def test_server_that_does_not_start_is_reported(tmp_path: Path) -> None:
    with pytest.raises(runner.ServerError, match="exited with status 3 before listening"):
        runner.start_server([sys.executable, "-c", "import sys; sys.exit(3)"], True, tmp_path)
    with pytest.raises(runner.ServerError, match="not 'listening on ws://HOST:PORT/'"):
        runner.start_server(
            [sys.executable, "-c", "print('hello'); import time; time.sleep(30)"], True, tmp_path
        )


def test_server_contract_gets_port_zero_and_compression_flag(tmp_path: Path) -> None:
    script = tmp_path / "fake.py"
    script.write_text(
        "import sys, time\n"
        "print('listening on ws://127.0.0.1:4567/', flush=True)\n"
        "print(' '.join(sys.argv[1:]), file=sys.stderr, flush=True)\n"
        "time.sleep(30)\n"
    )
    proc, url = runner.start_server([sys.executable, str(script)], False, tmp_path)
    assert url == "ws://127.0.0.1:4567"
    assert runner._stop(proc, 5) is not None
    assert (tmp_path / "server.log").read_text().strip() == "--host 127.0.0.1 --port 0 --no-compression"


def test_missing_python2_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRIOCHAT_PYTHON2", str(tmp_path / "no-python2.7"))
    with pytest.raises(install.InstallError, match=r"Python 2\.7 is needed .*pyenv install 2\.7\.18"):
        install.ensure_installed(tmp_path / "home")
    assert install.main([]) == 1
    assert runner.main(["--report-dir", str(tmp_path / "r")]) == 2
