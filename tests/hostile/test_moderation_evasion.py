"""Hostile users trying to get around a mute or a ban, and operators giving absurd input."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio
import trio.testing
from trio_websocket import WebSocketConnection

from triochat.protocol import jsonwire
from triochat.protocol.durations import duration_problem
from triochat.testing import connect, open_test_server, open_websocket

OPS: dict[str, Any] = {"operators": ("op",), "local_operators": True}

HUGE = 10**400
"""An integer JSON may carry and no float can hold."""


async def recv(ws: WebSocketConnection) -> dict[str, Any]:
    with trio.fail_after(10):
        message = await ws.get_message()
    assert isinstance(message, str)
    obj = json.loads(message)
    assert isinstance(obj, dict)
    return obj


async def recv_type(ws: WebSocketConnection, kind: str) -> dict[str, Any]:
    while True:
        frame = await recv(ws)
        if frame["type"] == kind:
            return frame


def test_a_duration_too_large_for_a_float_is_refused_not_raised() -> None:
    assert duration_problem(HUGE) is not None
    assert duration_problem(-HUGE) is not None
    text = json.dumps({"type": "ban", "name": "bob", "duration": HUGE})
    frame = jsonwire.decode_client_frame(text)
    assert isinstance(frame, jsonwire.FrameError)
    assert frame.code == "bad_field"
    assert "at most 366 days" in frame.message


async def test_a_huge_integer_duration_gets_an_error_frame_and_the_server_goes_on() -> None:
    async with open_test_server(**OPS) as server:
        alice = await connect(server, "alice")
        async with open_websocket(server, "/v2") as op:
            await op.send_message(json.dumps({"type": "login", "name": "op"}))
            await recv_type(op, "room")
            for kind in ("ban", "mute"):
                await op.send_message(json.dumps({"type": kind, "name": "alice", "duration": HUGE}))
                assert (await recv_type(op, "error"))["code"] == "bad_field"
            await op.send_message(json.dumps({"type": "say", "text": "still here"}))
            assert await alice.receive_until("op: still here")
        with pytest.raises(ValueError, match="at most 366 days"):
            await server.ban("alice", HUGE)
        with pytest.raises(ValueError, match="at most 366 days"):
            await server.mute("alice", "lobby", HUGE)


async def test_a_muted_user_cannot_shed_the_mute_by_renaming() -> None:
    async with open_test_server(**OPS) as server:
        op = await connect(server, "op")
        alice = await connect(server, "alice")
        bob = await connect(server, "bob")
        await alice.receive_until("*** bob has joined the chat ***")
        await op.send("/mute alice")
        await alice.receive_until("*** alice was muted in #lobby by op until unmuted ***")
        await bob.receive_until("*** alice was muted in #lobby by op until unmuted ***")
        await alice.send("/nick alice2")
        answer = await alice.receive()
        assert answer.startswith("error: you are muted in #lobby"), answer
        await alice.send("still muted?")
        assert (await alice.receive()).startswith("error: you are muted in #lobby")
        await trio.testing.wait_all_tasks_blocked()
        assert bob.lines_nowait() == []  # neither a rename nor the message reached the room
        await op.send("/unmute alice")
        await alice.receive_until("*** alice was unmuted in #lobby by op ***")
        await alice.send("/nick alice2")
        await bob.receive_until("*** alice is now known as alice2 ***")
