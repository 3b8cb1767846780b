import dataclasses

import trio

from triochat import ChatMessage, ChatServer, HandlerContext


async def moderate(message: ChatMessage, ctx: HandlerContext) -> ChatMessage | None:
    if "spam" in message.content:
        ctx.reply("dropped: no spam here", sender="moderator")  # private, to the sender
        return None  # nobody else sees it
    return dataclasses.replace(message, content=message.content.strip())


async def main() -> None:
    server = ChatServer(port=8723, tcp_port=8724)
    server.add_middleware(moderate)
    await server.start()
    await server.join()


if __name__ == "__main__":
    trio.run(main)
