"""Prometheus metrics: a scrape of a running server over a real loopback socket.

Every scrape is parsed with ``prometheus_client``'s own parser; each metric
the server documents must be there, and must move when the thing it counts
happens.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing
from prometheus_client.parser import text_string_to_metric_families

from triochat import ChatServer
from triochat.auth import Accept, ConnectionInfo, Reject
from triochat.cli import build_parser, serve
from triochat.ops.buckets import Buckets
from triochat.ops.listener import MAX_REQUESTS
from triochat.testing import connect, open_test_server

from .wsraw import RawClient

EXPECTED = {
    "triochat_build_info": "gauge",
    "triochat_connections": "gauge",
    "triochat_users": "gauge",
    "triochat_rooms": "gauge",
    "triochat_logins": "counter",
    "triochat_logins_refused": "counter",
    "triochat_messages_received": "counter",
    "triochat_deliveries": "counter",
    "triochat_messages_dropped": "counter",
    "triochat_sent_bytes": "counter",
    "triochat_clients_cut_off": "counter",
    "triochat_rate_limited": "counter",
    "triochat_handler_errors": "counter",
    "triochat_handler_timeouts": "counter",
    "triochat_inbound_queue_requests": "gauge",
    "triochat_inbound_queue_capacity_requests": "gauge",
    "triochat_outbox_queued_bytes": "gauge",
    "triochat_broadcaster_batch_requests": "histogram",
    "triochat_message_latency_seconds": "histogram",
    "triochat_store_pending_records": "gauge",
    "triochat_store_commits": "counter",
    "triochat_store_last_commit_seconds": "gauge",
    "triochat_store_failed": "gauge",
}
"""Every ``triochat_*`` family and its type (names as the parser gives them)."""


async def http_get(port: int, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """One request over a fresh loopback connection: the status, the header fields, the body."""
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            data = b""
            while chunk := await stream.receive_some():
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    fields = {}
    for line in lines:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), fields, body


class Scrape:
    """One parsed scrape: sample values by name and labels."""

    def __init__(self, text: str) -> None:
        self.types: dict[str, str] = {}
        self.samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for family in text_string_to_metric_families(text):
            self.types[family.name] = family.type
            for sample in family.samples:
                self.samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value

    def __call__(self, name: str, **labels: str) -> float:
        return self.samples[name, tuple(sorted(labels.items()))]


async def scrape(port: int | None) -> Scrape:
    assert port is not None
    status, fields, body = await http_get(port, "/metrics")
    assert status == 200, body
    assert fields["content-type"].startswith("text/plain; version=")
    return Scrape(body.decode("utf-8"))


REFUSALS = (
    "auth",
    "banned",
    "invalid_name",
    "name_reserved",
    "name_taken",
    "origin",
    "server_full",
    "stopping",
)


async def test_a_scrape_has_every_metric_with_its_type() -> None:
    async with open_test_server(tcp_port=0) as server:
        got = await scrape(server.ws_port)
    for name, kind in EXPECTED.items():
        assert got.types.get(name) == kind, name
    assert "process_cpu_seconds" in got.types  # the process collector of this run's registry
    # The scrape's own connection is the one open connection.
    assert got("triochat_connections", transport="ws") == 1
    assert got("triochat_connections", transport="tcp") == 0
    assert got("triochat_inbound_queue_capacity_requests") == 1024
    for reason in REFUSALS:
        assert got("triochat_logins_refused_total", reason=reason) == 0
    for reason in (
        "banned",
        "idle",
        "keepalive",
        "kicked",
        "outbox_overflow",
        "send_deadline",
        "store_failure",
    ):
        assert got("triochat_clients_cut_off_total", reason=reason) == 0


async def test_two_servers_in_one_process_have_their_own_registries() -> None:
    async with open_test_server() as one, open_test_server() as two:
        alice = await connect(one, "alice")
        first, second = await scrape(one.ws_port), await scrape(two.ws_port)
        assert (first("triochat_logins_total"), second("triochat_logins_total")) == (1, 0)
        await alice.aclose()


async def scrape_until(port: int | None, name: str, at_least: float, **labels: str) -> Scrape:
    """Scrape every 20 ms until sample *name* reaches *at_least* (the server's tasks move it)."""
    with trio.fail_after(10):
        while True:
            got = await scrape(port)
            if got(name, **labels) >= at_least:
                return got
            await trio.sleep(0.02)


async def _log_in_then_stall(server: ChatServer, name: str) -> trio.abc.Stream:
    """A line client over a lockstep stream that logs in and then never reads again."""
    server_side, client = trio.testing.lockstep_stream_pair()
    assert server.attach_line_stream(server_side)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.send_all, f"{name}\n".encode())
        seen = b""
        while f"Welcome {name}".encode() not in seen:
            seen += await client.receive_some()
    return client


