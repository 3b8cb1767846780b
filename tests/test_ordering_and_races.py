"""Total order of messages, and the races around names."""

import trio
import trio.testing

from triochat import ChatServer
from triochat.pytest_plugin import ChatClientFactory
from triochat.testing import connect, open_test_server


async def test_every_client_sees_the_same_total_order() -> None:
    clients_n, per_client = 6, 25
    async with open_test_server(echo=True, rate_limit=None) as server:  # 25 at once each
        clients = [await connect(server, f"user{i}") for i in range(clients_n)]
        await trio.testing.wait_all_tasks_blocked()
        for client in clients:
            client.lines_nowait()  # drop the join notices

        async def chatter(index: int) -> None:
            for n in range(per_client):
                await clients[index].send(f"message {n}")
                if n % 3 == 0:
                    await trio.lowlevel.checkpoint()

        async with trio.open_nursery() as nursery:
            for i in range(clients_n):
                nursery.start_soon(chatter, i)

        total = clients_n * per_client
        seen = [[await client.receive() for _ in range(total)] for client in clients]
    assert all(lines == seen[0] for lines in seen)
    assert sorted(seen[0]) == sorted(
        f"user{i}: message {n}" for i in range(clients_n) for n in range(per_client)
    )
    # Each sender's own messages keep their order.
    for i in range(clients_n):
        mine = [line for line in seen[0] if line.startswith(f"user{i}:")]
        assert mine == [f"user{i}: message {n}" for n in range(per_client)]
    # Interleaved, not one sender after another: the order is really shared.
    assert seen[0][:per_client] != [f"user0: message {n}" for n in range(per_client)]


async def test_two_logins_racing_for_one_name(chat_server: ChatServer) -> None:
    first = await connect(chat_server)
    second = await connect(chat_server)
    await first.receive_until("Enter your name:")
    await second.receive_until("Enter your name:")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(first.send, "alice")
        nursery.start_soon(second.send, "alice")
    answers = sorted([await first.receive(), await second.receive()])
    assert answers == [
        "Welcome alice. Send QUIT or /quit to disconnect.",
        "error: the name alice is taken, try another",
    ]


async def test_taken_name_login_that_drops_does_not_evict_the_owner(
    chat_server: ChatServer, chat_client: ChatClientFactory
) -> None:
    alice = await chat_client("alice")
    bob = await chat_client("bob")
    await alice.receive()

    impostor = await connect(chat_server)
    await impostor.receive_until("Enter your name:")
    await impostor.send_raw(b"alice\n")
    await impostor.aclose()  # gone in the middle of the handshake
    await trio.testing.wait_all_tasks_blocked()

    await bob.send("still there, alice?")
    assert await alice.receive() == "bob: still there, alice?"
    await trio.testing.wait_all_tasks_blocked()
    assert alice.lines_nowait() == []  # no leave line for alice anywhere
    assert bob.lines_nowait() == []
    other = await connect(chat_server)
    await other.receive_until("Enter your name:")
    await other.send("alice")
    assert await other.receive() == "error: the name alice is taken, try another"
    assert chat_server.statistics().users == 2


async def test_name_reserved_by_a_connection_that_drops_right_after_is_freed(
    chat_server: ChatServer, chat_client: ChatClientFactory
) -> None:
    watcher = await chat_client("watcher")
    client = await connect(chat_server)
    await client.receive_until("Enter your name:")
    await client.send_raw(b"dave\n")
    await client.aclose()
    await trio.testing.wait_all_tasks_blocked()
    # dave either never joined or joined and left: either way the name is free.
    lines = watcher.lines_nowait()
    assert lines in ([], ["*** dave has joined the chat ***", "*** dave has left the chat ***"])
    assert chat_server.statistics().users == 1
    await chat_client("dave")
