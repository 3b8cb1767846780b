"""Issue 12's cluster benchmark: the Socket.IO dialect, Redis readings, the scenario run small, its tables."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from benchmarks import loadgen, redisstat, run, sio
from benchmarks.clusterreport import cluster_report
from benchmarks.points import Point, kind
from benchmarks.report import rebuild, write_report
from benchmarks.wsframes import FrameReader
from tests.redisproc import RedisProcess, start_redis

# The Socket.IO dialect: Engine.IO v4 / Socket.IO v5 text packets.


def test_packets_the_load_generator_sends() -> None:
    assert sio.connect() == "40"
    assert sio.connect("/chat") == "40/chat,"
    assert sio.pong() == "3"
    assert sio.event("say", "hi") == '42["say","hi"]'
    assert sio.event("join", "bench", ack=1) == '421["join","bench"]'
    assert sio.event("say", "é\n", ack=12, namespace="/chat") == '42/chat,12["say","é\\n"]'
    with pytest.raises(sio.SocketIOError):
        sio.event("join", "bench", ack=-1)


def test_packets_the_servers_send() -> None:
    opened = sio.decode('0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000}')
    assert opened.engine == sio.OPEN
    assert opened.data["sid"] == "abc"
    assert sio.decode("2") == sio.Packet(sio.PING)
    assert sio.decode("2probe") == sio.Packet(sio.PING, data="probe")
    assert sio.decode("1").engine == sio.CLOSE
    connected = sio.decode('40{"sid":"xyz"}')
    assert (connected.engine, connected.kind, connected.data) == (sio.MESSAGE, sio.CONNECT, {"sid": "xyz"})
    assert sio.decode("40") == sio.Packet(sio.MESSAGE, sio.CONNECT)
    assert sio.decode('431["bench"]') == sio.Packet(sio.MESSAGE, sio.ACK, "/", 1, ["bench"])
    assert sio.decode('42["say","qz"]') == sio.Packet(sio.MESSAGE, sio.EVENT, "/", None, ["say", "qz"])
    assert sio.decode('42/chat,7["say",1]') == sio.Packet(sio.MESSAGE, sio.EVENT, "/chat", 7, ["say", 1])
    refused = sio.decode('44{"message":"Not allowed"}')
    assert refused.kind == sio.CONNECT_ERROR
    assert refused.data == {"message": "Not allowed"}


@pytest.mark.parametrize(
    "bad",
    [
        "",  # nothing
        "9",  # no such Engine.IO type
        "4",  # a message without a Socket.IO packet
        "49[]",  # no such Socket.IO type
        '42{"a":1}',  # an event is an array
        "42[1]",  # whose first element is its name
        "42[]",
        '43{"a":1}',  # an ack is an array too
        '42/chat["say"]',  # a namespace ends with a comma
        '42["say"',  # bad JSON
        '42²["say"]',  # a superscript two is not an ack id
        "0{",  # an open packet with bad JSON
    ],
)
def test_malformed_packets_are_refused_with_a_clear_error(bad: str) -> None:
    with pytest.raises(sio.SocketIOError):
        sio.decode(bad)


_names = st.text(min_size=1, max_size=10).filter(lambda s: "," not in s).map(lambda s: "/" + s)


@given(
    name=st.text(max_size=20),
    args=st.lists(st.text(max_size=30) | st.integers() | st.none(), max_size=3),
    ack=st.none() | st.integers(min_value=0, max_value=10**9),
    namespace=st.just("/") | _names,
)
def test_every_event_decodes_to_what_was_encoded(
    name: str, args: list[Any], ack: int | None, namespace: str
) -> None:
    packet = sio.decode(sio.event(name, *args, ack=ack, namespace=namespace))
    assert packet == sio.Packet(sio.MESSAGE, sio.EVENT, namespace, ack, [name, *args])


# Redis readings.


def _command(port: int, *words: str) -> bytes:
    request = f"*{len(words)}\r\n" + "".join(f"${len(w)}\r\n{w}\r\n" for w in words)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request.encode())
        return sock.recv(256)


def test_redis_commands_and_cpu_are_read_before_and_after() -> None:
    with start_redis() as redis:
        before, cpu0 = redisstat.command_calls(redis.port), redisstat.cpu_seconds(redis.port)
        for _ in range(3):
            assert _command(redis.port, "PUBLISH", "room", "hello") == b":0\r\n"
        assert _command(redis.port, "SET", "k", "v") == b"+OK\r\n"
        after = redisstat.command_calls(redis.port)
        assert redisstat.calls_between(before, after) == {"publish": 3, "set": 1}  # INFO not counted
        assert redisstat.cpu_seconds(redis.port) >= cpu0 > 0


# The scenario, run small against the Socket.IO peer.


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Record every server and redis-server process the harness starts in this test."""
    processes: list[Any] = []
    start_server = run.start_server

    def recording_start_server(subject: run.Subject, redis_url: str | None = None) -> Any:
        proc, port = start_server(subject, redis_url)
        processes.append(proc)
        return proc, port

    @contextmanager
    def recording_start_redis(*extra: str) -> Iterator[RedisProcess]:
        with start_redis(*extra) as redis:
            processes.append(redis.process)
            yield redis

    monkeypatch.setattr(run, "start_server", recording_start_server)
    monkeypatch.setattr(run, "start_redis", recording_start_redis)
    yield processes
    assert processes
    for proc in processes:  # every process the run started is stopped
        assert proc.poll() is not None


