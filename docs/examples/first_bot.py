import re
from collections import Counter

import trio

from triochat import ChatMessage, ChatServer, HandlerContext

KARMA = re.compile(r"(\w+)(\+\+|--)")


class KarmaBot:
    """Counts ``name++`` and ``name--`` and says the new score."""

    def __init__(self) -> None:
        self.scores: Counter[str] = Counter()

    async def __call__(self, message: ChatMessage, ctx: HandlerContext) -> ChatMessage:
        for name, sign in KARMA.findall(message.content):
            if name.lower() == message.sender.lower():
                ctx.reply("no karma for yourself", sender="karmabot")
                continue
            key = name.lower()
            self.scores[key] += 1 if sign == "++" else -1
            ctx.broadcast(f"{name} has {self.scores[key]} karma", sender="karmabot")
        return message  # everyone still sees the message itself


async def main() -> None:
    server = ChatServer(port=8723, tcp_port=8724)
    server.add_middleware(KarmaBot())
    await server.start()
    await server.join()


if __name__ == "__main__":
    trio.run(main)