async def test_logins_refusals_and_messages_move_their_metrics() -> None:
    async with open_test_server(tcp_port=0) as server:
        before = await scrape(server.ws_port)
        alice = await connect(server, "alice")
        bob = await connect(server, "bob")
        await alice.receive_until("*** bob has joined the chat ***")
        # A taken name and an invalid one, on the line protocol and on /v1.
        taken = await connect(server)
        await taken.receive_until("Enter your name:")
        await taken.send("alice")
        await taken.receive_until("Enter your name:")
        await taken.send("bad name!")
        await taken.receive_until("Enter your name:")
        async with RawClient.attach(server) as raw:
            await raw.handshake()
            await raw.send_json(type="login", name="alice")
            assert (await raw.next_data()).json()["type"] == "error"
        mid = await scrape(server.ws_port)
        await alice.send("hello everyone")
        await bob.receive_until("alice: hello everyone")
        after = await scrape(server.ws_port)

    assert before("triochat_logins_total") == 0
    assert mid("triochat_logins_total") == 2
    assert mid("triochat_users") == 2
    assert mid("triochat_connections", transport="tcp") == 3  # alice, bob and the one refused twice
    assert mid("triochat_logins_refused_total", reason="name_taken") == 2
    assert mid("triochat_logins_refused_total", reason="invalid_name") == 1
    assert after("triochat_messages_received_total") == before("triochat_messages_received_total") + 1
    assert after("triochat_deliveries_total") >= mid("triochat_deliveries_total") + 1
    assert after("triochat_sent_bytes_total") > mid("triochat_sent_bytes_total")
    latency = after("triochat_message_latency_seconds_count")
    assert latency >= 1
    assert after("triochat_message_latency_seconds_bucket", le="+Inf") == latency
    assert 0 < after("triochat_message_latency_seconds_sum") < 10
    assert after("triochat_broadcaster_batch_requests_count") > mid(
        "triochat_broadcaster_batch_requests_count"
    )
    assert after("triochat_broadcaster_batch_requests_sum") >= after(
        "triochat_broadcaster_batch_requests_count"
    )


async def test_a_slow_client_cut_off_moves_its_reason() -> None:
    async with open_test_server(outbox_limit=4096, rate_limit=None) as server:
        alice = await connect(server, "alice")
        stalled = await _log_in_then_stall(server, "stalled")
        await alice.receive_until("*** stalled has joined the chat ***")
        before = await scrape(server.ws_port)
        for n in range(20):
            await alice.send(f"{n} " + "x" * 500)
        after = await scrape_until(
            server.ws_port, "triochat_clients_cut_off_total", 1, reason="outbox_overflow"
        )
        await alice.receive_until("*** stalled has left the chat (too slow: outbox overflow) ***")
        await stalled.aclose()
        await alice.aclose()
    assert before("triochat_clients_cut_off_total", reason="outbox_overflow") == 0
    assert after("triochat_clients_cut_off_total", reason="send_deadline") == 0


