"""The JSON codecs and the frame builder, without any I/O."""

import json
import struct

import pytest
from wsproto.frame_protocol import FrameDecoder, Opcode

from triochat.protocol import commands, gtwire, jsonwire
from triochat.protocol.events import (
    SHUTDOWN,
    ChatMessage,
    Error,
    Event,
    Goodbye,
    HelpText,
    Joined,
    Left,
    NameChanged,
    Notice,
    PrivateChat,
    Renamed,
    RoomEntered,
    RoomList,
    Welcome,
    WhoList,
)
from triochat.protocol.wsframe import is_close_frame, text_frame

EVENTS: list[Event] = [
    ChatMessage(7, 1700000000.5, "alice", "lobby", "h\u00e9llo \U0001f600", agent=False, action=False),
    ChatMessage(8, 1700000001.0, "bot", "dev", "beeps", agent=True, action=True),
    PrivateChat("alice", "bob", "psst"),
    PrivateChat("alice", "bob", "psst", outgoing=True, agent=True),
    Joined("bob", "lobby", login=True),
    Joined("bob", "dev", login=False),
    Left("bob", "lobby", logout=True, reason="too slow: outbox overflow"),
    Left("bob", "dev", logout=False),
    Renamed("bob", "robert"),
    RoomEntered("dev", ("alice", "bob")),
    WhoList("lobby", ("alice",)),
    RoomList((("lobby", 2), ("dev", 0))),
    Welcome("alice"),
    Goodbye("alice"),
    NameChanged("al"),
    Notice("hello", code="motd"),
    SHUTDOWN,
    Error("name_taken", "the name bob is taken"),
    HelpText(("Commands:", "  /who")),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_native_events_round_trip(event: Event) -> None:
    text = jsonwire.encode_event(event)
    assert isinstance(json.loads(text)["type"], str)
    assert jsonwire.decode_event(text) == event


FRAMES: list[jsonwire.ClientFrame] = [
    jsonwire.Login("alice"),
    jsonwire.Login("alice", token="t0k"),
    jsonwire.Login(),
    commands.Say("hi"),
    commands.Action("waves"),
    commands.PrivateMessage("bob", "psst"),
    commands.JoinRoom("dev"),
    commands.Nick("al"),
    commands.Who(),
    commands.ListRooms(),
    commands.Help(),
    commands.Quit(),
]


@pytest.mark.parametrize("frame", FRAMES, ids=lambda f: type(f).__name__)
def test_native_client_frames_round_trip(frame: jsonwire.ClientFrame) -> None:
    assert jsonwire.decode_client_frame(jsonwire.encode_client_frame(frame)) == frame


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("nope", "bad_json"),
        (b"{}", "binary_frame"),
        ("42", "bad_frame"),
        ('{"type": 1}', "bad_frame"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "say"}', "bad_field"),
        ('{"type": "private", "to": "bob"}', "bad_field"),
        ('{"type": "login", "name": 3}', "bad_field"),
        ('{"type": "nick", "name": ""}', "bad_name"),
    ],
)
def test_native_client_frame_errors(text: str | bytes, code: str) -> None:
    result = jsonwire.decode_client_frame(text)
    assert isinstance(result, jsonwire.FrameError)
    assert result.code == code


def test_native_blank_chat_is_ignored_and_bad_server_frames_are_errors() -> None:
    assert jsonwire.decode_client_frame('{"type": "say", "text": "  "}') is None
    bad = jsonwire.decode_event('{"type": "message", "id": 1}')
    assert isinstance(bad, jsonwire.FrameError)
    assert bad.code == "bad_frame"


def test_group_terminal_frames() -> None:
    assert gtwire.decode_client_frame('{"type": "connect", "username": "a"}') == gtwire.Connect("a")
    assert gtwire.decode_client_frame('{"type": "chat_message", "content": "x"}') == commands.Say("x")
    assert gtwire.decode_client_frame('{"type": "chat_message", "content": ""}') is None
    cases: list[tuple[str | bytes, str]] = [
        ('{"type": "chat_message", "content": []}', "bad_content"),
        ("}", "bad_json"),
        (b"x", "binary_frame"),
        ('{"type": "x"}', "unknown_type"),
    ]
    for text, code in cases:
        result = gtwire.decode_client_frame(text)
        assert isinstance(result, jsonwire.FrameError) and result.code == code
    message = gtwire.event_text(ChatMessage(1, 0.0, "bob", "lobby", "hi", agent=True))
    assert message is not None
    assert json.loads(message) == {"type": "chat_message", "content": "hi", "sender": "bob", "agent": True}
    assert json.loads(gtwire.connect_response(False, "why")) == {
        "type": "connect_response",
        "success": False,
        "message": "why",
    }
    assert gtwire.event_text(Welcome("x")) is None


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_text_frames_decode_with_wsproto(size: int) -> None:
    payload = ("\u00e9" * (size // 2) + "x" * (size % 2)).encode()
    frame = text_frame(payload)
    decoder = FrameDecoder(client=True)  # we are the server: frames are unmasked
    decoder.receive_bytes(frame)
    decoded = decoder.process_buffer()
    assert decoded is not None
    assert decoded.opcode is Opcode.TEXT
    assert decoded.frame_finished and decoded.message_finished
    assert decoded.payload == payload


def test_close_frame_detection() -> None:
    assert is_close_frame(struct.pack("!BBH", 0x88, 2, 1000))
    assert not is_close_frame(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert not is_close_frame(text_frame(b"x"))
    assert not is_close_frame(b"")


@pytest.mark.parametrize(
    "message",
    [
        ChatMessage(1, 1700000000.123456, "a", "lobby", "plain"),
        ChatMessage(
            2**40, 0.1, "b.c", "dev", 'quotes " and \\ and \n\t\u0001 and \u00e9\U0001f600', True, True
        ),
    ],
)
def test_fast_message_encoding_matches_the_generic_one(message: ChatMessage) -> None:
    generic = json.dumps(jsonwire.event_object(message), ensure_ascii=False, separators=(",", ":"))
    assert jsonwire.encode_event(message) == generic
