"""Loss-free reconnects: the Python client and ``triochat chat`` resume where they stopped."""

from __future__ import annotations

import json
import random
import sys
from collections import defaultdict

import pytest
import trio
import trio.testing

from tests.test_cli_chat_flows import Output, _background
from triochat import ChatClient, ChatServer, open_chat_client
from triochat.protocol import commands
from triochat.protocol.events import ChatMessage, Event, Left, RoomEntered
from triochat.testing import connect, open_test_server, open_websocket

CHAT = [sys.executable, "-m", "triochat", "chat"]


def ws_url(server: ChatServer) -> str:
    return f"ws://127.0.0.1:{server.ws_port}"


async def chat_messages(client: ChatClient, count: int) -> list[ChatMessage]:
    got: list[ChatMessage] = []
    with trio.fail_after(10):
        async for event in client:
            if isinstance(event, ChatMessage):
                got.append(event)
                if len(got) == count:
                    return got
    raise AssertionError("the stream ended")


async def entered(client: ChatClient) -> RoomEntered:
    with trio.fail_after(10):
        async for event in client:
            if isinstance(event, RoomEntered):
                return event
    raise AssertionError("the stream ended")


async def nothing_more(client: ChatClient) -> list[Event]:
    await trio.testing.wait_all_tasks_blocked(cushion=0.05)
    extra: list[Event] = []
    with trio.move_on_after(0.1):
        async for event in client:
            extra.append(event)
    return extra


async def test_a_client_that_reconnects_gets_exactly_what_it_missed() -> None:
    async with (
        open_test_server() as server,
        open_chat_client(ws_url(server), name="bob") as bob,
    ):
        async with open_chat_client(ws_url(server), name="alice") as alice:
            await alice.join("dev")
            await entered(alice)
            await bob.send("lobby 1", room="lobby")
            await bob.join("dev")
            await entered(bob)
            await bob.send("dev 1", room="dev")
            assert [m.content for m in await chat_messages(alice, 2)] == ["lobby 1", "dev 1"]
            positions = dict(alice.positions)
            assert positions["lobby"] is not None and positions["lobby"][1] == 1
            assert positions["dev"] is not None and positions["dev"][1] == 1
        # alice is gone: what is said now she must get on her return, once
        for n in range(3):
            await bob.send(f"lobby missed {n}", room="lobby")
            await bob.send(f"dev missed {n}", room="dev")
        await bob.who()  # every message was handled
        async with open_chat_client(ws_url(server), name="alice", rooms=positions) as alice:
            missed = await chat_messages(alice, 6)
            by_room = defaultdict(list)
            for message in missed:
                assert message.history
                by_room[message.room].append((message.seq, message.content))
            assert by_room == {
                "lobby": [(2, "lobby missed 0"), (3, "lobby missed 1"), (4, "lobby missed 2")],
                "dev": [(2, "dev missed 0"), (3, "dev missed 1"), (4, "dev missed 2")],
            }
            assert alice.recovered == {"lobby": True, "dev": True}
            await bob.send("live", room="dev")
            live = await chat_messages(alice, 1)
            assert (live[0].content, live[0].seq, live[0].history) == ("live", 5, False)
            assert alice.positions["dev"] == (live[0].epoch, 5)
            assert await nothing_more(alice) == []


async def test_a_position_too_old_gets_recovered_false_and_recent_history_once() -> None:
    async with (
        open_test_server(history_size=4, join_history=3) as server,
        open_chat_client(ws_url(server), name="bob") as bob,
    ):
        async with open_chat_client(ws_url(server), name="alice") as alice:
            await bob.send("seen")
            await chat_messages(alice, 1)
            positions = dict(alice.positions)
        for n in range(6):
            await bob.send(f"m{n}")
        await bob.who()
        async with open_chat_client(ws_url(server), name="alice", rooms=positions) as alice:
            recent = await chat_messages(alice, 3)
            assert [m.content for m in recent] == ["m3", "m4", "m5"]
            assert alice.recovered == {"lobby": False}  # something was missed for good
            assert await nothing_more(alice) == []


