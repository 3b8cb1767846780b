"""The compression scenario, short, against real servers: negotiated or honestly not, and verified."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from benchmarks import loadgen, run


@pytest.fixture(params=["websockets-deflate", "triochat-ws", "websockets"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, int, int]]:
    """A server as the harness starts it: (name, dialect, port, pid)."""
    subject = run.SUBJECTS[request.param]
    proc, port = run.start_server(subject)
    try:
        yield subject.name, subject.dialect, port, proc.pid
    finally:
        run.stop_server(proc)


@pytest.mark.timeout(40)
async def test_a_short_compression_run_counts_and_checks_every_delivery(
    server: tuple[str, str, int, int],
) -> None:
    name, dialect, port, pid = server
    spec = {
        "dialect": dialect,
        "port": port,
        "server_pid": pid,
        "clients": 5,
        "deliveries": 400,
        "deflate": 1,
        "text_bytes": 200,
    }
    result = await loadgen.fanout(spec)
    assert "error" not in result
    assert result["delivered"] == result["expected"] > 0
    assert result["verify_failures"] == 0
    # Two receivers inflated and checked every message they got.
    assert result["verified"] == 2 * (result["expected"] // 4)
    if name == "websockets-deflate":
        assert result["deflate"].startswith("permessage-deflate")
        assert result["compressed_share"] == 1.0
        assert result["wire_bytes_per_delivery"] < 200  # the texts alone are 200 bytes
    elif name == "websockets":
        assert result["deflate"] == "not negotiated"
        assert result["compressed_share"] == 0
        assert result["wire_bytes_per_delivery"] > 200
    else:
        # triochat before its WebSocket rewrite accepts no extension; after it, it does.
        assert result["deflate"] == "not negotiated" or result["deflate"].startswith("permessage-deflate")
