import pytest

from triochat import ChatMessage, ChatServer, HandlerContext
from triochat.pytest_plugin import ChatClientFactory


async def my_bot(message: ChatMessage, ctx: HandlerContext) -> ChatMessage:
    if message.content == "!ping":
        ctx.broadcast("pong", sender="bot")
    return message


@pytest.mark.trio  # not needed with trio_mode = true in your pytest configuration
async def test_bot(chat_server: ChatServer, chat_client: ChatClientFactory) -> None:
    chat_server.add_middleware(my_bot)
    alice = await chat_client("alice")
    await alice.send("!ping")
    assert await alice.receive() == "bot: pong"
