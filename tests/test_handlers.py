"""The handler chain: order, transform, drop, reply, errors and deadlines."""

import dataclasses
import logging

import pytest
import trio
import trio.testing

from triochat import ChatMessage, ChatServer, HandlerContext
from triochat.pytest_plugin import ChatClientFactory
from triochat.testing import connect, open_test_server


async def test_handlers_see_every_message_in_arrival_order(
    chat_server: ChatServer, chat_client: ChatClientFactory
) -> None:
    calls: list[tuple[str, str, str]] = []

    async def first(content: str, username: str) -> None:
        calls.append(("first", content, username))
        await trio.lowlevel.checkpoint()

    async def second(content: str, username: str) -> None:
        calls.append(("second", content, username))

    chat_server.add_handler(first)
    chat_server.add_handler(second)
    alice = await chat_client("alice")
    bob = await chat_client("bob")
    await alice.receive()
    await alice.send("one")
    await bob.send("two")
    await alice.send("/me three")
    assert await bob.receive() == "alice: one"
    assert await bob.receive() == "* alice three"
    await trio.testing.wait_all_tasks_blocked()
    assert calls == [
        ("first", "one", "alice"),
        ("second", "one", "alice"),
        ("first", "two", "bob"),
        ("second", "two", "bob"),
        ("first", "three", "alice"),
        ("second", "three", "alice"),
    ]


async def test_middleware_transforms_drops_and_replies(
    chat_server: ChatServer, chat_client: ChatClientFactory
) -> None:
    seen_by_logger: list[ChatMessage] = []

    async def moderate(message: ChatMessage, ctx: HandlerContext) -> ChatMessage | None:
        if "spam" in message.content:
            ctx.reply("your message was dropped", sender="moderator")
            return None
        return dataclasses.replace(message, content=message.content.replace("darn", "d**n"))

    async def log_it(message: ChatMessage, ctx: HandlerContext) -> ChatMessage | None:
        seen_by_logger.append(message)
        return message

    chat_server.add_middleware(moderate)
    chat_server.add_middleware(log_it)
    alice = await chat_client("alice")
    bob = await chat_client("bob")
    await alice.receive()
    await bob.send("buy spam now")
    assert await bob.receive() == "[private] moderator: your message was dropped"
    await bob.send("darn it")
    assert await alice.receive() == "bob: d**n it"
    await trio.testing.wait_all_tasks_blocked()
    assert alice.lines_nowait() == []
    assert [m.content for m in seen_by_logger] == ["d**n it"]
    message = seen_by_logger[0]
    assert (message.sender, message.room, message.agent, message.action) == ("bob", "lobby", False, False)
    assert message.id >= 1
    assert message.timestamp > 0
    assert chat_server.statistics().messages_dropped == 1


async def test_bot_reply_comes_right_after_the_message(
    chat_server: ChatServer, chat_client: ChatClientFactory
) -> None:
    async def echo_bot(content: str, username: str) -> None:
        if content.startswith("!echo "):
            await chat_server.send_message(content[6:], "bot")

    chat_server.add_handler(echo_bot)
    alice = await chat_client("alice")
    bob = await chat_client("bob")
    await alice.receive()
    await bob.send("!echo hi")
    await bob.send("after")
    assert await alice.receive() == "bob: !echo hi"
    assert await alice.receive() == "bot: hi"
    assert await alice.receive() == "bob: after"
    assert await bob.receive() == "bot: hi"  # agent messages reach everyone


async def test_send_message_from_outside_and_to_one_room(
    chat_server: ChatServer, chat_client: ChatClientFactory
) -> None:
    alice = await chat_client("alice")
    bob = await chat_client("bob")
    await alice.receive()
    await bob.send("/join dev")
    await bob.receive()
    await chat_server.send_message("to all", "announcer")
    await chat_server.send_message("dev only", "announcer", room="dev")
    assert await alice.receive_until("announcer: to all")
    # bob is in both rooms and talks in #dev: "to all" reaches him from each.
    assert await bob.receive() == "[#lobby] announcer: to all"
    assert await bob.receive() == "announcer: to all"
    assert await bob.receive() == "announcer: dev only"
    await trio.testing.wait_all_tasks_blocked()
    assert alice.lines_nowait() == []
    with pytest.raises(TypeError):
        await chat_server.send_message(42, "x")  # type: ignore[arg-type]


async def test_a_raising_handler_is_logged_and_the_chain_goes_on(
    chat_server: ChatServer, chat_client: ChatClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    after: list[str] = []

    async def broken(content: str, username: str) -> None:
        raise ValueError("handler bug")

    async def next_one(content: str, username: str) -> None:
        after.append(content)

    chat_server.add_handler(broken)
    chat_server.add_handler(next_one)
    alice = await chat_client("alice")
    bob = await chat_client("bob")
    await alice.receive()
    with caplog.at_level(logging.ERROR, logger="triochat.server"):
        await bob.send("hello")
        assert await alice.receive() == "bob: hello"
    assert after == ["hello"]
    assert any("broken" in r.getMessage() and r.exc_info for r in caplog.records)
    assert chat_server.statistics().handler_errors == 1


async def test_a_handler_that_overruns_its_deadline_is_cancelled(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    cancelled: list[bool] = []

    async def slow(content: str, username: str) -> None:
        try:
            await trio.sleep(1000)
        except trio.Cancelled:
            cancelled.append(True)
            raise

    async with open_test_server(handler_timeout=2) as server:
        server.add_handler(slow)
        alice = await connect(server, "alice")
        bob = await connect(server, "bob")
        await alice.receive()
        start = trio.current_time()
        with caplog.at_level(logging.WARNING, logger="triochat.server"):
            await bob.send("hello")
            assert await alice.receive() == "bob: hello"
        assert trio.current_time() - start == pytest.approx(2)
        assert cancelled == [True]
        assert server.statistics().handler_timeouts == 1
        assert any("took longer than 2 s" in r.getMessage() for r in caplog.records)


async def test_handler_returning_garbage_is_logged_and_ignored(
    chat_server: ChatServer, chat_client: ChatClientFactory
) -> None:
    async def wrong(message: ChatMessage, ctx: HandlerContext) -> ChatMessage | None:
        return "not a message"  # type: ignore[return-value]

    chat_server.add_middleware(wrong)
    alice = await chat_client("alice")
    bob = await chat_client("bob")
    await alice.receive()
    await bob.send("intact")
    assert await alice.receive() == "bob: intact"
    assert chat_server.statistics().handler_errors == 1
