"""``triochat serve --store sqlite:PATH`` as a real process: restarts and ``kill -9``."""

from __future__ import annotations

import re
import signal
import sys
from pathlib import Path

import trio

from tests.test_cli_chat_flows import Output, _background
from triochat import open_chat_client
from triochat._store import open_store
from triochat.protocol.events import ChatMessage
from triochat.protocol.lines import encode_line

SERVE = [sys.executable, "-m", "triochat", "serve", "--host", "127.0.0.1", "--port", "0", "--tcp-port", "0"]


async def start_server(
    nursery: trio.Nursery, path: Path, *more: str
) -> tuple[trio.Process, int, int, Output]:
    command = [*SERVE, "--store", f"sqlite:{path}", "--rate-limit", "off", "--log-level", "error", *more]
    # A busy machine may keep the watcher from reading for a while: it must not be
    # cut off as too slow, which is not what these tests are about.
    command += ["--outbox-limit", str(64 << 20), "--send-timeout", "60"]
    proc: trio.Process = await nursery.start(_background(command))
    assert proc.stdout is not None
    out = Output(proc.stdout)
    with trio.fail_after(20):
        while (
            found := re.search(r"tcp://127\.0\.0\.1:(\d+)\n.*ws://127\.0\.0\.1:(\d+)/\n", out.text, re.S)
        ) is None:
            chunk = await proc.stdout.receive_some()
            assert chunk, f"the server ended: {out.text!r}"
            out.text += chunk.decode()
    tcp, ws = int(found[1]), int(found[2])
    return proc, tcp, ws, out


async def line_login(port: int, name: str) -> trio.SocketStream:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(encode_line(name))
    return stream


async def stop(proc: trio.Process) -> None:
    proc.send_signal(signal.SIGTERM)
    with trio.fail_after(20):
        assert await proc.wait() == 0


async def test_kill_9_during_traffic_then_restart_keeps_everything_shown(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    received: list[tuple[str, int, str]] = []
    async with trio.open_nursery() as nursery:
        # The file keeps what the window keeps: all of it here, to check every seq.
        proc, tcp, ws, _ = await start_server(nursery, path, "--history-size", "100000")
        async with open_chat_client(f"ws://127.0.0.1:{ws}", name="watcher") as watcher:
            sender = await line_login(tcp, "sender")

            async def flood() -> None:
                try:
                    for n in range(20_000):
                        await sender.send_all(encode_line(f"message {n}"))
                        if n % 50 == 49:
                            await trio.sleep(0.001)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    pass  # the server was killed

            nursery.start_soon(flood)
            with trio.fail_after(30):
                async for event in watcher:
                    if isinstance(event, ChatMessage):
                        received.append((event.epoch, event.seq, event.content))
                        if len(received) >= 300:
                            proc.kill()  # SIGKILL, by PID: no flush, no clean close
                            break
            with trio.fail_after(20):
                await proc.wait()
            # Whatever was already on its way to us was shown too.
            try:
                with trio.move_on_after(1):
                    async for event in watcher:
                        if isinstance(event, ChatMessage):
                            received.append((event.epoch, event.seq, event.content))
            except Exception:  # the connection is gone: ConnectionLost
                pass
        await sender.aclose()

        # The next start opens the file and goes on in the same epoch.
        proc, tcp, ws, _ = await start_server(nursery, path, "--history-size", "100000")
        async with open_chat_client(f"ws://127.0.0.1:{ws}", name="again") as again:
            await again.send("after the crash")
            await again.who()
            positions = dict(again.positions)
        await stop(proc)

    async with open_store(f"sqlite:{path}", history_size=100_000) as log:
        records = log.recent("lobby", 100_000)
    assert [r.seq for r in records] == list(range(1, len(records) + 1))  # no gaps, no repeats
    kept = {(r.epoch, r.seq): r.entry.content for r in records}
    for epoch, seq, content in received:
        assert kept.get((epoch, seq)) == content, (epoch, seq, content)  # shown, so kept, unchanged
    epoch = received[0][0]
    assert {r.epoch for r in records} == {epoch}
    last = records[-1]
    assert last.entry.content == "after the crash"
    assert last.seq > max(seq for _, seq, _ in received)
    assert positions["lobby"] == (epoch, last.seq)


async def test_history_and_positions_survive_a_restart_of_the_process(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    async with trio.open_nursery() as nursery:
        proc, _, ws, _ = await start_server(nursery, path)
        async with open_chat_client(f"ws://127.0.0.1:{ws}", name="alice") as alice:
            await alice.join("dev")
            for n in range(3):
                await alice.send(f"m{n}", room="dev")
            await alice.who()
            before = dict(alice.positions)
        await stop(proc)
        proc, _, ws, _ = await start_server(nursery, path)
        async with open_chat_client(f"ws://127.0.0.1:{ws}", name="bob", rooms={"dev": None}) as bob:
            got: list[ChatMessage] = []
            with trio.fail_after(10):
                async for event in bob:
                    if isinstance(event, ChatMessage):
                        got.append(event)
                        if len(got) == 3:
                            break
            assert [(m.content, m.seq, m.history) for m in got] == [
                ("m0", 1, True),
                ("m1", 2, True),
                ("m2", 3, True),
            ]
            assert bob.positions["dev"] == before["dev"]  # same epoch, same seq
            await bob.send("m3", room="dev")
            await bob.who()
            epoch = got[0].epoch
            assert bob.positions["dev"] == (epoch, 4)  # seq goes on
        await stop(proc)
