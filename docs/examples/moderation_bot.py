import re
from collections import Counter

import trio

from triochat import ChatMessage, ChatServer, HandlerContext

BLOCKED = re.compile(r"\b(buy now|free crypto)\b", re.IGNORECASE)


class ModBot:
    """Removes messages with blocked phrases: mutes at the first, bans at the third."""

    def __init__(self, server: ChatServer) -> None:
        self.server = server
        self.strikes: Counter[str] = Counter()

    async def __call__(self, message: ChatMessage, ctx: HandlerContext) -> ChatMessage | None:
        if message.agent or not BLOCKED.search(message.content):
            return message  # bots and clean messages pass unchanged
        key = message.sender.lower()
        self.strikes[key] += 1
        if self.strikes[key] >= 3:
            await self.server.ban(message.sender, "1h", "spam, third time", by="modbot")
        else:
            ctx.reply("your message was removed (spam)", sender="modbot")
            await self.server.mute(message.sender, message.room, "10m", by="modbot")
        return None  # nobody sees the spam itself


async def main() -> None:
    server = ChatServer(port=8723, tcp_port=8724)
    server.add_middleware(ModBot(server))
    await server.start()
    await server.join()


if __name__ == "__main__":
    trio.run(main)
