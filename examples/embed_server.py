import trio

from triochat import ChatServer


async def handle_message(content: str, username: str) -> None:
    print(f"Received '{content}' from {username}")


async def main() -> None:
    server = ChatServer(host="0.0.0.0", port=8723)
    server.add_handler(handle_message)
    await server.start()
    await server.join()


if __name__ == "__main__":
    trio.run(main)
