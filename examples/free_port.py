import trio

from triochat import open_chat_server


async def main() -> None:
    async with open_chat_server(port=0, tcp_port=0) as server:  # port 0: any free port
        for listener in server.listeners:
            print(listener.url)  # e.g. ws://127.0.0.1:40917/ and tcp://127.0.0.1:40918
        await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(main)
