"""The `group-terminal` package's own server (FastAPI and uvicorn), unchanged.

    python -m benchmarks.peers.group_terminal_server PORT

Port 0 is resolved here (uvicorn needs a number), then the server runs as shipped.
"""

import asyncio
import logging
import socket
import sys

from group_terminal.server import ChatServer


async def main() -> None:
    port = int(sys.argv[1])
    if port == 0:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
    logging.getLogger("uvicorn").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    server = ChatServer(host="127.0.0.1", port=port)
    await server.start()
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        break
    print(f"READY {port}", flush=True)
    await server.join()


asyncio.run(main())
