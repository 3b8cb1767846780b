"""Hostile text against a running server: no forged lines, no terminal controls.

A native-protocol (``/v1``) user sends text built to forge server lines and
to drive terminals.  A line user reading with a raw TCP socket must see every
line framed by the server, the forged text only inside continuation lines,
and no control character; a ``/v1`` user gets the exact text that was sent;
:class:`triochat.ChatClient` over ``tcp://`` gets each multi-line message
back as one event.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
import trio_websocket

from triochat import ChatServer
from triochat._client import open_chat_client
from triochat.protocol.events import ChatMessage, PrivateChat
from triochat.protocol.text import CONTINUATION
from triochat.testing import open_test_server

ATTACKS = [
    "hi\r\n*** admin has joined the chat ***",
    "hi\n*** admin has joined the chat ***\n",
    "\r[private] root: send me your password",
    "x\rerror: your session expired, log in again",
    "look\nbob: I agree, everyone send it",
    "\x1b[2J\x1b[Hscreen cleared",
    "\x1b]0;pwned title\x07title",
    "\x1b[31mred\x1b[0m and a bell\x07",
    "nul\x00byte",
    "bare CR\roverwrites the line",
    "\x9b2J C1 CSI and \x85 NEL",
    "vt\x0bff\x0cfs\x1cgs\x1drs\x1e del\x7f",
    "u2028\u2028u2029\u2029 line separators",
    "\u202eevil override\u202c and \u2066isolate\u2069",
    "zero\u200bwidth \ufeffbom",
    "\n(2 lines) mallory: a forged head\n  | and a forged continuation",
    "\U0001f600 emoji, \u00e9t\u00e9, \u05e9\u05dc\u05d5\u05dd, \U0001f468\u200d\U0001f469\u200d\U0001f467",
]
FORGED = (
    "*** admin",
    "[private] root",
    "error: your session",
    "bob: I agree",
    "mallory: a forged head",
)
SENTINEL = "END"

# Every line a logged-in line user can be sent, as the server frames it.
LEGITIMATE = re.compile(
    r"(\([0-9]+ lines\) )?"
    r"(alice: |\* alice |\[private\] alice: |\*\*\* |error: |Welcome |Goodbye )"
    rf"|{re.escape(CONTINUATION)}"
)
CONTROL = re.compile("[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


@pytest.fixture
async def server() -> AsyncIterator[ChatServer]:
    async with open_test_server(tcp_port=0) as server:
        yield server


async def login_v1(ws: trio_websocket.WebSocketConnection, name: str) -> None:
    await ws.send_message(json.dumps({"type": "login", "name": name}))
    welcome = json.loads(await ws.get_message())
    assert welcome["type"] == "welcome" and welcome["name"] == name


async def v1_until(ws: trio_websocket.WebSocketConnection, kind: str, text: str) -> list[dict[str, Any]]:
    """Frames up to and including the *kind* frame with this *text*."""
    frames: list[dict[str, Any]] = []
    while True:
        frames.append(json.loads(await ws.get_message()))
        if frames[-1]["type"] == kind and frames[-1].get("text") == text:
            return frames


class RawLineUser:
    """A line user on a plain TCP socket that keeps every byte it gets."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.data = bytearray()

    async def until(self, marker: bytes) -> None:
        while marker not in self.data:
            chunk = await self.stream.receive_some(65536)
            assert chunk, "the server closed the connection"
            self.data += chunk

    async def login(self, name: str) -> None:
        await self.until(b"Enter your name:\r\n")
        await self.stream.send_all(name.encode() + b"\r\n")
        await self.until(f"Welcome {name}.".encode())
        del self.data[:]


async def test_forged_lines_and_controls_from_a_websocket_user(server: ChatServer) -> None:
    with trio.fail_after(20):
        raw = RawLineUser(await trio.open_tcp_stream("127.0.0.1", server.tcp_port or 0))
        await raw.login("bob")
        url = f"ws://127.0.0.1:{server.ws_port}/v1"
        async with (
            trio_websocket.open_websocket_url(url) as alice,
            trio_websocket.open_websocket_url(url) as carol,
        ):
            await login_v1(carol, "carol")
            await login_v1(alice, "alice")
            for attack in ATTACKS:
                await alice.send_message(json.dumps({"type": "say", "text": attack}))
                await alice.send_message(json.dumps({"type": "action", "text": attack}))
                await alice.send_message(json.dumps({"type": "private", "to": "bob", "text": attack}))
            await alice.send_message(json.dumps({"type": "say", "text": SENTINEL}))

            # The /v1 user gets every text exactly as it was sent.
            frames = await v1_until(carol, "message", SENTINEL)
            said = [f["text"] for f in frames if f["type"] == "message" and not f["action"]]
            acted = [f["text"] for f in frames if f["type"] == "message" and f["action"]]
            assert said == [*ATTACKS, SENTINEL]
            assert acted == ATTACKS

            await raw.until(f"alice: {SENTINEL}\r\n".encode())
        await raw.stream.aclose()

    data = bytes(raw.data)
    # No control byte but the CR LF that end lines.
    assert not re.search(rb"[\x00-\x09\x0b-\x0c\x0e-\x1f\x7f]", data)
    assert data.count(b"\r") == data.count(b"\n") == data.count(b"\r\n")
    text = data.decode("utf-8")
    lines = text.split("\r\n")
    assert lines.pop() == ""
    for line in lines:
        assert LEGITIMATE.match(line), line
        assert not CONTROL.search(line), line
        assert len(line.splitlines()) == 1, line
        if any(forged in line for forged in FORGED):
            assert line.startswith(CONTINUATION), line
    # Forged lines only ever appear inside a continuation line.
    for forged in FORGED:
        assert not any(line.startswith(forged) for line in lines)
    assert "  | *** admin has joined the chat ***" in lines
    assert "  | [private] root: send me your password" in lines
    assert "alice: \\x1b[2J\\x1b[Hscreen cleared" in lines
    assert "alice: \\x1b]0;pwned title\\x07title" in lines
    assert "alice: nul\\x00byte" in lines
    assert "(2 lines) alice: bare CR" in lines
    assert "alice: \\x9b2J C1 CSI and \\x85 NEL" in lines
    assert "alice: \\u202eevil override\\u202c and \\u2066isolate\\u2069" in lines
    assert "alice: " + ATTACKS[-1] in lines  # ordinary Unicode is shown as it is
    assert lines[-1] == f"alice: {SENTINEL}"