async def test_history_already_seen_is_not_shown_again() -> None:
    # A server restart with a memory store starts a new epoch; here the same
    # epoch, a recovery that fails (a future seq), and recent history that
    # overlaps what was seen: only the unseen part is given.
    async with (
        open_test_server(join_history=10) as server,
        open_chat_client(ws_url(server), name="bob") as bob,
    ):
        async with open_chat_client(ws_url(server), name="alice") as alice:
            for n in range(3):
                await bob.send(f"m{n}")
            await chat_messages(alice, 3)
            epoch, seq = alice.positions["lobby"] or ("", 0)
        await bob.send("m3")
        await bob.who()
        async with open_chat_client(ws_url(server), name="alice", rooms={"lobby": (epoch, seq)}) as alice:
            assert [m.content for m in await chat_messages(alice, 1)] == ["m3"]
            assert await nothing_more(alice) == []
        # A position from the future: not recoverable; the recent history
        # (m0-m3) is all at or below what the client says it saw: nothing shown.
        async with open_chat_client(ws_url(server), name="alice", rooms={"lobby": (epoch, 99)}) as alice:
            extra = await nothing_more(alice)
            assert [e for e in extra if isinstance(e, ChatMessage)] == []
            assert alice.recovered == {"lobby": False}


async def test_late_joiners_on_every_protocol_see_the_recent_history() -> None:
    async with open_test_server(join_history=2) as server:
        nc = await connect(server, "talker")
        for n in range(3):
            await nc.send(f"m{n}")
        await nc.send("/who")
        await nc.receive_until("*** 1 in #lobby: talker ***")
        late_line = await connect(server, "late_line")
        assert await late_line.receive_until("*** end of the history of #lobby ***") == [
            "*** the last 2 messages of #lobby ***",
            "talker: m1",
            "talker: m2",
            "*** end of the history of #lobby ***",
        ]
        async with open_chat_client(ws_url(server), name="late_client") as client:
            got = await chat_messages(client, 2)
            assert [(m.content, m.history, m.seq) for m in got] == [("m1", True, 2), ("m2", True, 3)]
        async with open_websocket(server, "/v2") as ws:
            await ws.send_message(json.dumps({"type": "login", "name": "late_ws"}))
            frames = [json.loads(await ws.get_message()) for _ in range(4)]
            assert [f["type"] for f in frames] == ["welcome", "room", "message", "message"]
            assert [(f["text"], f["history"]) for f in frames[2:]] == [("m1", True), ("m2", True)]


async def test_seq_has_no_gaps_or_repeats_with_concurrent_v2_senders_in_several_rooms() -> None:
    rooms = ["lobby", "dev", "ops"]
    each = 40
    async with open_test_server(rate_limit=None) as server:
        seen: dict[str, list[int]] = defaultdict(list)
        contents: dict[str, list[str]] = defaultdict(list)
        login_rooms = {room: None for room in rooms}
        async with open_websocket(server, "/v2") as watcher:
            await watcher.send_message(json.dumps({"type": "login", "name": "watcher", "rooms": login_rooms}))
            for _ in range(4):  # welcome and three room frames
                await watcher.get_message()

            async def sender(n: int) -> None:
                rng = random.Random(n)
                async with open_websocket(server, "/v2") as ws:
                    await ws.send_message(
                        json.dumps({"type": "login", "name": f"s{n}", "rooms": login_rooms})
                    )
                    for k in range(each):
                        frame = {"type": "say", "text": f"{n}-{k}", "room": rng.choice(rooms)}
                        await ws.send_message(json.dumps(frame))
                        if k % 8 == 0:
                            await trio.lowlevel.checkpoint()
                    await ws.send_message(json.dumps({"type": "quit"}))
                    with trio.fail_after(10):
                        while True:  # until the goodbye: every message was handled
                            if json.loads(await ws.get_message())["type"] == "goodbye":
                                break

            async with trio.open_nursery() as nursery:
                for n in range(5):
                    nursery.start_soon(sender, n)
            total = 0
            with trio.fail_after(10):
                while total < 5 * each:
                    frame = json.loads(await watcher.get_message())
                    if frame["type"] == "message":
                        seen[frame["room"]].append(frame["seq"])
                        contents[frame["room"]].append(frame["text"])
                        total += 1
        for room in rooms:
            assert seen[room] == list(range(1, len(seen[room]) + 1)), room
        assert sorted(t for ts in contents.values() for t in ts) == sorted(
            f"{n}-{k}" for n in range(5) for k in range(each)
        )


