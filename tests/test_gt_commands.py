"""The group-terminal endpoint: private messages and slash commands its client can show."""

import json
from typing import Any

import trio

from triochat import ChatServer
from triochat.protocol import commands, gtwire, jsonwire
from triochat.protocol.events import Error, HelpText, PrivateChat, WhoList
from triochat.protocol.names import name_problem
from triochat.testing import connect, open_websocket


def chat_frame(text: str) -> str:
    return json.dumps({"type": "chat_message", "content": text})


def test_slash_commands_decode_to_the_native_command_objects() -> None:
    decode = gtwire.decode_client_frame
    assert decode(chat_frame("/who")) == commands.Who()
    assert decode(chat_frame("/rooms")) == commands.ListRooms()
    assert decode(chat_frame("/help")) == commands.Help()
    assert decode(chat_frame("/me waves")) == commands.Action("waves")
    assert decode(chat_frame("/msg bob hi there")) == commands.PrivateMessage("bob", "hi there")
    assert decode(chat_frame("/nick tina")) == commands.Nick("tina")
    assert decode(chat_frame("//who is there")) == commands.Say("/who is there")
    assert decode(chat_frame("   ")) is None
    for text, code in [
        ("/join dev", "one_room"),
        ("/part", "one_room"),
        ("/part lobby", "one_room"),
        ("/frobnicate", "bad_command"),
        ("/msg", "bad_command"),
    ]:
        result = decode(chat_frame(text))
        assert isinstance(result, jsonwire.FrameError) and result.code == code, text


def _obj(event: Any) -> dict[str, Any]:
    text = gtwire.event_text(event)
    assert text is not None
    obj = json.loads(text)
    assert isinstance(obj, dict)
    return obj


def test_answers_are_chat_messages_from_the_server() -> None:
    who = _obj(WhoList("lobby", ("alice", "bob")))
    assert (who["type"], who["sender"]) == ("chat_message", "server")
    assert "alice, bob" in who["content"]
    error = _obj(Error("no_such_user", "there is no user named zed"))
    assert (error["type"], error["sender"], error["code"]) == ("chat_message", "server", "no_such_user")
    assert "there is no user named zed" in error["content"]
    helped = _obj(HelpText(commands.HELP_LINES))
    assert "/who" in helped["content"] and "/join" not in helped["content"]
    # A malformed frame is a program's mistake: a typed error frame.
    assert _obj(Error("bad_json", "the frame is not valid JSON"))["type"] == "error"
    incoming = _obj(PrivateChat("alice", "bob", "psst"))
    assert (incoming["type"], incoming["sender"], incoming["content"]) == (
        "chat_message",
        "alice (private)",
        "psst",
    )
    outgoing = _obj(PrivateChat("bob", "alice", "hi", outgoing=True))
    assert (outgoing["sender"], outgoing["content"]) == ("bob (private to alice)", "hi")
    # The mark is in the sender, which no user can spell: public chat cannot forge it.
    assert name_problem("alice (private)") is not None


async def _recv(ws: Any) -> dict[str, Any]:
    with trio.fail_after(5):
        obj = json.loads(await ws.get_message())
    assert isinstance(obj, dict)
    return obj


async def _recv_chat(ws: Any) -> dict[str, Any]:
    """The next frame group-terminal's client shows."""
    while (obj := await _recv(ws))["type"] != "chat_message":
        pass
    return obj


async def _gt_login(ws: Any, name: str) -> None:
    await ws.send_message(json.dumps({"type": "connect", "username": name}))
    assert (await _recv(ws))["success"] is True


async def test_gt_user_gets_private_messages_and_answers(chat_server: ChatServer) -> None:
    nc = await connect(chat_server, "nc")
    async with open_websocket(chat_server, "/ws/gt") as gt:
        await _gt_login(gt, "gt")
        assert await nc.receive() == "*** gt has joined the chat ***"
        await nc.send("/msg gt secret")
        assert await nc.receive() == "[private to gt] secret"
        got = await _recv_chat(gt)
        assert (got["sender"], got["content"]) == ("nc (private)", "secret")

        await gt.send_message(chat_frame("/who"))
        who = await _recv_chat(gt)
        assert who["sender"] == "server" and "2 in #lobby: gt, nc" in who["content"]
        await gt.send_message(chat_frame("/msg nc hi back"))
        echo = await _recv_chat(gt)
        assert (echo["sender"], echo["content"]) == ("gt (private to nc)", "hi back")
        assert await nc.receive() == "[private] gt: hi back"
        await gt.send_message(chat_frame("/rooms"))
        assert "#lobby (2)" in (await _recv_chat(gt))["content"]
        await gt.send_message(chat_frame("/help"))
        assert "/msg NAME text" in (await _recv_chat(gt))["content"]
        await gt.send_message(chat_frame("/join dev"))
        refused = await _recv_chat(gt)
        assert refused["sender"] == "server" and "one room" in refused["content"]
        await gt.send_message(chat_frame("/msg nobody hi"))
        assert "no user named nobody" in (await _recv_chat(gt))["content"]
        await gt.send_message(chat_frame("/me waves"))
        assert await nc.receive() == "* gt waves"
        assert (await _recv_chat(gt))["content"] == "* waves"  # its own copy, as for chat
        await gt.send_message(chat_frame("/nick gt2"))
        assert await nc.receive() == "*** gt is now known as gt2 ***"
        assert "gt2" in (await _recv_chat(gt))["content"]
        # None of the commands reached the room as chat text.
        assert nc.lines_nowait() == []
