"""An asyncio TCP chat server in the style of the asyncio streams documentation.

    python -m benchmarks.peers.asyncio_howto PORT

Each line a client sends is written to every other client, each with its own
``drain()``, gathered in a TaskGroup.
"""

import asyncio
import sys

WRITERS: set[asyncio.StreamWriter] = set()


async def send(writer: asyncio.StreamWriter, line: bytes) -> None:
    try:
        writer.write(line)
        await writer.drain()
    except ConnectionError:
        WRITERS.discard(writer)


async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    WRITERS.add(writer)
    try:
        while line := await reader.readline():
            async with asyncio.TaskGroup() as group:
                for other in list(WRITERS):
                    if other is not writer:
                        group.create_task(send(other, line))
    except ConnectionError:
        pass
    finally:
        WRITERS.discard(writer)
        writer.close()


async def main() -> None:
    server = await asyncio.start_server(client, "127.0.0.1", int(sys.argv[1]))
    print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