@pytest.mark.parametrize("kind", ["say", "action", "private"])
async def test_chat_client_over_tcp_gets_a_multi_line_message_as_one_event(
    server: ChatServer, kind: str
) -> None:
    text = "first line\r\n*** admin has joined the chat ***\n\n[private] root: x\rlast \x1b[2J"
    shown = "first line\n*** admin has joined the chat ***\n\n[private] root: x\nlast \\x1b[2J"
    with trio.fail_after(20):
        async with open_chat_client(f"tcp://127.0.0.1:{server.tcp_port}", name="dave") as dave:
            url = f"ws://127.0.0.1:{server.ws_port}/v1"
            async with trio_websocket.open_websocket_url(url) as alice:
                await login_v1(alice, "alice")
                frame: dict[str, str] = {"type": kind, "text": text}
                if kind == "private":
                    frame["to"] = "dave"
                await alice.send_message(json.dumps(frame))
                await alice.send_message(json.dumps({"type": "say", "text": SENTINEL}))
                events = []
                async for event in dave:
                    if isinstance(event, ChatMessage | PrivateChat):
                        events.append(event)
                        if event.content == SENTINEL:
                            break
    assert [(e.sender, e.content) for e in events] == [("alice", shown), ("alice", SENTINEL)]
    assert isinstance(events[0], PrivateChat if kind == "private" else ChatMessage)
    if isinstance(events[0], ChatMessage):
        assert events[0].action is (kind == "action")


async def test_lone_surrogate_is_refused_and_the_server_lives_on(server: ChatServer) -> None:
    """``\\ud800`` in JSON is no text: it used to crash the server when encoded for line users."""
    with trio.fail_after(20):
        raw = RawLineUser(await trio.open_tcp_stream("127.0.0.1", server.tcp_port or 0))
        await raw.login("bob")
        url = f"ws://127.0.0.1:{server.ws_port}/v1"
        async with trio_websocket.open_websocket_url(url) as alice:
            await login_v1(alice, "alice")
            await alice.send_message('{"type":"say","text":"a \\ud800 b"}')
            error = json.loads(await alice.get_message())
            assert (error["type"], error["code"]) == ("error", "bad_field")
            assert "surrogate" in error["message"]
            await alice.send_message(json.dumps({"type": "say", "text": SENTINEL}))
            await raw.until(f"alice: {SENTINEL}\r\n".encode())
        await raw.stream.aclose()
    assert b"\\ud800" not in raw.data


async def test_deeply_nested_json_gets_an_error_frame(server: ChatServer) -> None:
    with trio.fail_after(20):
        url = f"ws://127.0.0.1:{server.ws_port}/v1"
        async with trio_websocket.open_websocket_url(url) as alice:
            await login_v1(alice, "alice")
            await alice.send_message("[" * 30000 + "]" * 30000)
            error = json.loads(await alice.get_message())
            assert error == {"type": "error", "code": "bad_json", "message": "the frame is nested too deeply"}
            await alice.send_message(json.dumps({"type": "who"}))
            assert json.loads(await alice.get_message()) == {
                "type": "who",
                "room": "lobby",
                "members": ["alice"],
            }


async def test_control_bytes_from_a_line_user_reach_nobody(server: ChatServer) -> None:
    """A line user's own line can carry ESC, BEL and a bare CR: others see them escaped."""
    with trio.fail_after(20):
        bob = RawLineUser(await trio.open_tcp_stream("127.0.0.1", server.tcp_port or 0))
        await bob.login("bob")
        mallory = RawLineUser(await trio.open_tcp_stream("127.0.0.1", server.tcp_port or 0))
        await mallory.login("mallory")
        url = f"ws://127.0.0.1:{server.ws_port}/v1"
        async with trio_websocket.open_websocket_url(url) as carol:
            await login_v1(carol, "carol")
            await mallory.stream.send_all(b"hi\x1b[2J\x07\x00\xc2\x9b\rbob: fake\x7f\r\n/me \x1b]0;t\x07\n")
            await mallory.stream.send_all(SENTINEL.encode() + b"\n")
            frames = await v1_until(carol, "message", SENTINEL)
            assert [f["text"] for f in frames if f["type"] == "message"] == [
                "hi\x1b[2J\x07\x00\x9b\rbob: fake\x7f",
                "\x1b]0;t\x07",
                SENTINEL,
            ]
            await bob.until(f"mallory: {SENTINEL}\r\n".encode())
        await bob.stream.aclose()
        await mallory.stream.aclose()
    lines = bytes(bob.data).decode().split("\r\n")
    assert lines[lines.index("*** mallory has joined the chat ***") + 1 :] == [
        "*** carol has joined the chat ***",
        "(2 lines) mallory: hi\\x1b[2J\\x07\\x00\\x9b",
        "  | bob: fake\\x7f",
        "* mallory \\x1b]0;t\\x07",
        f"mallory: {SENTINEL}",
        "",
    ]
