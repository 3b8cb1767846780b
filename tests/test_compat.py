"""Other libraries' clients against triochat: group-terminal's own client, and `websockets`."""

import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import trio

from triochat import ChatServer
from triochat.testing import LineTestClient, connect

PEERS = Path(__file__).parent / "peers"


class Peer:
    """A client program in its own process; reads its stdout line by line."""

    def __init__(self, proc: trio.Process) -> None:
        self.proc = proc
        self.buffer = b""

    async def line(self) -> str:
        assert self.proc.stdout is not None
        while b"\n" not in self.buffer:
            data = await self.proc.stdout.receive_some()
            if not data:
                raise EOFError(self.buffer.decode())
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode()

    async def write(self, text: str) -> None:
        assert self.proc.stdin is not None
        await self.proc.stdin.send_all(text.encode() + b"\n")

    async def close_input(self) -> None:
        assert self.proc.stdin is not None
        await self.proc.stdin.aclose()


async def start(nursery: trio.Nursery, script: str, *args: object, stdin: bool = False) -> Peer:
    command = [sys.executable, str(PEERS / script), *map(str, args)]
    run = functools.partial(
        trio.run_process,
        command,
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        check=False,
    )
    proc: trio.Process = await nursery.start(run)
    return Peer(proc)


async def test_group_terminal_client_chats_with_a_line_user(chat_server: ChatServer) -> None:
    nc = await connect(chat_server, "nc_user")
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gt = await start(nursery, "gt_client.py", chat_server.ws_port, "gt_user", "hello from gt")
            assert await gt.line() == "User gt_user connected."
            assert await gt.line() == "CONNECTED"
            assert await nc.receive() == "*** gt_user has joined the chat ***"
            assert await nc.receive() == "gt_user: hello from gt"
            assert await gt.line() == "gt_user|False|hello from gt"  # the sender's own copy

            # A second group-terminal client under the same name is refused
            # and the first keeps its name.
            impostor = await start(nursery, "gt_client.py", chat_server.ws_port, "gt_user")
            assert (await impostor.line()).startswith("Connection failed: User gt_user is already connected")
            assert await impostor.line() == "FAILED"

            await chat_server.send_message("beep", "bot")
            assert await gt.line() == "bot|True|beep"
            await nc.send("hi gt")
            assert await gt.line() == "nc_user|False|hi gt"
            await nc.send("exit")
            assert await gt.line() == "nc_user|False|exit"
        assert await nc.receive() == "bot: beep"
        assert await nc.receive() == "*** gt_user has left the chat ***"


async def test_websockets_library_client_of_the_native_protocol(chat_server: ChatServer) -> None:
    async def frame(peer: Peer) -> dict[str, Any]:
        obj = json.loads(await peer.line())
        assert isinstance(obj, dict)
        return obj

    alice: LineTestClient = await connect(chat_server, "alice")
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            peer = await start(nursery, "native_websockets.py", chat_server.ws_port, "wsuser", stdin=True)
            assert await frame(peer) == {"type": "welcome", "name": "wsuser", "protocol": 1}
            assert await alice.receive() == "*** wsuser has joined the chat ***"
            bob = await connect(chat_server, "bob")
            assert await frame(peer) == {"type": "joined", "name": "bob", "room": "lobby", "login": True}
            await alice.send("/msg wsuser secret")
            assert await frame(peer) == {
                "type": "private",
                "from": "alice",
                "to": "wsuser",
                "text": "secret",
                "agent": False,
                "echo": False,
            }
            await peer.write('{"type": "say", "text": 7}')
            assert await frame(peer) == {
                "type": "error",
                "code": "bad_field",
                "message": "'say' needs a string 'text'",
            }
            await peer.write("not json at all")
            assert (await frame(peer))["code"] == "bad_json"
            await peer.write(json.dumps({"type": "private", "to": "bob", "text": "hi bob"}))
            assert (await frame(peer))["echo"] is True
            assert await bob.receive() == "[private] wsuser: hi bob"
            await bob.send("QUIT")
            assert await frame(peer) == {
                "type": "left",
                "name": "bob",
                "room": "lobby",
                "logout": True,
                "reason": None,
            }
            await peer.close_input()
            await alice.send("exit")
            message = await frame(peer)
            assert (message["type"], message["from"], message["text"]) == ("message", "alice", "exit")
        assert await alice.receive_until("*** wsuser has left the chat ***")