async def test_triochat_chat_shows_what_it_missed_once_after_a_lost_connection() -> None:
    async with trio.open_nursery() as nursery, open_test_server() as server:
        watcher = await connect(server, "watcher")
        proc: trio.Process = await nursery.start(_background([*CHAT, ws_url(server), "--name", "reader"]))
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        out, err = Output(proc.stdout), Output(proc.stderr)
        with trio.fail_after(20):
            assert await watcher.receive() == "*** reader has joined the chat ***"
        await watcher.send("before")
        await out.wait_for("watcher: before")
        runtime = server._runtime
        assert runtime is not None
        (reader,) = [conn for conn in runtime.connections if conn.name == "reader"]
        reader.kick("network trouble")  # the connection is lost; the server stays
        with trio.fail_after(20):
            assert await watcher.receive() == "*** reader has left the chat (network trouble) ***"
        for n in range(3):
            await watcher.send(f"missed {n}")
        await err.wait_for("reconnecting in 1 s")
        with trio.fail_after(20):
            assert await watcher.receive() == "*** reader has joined the chat ***"
        await watcher.send("after")
        await out.wait_for("watcher: after")
        await proc.stdin.aclose()
        with trio.fail_after(20):
            assert await proc.wait() == 0
        lines = (await out.rest()).splitlines()
        said = [line for line in lines if line.startswith("watcher: ")]
        assert said == [
            "watcher: before",
            "watcher: missed 0",
            "watcher: missed 1",
            "watcher: missed 2",
            "watcher: after",
        ]
        assert "Traceback" not in await err.rest()


async def test_the_client_knows_where_it_is() -> None:
    async with open_test_server() as server, open_chat_client(ws_url(server), name="alice") as alice:
        await alice.join("dev")
        await entered(alice)
        assert alice.room == "dev" and set(alice.positions) == {"lobby", "dev"}


async def test_typed_commands_over_version_2_talk_in_the_current_room() -> None:
    async with (
        open_test_server() as server,
        open_chat_client(ws_url(server), name="alice") as alice,
    ):
        nc = await connect(server, "nc")
        await alice.command(commands.parse_command("/join dev"))  # type: ignore[arg-type]
        await entered(alice)
        await alice.command(commands.parse_command("in dev"))  # type: ignore[arg-type]
        await alice.command(commands.parse_command("/me waves"))  # type: ignore[arg-type]
        await alice.command(commands.parse_command("/part"))  # type: ignore[arg-type]
        with trio.fail_after(10):
            async for event in alice:
                if isinstance(event, Left):
                    break
        assert alice.room == "lobby" and set(alice.positions) == {"lobby"}
        await alice.command(commands.parse_command("back in the lobby"))  # type: ignore[arg-type]
        assert await nc.receive() == "alice: back in the lobby"  # nothing from #dev
        store = server._runtime.broadcaster.store  # type: ignore[union-attr]
        assert [(r.entry.content, r.entry.action) for r in store.recent("dev", 10)] == [
            ("in dev", False),
            ("waves", True),
        ]


async def test_part_on_version_1_is_refused_before_anything_is_sent() -> None:
    async with (
        open_test_server() as server,
        open_chat_client(f"ws://127.0.0.1:{server.ws_port}/v1", name="old") as old,
    ):
        assert old.version == 1
        with pytest.raises(ValueError, match="one room"):
            await old.command(commands.Part("lobby"))
        with pytest.raises(ValueError, match="current room"):
            await old.send("x", room="elsewhere")
