"""Positions and history through the room log: the broadcaster, the server, the CLI."""

from __future__ import annotations

import random
import sqlite3
import threading
from pathlib import Path

import pytest
import trio
import trio.testing

from triochat import ChatServer
from triochat._store import SqliteStore, StoreError, open_store
from triochat.cli import main
from triochat.testing import LineTestClient, connect, open_test_server


def leaves(group: BaseExceptionGroup[StoreError]) -> list[StoreError]:
    found: list[StoreError] = []
    for exc in group.exceptions:
        found += leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    return found


def store_of(server: ChatServer) -> object:
    runtime = server._runtime
    assert runtime is not None
    return runtime.broadcaster.store


class Gate:
    """Holds the SQLite store's writer inside its worker thread until opened."""

    def __init__(self, store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered = trio.Event()
        self.open = threading.Event()
        write = store._write
        token = trio.lowlevel.current_trio_token()

        def gated(ops: list[object]) -> None:
            trio.from_thread.run_sync(self.entered.set, trio_token=token)
            assert self.open.wait(10)
            write(ops)  # type: ignore[arg-type]

        monkeypatch.setattr(store, "_write", gated)


async def test_no_client_sees_a_message_before_it_is_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_test_server(store=f"sqlite:{tmp_path / 'chat.db'}") as server:
        alice = await connect(server, "alice")
        bob = await connect(server, "bob")
        assert await alice.receive() == "*** bob has joined the chat ***"
        store = store_of(server)
        assert isinstance(store, SqliteStore)
        gate = Gate(store, monkeypatch)
        await bob.send("one")
        with trio.fail_after(10):
            await gate.entered.wait()
        await bob.send("two")  # a later batch, held behind the first
        await bob.send("/who")  # no message, but it comes after them: it waits too
        await trio.testing.wait_all_tasks_blocked()
        assert alice.lines_nowait() == []  # "one" is not committed: nobody sees it
        stats = server.statistics().store
        assert stats is not None and stats.pending_records >= 1 and stats.kind == "sqlite"
        gate.open.set()
        with trio.fail_after(10):
            assert await alice.receive() == "bob: one"
            assert await alice.receive() == "bob: two"
            assert await bob.receive() == "*** 2 in #lobby: alice, bob ***"
        stats = server.statistics().store  # the answer came after the last commit
        assert stats is not None and stats.pending_records == 0 and stats.commits >= 1


async def test_a_graceful_stop_flushes_and_a_restart_continues(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    async with open_test_server(store=f"sqlite:{path}", join_history=5) as server:
        alice = await connect(server, "alice")
        await alice.send("/join dev")
        await alice.receive()
        for n in range(3):
            await alice.send(f"m{n}")
        await alice.send("/msg alice secret")  # private: never in a room's log
        await alice.receive()
        await alice.receive()
    async with open_store(f"sqlite:{path}") as log:
        records = log.recent("dev", 10)
        assert [(r.seq, r.entry.content) for r in records] == [(1, "m0"), (2, "m1"), (3, "m2")]
        assert log.recent("lobby", 10) == []
        epoch = records[0].epoch
    async with open_test_server(store=f"sqlite:{path}", join_history=5) as server:
        bob = await connect(server, "bob")
        await bob.send("/rooms")  # the room is back (with its history), empty
        assert await bob.receive() == "*** rooms: #lobby (1) [here], #dev (0) ***"
        await bob.send("/join dev")
        assert await bob.receive_until("*** end of the history of #dev ***") == [
            "*** you are in #dev with 1: bob ***",
            "*** the last 3 messages of #dev ***",
            "alice: m0",
            "alice: m1",
            "alice: m2",
            "*** end of the history of #dev ***",
        ]
        await bob.send("m3")
        await bob.send("/who")
        await bob.receive()
    async with open_store(f"sqlite:{path}") as log:
        last = log.recent("dev", 1)[0]
        assert (last.epoch, last.seq, last.entry.content) == (epoch, 4, "m3")


async def test_history_off_shows_nothing_but_positions_go_on() -> None:
    async with open_test_server(history_size=0) as server:
        alice = await connect(server, "alice")
        await alice.send("before")
        bob = await connect(server, "bob")
        assert await alice.receive() == "*** bob has joined the chat ***"
        await bob.send("/who")
        assert await bob.receive() == "*** 2 in #lobby: alice, bob ***"  # no history lines
        store = store_of(server)
        assert store.position("lobby").seq == 1  # type: ignore[attr-defined]


async def test_a_late_line_user_gets_recent_history_then_live(chat_server: ChatServer) -> None:
    alice = await connect(chat_server, "alice")
    for n in range(25):
        await alice.send(f"m{n}")
    await alice.send("/who")
    await alice.receive_until("*** 1 in #lobby: alice ***")  # every message was handled
    late = await connect(chat_server, "late")
    lines = await late.receive_until("*** end of the history of #lobby ***")
    assert lines == [
        "*** the last 20 messages of #lobby ***",  # join_history: 20 by default
        *(f"alice: m{n}" for n in range(5, 25)),
        "*** end of the history of #lobby ***",
    ]
    await alice.send("live")
    assert await late.receive() == "alice: live"


async def test_seq_has_no_gaps_or_repeats_under_concurrent_senders_in_several_rooms() -> None:
    rooms = ["lobby", "dev", "ops"]
    per_user = 30
    async with open_test_server(rate_limit=None) as server:
        users = [await connect(server, f"u{n}") for n in range(6)]
        for user in users:
            for room in rooms[1:]:
                await user.send(f"/join {room}")

        async def chatter(n: int, user: LineTestClient) -> None:
            rng = random.Random(n)
            for k in range(per_user):
                room = rng.choice(rooms)
                await user.send(f"/join {room}" if k % 7 == 0 else f"/say {n}-{k}")
                if k % 5 == 0:
                    await trio.lowlevel.checkpoint()

        async with trio.open_nursery() as nursery:
            for n, user in enumerate(users):
                nursery.start_soon(chatter, n, user)
        for user in users:
            await user.send("/quit")
            await user.receive_all()
        store = store_of(server)
        total = 0
        for room in rooms:
            records = store.recent(room, 1000)  # type: ignore[attr-defined]
            assert [r.seq for r in records] == list(range(1, len(records) + 1))
            assert len({r.epoch for r in records}) <= 1
            total += len(records)
        said = sum(1 for k in range(per_user) if k % 7) * len(users)
        assert total == said


# -- the command line ------------------------------------------------------------------


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


def serve_args(*more: str) -> list[str]:
    return ["serve", "--host", "127.0.0.1", "--port", "0", "--tcp-port", "0", "--log-level", "error", *more]


def test_a_corrupt_store_file_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "chat.db"
    path.write_bytes(b"this is not a database, it only pretends to be one" * 100)
    assert main(serve_args("--store", f"sqlite:{path}")) == 1
    line = one_error_line(capsys)
    assert line.startswith("triochat serve: ") and str(path) in line


def test_an_unwritable_store_path_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(serve_args("--store", f"sqlite:{tmp_path}")) == 1  # a directory
    assert (
        one_error_line(capsys)
        == f"triochat serve: cannot open store {tmp_path}: unable to open database file"
    )
    missing = tmp_path / "missing" / "chat.db"
    assert main(serve_args("--store", f"sqlite:{missing}")) == 1
    assert str(missing) in one_error_line(capsys)


@pytest.mark.parametrize(
    "argv",
    [["--store", "redis"], ["--store", "sqlite:"], ["--history-size", "-1"], ["--join-history", "-5"]],
)
def test_bad_store_settings_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(serve_args(*argv)) == 2
    assert one_error_line(capsys).startswith("triochat serve: ")


async def test_a_store_that_cannot_write_stops_the_server_and_shows_nothing_unstored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_write(ops: list[object]) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    path = tmp_path / "chat.db"
    failures: list[StoreError] = []
    lines: list[str] = []
    try:
        with trio.fail_after(20):
            async with open_test_server(store=f"sqlite:{path}") as server:
                alice = await connect(server, "alice")
                bob = await connect(server, "bob")
                assert await alice.receive() == "*** bob has joined the chat ***"
                store = store_of(server)
                assert isinstance(store, SqliteStore)
                monkeypatch.setattr(store, "_write", failing_write)
                await bob.send("never stored")
                lines = await alice.receive_all()  # cut off: the server stops
                await server.join()
    except* StoreError as group:
        failures += leaves(group)
    assert [str(e) for e in failures] == [f"cannot write store {path}: disk I/O error"]
    assert "bob: never stored" not in lines


async def test_a_restart_brings_back_rooms_with_history_as_far_as_max_rooms_allows(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    async with open_test_server(store=f"sqlite:{path}") as server:
        alice = await connect(server, "alice")
        for room in ("one", "two", "three"):
            await alice.send(f"/join {room}")
            await alice.send(f"in {room}")
        await alice.send("/rooms")
        assert await alice.receive_until(
            "*** rooms: #lobby (1) [joined], #one (1) [joined], #two (1) [joined], #three (1) [here] ***"
        )
    async with open_test_server(store=f"sqlite:{path}", max_rooms=3) as server:
        bob = await connect(server, "bob")
        await bob.send("/rooms")
        assert await bob.receive() == "*** rooms: #lobby (1) [here], #one (0), #two (0) ***"
        store = store_of(server)
        assert sorted(store.rooms()) == ["one", "two"]  # type: ignore[attr-defined]