async def test_a_missed_send_deadline_moves_its_reason() -> None:
    async with open_test_server(send_timeout=0.2) as server:
        alice = await connect(server, "alice")
        stalled = await _log_in_then_stall(server, "stalled")
        await alice.receive_until("*** stalled has joined the chat ***")
        await alice.send("are you there?")
        got = await scrape_until(server.ws_port, "triochat_clients_cut_off_total", 1, reason="send_deadline")
        assert got("triochat_clients_cut_off_total", reason="outbox_overflow") == 0
        await stalled.aclose()
        await alice.aclose()


async def test_a_keepalive_cut_off_moves_its_reason() -> None:
    async with (
        open_test_server(ping_interval=0.1, ping_timeout=0.1) as server,
        RawClient.attach(server) as silent,
    ):
        await silent.login("silent")  # then never answers a ping
        await scrape_until(server.ws_port, "triochat_clients_cut_off_total", 1, reason="keepalive")


async def test_an_idle_line_user_cut_off_moves_its_reason() -> None:
    async with open_test_server(idle_timeout=0.1) as server:
        quiet = await connect(server, "quiet")
        lines = await quiet.receive_all()
        assert lines[-1].endswith("idle for 0.1 s; closing")
        got = await scrape_until(server.ws_port, "triochat_clients_cut_off_total", 1, reason="idle")
        assert got("triochat_clients_cut_off_total", reason="keepalive") == 0


async def test_a_flood_moves_rate_limited() -> None:
    async with open_test_server(rate_limit=20, rate_burst=1) as server:
        alice = await connect(server, "alice")
        bob = await connect(server, "bob")
        before = await scrape(server.ws_port)
        for n in range(3):
            await alice.send(f"flood {n}")
        await bob.receive_until("alice: flood 2")
        after = await scrape(server.ws_port)
        await alice.aclose()
        await bob.aclose()
    assert before("triochat_rate_limited_total") == 0
    assert after("triochat_rate_limited_total") == 1  # one warning per flood
    assert after("triochat_messages_received_total") == 3


async def test_handler_errors_and_timeouts_move_their_metrics() -> None:
    server = ChatServer("127.0.0.1", 0, handler_timeout=0.2)

    async def handler(content: str, username: str) -> None:
        if content == "boom":
            raise RuntimeError("a handler bug")
        if content == "slow":
            await trio.sleep_forever()

    server.add_handler(handler)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        alice = await connect(server, "alice")
        bob = await connect(server, "bob")
        for content in ("boom", "slow", "fine"):
            await alice.send(content)
        await bob.receive_until("alice: fine")
        got = await scrape(server.ws_port)
        await alice.aclose()
        await bob.aclose()
        await server.stop()
    assert got("triochat_handler_errors_total") == 1
    assert got("triochat_handler_timeouts_total") == 1


async def test_an_auth_refusal_and_a_full_server_move_their_reasons() -> None:
    async def deny_v1(info: ConnectionInfo) -> Accept | Reject:
        return Reject(403, "no") if info.path == "/v1" else Accept()

    async with open_test_server(auth=deny_v1, max_connections=1) as server:
        async with RawClient.attach(server) as refused:
            await refused.stream.send_all(UPGRADE)
            assert (await refused.stream.receive_some()).startswith(b"HTTP/1.1 403 ")
        alice = await connect(server, "alice")
        async with RawClient.attach(server) as over:
            await over.stream.send_all(UPGRADE)
            assert (await over.stream.receive_some()).startswith(b"HTTP/1.1 503 ")
        # A plain request beyond max_connections is still answered, and is no refusal.
        got = await scrape(server.ws_port)
        await alice.aclose()
    assert got("triochat_logins_refused_total", reason="auth") == 1
    assert got("triochat_logins_refused_total", reason="server_full") == 1


