"""Drive group-terminal's own ChatClient against a server (asyncio, its home loop).

    python tests/peers/gt_client.py PORT NAME [MESSAGE ...]

Uses the package's ChatClient unchanged for connecting, sending and
receiving; only its Rich terminal interface is replaced, because tests have
no terminal.  Prints each chat message it receives as ``sender|agent|content``
and ``CONNECTED`` / ``FAILED`` after the connect handshake.  Sends MESSAGEs,
then waits for an ``exit`` message from anyone, with a 20 s bound.
"""

import asyncio
import sys

from group_terminal.client import ChatClient


class HeadlessClient(ChatClient):  # type: ignore[misc]
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.done = asyncio.Event()

    async def _start_interface(self) -> None:
        await self.done.wait()

    def handle_message(self, content: str, sender: str, agent: bool) -> None:
        print(f"{sender}|{agent}|{content}", flush=True)
        if content == "exit":
            self.done.set()


async def main() -> None:
    port, name, *messages = sys.argv[1:]
    client = HeadlessClient(username=name, host="127.0.0.1", port=int(port))
    if not await client.connect():
        print("FAILED", flush=True)
        return
    print("CONNECTED", flush=True)
    for message in messages:
        await client.send_message(message)
    await asyncio.wait_for(client.join(), timeout=20)


asyncio.run(main())
