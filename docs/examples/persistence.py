import sys

import trio

from triochat import ChatMessage, open_chat_client, open_chat_server
from triochat.protocol import History
from triochat.protocol.events import HistoryPage


async def say(url: str, text: str) -> None:
    async with open_chat_client(url, name="alice") as alice:
        await alice.send(text)
        await alice.who()  # answered after the message: the server has it


async def history(url: str, room: str = "lobby") -> tuple[ChatMessage, ...]:
    """The room's past, as a client of protocol version 2 pages through it."""
    async with open_chat_client(url, name="bob") as bob:  # ws:// speaks version 2
        await bob.command(History(room, limit=10))
        async for event in bob:  # the answer comes as an event
            if isinstance(event, HistoryPage):
                return event.messages
    return ()


async def main(path: str) -> None:
    store = f"sqlite:{path}"  # as `triochat serve --store sqlite:chat.db`
    async with open_chat_server(port=0, store=store) as server:
        await say(server.listeners[0].url, "remember this")
    # A new server (after a restart, say) on the same file:
    async with open_chat_server(port=0, store=store) as server:
        for message in await history(server.listeners[0].url):
            print(f"{message.sender}: {message.content} (seq {message.seq})")


if __name__ == "__main__":
    trio.run(main, sys.argv[1] if len(sys.argv) > 1 else "chat.db")
