"""The line protocol end to end, over in-memory connections."""

import pytest
import trio
import trio.testing

from triochat import ChatServer
from triochat.pytest_plugin import ChatClientFactory
from triochat.testing import connect, open_test_server

WELCOME = "Welcome {}. Send QUIT or /quit to disconnect."


async def test_banner_prompt_and_welcome(chat_server: ChatServer) -> None:
    client = await connect(chat_server)
    assert (await client.receive()).startswith("triochat ")
    assert await client.receive() == "Enter your name:"
    await client.send("alice")
    assert await client.receive() == WELCOME.format("alice")


async def test_invalid_and_taken_names_are_asked_again(
    chat_server: ChatServer, chat_client: ChatClientFactory
) -> None:
    await chat_client("alice")
    client = await connect(chat_server)
    await client.receive_until("Enter your name:")
    await client.send("bad name!")
    assert (await client.receive()).startswith("error: invalid name: name may only contain")
    assert await client.receive() == "Enter your name:"
    await client.send("x" * 33)
    assert "longer than 32" in await client.receive()
    assert await client.receive() == "Enter your name:"
    await client.send("alice")
    assert await client.receive() == "error: the name alice is taken, try another"
    assert await client.receive() == "Enter your name:"
    await client.send("")
    assert await client.receive() == "Enter your name:"
    await client.send("alice2")
    assert await client.receive() == WELCOME.format("alice2")


async def test_join_chat_and_leave(chat_client: ChatClientFactory) -> None:
    alice = await chat_client("alice")
    bob = await chat_client("bob")
    assert await alice.receive() == "*** bob has joined the chat ***"
    await bob.send("hello")
    assert await alice.receive() == "bob: hello"
    await alice.send("hi bob")
    assert await bob.receive() == "alice: hi bob"
    await bob.send("QUIT")
    assert await bob.receive_all() == ["Goodbye bob."]
    assert await alice.receive() == "*** bob has left the chat ***"
    await trio.testing.wait_all_tasks_blocked()
    assert alice.lines_nowait() == []  # no echo, nothing else


async def test_dropping_connection_announces_leave_once(chat_client: ChatClientFactory) -> None:
    alice = await chat_client("alice")
    bob = await chat_client("bob")
    await alice.receive()
    await bob.aclose()
    assert await alice.receive() == "*** bob has left the chat ***"
    await trio.testing.wait_all_tasks_blocked()
    assert alice.lines_nowait() == []


async def test_blank_lines_are_ignored_and_crlf_ends_lines(chat_client: ChatClientFactory) -> None:
    alice = await chat_client("alice")
    bob = await chat_client("bob")
    await alice.receive()
    await bob.send_raw(b"\r\n   \r\none\r\ntwo\n")
    assert await alice.receive() == "bob: one"
    assert await alice.receive() == "bob: two"
    await trio.testing.wait_all_tasks_blocked()
    assert alice.lines_nowait() == []
    assert bob.lines_nowait() == []


async def test_echo_option() -> None:
    async with open_test_server(echo=True) as server:
        alice = await connect(server, "alice")
        await alice.send("me too")
        assert await alice.receive() == "alice: me too"


async def test_commands(chat_client: ChatClientFactory) -> None:
    alice = await chat_client("alice")
    bob = await chat_client("bob")
    carol = await chat_client("carol")
    await alice.receive_until("*** carol has joined the chat ***")
    await bob.receive()

    await alice.send("/who")
    assert await alice.receive() == "*** 3 in #lobby: alice, bob, carol ***"

    await alice.send("/msg bob just for you")
    assert await alice.receive() == "[private to bob] just for you"
    assert await bob.receive() == "[private] alice: just for you"
    await alice.send("/msg nobody hello?")
    assert await alice.receive() == "error: there is no user named nobody"

    await alice.send("/me waves")
    assert await bob.receive() == "* alice waves"
    assert await carol.receive() == "* alice waves"

    await carol.send("/join dev")  # carol is in both rooms now, and talks in #dev
    assert await carol.receive() == "*** you are in #dev with 1: carol ***"
    await alice.send("/rooms")
    assert await alice.receive() == "*** rooms: #lobby (3) [here], #dev (1) ***"
    await carol.send("/rooms")
    assert await carol.receive() == "*** rooms: #lobby (3) [joined], #dev (1) [here] ***"

    await bob.send("/join dev")
    assert await carol.receive() == "*** bob has joined #dev ***"
    assert await bob.receive() == "*** you are in #dev with 2: bob, carol ***"
    await alice.send("lobby talk")
    assert await bob.receive() == "[#lobby] alice: lobby talk"  # not bob's current room
    assert await carol.receive() == "[#lobby] alice: lobby talk"
    await bob.send("dev only")
    assert await carol.receive() == "bob: dev only"
    await bob.send("/join dev")
    assert await bob.receive() == "*** you are already in #dev ***"
    await bob.send("/part lobby")
    assert await bob.receive() == "*** bob has left #lobby ***"
    assert await alice.receive() == "*** bob has left #lobby ***"
    assert await carol.receive() == "*** bob has left #lobby ***"
    await bob.send("/part nowhere")
    assert await bob.receive() == "error: you are not in #nowhere"

    await bob.send("/nick robert")
    assert await bob.receive() == "*** you are now known as robert ***"
    assert await carol.receive() == "*** bob is now known as robert ***"
    await carol.send("/nick alice")
    assert await carol.receive() == "error: the name alice is taken"

    await alice.send("/frobnicate")
    assert await alice.receive() == "error: unknown command /frobnicate; type /help for the list"
    await alice.send("/help")
    help_lines = await alice.receive_until("Start a line with // to send text that begins with /.")
    assert help_lines[0] == "Commands:"
    assert any("/msg NAME text" in line for line in help_lines)

    await trio.testing.wait_all_tasks_blocked()
    assert alice.lines_nowait() == []  # the dev message went to nobody else
    assert bob.lines_nowait() == []
    assert carol.lines_nowait() == []

    await carol.send("/quit")
    assert await carol.receive_all() == ["Goodbye carol."]
    assert await bob.receive() == "*** carol has left the chat ***"  # once, though in two rooms
    assert await alice.receive() == "*** carol has left the chat ***"
    await trio.testing.wait_all_tasks_blocked()
    assert alice.lines_nowait() == []
    assert bob.lines_nowait() == []


