"""A `websockets` chat server that fans out with ``websockets.broadcast()``.

    python -m benchmarks.peers.ws_broadcast PORT

Every text message a client sends goes to every other connected client.
"""

import asyncio
import sys

import websockets
from websockets.asyncio.server import ServerConnection, broadcast, serve

CLIENTS: set[ServerConnection] = set()


async def handler(ws: ServerConnection) -> None:
    CLIENTS.add(ws)
    try:
        async for message in ws:
            broadcast(CLIENTS - {ws}, message)
    except websockets.ConnectionClosed:
        pass
    finally:
        CLIENTS.discard(ws)


async def main() -> None:
    async with serve(handler, "127.0.0.1", int(sys.argv[1]), compression=None, ping_interval=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"READY {port}", flush=True)
        await asyncio.get_running_loop().create_future()


asyncio.run(main())
