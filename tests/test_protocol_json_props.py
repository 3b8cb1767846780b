"""Properties of the JSON wire formats (jsonwire.py, gtwire.py).

No input makes a decoder raise (bad frames are :class:`FrameError` values),
encoders always give JSON that can be sent as UTF-8, and text goes through
exactly as it was sent.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from triochat.protocol import commands, gtwire, jsonwire
from triochat.protocol.events import ChatMessage, Event

from .protocol_strategies import PROPERTIES, events, hostile_text, names

V1_TYPES = ["login", "say", "action", "private", "join", "nick", "who", "rooms", "help", "quit"]
EVENT_TYPES = [
    "message", "private", "joined", "left", "renamed", "room", "who", "rooms",
    "welcome", "goodbye", "nick", "shutdown", "notice", "error", "help", "other",
]  # fmt: skip
GT_TYPES = ["connect", "chat_message", "other"]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.sampled_from([float("inf"), float("-inf"), float("nan"), 1e300, 2**63])
    | hostile_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3),
    max_leaves=8,
)
FIELDS = ["text", "to", "room", "name", "token", "id", "ts", "from", "members", "rooms", "lines",
          "message", "code", "content", "username", "old", "new", "reason", "members"]  # fmt: skip


def frames_of(types: list[str]) -> st.SearchStrategy[str]:
    """JSON objects with a known type and a few known fields of any JSON type."""
    objects = st.builds(
        lambda kind, fields: {**fields, "type": kind},
        st.sampled_from(types),
        st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=5),
    )
    dumped = objects.map(lambda obj: json.dumps(obj, ensure_ascii=False))
    return dumped | objects.map(json.dumps)


raw_frames = st.one_of(hostile_text, st.binary(max_size=20), json_values.map(json.dumps))


def decoded_ok(result: object, allowed: tuple[type, ...]) -> None:
    assert result is None or isinstance(result, (*allowed, jsonwire.FrameError)), result
    if isinstance(result, jsonwire.FrameError):
        assert result.code and result.message


CLIENT_FRAMES = (jsonwire.Login, *commands.Command.__args__)


SURROGATE = re.compile("[\ud800-\udfff]")
DEEP = "[" * 5000 + "]" * 5000
INFINITE_ID = '{"type":"message","id":Infinity,"ts":0,"from":"a","room":"b","text":"c"}'


@PROPERTIES
@given(st.one_of(raw_frames, frames_of(V1_TYPES)))
@example(DEEP)
@example('{"type":"say","text":"\\ud800"}')
def test_v1_client_frames_never_raise(frame: str | bytes) -> None:
    decoded_ok(jsonwire.decode_client_frame(frame), CLIENT_FRAMES)


@PROPERTIES
@given(st.one_of(raw_frames, frames_of(EVENT_TYPES)))
@example(DEEP)
@example(INFINITE_ID)
def test_v1_server_frames_never_raise(frame: str | bytes) -> None:
    result = jsonwire.decode_event(frame)
    assert isinstance(result, jsonwire.FrameError) or type(result).__module__.endswith("events")


@PROPERTIES
@given(st.one_of(raw_frames, frames_of(GT_TYPES)))
@example(DEEP)
def test_group_terminal_frames_never_raise(frame: str | bytes) -> None:
    decoded_ok(gtwire.decode_client_frame(frame), (gtwire.Connect, commands.Say))


said = st.text(max_size=40).filter(str.strip)  # text without lone surrogates
client_frames = st.one_of(
    st.builds(jsonwire.Login, st.none() | names, st.none() | st.text(max_size=10)),
    st.builds(commands.Say, said),
    st.builds(commands.Action, said),
    st.builds(commands.PrivateMessage, st.text(max_size=10), said),
    st.builds(commands.JoinRoom, names),
    st.builds(commands.Nick, names),
    st.sampled_from([commands.Who(), commands.ListRooms(), commands.Help(), commands.Quit()]),
)


@PROPERTIES
@given(client_frames)
def test_client_frames_round_trip(frame: Any) -> None:
    encoded = jsonwire.encode_client_frame(frame)
    encoded.encode("utf-8")
    assert jsonwire.decode_client_frame(encoded) == frame


@PROPERTIES
@given(hostile_text)
def test_lone_surrogates_are_refused_and_all_other_text_kept(content: str) -> None:
    text = json.loads(json.dumps("x" + content))  # what a peer's JSON decodes to
    v1 = jsonwire.decode_client_frame(json.dumps({"type": "say", "text": text}))
    gt = gtwire.decode_client_frame(json.dumps({"type": "chat_message", "content": text}))
    if SURROGATE.search(text):
        assert isinstance(v1, jsonwire.FrameError) and isinstance(gt, jsonwire.FrameError)
    else:
        assert v1 == gt == commands.Say(text)


@PROPERTIES
@given(events())
def test_events_round_trip_with_their_text_exactly(event: Event) -> None:
    encoded = jsonwire.encode_event(event)
    encoded.encode("utf-8")
    obj = jsonwire.event_object(event)
    # A surrogate pair given as two code units reads back as one character,
    # as it would through any JSON encoder; all other text is exact.
    assert json.loads(encoded) == json.loads(json.dumps(obj))
    if not SURROGATE.search(json.dumps(obj, ensure_ascii=False)):
        assert json.loads(encoded) == obj
        assert jsonwire.decode_event(encoded) == event


@PROPERTIES
@given(events())
def test_group_terminal_events_carry_the_text_exactly(event: Event) -> None:
    encoded = gtwire.event_text(event)
    if encoded is None:
        return
    encoded.encode("utf-8")
    obj = json.loads(encoded)
    if isinstance(event, ChatMessage):
        content = f"* {event.content}" if event.action else event.content
        assert obj["content"] == json.loads(json.dumps(content))
        assert obj["sender"] == event.sender


@PROPERTIES
@given(st.booleans(), hostile_text)
def test_connect_response_is_json(success: bool, message: str) -> None:
    obj = json.loads(gtwire.connect_response(success, message))
    assert obj == {"type": "connect_response", "success": success, "message": json.loads(json.dumps(message))}
