"""The native protocol, version 2, end to end: rooms, positions, history, recovery."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio
import trio.testing
from trio_websocket import WebSocketConnection

from triochat import ChatServer
from triochat.testing import connect, open_test_server, open_websocket


async def recv(ws: WebSocketConnection) -> dict[str, Any]:
    with trio.fail_after(10):
        message = await ws.get_message()
    assert isinstance(message, str)
    obj = json.loads(message)
    assert isinstance(obj, dict)
    return obj


async def send(ws: WebSocketConnection, **frame: Any) -> None:
    await ws.send_message(json.dumps(frame))


async def login(ws: WebSocketConnection, name: str, **more: Any) -> None:
    await send(ws, type="login", name=name, **more)
    assert await recv(ws) == {"type": "welcome", "name": name, "protocol": 2}


def texts(frames: list[dict[str, Any]]) -> list[str]:
    return [f["text"] for f in frames]


async def messages(ws: WebSocketConnection, count: int) -> list[dict[str, Any]]:
    got = [await recv(ws) for _ in range(count)]
    assert all(f["type"] == "message" for f in got), got
    return got


async def quiet(ws: WebSocketConnection) -> None:
    await trio.testing.wait_all_tasks_blocked()
    with trio.move_on_after(0.05):
        frame = await ws.get_message()
        pytest.fail(f"unexpected frame {frame!r}")


async def test_login_enters_the_default_room_and_messages_carry_positions() -> None:
    async with open_test_server() as server, open_websocket(server, "/v2") as alice:
        await login(alice, "alice")
        room = await recv(alice)
        assert room["type"] == "room" and room["room"] == "lobby" and room["members"] == ["alice"]
        assert room["seq"] == 0 and room["recovered"] is False
        epoch = room["epoch"]
        assert isinstance(epoch, str) and epoch
        await send(alice, type="say", text="hello")
        await send(alice, type="action", text="waves", room="LOBBY")
        first, second = await messages(alice, 2)  # the sender gets its own messages too
        assert {k: first[k] for k in ("room", "seq", "epoch", "from", "text", "action")} == {
            "room": "lobby",
            "seq": 1,
            "epoch": epoch,
            "from": "alice",
            "text": "hello",
            "action": False,
        }
        assert "history" not in first
        assert (second["seq"], second["action"]) == (2, True)


async def test_the_subprotocol_chooses_version_2_on_any_path() -> None:
    async with open_test_server() as server, open_websocket(server, "/", subprotocols=["triochat.v2"]) as ws:
        assert ws.subprotocol == "triochat.v2"
        await login(ws, "alice")
        assert (await recv(ws))["type"] == "room"


async def test_a_late_joiner_gets_recent_history_then_live_ones() -> None:
    async with (
        open_test_server(join_history=3) as server,
        open_websocket(server, "/v2") as alice,
        open_websocket(server, "/v2") as bob,
    ):
        await login(alice, "alice")
        await recv(alice)
        for n in range(5):
            await send(alice, type="say", text=f"m{n}")
        await messages(alice, 5)
        await login(bob, "bob")
        room = await recv(bob)
        assert (room["members"], room["seq"], room["recovered"]) == (["alice", "bob"], 5, False)
        history = await messages(bob, 3)
        assert texts(history) == ["m2", "m3", "m4"]
        assert [m["seq"] for m in history] == [3, 4, 5]
        assert all(m["history"] is True and m["id"] == 0 for m in history)
        assert (await recv(alice))["type"] == "joined"
        await send(alice, type="say", text="live")
        live = (await messages(bob, 1))[0]
        assert (live["text"], live["seq"], "history" in live) == ("live", 6, False)


async def test_reconnect_with_since_gets_exactly_what_was_missed() -> None:
    async with open_test_server() as server, open_websocket(server, "/v2") as alice:
        await login(alice, "alice")
        await recv(alice)
        async with open_websocket(server, "/v2") as bob:
            await login(bob, "bob")
            await recv(bob)
            await send(alice, type="say", text="seen")
            seen = (await messages(bob, 1))[0]
        # bob is gone; alice goes on talking
        for n in range(3):
            await send(alice, type="say", text=f"missed {n}")
        async with open_websocket(server, "/v2") as bob:
            since = {"epoch": seen["epoch"], "seq": seen["seq"]}
            await login(bob, "bob", rooms={"lobby": since})
            room = await recv(bob)
            assert (room["recovered"], room["seq"]) == (True, 4)
            missed = await messages(bob, 3)
            assert texts(missed) == ["missed 0", "missed 1", "missed 2"]
            assert [m["seq"] for m in missed] == [2, 3, 4]
            assert all(m["history"] for m in missed)
            await send(alice, type="say", text="live again")
            assert texts(await messages(bob, 1)) == ["live again"]
            await quiet(bob)


@pytest.mark.parametrize(
    ("since", "why"),
    [
        ("too old", "the next message is no longer kept"),
        ("other epoch", "the log started anew"),
        ("future", "the room never got that far"),
    ],
)
async def test_a_position_that_cannot_be_resumed_gets_recovered_false_and_recent_history(
    since: str, why: str
) -> None:
    async with (
        open_test_server(history_size=3, join_history=2) as server,
        open_websocket(server, "/v2") as alice,
    ):
        await login(alice, "alice")
        epoch = (await recv(alice))["epoch"]
        for n in range(6):
            await send(alice, type="say", text=f"m{n}")
        await messages(alice, 6)
        position = {
            "too old": {"epoch": epoch, "seq": 1},
            "other epoch": {"epoch": "0000000000", "seq": 6},
            "future": {"epoch": epoch, "seq": 99},
        }[since]
        await send(alice, type="join", room="lobby", since=position)
        room = await recv(alice)
        assert (room["type"], room["recovered"], room["seq"], room["epoch"]) == (
            "room",
            False,
            6,
            epoch,
        ), why
        assert texts(await messages(alice, 2)) == ["m4", "m5"]
        await quiet(alice)


async def test_several_rooms_chat_names_its_room() -> None:
    async with open_test_server() as server, open_websocket(server, "/v2") as alice:
        await login(alice, "alice", rooms={"lobby": None, "Dev": None})
        assert (await recv(alice))["room"] == "lobby"
        assert (await recv(alice))["room"] == "Dev"
        await send(alice, type="say", text="where?")
        error = await recv(alice)
        assert (error["type"], error["code"]) == ("error", "room_required")
        await send(alice, type="say", text="here", room="dev")
        message = (await messages(alice, 1))[0]
        assert (message["room"], message["seq"]) == ("Dev", 1)
        await send(alice, type="say", text="x", room="ops")
        assert (await recv(alice))["code"] == "not_in_room"
        await send(alice, type="part", room="ops")
        assert (await recv(alice))["code"] == "not_in_room"
        await send(alice, type="part", room="dev")
        assert await recv(alice) == {
            "type": "left",
            "name": "alice",
            "room": "Dev",
            "logout": False,
            "reason": None,
        }
        await send(alice, type="say", text="one room left: no need to name it")
        assert (await messages(alice, 1))[0]["room"] == "lobby"
        await send(alice, type="rooms")
        assert await recv(alice) == {
            "type": "rooms",
            "rooms": [
                {"name": "lobby", "members": 1, "joined": True},
                {"name": "Dev", "members": 0, "joined": False},
            ],
        }


async def test_joining_a_room_twice_resends_its_state_without_a_second_presence() -> None:
    async with (
        open_test_server() as server,
        open_websocket(server, "/v2") as alice,
        open_websocket(server, "/v2") as bob,
    ):
        await login(alice, "alice")
        await recv(alice)
        await login(bob, "bob")
        await recv(bob)
        assert (await recv(alice))["type"] == "joined"
        await send(bob, type="say", text="hi")
        await messages(bob, 1)
        await messages(alice, 1)
        await send(bob, type="join", room="lobby")
        room = await recv(bob)
        assert (room["type"], room["members"], room["seq"]) == ("room", ["alice", "bob"], 1)
        assert texts(await messages(bob, 1)) == ["hi"]
        await quiet(alice)


async def test_history_pages_back() -> None:
    async with open_test_server(join_history=0) as server, open_websocket(server, "/v2") as alice:
        await login(alice, "alice")
        await recv(alice)
        for n in range(1, 8):
            await send(alice, type="say", text=f"m{n}")
        await messages(alice, 7)
        await send(alice, type="history", room="lobby", limit=3)
        page = await recv(alice)
        assert (page["type"], page["room"]) == ("history", "lobby")
        assert texts(page["messages"]) == ["m5", "m6", "m7"]
        assert all(m["history"] for m in page["messages"])
        await send(alice, type="history", room="lobby", before=5, limit=100)
        assert texts((await recv(alice))["messages"]) == ["m1", "m2", "m3", "m4"]
        await send(alice, type="history", room="lobby", before=1)
        assert (await recv(alice))["messages"] == []


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "history", "room": "lobby", "limit": 101}, "bad_field"),
        ({"type": "history", "room": "lobby", "limit": 0}, "bad_field"),
        ({"type": "history", "room": "lobby", "limit": "5"}, "bad_field"),
        ({"type": "history", "room": "lobby", "limit": True}, "bad_field"),
        ({"type": "history", "room": "lobby", "limit": 10**30}, "bad_field"),
        ({"type": "history", "room": "lobby", "before": -1}, "bad_field"),
        ({"type": "history", "room": "lobby", "before": 1.5}, "bad_field"),
        ({"type": "history", "room": "nowhere"}, "not_in_room"),
        ({"type": "history", "room": 7}, "bad_field"),
        ({"type": "history"}, "bad_field"),
        ({"type": "join", "room": "x", "since": {"epoch": "e", "seq": "1"}}, "bad_field"),
        ({"type": "join", "room": "x", "since": {"epoch": 5, "seq": 1}}, "bad_field"),
        ({"type": "join", "room": "x", "since": {"epoch": "e", "seq": -1}}, "bad_field"),
        ({"type": "join", "room": "x", "since": {"epoch": "e", "seq": 2**64}}, "bad_field"),
        ({"type": "join", "room": "x", "since": [1, 2]}, "bad_field"),
        ({"type": "join", "room": "x", "since": {"epoch": "e"}}, "bad_field"),
        ({"type": "join", "room": "bad room"}, "bad_name"),
        ({"type": "part"}, "bad_field"),
        ({"type": "part", "room": ["lobby"]}, "bad_field"),
        ({"type": "say", "text": "x", "room": 3}, "bad_field"),
        ({"type": "say", "text": "x", "room": "no such room!"}, "bad_name"),
        ({"type": "login", "name": "again"}, "already_logged_in"),
        ({"type": "teleport"}, "unknown_type"),
    ],
)
async def test_bad_frames_get_error_frames_and_the_session_goes_on(frame: dict[str, Any], code: str) -> None:
    async with open_test_server() as server, open_websocket(server, "/v2") as alice:
        await login(alice, "alice")
        await recv(alice)
        await alice.send_message(json.dumps(frame))
        error = await recv(alice)
        assert (error["type"], error["code"]) == ("error", code), error
        assert error["message"]
        await send(alice, type="say", text="still here")
        assert texts(await messages(alice, 1)) == ["still here"]


@pytest.mark.parametrize(
    "rooms",
    [
        ["lobby"],
        "lobby",
        {"lobby": 5},
        {"lobby": {"epoch": "e", "seq": None}},
        {"bad room": None},
        {"dev": None, "DEV": None},
        {f"r{n}": None for n in range(101)},
    ],
)
async def test_a_bad_rooms_map_refuses_the_login_with_an_error_frame(rooms: object) -> None:
    async with open_test_server() as server, open_websocket(server, "/v2") as alice:
        await send(alice, type="login", name="alice", rooms=rooms)
        error = await recv(alice)
        assert error["type"] == "error" and error["code"] in ("bad_field", "bad_name"), error
        await login(alice, "alice", rooms={})  # then a good one: in no room at all
        await send(alice, type="say", text="hello?")
        assert (await recv(alice))["code"] == "no_room"


async def test_v1_keeps_its_frames_and_one_room(chat_server: ChatServer) -> None:
    async with open_websocket(chat_server, "/v1") as old, open_websocket(chat_server, "/v2") as new:
        await send(old, type="login", name="old")
        assert await recv(old) == {"type": "welcome", "name": "old", "protocol": 1}
        await login(new, "new")
        await recv(new)
        assert await recv(old) == {"type": "joined", "name": "new", "room": "lobby", "login": True}
        await send(new, type="say", text="hi")
        frame = await recv(old)
        assert set(frame) == {"type", "id", "ts", "room", "from", "text", "agent", "action"}
        await send(old, type="join", room="dev")
        assert await recv(old) == {"type": "room", "room": "dev", "members": ["old"]}
        await send(old, type="join", room="lobby")  # moves back: one room only
        await recv(old)
        await send(old, type="rooms")
        assert await recv(old) == {
            "type": "rooms",
            "rooms": [{"name": "lobby", "members": 2}],  # #dev went: no members, no history
        }


async def test_line_users_and_v2_users_share_rooms_and_positions(chat_server: ChatServer) -> None:
    nc = await connect(chat_server, "nc")
    async with open_websocket(chat_server, "/v2") as alice:
        await login(alice, "alice")
        await recv(alice)
        await nc.receive()
        await nc.send("from the line")
        message = (await messages(alice, 1))[0]
        assert (message["from"], message["seq"]) == ("nc", 1)
        await send(alice, type="join", room="dev")
        await recv(alice)
        await send(alice, type="say", text="in dev", room="dev")
        await messages(alice, 1)
        await nc.send("/join dev")
        assert await nc.receive() == "*** you are in #dev with 2: alice, nc ***"
        assert await nc.receive_until("*** end of the history of #dev ***") == [
            "*** the last message of #dev ***",
            "alice: in dev",
            "*** end of the history of #dev ***",
        ]
        assert (await recv(alice))["type"] == "joined"
        await trio.testing.wait_all_tasks_blocked()
        assert nc.lines_nowait() == []


async def test_history_bigger_than_the_outbox_is_cut_to_fit_and_nobody_is_cut_off() -> None:
    big = "x" * 3000
    async with open_test_server(outbox_limit=16_000, join_history=20) as server:
        async with open_websocket(server, "/v2") as alice:
            await login(alice, "alice")
            epoch = (await recv(alice))["epoch"]
            for n in range(10):
                await send(alice, type="say", text=f"{n} {big}")
            await messages(alice, 10)
        for since in (None, {"epoch": epoch, "seq": 0}):
            async with open_websocket(server, "/v2") as bob:
                await login(bob, "bob", rooms={"lobby": since})
                room = await recv(bob)
                # Recovering all ten would overflow the outbox: not recovered.
                assert (room["recovered"], room["seq"]) == (False, 10)
                await send(bob, type="history", room="lobby", limit=100)
                got = []
                while (frame := await recv(bob))["type"] == "message":
                    got.append(int(frame["text"].split()[0]))
                # The newest that fit in half the outbox (8 kB of 16 kB): two of about 3 kB.
                assert got == [8, 9]
                assert frame["type"] == "history"
                assert [int(m["text"].split()[0]) for m in frame["messages"]] == [8, 9]
        assert server.statistics().slow_disconnects == 0


async def test_joining_during_a_flood_gives_history_then_live_with_no_gap_or_repeat() -> None:
    async with (
        open_test_server(rate_limit=None, join_history=50) as server,
        open_websocket(server, "/v2") as sender,
        open_websocket(server, "/v2") as late,
    ):
        await login(sender, "sender")
        await recv(sender)
        await login(late, "late", rooms={})

        async def flood() -> None:
            for n in range(300):
                await send(sender, type="say", text=f"m{n}")
                if n % 10 == 0:
                    await trio.lowlevel.checkpoint()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(flood)
            for _ in range(20):  # let some messages go first
                await trio.lowlevel.checkpoint()
            await send(late, type="join", room="lobby")
        room = await recv(late)
        assert room["type"] == "room"
        seqs: list[int] = []
        while not seqs or seqs[-1] < 300:
            frame = await recv(late)
            if frame["type"] == "message":
                assert frame.get("history", False) is (frame["seq"] <= room["seq"])
                seqs.append(frame["seq"])
        # The recent history ends where the room was on joining; live ones follow.
        assert seqs == list(range(seqs[0], 301))
        assert seqs[0] == max(1, room["seq"] - 49)
