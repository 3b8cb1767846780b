"""A client of the native protocol written with the `websockets` library.

    python tests/peers/native_websockets.py PORT NAME

Logs in, prints every frame it receives as JSON on one line, and sends each
line of its standard input as a frame, untouched (so tests can send bad
frames too); stops when stdin ends and the ``exit`` chat message arrives, or
after 20 s.
"""

import asyncio
import json
import sys

import websockets


async def main() -> None:
    port, name = sys.argv[1:]
    url = f"ws://127.0.0.1:{port}/v1"
    async with websockets.connect(url, subprotocols=["triochat.v1"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "login", "name": name}))

        async def reader() -> None:
            async for frame in ws:
                print(frame, flush=True)
                data = json.loads(frame)
                if data.get("type") == "message" and data.get("text") == "exit":
                    return

        async def writer() -> None:
            loop = asyncio.get_running_loop()
            while line := await loop.run_in_executor(None, sys.stdin.readline):
                await ws.send(line.rstrip("\n"))

        read = asyncio.ensure_future(reader())
        await writer()
        await asyncio.wait_for(read, timeout=20)


asyncio.run(main())
