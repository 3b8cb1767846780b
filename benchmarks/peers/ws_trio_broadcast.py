"""A `websockets` chat server on Trio (``websockets.trio``) that fans out with its ``broadcast()``.

    python -m benchmarks.peers.ws_trio_broadcast PORT [deflate]

What a Trio user would write instead of using triochat: every text message a
client sends goes to every other connected client.  With ``deflate`` the server
negotiates permessage-deflate with the library's default settings; without it,
compression is off (as in ``ws_broadcast``).
"""

import functools
import sys

import trio
from websockets.exceptions import ConnectionClosed
from websockets.trio.server import Server, ServerConnection, broadcast, serve

CLIENTS: set[ServerConnection] = set()


async def handler(ws: ServerConnection) -> None:
    CLIENTS.add(ws)
    try:
        async for message in ws:
            await broadcast(CLIENTS - {ws}, message)
    except ConnectionClosed:
        pass
    finally:
        CLIENTS.discard(ws)


async def main() -> None:
    compression = "deflate" if "deflate" in sys.argv[2:] else None
    start = functools.partial(
        serve, handler, int(sys.argv[1]), host="127.0.0.1", compression=compression, ping_interval=None
    )
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(start)
        port = server.listeners[0].socket.getsockname()[1]
        print(f"READY {port}", flush=True)


trio.run(main)
