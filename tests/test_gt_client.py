"""group-terminal's own client sees private messages and command answers."""

import trio

from triochat import ChatServer
from triochat.testing import connect

from .test_compat import start


async def test_group_terminal_client_sees_private_messages_and_who(chat_server: ChatServer) -> None:
    nc = await connect(chat_server, "nc_user")
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gt = await start(nursery, "gt_client.py", chat_server.ws_port, "gt_user", "/who")
            assert await gt.line() == "User gt_user connected."
            assert await gt.line() == "CONNECTED"
            assert await gt.line() == "server|True|*** 2 in #lobby: gt_user, nc_user ***"
            assert await nc.receive() == "*** gt_user has joined the chat ***"
            await nc.send("/msg gt_user secret")
            assert await gt.line() == "nc_user (private)|False|secret"
            await nc.send("exit")
            assert await gt.line() == "nc_user|False|exit"
        # The /who never reached the room as chat text.
        assert await nc.receive() == "[private to gt_user] secret"
        assert await nc.receive() == "*** gt_user has left the chat ***"