UPGRADE = (
    b"GET /v1 HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def test_buckets_count_each_value_under_the_first_bound_it_does_not_exceed() -> None:
    buckets = Buckets((1, 2, 4))
    for value in (0.5, 1, 1.5, 4, 9):
        buckets.observe(value)
    assert buckets.counts == [2, 1, 1, 1]
    assert buckets.cumulative() == [(1.0, 2), (2.0, 3), (4.0, 4), (float("inf"), 5)]
    assert (buckets.count, buckets.sum) == (5, 16.0)
    with pytest.raises(ValueError):
        Buckets((2, 1))


async def test_the_metrics_port_serves_metrics_and_health_and_the_websocket_port_no_metrics() -> None:
    async with open_test_server(metrics_port=0) as server:
        (http,) = [listener for listener in server.listeners if listener.transport == "http"]
        assert http.url == f"http://127.0.0.1:{http.port}"
        assert http.port not in (server.ws_port, 0)
        got = await scrape(http.port)
        assert got("triochat_connections", transport="ws") == 0  # the scrape is not a chat connection
        assert (await http_get(http.port, "/healthz"))[0] == 200
        assert (await http_get(http.port, "/readyz"))[0] == 200
        assert (await http_get(http.port, "/"))[0] == 404
        async with await trio.open_tcp_stream("127.0.0.1", http.port) as stream:
            await stream.send_all(UPGRADE)
            assert (await stream.receive_some()).startswith(b"HTTP/1.1 404 ")
        assert server.ws_port is not None
        assert (await http_get(server.ws_port, "/metrics"))[0] == 404
        assert (await http_get(server.ws_port, "/healthz"))[0] == 200


async def test_no_metrics_turns_metrics_off_and_leaves_the_health_checks() -> None:
    async with open_test_server(metrics=False) as server:
        assert server.ws_port is not None
        assert (await http_get(server.ws_port, "/metrics"))[0] == 404
        assert (await http_get(server.ws_port, "/readyz"))[0] == 200
        runtime = server._runtime
        assert runtime is not None
        assert runtime.metrics is None
        assert runtime.broadcaster.latency is None and runtime.broadcaster.batch_sizes is None
    async with open_test_server(metrics=False, metrics_port=0) as server:
        (http,) = [listener for listener in server.listeners if listener.transport == "http"]
        assert (await http_get(http.port, "/metrics"))[0] == 404
        assert (await http_get(http.port, "/healthz"))[0] == 200


def test_the_flags_and_toml_keys_set_metrics_and_the_metrics_port(tmp_path: Path) -> None:
    args = build_parser().parse_args(["serve", "--metrics-port", "0", "--no-metrics"])
    config = serve.build_server(serve.settings_from(args)).config
    assert (config.metrics, config.metrics_port) == (False, 0)
    config = serve.build_server(serve.settings_from(build_parser().parse_args(["serve"]))).config
    assert (config.metrics, config.metrics_port) == (True, None)
    path = tmp_path / "triochat.toml"
    path.write_text("[serve]\nno-metrics = true\nmetrics-port = 9100\n")
    config = serve.build_server(
        serve.settings_from(build_parser().parse_args(["serve", "--config", str(path)]))
    ).config
    assert (config.metrics, config.metrics_port) == (False, 9100)


def test_a_metrics_port_that_is_another_listeners_port_is_a_usage_error() -> None:
    args = build_parser().parse_args(["serve", "--metrics-port", "8724"])
    with pytest.raises(serve.UsageError, match="metrics_port 8724 is taken"):
        serve.build_server(serve.settings_from(args))
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--metrics-port", "70000"])


async def test_with_sqlite_a_message_is_timed_once_committed_and_the_store_metrics_move(
    tmp_path: Path,
) -> None:
    async with open_test_server(store=f"sqlite:{tmp_path / 'chat.db'}") as server:
        alice = await connect(server, "alice")
        bob = await connect(server, "bob")
        before = await scrape(server.ws_port)
        await alice.send("kept")
        await bob.receive_until("alice: kept")
        after = await scrape(server.ws_port)
        await alice.aclose()
        await bob.aclose()
    assert after("triochat_store_commits_total") > before("triochat_store_commits_total")
    assert (
        after("triochat_message_latency_seconds_count")
        == before("triochat_message_latency_seconds_count") + 1
    )
    assert after("triochat_store_pending_records") == 0
    assert after("triochat_store_failed") == 0


async def _raw_exchange(port: int, data: bytes) -> bytes:
    """Send *data* on a fresh connection; everything the server answers until it closes."""
    with trio.fail_after(10):
        async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
            await stream.send_all(data)
            answer = b""
            while chunk := await stream.receive_some():
                answer += chunk
            return answer


async def test_the_metrics_port_answers_bad_requests_clearly_and_drops_silent_ones() -> None:
    async with open_test_server(metrics_port=0, handshake_timeout=0.3) as server:
        (http,) = [listener for listener in server.listeners if listener.transport == "http"]
        assert (await _raw_exchange(http.port, b"hello\r\n\r\n")).startswith(b"HTTP/1.1 400 ")
        answer = await _raw_exchange(http.port, b"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 4")
        big = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
        assert (await _raw_exchange(http.port, big)).startswith(b"HTTP/1.1 431 ")
        # Says nothing: closed after handshake_timeout, without an answer.
        start = trio.current_time()
        assert await _raw_exchange(http.port, b"") == b""
        assert 0.2 < trio.current_time() - start < 5
        # The server is fine.
        assert (await http_get(http.port, "/healthz"))[0] == 200


async def test_the_metrics_port_answers_a_bounded_number_of_requests_at_once() -> None:
    async with open_test_server(metrics_port=0, handshake_timeout=30) as server:
        (http,) = [listener for listener in server.listeners if listener.transport == "http"]
        silent = [await trio.open_tcp_stream("127.0.0.1", http.port) for _ in range(MAX_REQUESTS)]
        await trio.testing.wait_all_tasks_blocked()
        # One more is closed at once, long before the silent ones' handshake timeout.
        with trio.fail_after(10):
            assert await _raw_exchange(http.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n") == b""
        for stream in silent:
            await stream.aclose()
        # Once they are gone (their tasks notice the close), requests are answered again.
        answer = b""
        for _ in range(500):
            answer = await _raw_exchange(http.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            if answer:
                break
            await trio.sleep(0.01)
        assert answer.startswith(b"HTTP/1.1 200 ")


async def test_a_banned_login_and_a_foreign_origin_are_refusals_with_their_own_reasons() -> None:
    async with open_test_server(tcp_port=0) as server:
        await server.ban("mallory", reason="spam")
        mallory = await connect(server)
        await mallory.send("mallory")
        while not (await mallory.receive()).startswith("error: mallory is banned"):
            pass
        async with RawClient.attach(server) as foreign:
            await foreign.stream.send_all(
                UPGRADE.replace(b"\r\n\r\n", b"\r\nOrigin: http://evil.example\r\n\r\n")
            )
            assert (await foreign.stream.receive_some()).startswith(b"HTTP/1.1 403 ")
        got = await scrape(server.ws_port)
    assert got("triochat_logins_refused_total", reason="banned") == 1
    assert got("triochat_logins_refused_total", reason="origin") == 1


async def test_kicks_and_bans_count_as_clients_cut_off_by_an_operator() -> None:
    async with open_test_server(tcp_port=0) as server:
        alice = await connect(server, "alice")
        bob = await connect(server, "bob")
        await server.kick("alice", "spam")
        await alice.receive_all()
        await server.ban("bob", "1h")
        await bob.receive_all()
        got = await scrape(server.ws_port)
    assert got("triochat_clients_cut_off_total", reason="kicked") == 1
    assert got("triochat_clients_cut_off_total", reason="banned") == 1
