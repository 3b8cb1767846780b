"""Several rooms per user: the line protocol's current room, /join, /part, /rooms."""

from __future__ import annotations

import trio
import trio.testing

from triochat import ChatServer
from triochat.protocol.events import ChatMessage
from triochat.protocol.lineparse import ServerLineParser
from triochat.testing import LineTestClient, connect, open_test_server


async def quiet(*clients: LineTestClient) -> None:
    await trio.testing.wait_all_tasks_blocked()
    for client in clients:
        assert client.lines_nowait() == []


async def test_lines_from_other_rooms_carry_their_room_and_parse_back() -> None:
    async with open_test_server(history_size=0) as server:
        alice = await connect(server, "alice")
        bob = await connect(server, "bob")
        assert await alice.receive() == "*** bob has joined the chat ***"
        await alice.send("/join dev")
        assert await alice.receive() == "*** you are in #dev with 1: alice ***"
        await bob.send("/join DEV")  # rooms compare case-insensitively
        assert await bob.receive() == "*** you are in #dev with 2: alice, bob ***"
        assert await alice.receive() == "*** bob has joined #dev ***"
        await bob.send("/join lobby")  # back to the lobby as his current room
        assert await bob.receive() == "*** you now talk in #lobby ***"
        await bob.send("in the lobby")
        await bob.send("/me waves")
        assert await alice.receive() == "[#lobby] bob: in the lobby"
        assert await alice.receive() == "[#lobby] * bob waves"
        await server.send_message("two\nlines", "bot", room="lobby")
        lines = [await alice.receive(), await alice.receive()]
        assert lines == ["(2 lines) [#lobby] bot: two", "  | lines"]
        parser = ServerLineParser()
        events = [event for line in lines for event in parser.feed(line)]
        assert events == [ChatMessage(0, 0.0, "bot", "lobby", "two\nlines")]
        assert [await bob.receive(), await bob.receive()] == ["(2 lines) bot: two", "  | lines"]
        await alice.send("in dev")
        assert await bob.receive() == "[#dev] alice: in dev"
        await quiet(alice, bob)


async def test_part_the_last_room_then_join_again() -> None:
    async with open_test_server(history_size=0) as server:
        alice = await connect(server, "alice")
        await alice.send("/part")
        assert await alice.receive() == "*** alice has left #lobby ***"
        assert await alice.receive() == "*** you are in no room: /join ROOM first ***"
        await alice.send("anyone?")
        assert await alice.receive() == "error: you are in no room: /join ROOM first"
        await alice.send("/who")
        assert await alice.receive() == "error: you are in no room: /join ROOM first"
        await alice.send("/part")
        assert await alice.receive() == "error: you are in no room: /join ROOM first"
        await alice.send("/rooms")
        assert await alice.receive() == "*** rooms: #lobby (0) ***"
        await alice.send("/join #lobby")
        assert await alice.receive() == "*** you are in #lobby with 1: alice ***"
        await alice.send("/part #nowhere")
        assert await alice.receive() == "error: you are not in #nowhere"
        await alice.send("/part bad name")
        assert (await alice.receive()).startswith("error: room name may only contain")
        await quiet(alice)


async def test_part_keeps_the_others_informed_and_moves_the_current_room(chat_server: ChatServer) -> None:
    alice = await connect(chat_server, "alice")
    bob = await connect(chat_server, "bob")
    await alice.receive()
    await bob.send("/join dev")
    await bob.receive()
    await bob.send("/join ops")
    await bob.receive()
    await bob.send("/rooms")
    assert await bob.receive() == "*** rooms: #lobby (2) [joined], #dev (1) [joined], #ops (1) [here] ***"
    await bob.send("/part")  # the current room
    assert await bob.receive() == "*** bob has left #ops ***"
    assert await bob.receive() == "*** you now talk in #dev ***"
    await bob.send("/part lobby")  # not the current one: it stays
    assert await bob.receive() == "*** bob has left #lobby ***"
    assert await alice.receive() == "*** bob has left #lobby ***"
    await alice.send("/rooms")
    assert await alice.receive() == "*** rooms: #lobby (1) [here], #dev (1) ***"  # #ops is gone
    await quiet(alice, bob)


async def test_a_quit_is_announced_once_to_who_shares_several_rooms(chat_server: ChatServer) -> None:
    alice = await connect(chat_server, "alice")
    bob = await connect(chat_server, "bob")
    await alice.receive()
    for room in ("dev", "ops"):
        await alice.send(f"/join {room}")
        await alice.receive()
        await bob.send(f"/join {room}")
        await bob.receive()
        assert await alice.receive() == f"*** bob has joined #{room} ***"
    await bob.send("/nick robert")
    assert await bob.receive() == "*** you are now known as robert ***"
    assert await alice.receive() == "*** bob is now known as robert ***"  # once
    await bob.send("/quit")
    await bob.receive_all()
    assert await alice.receive() == "*** robert has left the chat ***"  # once
    await quiet(alice)


async def test_handlers_see_each_message_with_its_room() -> None:
    seen: list[tuple[str, str, int]] = []
    async with open_test_server(history_size=10) as server:

        async def observe(message: ChatMessage, ctx: object) -> ChatMessage:
            seen.append((message.room, message.content, message.seq))
            return message

        server.add_middleware(observe)
        alice = await connect(server, "alice")
        await alice.send("/join dev")
        await alice.receive()
        await alice.send("to dev")
        await alice.send("/join lobby")
        await alice.receive()
        await alice.send("to the lobby")
        await alice.send("/rooms")
        await alice.receive()
    assert seen == [("dev", "to dev", 0), ("lobby", "to the lobby", 0)]  # positions come after


async def test_max_rooms_still_applies_to_joins() -> None:
    async with open_test_server(max_rooms=2, history_size=0) as server:
        alice = await connect(server, "alice")
        await alice.send("/join dev")
        await alice.receive()
        await alice.send("/join ops")
        assert await alice.receive() == "error: #ops does not exist and no more rooms can be created"
        await alice.send("/part dev")
        await alice.receive()
        await alice.receive()  # you now talk in #lobby
        await alice.send("/join ops")  # #dev was empty and without history: gone
        assert await alice.receive() == "*** you are in #ops with 1: alice ***"
        await quiet(alice)


async def test_a_room_with_history_stays_when_empty_and_shows_it() -> None:
    async with open_test_server(history_size=5, join_history=3) as server:
        alice = await connect(server, "alice")
        await alice.send("/join dev")
        await alice.receive()
        for n in range(4):
            await alice.send(f"m{n}")
        await alice.send("/part")
        await alice.receive()
        await alice.receive()
        await alice.send("/rooms")
        assert await alice.receive() == "*** rooms: #lobby (1) [here], #dev (0) ***"
        bob = await connect(server, "bob")
        await bob.send("/join dev")
        assert await bob.receive_until("*** end of the history of #dev ***") == [
            "*** you are in #dev with 1: bob ***",
            "*** the last 3 messages of #dev ***",
            "alice: m1",
            "alice: m2",
            "alice: m3",
            "*** end of the history of #dev ***",
        ]
        await quiet(bob)
