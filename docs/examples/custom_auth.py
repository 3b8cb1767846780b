import trio

from triochat import LoginRefused, open_chat_client, open_chat_server
from triochat.auth import Accept, ConnectionInfo, Reject


class InviteCodes:
    """Each invite code lets its holder in once, under the name it was made for."""

    def __init__(self, invites: dict[str, str]) -> None:
        self.invites = dict(invites)  # code -> name
        # The names this hook gives out are reserved for their owners.
        self.identities = frozenset(invites.values())

    async def __call__(self, info: ConnectionInfo) -> Accept | Reject:
        if info.transport != "ws":
            return Reject(403, "WebSocket clients only")
        header = info.header("authorization") or ""
        code = header.removeprefix("Bearer ").strip()
        await trio.lowlevel.checkpoint()  # a real hook might ask a database here
        name = self.invites.pop(code, None)
        if name is None:
            return Reject(401, "unknown or used invite code")
        return Accept(identity=name)


async def main() -> None:
    hook = InviteCodes({"welcome-carol": "carol"})
    async with open_chat_server(port=0, auth=hook) as server:
        url = server.listeners[0].url
        async with open_chat_client(url, token="welcome-carol") as carol:
            print("logged in as", carol.name)
        try:
            async with open_chat_client(url, token="welcome-carol"):
                pass
        except LoginRefused as exc:
            print("refused:", exc)


if __name__ == "__main__":
    trio.run(main)
