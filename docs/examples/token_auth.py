import trio

from triochat import LoginRefused, open_chat_client, open_chat_server
from triochat.auth import bearer_tokens

TOKENS = {"s3cret-a": "alice", "s3cret-b": "bob"}  # token -> the name it logs in as


async def main() -> None:
    async with open_chat_server(port=0, auth=bearer_tokens(TOKENS)) as server:
        url = server.listeners[0].url
        async with open_chat_client(url, token="s3cret-a") as alice:
            print("logged in as", alice.name)  # the token decides the name
        try:
            async with open_chat_client(url, name="mallory", token="guess"):
                pass
        except LoginRefused as exc:
            print("refused:", exc)


if __name__ == "__main__":
    trio.run(main)
