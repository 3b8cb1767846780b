"""``triochat bench`` and the harness's command line: the extra check, --help, options, the report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks import run
from benchmarks.points import Point
from benchmarks.report import rebuild, write_report
from triochat.cli import bench, main

HINT = "triochat bench needs the bench extra: pip install 'triochat[bench]'\n"


def _no_harness(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError(f"the harness ran: {args}")


@pytest.mark.parametrize("module", ["matplotlib", "websockets", "group_terminal"])
def test_bench_without_the_extra_says_so_before_running_anything(
    module: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A None entry in sys.modules makes ``import module`` raise ImportError,
    # as it does when the package is not installed.
    monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.setattr(subprocess, "run", _no_harness)
    assert main(["bench", "--quick"]) == 2
    captured = capsys.readouterr()
    assert captured.err == HINT
    assert captured.out == ""


def test_the_harness_itself_checks_the_extra_first(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setattr(run, "ROOT", tmp_path)  # where a run would write its results
    monkeypatch.setattr(run, "run_one", _no_harness)
    assert run.main(["logins"]) == 2
    assert capsys.readouterr().err == HINT
    assert not (tmp_path / "benchmarks").exists()


def test_bench_help_names_the_extra_the_scenarios_and_their_times(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["bench", "--help"]) == 0
    text = capsys.readouterr().out
    assert "pip install 'triochat[bench]'" in text
    for option in ("--quick", "--repeats", "--only", "--report"):
        assert option in text
    for name, (_, minutes) in bench.SCENARIOS.items():
        line = next(line for line in text.splitlines() if line.strip().startswith(name + " "))
        assert f"[{minutes}]" in line
    assert "minutes" in text


def test_bench_forwards_every_option_to_the_harness(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def fake_run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        return subprocess.CompletedProcess(command, 3)

    monkeypatch.setattr(subprocess, "run", fake_run)
    argv = [
        "bench",
        "leak",
        "ws",
        "--quick",
        "--repeats",
        "3",
        "--only",
        "triochat-ws",
        "--only",
        "websockets",
    ]
    assert main(argv) == 3  # the harness's exit status
    assert calls == [
        [
            sys.executable,
            "-m",
            "benchmarks.run",
            "leak",
            "ws",
            "--quick",
            "--repeats",
            "3",
            "--only",
            "triochat-ws",
            "--only",
            "websockets",
        ]
    ]
    calls.clear()
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "--report", "results/x"]) == 3
    assert calls[0][3:] == ["--report", str(tmp_path / "results" / "x")]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bench", "fanuot"], "unknown scenario 'fanuot'"),
        (["bench", "--repeats", "0"], "--repeats must be at least 1"),
    ],
)
def test_bench_refuses_bad_arguments(
    argv: list[str], message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(subprocess, "run", _no_harness)
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_the_harness_refuses_an_unknown_server(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        run.main(["logins", "--only", "triochat-websocket"])
    assert exit_.value.code == 2
    assert "unknown server 'triochat-websocket'" in capsys.readouterr().err


def test_every_scenario_plans_points_for_known_servers() -> None:
    for name in bench.SCENARIOS:
        for quick in (True, False):
            points = run.plan([name], quick)
            assert points, name
            for point in points:
                assert set(point.subjects) <= set(run.SUBJECTS)
            assert len({p.label() for p in points}) == len(points)  # merged, no duplicates


def test_the_ws_comparison_has_issue_11s_points() -> None:
    labels = {p.label(): p for p in run.plan(["ws"], quick=False)}
    assert "idle clients=10000 seconds=3.0" in labels
    floor = labels["fanout clients=100 rate=50000 seconds=5"]
    assert "asyncio-protocol" in floor.subjects
    assert {"triochat-ws", "websockets", "websockets-trio"} <= set(floor.subjects)
    compressed = [p for p in labels.values() if p.params.get("deflate")]
    assert {p.params["clients"] for p in compressed} == {10, 100}
    assert all("websockets-deflate" in p.subjects for p in compressed)


def _latency_only() -> tuple[list[Point], dict[int, dict[str, list[dict[str, Any]]]]]:
    point = Point("fanout", ("triochat-ws", "websockets"), {"clients": 100, "rate": 50_000, "seconds": 2})
    runs = {0: {"triochat-ws": [{"p99_ms": 4.0}], "websockets": [{"p99_ms": 20.0}]}}
    return [point], runs


def test_a_report_with_one_kind_of_series_draws_it_without_a_legend_warning(tmp_path: Path) -> None:
    # Warnings are errors here: an axis with nothing on it and a legend call
    # ("No artists with labels found to put in legend") fails this test.
    points, runs = _latency_only()
    report = write_report(tmp_path, points, runs, "test", 1)
    assert (tmp_path / "chart.png").stat().st_size > 1000
    assert "Chart: chart.png" in report


def test_a_report_with_nothing_to_plot_writes_no_empty_chart(tmp_path: Path) -> None:
    (tmp_path / "chart.png").write_bytes(b"an old chart")
    point = Point("leak", ("triochat-tcp",), {"cycles": 100, "rss_bound_mib": 8})
    record = {
        "cycles": 100,
        "failed_cycles": 0,
        "cycles_per_s": 900,
        "fds_before": 10,
        "fds_after": 11,
        "client_sockets_after": 1,
        "rss_before_mib": 30.0,
        "rss_after_mib": 30.5,
        "rss_growth_mib": 0.5,
        "rss_bound_mib": 8,
        "users_after": 1,
        "verdict": "FAIL",
        "problems": "1 more open fds; 1 client sockets still open",
    }
    report = write_report(tmp_path, [point], {0: {"triochat-tcp": [record]}}, "test", 1)
    assert not (tmp_path / "chart.png").exists()
    assert "No chart: these scenarios have nothing to plot." in report
    row = next(line for line in report if line.startswith("| triochat-tcp"))
    assert "10 → 11" in row
    assert "**FAIL**: 1 more open fds" in row


def test_rebuild_reads_a_finished_run_back(tmp_path: Path) -> None:
    points, runs = _latency_only()
    with open(tmp_path / "runs.jsonl", "w") as log:
        for name, results in runs[0].items():
            for result in results:
                log.write(
                    json.dumps({"point": points[0].label(), "server": name, "repeat": 1, **result}) + "\n"
                )
    report = rebuild(tmp_path)
    assert any(line.startswith("| websockets | 20 |") for line in report)
    assert not any("p99 ms at 50k deliveries/s" in line for line in report)  # no floor peer in it
    assert (tmp_path / "chart.png").exists()


def test_issue_11_targets_are_judged_within_the_run(tmp_path: Path) -> None:
    point = Point("logins", ("triochat-ws", "websockets"), {"clients": 500})
    runs = {0: {"triochat-ws": [{"logins_per_s": 3000}], "websockets": [{"logins_per_s": 2000}]}}
    report = write_report(tmp_path, [point], runs, "test", 1)
    row = next(line for line in report if line.startswith("| logins/s"))
    assert "1.50x" in row
    assert row.endswith("| ≥ 2x | **no** |")


def test_a_failed_leak_run_fails_the_harness(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    results = {
        "triochat-ws": {"verdict": "PASS", "problems": ""},
        "triochat-tcp": {"verdict": "FAIL", "problems": "3 client sockets still open"},
    }
    ran: list[str] = []

    def fake_run_one(point: Point, subject: run.Subject) -> dict[str, Any]:
        ran.append(subject.name)
        record = {
            "cycles": 5000,
            "failed_cycles": 0,
            "cycles_per_s": 400,
            "fds_before": 10,
            "fds_after": 10,
            "client_sockets_after": 0,
            "rss_before_mib": 30.0,
            "rss_after_mib": 31.0,
            "rss_growth_mib": 1.0,
            "rss_bound_mib": 8,
            "users_after": 1,
        }
        return {**record, **results[subject.name]}

    monkeypatch.setattr(run, "ROOT", tmp_path)
    monkeypatch.setattr(run, "run_one", fake_run_one)
    assert run.main(["leak", "--quick"]) == 1
    assert ran == ["triochat-ws", "triochat-tcp"]  # once each, whatever --repeats says
    assert "leak: FAIL triochat-tcp: 3 client sockets still open" in capsys.readouterr().err
    results["triochat-tcp"] = results["triochat-ws"]
    assert run.main(["leak", "--quick"]) == 0


def test_a_load_generator_failure_is_reported_by_its_exception() -> None:
    stderr = (
        "  + Exception Group Traceback (most recent call last):\n"
        "  |   File 'x', line 1, in <module>\n"
        "  | ExceptionGroup: Exceptions from Trio nursery (1 sub-exception)\n"
        "  +-+---------------- 1 ----------------\n"
        "    | RuntimeError: the server closed a benchmark connection\n"
        "    +------------------------------------\n"
    )
    assert run.error_line(stderr) == "RuntimeError: the server closed a benchmark connection"
    assert run.error_line("") == "the load generator failed"


def _compression_runs(
    triochat_deflate: str,
) -> tuple[list[Point], dict[int, dict[str, list[dict[str, Any]]]]]:
    params = {"clients": 10, "deflate": 1, "text_bytes": 200, "deliveries": 1000}
    point = Point("fanout", ("triochat-ws", "websockets-deflate"), params)
    runs = {
        0: {
            "triochat-ws": [
                {
                    "deflate": triochat_deflate,
                    "server_cpu_us_per_delivery": 6.0,
                    "wire_bytes_per_delivery": 150.0,
                }
            ],
            "websockets-deflate": [
                {
                    "deflate": "permessage-deflate",
                    "server_cpu_us_per_delivery": 24.0,
                    "wire_bytes_per_delivery": 100.0,
                }
            ],
        }
    }
    return [point], runs


def test_compression_targets_say_when_triochat_did_not_negotiate(tmp_path: Path) -> None:
    points, runs = _compression_runs("not negotiated")
    report = write_report(tmp_path, points, runs, "test", 1)
    assert "| compression, N=10 | not negotiated by triochat | — | — | — | no |" in report
    assert any("deflate: not negotiated" in line for line in report)


def test_compression_targets_compare_cpu_and_wire_bytes(tmp_path: Path) -> None:
    points, runs = _compression_runs("permessage-deflate; server_no_context_takeover")
    report = write_report(tmp_path, points, runs, "test", 1)
    cpu = next(line for line in report if line.startswith("| server CPU µs per delivery, compressed, N=10"))
    assert "| 0.25x | ≤ 0.5x | yes |" in cpu
    wire = next(line for line in report if line.startswith("| wire bytes per delivery, compressed, N=10"))
    assert "| 1.50x | (reported) | — |" in wire
