import pytest
import trio.testing

from first_bot import KarmaBot
from triochat import ChatServer
from triochat.pytest_plugin import ChatClientFactory


@pytest.mark.trio  # not needed with trio_mode = true in your pytest configuration
async def test_karma(chat_server: ChatServer, chat_client: ChatClientFactory) -> None:
    chat_server.add_middleware(KarmaBot())
    alice = await chat_client("alice")
    bob = await chat_client("bob")
    assert await alice.receive() == "*** bob has joined the chat ***"

    await alice.send("thanks bob++")
    assert await bob.receive() == "alice: thanks bob++"
    assert await bob.receive() == "karmabot: bob has 1 karma"

    await bob.send("bob++")
    assert await bob.receive() == "[private] karmabot: no karma for yourself"
    await trio.testing.wait_all_tasks_blocked()
    assert alice.lines_nowait() == ["karmabot: bob has 1 karma", "bob: bob++"]
