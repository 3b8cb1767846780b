import trio

from triochat import ChatMessage, open_chat_client, open_chat_server


async def main() -> None:
    async with open_chat_server(port=0) as server:  # port 0: any free port
        url = server.listeners[0].url
        async with (
            open_chat_client(url, name="alice") as alice,
            open_chat_client(url, name="bob") as bob,
        ):
            await alice.send("hello, bob")
            async for event in bob:  # bob also sees alice's messages, in order
                if isinstance(event, ChatMessage):
                    print(f"bob got {event.content!r} from {event.sender}")
                    break
            print("in the room:", await bob.who())
    # Leaving the blocks closes both connections, then stops the server.


if __name__ == "__main__":
    trio.run(main)
