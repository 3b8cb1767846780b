"""The practical floor: an asyncio ``Protocol`` that writes each delivery with one ``transport.write``.

python -m benchmarks.peers.asyncio_protocol PORT
"""

import asyncio
import sys
from typing import ClassVar


class Chat(asyncio.Protocol):
    members: ClassVar[set["Chat"]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""
        Chat.members.add(self)

    def data_received(self, data: bytes) -> None:
        data = self.buffer + data
        end = data.rfind(b"\n") + 1
        self.buffer = data[end:]
        for line in data[:end].splitlines(keepends=True):
            for member in Chat.members:
                if member is not self:
                    member.transport.write(line)

    def connection_lost(self, exc: Exception | None) -> None:
        Chat.members.discard(self)


async def main() -> None:
    server = await asyncio.get_running_loop().create_server(Chat, "127.0.0.1", int(sys.argv[1]))
    print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
