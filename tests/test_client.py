"""ChatClient over both transports, against a real server on loopback."""

from collections.abc import AsyncIterator, Callable

import pytest
import trio
import trio.testing

from triochat import ChatClient, ChatServer, ConnectionLost, LoginRefused, open_chat_client
from triochat.auth import bearer_tokens
from triochat.protocol.events import (
    ChatMessage,
    Error,
    Event,
    Goodbye,
    Joined,
    Left,
    NameChanged,
    Notice,
    PrivateChat,
    RoomEntered,
)
from triochat.testing import open_test_server


@pytest.fixture
async def server() -> AsyncIterator[ChatServer]:
    async with open_test_server(tcp_port=0) as server:
        yield server


def url(server: ChatServer, scheme: str) -> str:
    port = server.ws_port if scheme == "ws" else server.tcp_port
    return f"{scheme}://127.0.0.1:{port}"


async def eventually(check: Callable[[], bool]) -> None:
    """Let the server catch up with what the kernel already delivered."""
    with trio.fail_after(5):
        while not check():
            await trio.testing.wait_all_tasks_blocked(cushion=0.001)


async def next_of(client: ChatClient, kind: type[Event]) -> Event:
    with trio.fail_after(5):
        async for event in client:
            if isinstance(event, kind):
                return event
    raise AssertionError("the stream ended")


@pytest.mark.parametrize("scheme", ["ws", "tcp"])
async def test_client_chat_commands_and_events(server: ChatServer, scheme: str) -> None:
    async with (
        open_chat_client(url(server, scheme), name="alice") as alice,
        open_chat_client(url(server, "ws"), name="bob") as bob,
    ):
        assert alice.name == "alice"
        joined = await next_of(alice, Joined)
        assert joined == Joined("bob", "lobby", login=True)
        await bob.send("hi alice")
        message = await next_of(alice, ChatMessage)
        assert isinstance(message, ChatMessage)
        assert (message.sender, message.room, message.content, message.action) == (
            "bob",
            "lobby",
            "hi alice",
            False,
        )
        await alice.send("/not a command")
        assert isinstance(m := await next_of(bob, ChatMessage), ChatMessage)
        assert m.content == "/not a command"
        await alice.action("waves")
        assert isinstance(m := await next_of(bob, ChatMessage), ChatMessage)
        assert m.action and m.content == "waves"
        assert await alice.who() == ("alice", "bob")
        await alice.send_private("bob", "psst")
        assert await next_of(bob, PrivateChat) == PrivateChat("alice", "bob", "psst")
        await bob.join("dev")  # bob (version 2) is in both rooms now, and talks in #dev
        entered = await next_of(bob, RoomEntered)
        assert isinstance(entered, RoomEntered)
        assert (entered.room, entered.names, entered.seq, entered.recovered) == ("dev", ("bob",), 0, False)
        assert bob.room == "dev"
        assert set(bob.positions) == {"lobby", "dev"}
        assert await alice.rooms() == (("lobby", 2), ("dev", 1))
        await bob.part("lobby")
        assert await next_of(alice, Left) == Left("bob", "lobby", logout=False)
        assert await next_of(bob, Left) == Left("bob", "lobby", logout=False)
        assert set(bob.positions) == {"dev"}
        await alice.nick("alicia")
        assert await next_of(alice, NameChanged) == NameChanged("alicia")
        assert alice.name == "alicia"
        await alice.send_private("nobody", "x")
        assert isinstance(error := await next_of(alice, Error), Error)
        assert "nobody" in error.text
        await alice.quit()
        events = [event async for event in alice]
        assert isinstance(events[-1], Goodbye)


@pytest.mark.parametrize("scheme", ["ws", "tcp"])
async def test_refused_login(server: ChatServer, scheme: str) -> None:
    async with open_chat_client(url(server, "ws"), name="taken"):
        with pytest.raises(LoginRefused, match=r"taken|already connected"):
            async with open_chat_client(url(server, scheme), name="taken"):
                pass
    await eventually(lambda: server.statistics().users == 0)


@pytest.mark.parametrize("scheme", ["ws", "tcp"])
async def test_server_stop_is_a_lost_connection_with_the_reason(scheme: str) -> None:
    async with (
        open_test_server(tcp_port=0) as server,
        open_chat_client(url(server, scheme), name="alice") as alice,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(server.stop)
        with pytest.raises(ConnectionLost, match="server is shutting down"):
            async for event in alice:
                assert isinstance(event, Notice)


async def test_unreachable_server_and_bad_urls() -> None:
    with pytest.raises(ConnectionLost, match="cannot connect"):
        async with open_chat_client("tcp://127.0.0.1:1", name="x"):
            pass
    with pytest.raises(ValueError, match="scheme"):
        async with open_chat_client("http://127.0.0.1:1", name="x"):
            pass
    with pytest.raises(ValueError, match="may only contain"):
        async with open_chat_client("ws://127.0.0.1:1", name="bad name"):
            pass


async def test_token_auth_through_the_client() -> None:
    async with open_test_server(auth=bearer_tokens({"t-1": "alice"})) as server:
        async with open_chat_client(url(server, "ws"), token="t-1") as alice:
            assert alice.name == "alice"
        with pytest.raises(LoginRefused, match="HTTP 401: unknown token"):
            async with open_chat_client(url(server, "ws"), token="wrong"):
                pass


async def test_exceptions_from_the_block_are_not_wrapped(server: ChatServer) -> None:
    with pytest.raises(KeyError):
        async with open_chat_client(url(server, "ws"), name="alice"):
            raise KeyError("mine")