@pytest.mark.timeout(45)
def test_a_two_node_socketio_cluster_delivers_everything_through_redis(started: list[Any]) -> None:
    point = Point(
        "fanout", ("socketio-redis",), {"clients": 6, "deliveries": 600, "nodes": 2, "timeout_s": 20}
    )
    result = run.run_one(point, run.SUBJECTS["socketio-redis"])
    assert "error" not in result, result
    assert result["delivered"] == result["expected"] == 600
    assert result["nodes"] == 2
    assert result["clients_per_node"] == [3, 3]  # round-robin
    assert 0 < result["warm_up_s"] < 30  # a first message reached every member before the run
    assert len(result["node_cpu_shares"]) == 2
    assert result["server_cpu_us_per_delivery"] > 0
    # python-socketio publishes each emit once on its Redis channel; connections
    # its pool opens during the run add their HELLO.
    assert result["redis_commands"]["publish"] == 1.0
    assert 1.0 <= result["redis_commands_per_message"] < 1.5
    assert result["redis_cpu_us_per_message"] > 0
    assert result["busiest"] in {"node1", "node2", "redis", "loadgen"}
    assert 0 < result["busiest_cpu_share"] <= result["machine_cpu_share"]
    assert len(started) == 3  # redis-server and two nodes


@pytest.mark.timeout(45)
def test_a_one_node_socketio_cluster_at_a_fixed_rate_has_latencies(started: list[Any]) -> None:
    params = {"clients": 6, "rate": 1000, "seconds": 1, "nodes": 1, "timeout_s": 20}
    result = run.run_one(Point("fanout", ("socketio-redis",), params), run.SUBJECTS["socketio-redis"])
    assert "error" not in result, result
    assert result["dropped"] == 0
    assert result["clients_per_node"] == [6]
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"] < 5000
    assert result["redis_commands"]["publish"] == 1.0
    assert len(started) == 2


@pytest.mark.timeout(45)
def test_the_one_node_reference_runs_without_redis(started: list[Any]) -> None:
    point = Point("fanout", ("triochat-ws",), {"clients": 4, "deliveries": 120, "nodes": 1, "timeout_s": 20})
    result = run.run_one(point, run.SUBJECTS["triochat-ws"])
    assert "error" not in result, result
    assert result["delivered"] == result["expected"]
    assert "redis_commands_per_message" not in result  # no Redis started for it
    assert "redis_cpu_share" not in result
    assert result["clients_per_node"] == [4]
    assert result["busiest"] in {"node1", "loadgen"}
    assert len(started) == 1


def _nothing_starts(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError(f"a process was started: {args}")


def test_a_single_node_server_is_not_run_as_a_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run, "start_server", _nothing_starts)
    monkeypatch.setattr(run, "start_redis", _nothing_starts)
    point = Point("fanout", ("socketio",), {"clients": 4, "deliveries": 120, "nodes": 2})
    assert run.run_one(point, run.SUBJECTS["socketio"]) == {
        "error": "socketio runs on one node only (no Redis)"
    }


