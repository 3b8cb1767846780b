import sys

import trio

from triochat import open_chat_server


async def main(port: int) -> None:
    try:
        async with open_chat_server(port=port) as server:
            print(server.listeners[0].url)
    except OSError as exc:  # for instance, the port is in use
        print(f"cannot serve: {exc}", file=sys.stderr)


if __name__ == "__main__":
    trio.run(main, 8723)
