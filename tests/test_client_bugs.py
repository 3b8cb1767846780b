"""Client bugs: the /help answer, a literal QUIT, abandoned who()/rooms() requests.

Where the server's timing would decide the outcome, a scripted line server
on loopback writes exactly the bytes the test needs, in one write.
"""

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import trio
import trio.testing

from triochat import ChatClient, ChatServer, open_chat_client
from triochat.protocol import commands, text
from triochat.protocol.events import ChatMessage, Event, HelpText, NameChanged, PrivateChat
from triochat.protocol.lines import Line, LineDecoder, encode_line
from triochat.testing import open_test_server

Script = Callable[["ScriptedPeer"], Awaitable[None]]


class ScriptedPeer:
    """The server end of one connection, driven by a test."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.decoder = LineDecoder()
        self.pending: list[str] = []

    async def line(self) -> str:
        while not self.pending:
            data = await self.stream.receive_some(65536)
            assert data, "the client went away"
            self.pending += [e.text for e in self.decoder.feed(data) if isinstance(e, Line)]
        return self.pending.pop(0)

    async def write(self, *lines: str) -> None:
        await self.stream.send_all(b"".join(encode_line(line) for line in lines))

    async def login(self) -> str:
        await self.write("scripted server", text.PROMPT_NAME)
        name = await self.line()
        await self.write(text.welcome(name))
        return name


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[[Script], Awaitable[str]]]:
    """Serve one connection with a script; gives the tcp:// URL."""
    async with trio.open_nursery() as nursery:

        async def serve(script: Script) -> str:
            listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
            port = listeners[0].socket.getsockname()[1]

            async def one() -> None:
                async with listeners[0]:
                    stream = await listeners[0].accept()
                async with stream:
                    await script(ScriptedPeer(stream))

            nursery.start_soon(one)
            return f"tcp://127.0.0.1:{port}"

        yield serve
        nursery.cancel_scope.cancel()


async def test_help_answer_leaves_the_chat_lines_that_came_with_it(
    scripted: Callable[[Script], Awaitable[str]],
) -> None:
    async def script(peer: ScriptedPeer) -> None:
        await peer.login()
        assert await peer.line() == "/help"
        await peer.write(*commands.HELP_LINES, "bob: right after the help", "* bob waves")
        await trio.sleep_forever()

    url = await scripted(script)
    with trio.fail_after(5):
        async with open_chat_client(url, name="alice") as alice:
            await alice.command(commands.Help())
            events: list[Event] = [await alice.receive() for _ in range(3)]
    assert events[0] == HelpText(commands.HELP_LINES)
    assert isinstance(events[1], ChatMessage) and events[1].content == "right after the help"
    assert isinstance(events[2], ChatMessage) and events[2].action and events[2].content == "waves"


async def test_help_answer_split_over_two_reads_is_one_event(
    scripted: Callable[[Script], Awaitable[str]],
) -> None:
    async def script(peer: ScriptedPeer) -> None:
        await peer.login()
        assert await peer.line() == "/help"
        await peer.write(*commands.HELP_LINES[:3])
        await trio.sleep(0.05)
        await peer.write(*commands.HELP_LINES[3:], "bob: next")
        await trio.sleep_forever()

    url = await scripted(script)
    with trio.fail_after(5):
        async with open_chat_client(url, name="alice") as alice:
            await alice.command(commands.Help())
            assert await alice.receive() == HelpText(commands.HELP_LINES)
            assert isinstance(m := await alice.receive(), ChatMessage) and m.content == "next"


@pytest.fixture
async def server() -> AsyncIterator[ChatServer]:
    async with open_test_server(tcp_port=0) as server:
        yield server


async def _next_chat(client: ChatClient) -> ChatMessage:
    with trio.fail_after(5):
        async for event in client:
            if isinstance(event, ChatMessage):
                return event
    raise AssertionError("the stream ended")


@pytest.mark.parametrize("words", ["QUIT", "/quit", "//quit", "/say x", "  QUIT"])
async def test_send_over_tcp_sends_the_text_even_when_it_looks_like_a_command(
    server: ChatServer, words: str
) -> None:
    async with (
        open_chat_client(f"tcp://127.0.0.1:{server.tcp_port}", name="alice") as alice,
        open_chat_client(f"ws://127.0.0.1:{server.ws_port}", name="bob") as bob,
    ):
        await alice.send(words)
        message = await _next_chat(bob)
        assert (message.sender, message.content) == ("alice", words)
        with trio.fail_after(5):
            assert await alice.who() == ("alice", "bob")  # still connected


async def test_tcp_client_knows_its_new_name_for_private_lines(server: ChatServer) -> None:
    async with (
        open_chat_client(f"tcp://127.0.0.1:{server.tcp_port}", name="alice") as alice,
        open_chat_client(f"ws://127.0.0.1:{server.ws_port}", name="bob") as bob,
    ):
        await alice.nick("alicia")
        with trio.fail_after(5):
            async for event in alice:
                if isinstance(event, NameChanged):
                    break
            await alice.send_private("bob", "hi")
            async for event in alice:
                if isinstance(event, PrivateChat):
                    assert event == PrivateChat("alicia", "bob", "hi", outgoing=True)
                    break
        assert bob.name == "bob"


@pytest.mark.parametrize("scheme", ["ws", "tcp"])
@pytest.mark.parametrize("ask", ["who", "rooms"])
async def test_a_request_cancelled_before_it_went_out_takes_no_answer(
    server: ChatServer, scheme: str, ask: str
) -> None:
    port = server.ws_port if scheme == "ws" else server.tcp_port
    async with open_chat_client(f"{scheme}://127.0.0.1:{port}", name="alice") as alice:
        request = alice.who if ask == "who" else alice.rooms
        with trio.CancelScope() as scope:
            scope.cancel()
            await request()
        assert scope.cancelled_caught
        with trio.fail_after(5):
            answer = await request()
        assert answer == (("alice",) if ask == "who" else (("lobby", 1),))


@pytest.mark.parametrize("ask", ["who", "rooms"])
async def test_an_answer_to_an_abandoned_request_goes_to_no_one(
    scripted: Callable[[Script], Awaitable[str]], ask: str
) -> None:
    asked = trio.Event()
    stale, fresh = (
        ("*** 1 in #lobby: old ***", "*** 2 in #lobby: alice, new ***")
        if ask == "who"
        else ("*** rooms: #old (1) ***", "*** rooms: #lobby (1), #new (1) ***")
    )

    async def script(peer: ScriptedPeer) -> None:
        await peer.login()
        assert await peer.line() == f"/{ask}"
        asked.set()
        assert await peer.line() == f"/{ask}"
        await peer.write(stale, fresh)
        await trio.sleep_forever()

    url = await scripted(script)
    async with open_chat_client(url, name="alice") as alice:
        request = alice.who if ask == "who" else alice.rooms
        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(request)
                await asked.wait()
                nursery.cancel_scope.cancel()
            answer = await request()
        assert answer == (("alice", "new") if ask == "who" else (("lobby", 1), ("new", 1)))


def test_say_command_sends_the_rest_of_the_line_as_it_is() -> None:
    assert commands.parse_command("/say QUIT") == commands.Say("QUIT")
    assert commands.parse_command("/SAY  /quit ") == commands.Say(" /quit ")
    assert commands.parse_command("/say") == commands.CommandError("usage: /say text")
    assert commands.parse_command("/say   ") == commands.CommandError("usage: /say text")
    assert "  /say text         say text as it is (even QUIT)" in commands.HELP_LINES
