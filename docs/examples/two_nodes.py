"""Two triochat nodes on one Redis serve one chat: alice on one, bob on the other."""

import sys

import trio

from triochat import ChatMessage, open_chat_client, open_chat_server


async def main(redis_url: str) -> None:
    async with (
        open_chat_server(port=0, redis_url=redis_url) as one,  # node one
        open_chat_server(port=0, redis_url=redis_url) as two,  # node two, same Redis
        open_chat_client(one.listeners[0].url, name="alice") as alice,  # alice on one
        open_chat_client(two.listeners[0].url, name="bob") as bob,  # bob on two
    ):
        await alice.send("hello from node one")
        async for event in bob:  # the message crossed through Redis
            if isinstance(event, ChatMessage):
                print(f"bob got {event.content!r} from {event.sender} (seq {event.seq})")
                break
        print("bob's node says the room has:", await bob.who())  # cluster-wide


if __name__ == "__main__":
    trio.run(main, sys.argv[1] if len(sys.argv) > 1 else "redis://127.0.0.1:6379/0")
