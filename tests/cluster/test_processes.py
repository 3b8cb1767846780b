"""Real ``triochat serve --redis`` processes: every transport across nodes, races, a killed node."""

from __future__ import annotations

import subprocess
import sys

import trio

from tests.redisproc import RedisProcess, free_port
from tests.test_cli_chat_flows import CHAT, Output, _background
from tests.test_recovery import chat_messages
from triochat import open_chat_client
from triochat.testing import LineTestClient, connect_tcp

from .nodes import SERVE, serve_node
from .test_presence import try_login


async def test_redis_unreachable_at_start_is_one_line_and_exit_1() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with trio.fail_after(30):
        result = await trio.run_process(
            [*SERVE, "--redis", url], capture_stdout=True, capture_stderr=True, check=False
        )
    assert result.returncode == 1
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"triochat serve: cannot reach Redis at {url}: "), lines


async def test_the_error_line_never_shows_the_redis_password() -> None:
    port = free_port()
    with trio.fail_after(30):
        result = await trio.run_process(
            [*SERVE, "--redis", f"redis://:s3cret@127.0.0.1:{port}/0"],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert result.returncode == 1
    err = result.stderr.decode()
    assert f"cannot reach Redis at redis://:***@127.0.0.1:{port}/0: " in err
    assert "s3cret" not in err


async def test_a_missing_redis_extra_is_one_line_and_exit_1(redis: RedisProcess) -> None:
    # coredis made unimportable, as if triochat[redis] were not installed
    code = (
        "import sys; sys.modules['coredis'] = None; "
        "from triochat.cli import main; "
        f"sys.exit(main(['serve', '--port', '0', '--tcp-port', '0', '--redis', {redis.url!r}]))"
    )
    with trio.fail_after(30):
        result = await trio.run_process(
            [sys.executable, "-c", code], capture_stdout=True, capture_stderr=True, check=False
        )
    assert result.returncode == 1
    assert result.stderr.decode().strip().splitlines() == [
        "triochat serve: --redis needs the redis extra: pip install 'triochat[redis]'"
    ]


async def test_every_transport_on_two_nodes_chats_as_one(redis: RedisProcess) -> None:
    async with (
        serve_node(redis.url) as one,
        serve_node(redis.url) as two,
        trio.open_nursery() as nursery,
    ):
        with trio.fail_after(30):
            line = await connect_tcp("127.0.0.1", one.tcp_port, "nc_user")
            async with (
                open_chat_client(f"{two.ws_url}/v1", name="v1_user") as v1,
                open_chat_client(f"{two.ws_url}/v2", name="v2_user") as v2,
            ):
                proc: trio.Process = await nursery.start(_background([*CHAT, one.ws_url, "--name", "term"]))
                assert proc.stdin is not None and proc.stdout is not None
                out = Output(proc.stdout)
                await line.receive_until("*** term has joined the chat ***")
                await line.send("from the line protocol on one")
                await proc.stdin.send_all(b"from triochat chat on one\n")
                await v1.send("from v1 on two")
                await v2.send("from v2 on two")
                expected = {
                    "from the line protocol on one",
                    "from triochat chat on one",
                    "from v1 on two",
                    "from v2 on two",
                }
                got_v1 = {m.content for m in await chat_messages(v1, 3)}
                assert got_v1 == expected - {"from v1 on two"}
                got_v2 = {m.content for m in await chat_messages(v2, 3)}
                assert got_v2 == expected - {"from v2 on two"}
                for text in expected - {"from triochat chat on one"}:
                    await out.wait_for(text)
                seen: set[str] = set()
                while len(seen) < 3:
                    reply = await line.receive()
                    seen |= {text for text in expected if reply.endswith(": " + text)}
                assert seen == expected - {"from the line protocol on one"}
                await proc.stdin.aclose()
                assert await proc.wait() == 0
                await line.aclose()
        for node in (one, two):
            assert "Traceback" not in node.stderr()


async def test_a_name_race_across_two_processes_has_one_winner(redis: RedisProcess) -> None:
    results: list[bool] = []
    clients: list[LineTestClient] = []
    async with serve_node(redis.url) as one, serve_node(redis.url) as two:

        async def attempt(port: int) -> None:
            client = await connect_tcp("127.0.0.1", port)
            clients.append(client)
            results.append(await try_login(client, "Highlander"))

        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                for n in range(30):
                    nursery.start_soon(attempt, (one, two)[n % 2].tcp_port)
        for client in clients:
            await client.aclose()
    assert len(results) == 30
    assert results.count(True) == 1


async def test_a_killed_node_frees_its_users_within_the_lease(redis: RedisProcess) -> None:
    async with serve_node(redis.url, lease=2.0) as one, serve_node(redis.url, lease=2.0) as two:
        with trio.fail_after(30):
            alice = await connect_tcp("127.0.0.1", one.tcp_port, "alice")
            watcher = await connect_tcp("127.0.0.1", two.tcp_port, "watcher")
            await alice.send("/join dev")
            await alice.receive_until("*** you are in #dev with 1: alice ***")
            await watcher.send("/join dev")
            await watcher.receive_until("*** you are in #dev with 2: alice, watcher ***")
        one.process.kill()  # SIGKILL: nothing is cleaned up by the node itself
        killed = trio.current_time()
        with trio.fail_after(15):
            lines = await watcher.receive_until("*** alice has left the chat (connection lost) ***")
        took = trio.current_time() - killed
        assert took < 2.0 * 2 + 1, f"took {took:.1f} s"
        with trio.fail_after(10):
            again = await connect_tcp("127.0.0.1", two.tcp_port)
            assert await try_login(again, "alice")
            await watcher.receive_until("*** alice has joined the chat ***")
        # told once, though alice was in two rooms with the watcher
        assert sum("alice has left" in line for line in lines) == 1, lines
        for client in (alice, watcher, again):
            await client.aclose()


def test_serve_help_names_the_redis_flags() -> None:
    result = subprocess.run([*SERVE[:4], "--help"], capture_output=True, text=True, timeout=30, check=False)
    assert "--redis " in result.stdout and "--redis-lease" in result.stdout


async def test_redis_restarting_under_two_processes_loses_and_doubles_nothing_accepted(
    redis: RedisProcess,
) -> None:
    refused = 0
    sent: list[str] = []
    received: list[str] = []
    async with (
        serve_node(redis.url, "--rate-limit", "off") as one,
        serve_node(redis.url, "--rate-limit", "off") as two,
    ):
        sender = await connect_tcp("127.0.0.1", one.tcp_port, "sender")
        reader = await connect_tcp("127.0.0.1", two.tcp_port, "reader")
        with trio.fail_after(10):
            await sender.receive_until("*** reader has joined the chat ***")
        settled = trio.Event()
        back = trio.Event()
        finished = False

        def check() -> None:
            if finished and refused + len(received) >= len(sent):
                settled.set()

        async def read_errors() -> None:
            nonlocal refused
            while True:
                line = await sender.receive()
                if line.startswith("error: "):
                    assert "Redis" in line, line
                    refused += 1
                    check()

        async def read_chat() -> None:
            while True:
                line = await reader.receive()
                if line.startswith("sender: "):
                    received.append(line.removeprefix("sender: "))
                    check()

        async def outage() -> None:
            await trio.to_thread.run_sync(redis.stop)
            await trio.sleep(1.0)  # Redis is a real process: a real outage
            await trio.to_thread.run_sync(redis.restart)
            back.set()

        async def say(count: int) -> None:
            for _ in range(count):
                sent.append(f"m{len(sent)}")
                await sender.send(sent[-1])
                await trio.sleep(0.01)  # a steady rate of real traffic

        with trio.fail_after(45):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(read_errors)
                nursery.start_soon(read_chat)
                await say(40)
                nursery.start_soon(outage)
                while not back.is_set():
                    await say(1)
                await say(300)  # the nodes reconnect (backoff) while this goes on
                finished = True
                check()
                await settled.wait()
                await trio.sleep(0.5)  # anything doubled would arrive now
                nursery.cancel_scope.cancel()
        for client in (sender, reader):
            await client.aclose()
    assert len(received) == len(set(received)), "a message came twice"
    assert set(received) <= set(sent)
    assert refused > 0, "nothing was refused while Redis was down"
    assert sent[-1] in received, "chat did not resume after Redis came back"
    # every message was delivered or refused (a refusal while in flight may still have gone through)
    assert len(sent) <= len(received) + refused
