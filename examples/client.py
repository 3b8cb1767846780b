import sys

import trio

from triochat import ChatMessage, open_chat_client


async def main(url: str) -> None:
    async with open_chat_client(url, name="bot") as client:
        await client.send("hello")
        print(await client.who())  # ('alice', 'bot')
        async for event in client:  # typed events, in server order
            if isinstance(event, ChatMessage) and event.content == "!ping":
                await client.send("pong")


if __name__ == "__main__":
    trio.run(main, sys.argv[1] if len(sys.argv) > 1 else "ws://localhost:8723")