def test_a_node_that_does_not_start_is_an_error_record_and_the_others_are_stopped(
    started: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two nodes of a server whose second start fails: the run is an error
    # record naming what the server said, and the first node and Redis are stopped.
    ready = "import sys, time; print('READY 1', flush=True); time.sleep(30)  # {redis}"
    subject = run.Subject("flaky", (run.PY, "-c", ready), "socketio", "ws")
    calls = 0
    start_server = run.start_server

    def second_fails(subject: run.Subject, redis_url: str | None = None) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            bad = run.Subject(
                "flaky", (run.PY, "-c", "import sys; sys.exit('no --redis here')"), "socketio", "ws"
            )
            return start_server(bad, redis_url)
        return start_server(subject, redis_url)

    monkeypatch.setattr(run, "start_server", second_fails)
    result = run.run_one(Point("fanout", (), {"clients": 2, "deliveries": 10, "nodes": 2}), subject)
    assert result == {"error": "flaky did not start: no --redis here"}
    assert len(started) == 2  # redis-server and the first node (the harness stopped the one that failed)


@pytest.mark.timeout(30)
async def test_nodes_that_do_not_share_the_room_fail_the_warm_up() -> None:
    # Two Socket.IO servers without Redis are two chats, not a cluster: a first
    # message from a client of the first never reaches the clients of the second.
    started = [run.start_server(run.SUBJECTS["socketio"]) for _ in range(2)]
    try:
        spec = {
            "scenario": "fanout",
            "dialect": "socketio",
            "port": started[0][1],
            "server_pid": started[0][0].pid,
            "ports": [port for _, port in started],
            "server_pids": [proc.pid for proc, _ in started],
            "clients": 4,
            "deliveries": 100,
            "warm_up_limit_s": 1.0,
        }
        with pytest.raises(RuntimeError, match="a warm-up message did not reach 2 members in 1 s"):
            await loadgen.fanout(spec)
    finally:
        for proc, _ in started:
            run.stop_server(proc)


def test_the_triochat_cluster_nodes_get_the_command_line_the_issue_fixes() -> None:
    command = run.server_command(run.SUBJECTS["triochat-cluster"], "redis://127.0.0.1:6390/0")
    assert command[1:4] == ["-m", "triochat", "serve"]
    assert command[-2:] == ["--redis", "redis://127.0.0.1:6390/0"]
    assert run.SUBJECTS["triochat-cluster"].dialect == run.SUBJECTS["triochat-ws"].dialect
    with pytest.raises(ValueError, match="needs a Redis URL"):
        run.server_command(run.SUBJECTS["socketio-redis"])


def test_the_cluster_scenario_plans_1_2_3_nodes_and_the_references_beside_one() -> None:
    points = run.plan(["cluster"], quick=False)
    assert all(kind(p) == "cluster" for p in points)
    shapes = {(p.params["nodes"], p.params["clients"], "rate" in p.params) for p in points}
    assert shapes == {(k, n, False) for k in (1, 2, 3) for n in (100, 1000)} | {
        (k, 100, True) for k in (1, 2, 3)
    }
    for point in points:
        references = {"triochat-ws", "socketio"} & set(point.subjects)
        assert {"triochat-cluster", "socketio-redis"} <= set(point.subjects)
        assert references == (set(run.SINGLE.values()) if point.params["nodes"] == 1 else set())
    assert "cluster" not in run.DEFAULT


# The tables.


def _record(rate: float, cpu: float, **extra: Any) -> dict[str, Any]:
    return {"delivered_per_s": rate, "server_cpu_us_per_delivery": cpu, **extra}


def test_the_cluster_tables_compare_with_one_node_and_say_what_saturates(tmp_path: Path) -> None:
    sat = {"clients": 100, "deliveries": 1000}
    lat = {"clients": 100, "rate": 10_000, "seconds": 2}
    points = [
        Point("fanout", (), {**sat, "nodes": 1}),
        Point("fanout", (), {**sat, "nodes": 2}),
        Point("fanout", (), {**lat, "nodes": 1}),
        Point("fanout", (), {**lat, "nodes": 2}),
    ]
    shares = {"node_cpu_shares": [0.95, 0.5], "redis_cpu_share": 0.1, "loadgen_cpu_share": 0.3}
    cluster = {"redis_commands_per_message": 1.0, "redis_commands": {"publish": 1.0}, **shares}
    runs = {
        0: {
            "socketio": [_record(30_000, 30.0), _record(32_000, 30.0)],
            "triochat-cluster": [
                {"error": "triochat-cluster did not start: unrecognized arguments: --redis"}
            ],
        },
        1: {
            "socketio-redis": [
                _record(
                    45_000, 45.0, busiest="node1", busiest_cpu_share=0.95, machine_cpu_share=1.85, **cluster
                )
            ]
        },
        2: {"socketio": [{"p50_ms": 1.0, "p99_ms": 4.0}]},
        3: {
            "socketio-redis": [
                {"p50_ms": 1.5, "p99_ms": 6.5, "delivered": 100, "expected": 100, **cluster},
                {"p50_ms": 1.5, "p99_ms": 10.5, "delivered": 100, "expected": 100, **cluster},
            ]
        },
    }
    report = write_report(tmp_path, points, runs, "test", 1)
    assert "## Cluster: nodes behind one Redis (issue 12)" in report
    two = next(line for line in report if line.startswith("| socketio-redis | 100 | 2 | 45,000"))
    assert "| 1.45x |" in two  # 45k against the reference's median 31k
    assert "| 1.50x |" in two  # 45 µs against 30 µs per delivery
    assert "| 1 (publish 1) |" in two
    assert "node1 0.95 **saturated** (nodes 0.95/0.5, Redis 0.1, load generator 0.3; all 1.85)" in two
    pending = next(line for line in report if line.startswith("| triochat-cluster | 100 | 1 |"))
    assert "error: triochat-cluster did not start" in pending
    # p50, the median p99, the lowest p99; what the hop adds to the median.
    hop = next(line for line in report if line.startswith("| socketio-redis | 100 | 2 | 1.5 | 8.5 | 6.5 |"))
    assert "| +4.50 |" in hop
    assert "| 200 (200) |" in hop
    assert cluster_report(points[:0], {}) == []
    assert "Chart: chart.png" in report  # delivered/s against nodes
    assert (tmp_path / "chart.png").stat().st_size > 1000
    # A rebuilt report has the same section.
    with open(tmp_path / "runs.jsonl", "w") as log:
        for index, point in enumerate(points):
            for server, records in runs[index].items():
                for record in records:
                    log.write(
                        json.dumps({"point": point.label(), "server": server, "repeat": 1, **record}) + "\n"
                    )
    assert two in rebuild(tmp_path)


# The load generator's Socket.IO login, against a scripted server.


def _server_frame(text: str) -> bytes:
    data = text.encode()
    assert len(data) < 126
    return bytes([0x81, len(data)]) + data


async def _scripted_login(replies: list[str]) -> tuple[list[str], Exception | None]:
    """Run ``socketio_login`` against a server that answers each client frame with the next reply.

    Returns the packets the client sent and the error the login raised, if any.
    """
    sent: list[str] = []

    async def serve(stream: trio.SocketStream) -> None:
        await stream.send_all(_server_frame(replies.pop(0)))  # the open packet, unasked
        frames = FrameReader(deflate=False)
        while replies:
            data = await stream.receive_some(4096)
            if not data:
                return
            frames.feed(_unmask(data))
            for message in frames.take():
                sent.append(message.decode())
                if replies:
                    await stream.send_all(_server_frame(replies.pop(0)))
        await trio.sleep_forever()

    error: Exception | None = None
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(trio.serve_tcp, serve, 0)
        port = listeners[0].socket.getsockname()[1]
        client = await trio.open_tcp_stream("127.0.0.1", port)
        try:
            with trio.fail_after(5):
                await loadgen.socketio_login(client, b"")
        except RuntimeError as exc:
            error = exc
        finally:
            await client.aclose()
            nursery.cancel_scope.cancel()
    return sent, error


def _unmask(data: bytes) -> bytes:
    """Client frames (masked, small) as a server would read them, unmasked."""
    out = b""
    while data:
        size = data[1] & 0x7F
        key, payload = data[2:6], data[6 : 6 + size]
        out += bytes([data[0], size]) + bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        data = data[6 + size :]
    return out


OPEN = '0{"sid":"s","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'


async def test_the_socketio_login_connects_joins_and_answers_pings() -> None:
    sent, error = await _scripted_login([OPEN, "2", '40{"sid":"x"}', '431["bench"]'])
    assert error is None
    # The ping came right after the connect packet: answered, then the login went on.
    assert sent == ["40", "3", '421["join","bench"]']


async def test_a_refused_socketio_login_fails_with_what_the_server_said() -> None:
    sent, error = await _scripted_login([OPEN, '44{"message":"Not allowed"}'])
    assert sent == ["40"]
    assert error is not None
    assert "Socket.IO login refused" in str(error)
    assert "Not allowed" in str(error)
