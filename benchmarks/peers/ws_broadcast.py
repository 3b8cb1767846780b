"""A `websockets` chat server that fans out with ``websockets.broadcast()``.

    python -m benchmarks.peers.ws_broadcast PORT [deflate]

Every text message a client sends goes to every other connected client.  With
``deflate`` the server negotiates permessage-deflate with the library's default
settings (its ``serve()`` default); without it, compression is off.
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
    compression = "deflate" if "deflate" in sys.argv[2:] else None
    port = int(sys.argv[1])
    async with serve(handler, "127.0.0.1", port, compression=compression, ping_interval=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"READY {port}", flush=True)
        await asyncio.get_running_loop().create_future()


asyncio.run(main())