async def test_name_freed_by_quit_and_by_nick(
    chat_server: ChatServer, chat_client: ChatClientFactory
) -> None:
    alice = await chat_client("alice")
    await alice.send("/nick al")
    assert await alice.receive() == "*** you are now known as al ***"
    await chat_client("alice")  # the old name is free again
    await alice.send("QUIT")
    await alice.receive_all()
    await chat_client("al")


async def test_replies_follow_input_order(chat_client: ChatClientFactory) -> None:
    alice = await chat_client("alice")
    await alice.send_raw(b"/who\n/bogus\n" + b"x" * 5000 + b"\n\xff\n/nick al\n/rooms\nQUIT\n")
    assert await alice.receive_all() == [
        "*** 1 in #lobby: alice ***",
        "error: unknown command /bogus; type /help for the list",
        "error: line longer than 4096 bytes; discarded",
        "error: line is not valid UTF-8; discarded",
        "*** you are now known as al ***",
        "*** rooms: #lobby (1) [here] ***",
        "Goodbye al.",
    ]


async def test_oversized_line_and_bad_utf8_do_not_disconnect(chat_client: ChatClientFactory) -> None:
    alice = await chat_client("alice")
    bob = await chat_client("bob")
    await alice.receive()
    await bob.send_raw(b"y" * 100_000 + b"\nstill here\n")
    assert await bob.receive() == "error: line longer than 4096 bytes; discarded"
    assert await alice.receive() == "bob: still here"
    await bob.send_raw("caf\u00e9 ok\n".encode() + b"\xc3\x28\n")
    assert await alice.receive() == "bob: caf\u00e9 ok"
    assert await bob.receive() == "error: line is not valid UTF-8; discarded"


async def test_login_timeout(autojump_clock: trio.testing.MockClock) -> None:
    async with open_test_server(login_timeout=30) as server:
        client = await connect(server)
        start = trio.current_time()
        lines = await client.receive_all()
        assert lines[-1] == "error: login timed out after 30 s; closing"
        assert trio.current_time() - start == pytest.approx(30)
        assert server.statistics().connections == 0


async def test_idle_timeout(autojump_clock: trio.testing.MockClock) -> None:
    async with open_test_server(idle_timeout=60) as server:
        alice = await connect(server, "alice")
        bob = await connect(server, "bob")
        await alice.receive()
        await trio.sleep(50)
        await alice.send("still here")
        assert await alice.receive() == "*** bob has left the chat (idle) ***"
        assert await bob.receive() == "alice: still here"
        assert await bob.receive() == "error: idle for 60 s; closing"
        with pytest.raises(EOFError):
            await bob.receive()


async def test_quit_at_the_name_prompt(chat_server: ChatServer) -> None:
    client = await connect(chat_server)
    await client.receive_until("Enter your name:")
    await client.send("QUIT")
    assert await client.receive_all() == ["Goodbye stranger."]


async def test_rooms_above_the_presence_limit_do_not_announce() -> None:
    async with open_test_server(presence_limit=2) as server:
        alice = await connect(server, "alice")
        await connect(server, "bob")
        assert await alice.receive() == "*** bob has joined the chat ***"  # 2 members: announced
        carol = await connect(server, "carol")  # 3 members: quiet
        await carol.send("hi")
        assert await alice.receive() == "carol: hi"
        await carol.send("/quit")
        await carol.receive_all()
        assert await alice.receive() == "*** carol has left the chat ***"  # back to 2: announced
