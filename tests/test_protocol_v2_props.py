"""Properties of the version 2 JSON wire format (v2wire.py).

Like version 1: no input makes a decoder raise, frames round-trip, text goes
through exactly; and every v2-only field has a type the decoder checks.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from triochat.protocol import commands, jsonwire, v2wire
from triochat.protocol.events import ChatMessage, Event, HistoryPage, RoomEntered, RoomList
from triochat.protocol.names import name_key

from .protocol_strategies import PROPERTIES, events, hostile_text, names
from .test_protocol_json_props import DEEP, SURROGATE, decoded_ok, json_values, raw_frames

V2_TYPES = [
    "login",
    "say",
    "action",
    "private",
    "join",
    "part",
    "history",
    "nick",
    "who",
    "rooms",
    "help",
    "quit",
]
V2_FIELDS = ["text", "to", "room", "name", "token", "rooms", "since", "before", "limit", "epoch", "seq"]
EVENT_TYPES = ["message", "room", "history", "rooms", "welcome", "error", "other"]
EVENT_FIELDS = ["id", "ts", "room", "from", "text", "seq", "epoch", "history", "members", "recovered",
                "messages", "rooms", "name", "code", "message"]  # fmt: skip

positions = st.tuples(st.text(max_size=10), st.integers(0, v2wire.MAX_SEQ))


def frames_of(types: list[str], fields: list[str]) -> st.SearchStrategy[str]:
    objects = st.builds(
        lambda kind, given: {**given, "type": kind},
        st.sampled_from(types),
        st.dictionaries(
            st.sampled_from(fields), json_values | st.builds(dict, epoch=json_values, seq=json_values)
        ),
    )
    return objects.map(lambda obj: json.dumps(obj, ensure_ascii=False))


CLIENT_FRAMES = (v2wire.LoginV2, *commands.Command.__args__)


@PROPERTIES
@given(st.one_of(raw_frames, frames_of(V2_TYPES, V2_FIELDS)))
@example(DEEP)
@example('{"type":"join","room":"a","since":{"epoch":"e","seq":true}}')
@example('{"type":"history","room":"a","limit":1e400}')
def test_v2_client_frames_never_raise(frame: str | bytes) -> None:
    result = v2wire.decode_client_frame_v2(frame)
    decoded_ok(result, CLIENT_FRAMES)
    if isinstance(result, commands.History):
        assert 1 <= result.limit <= v2wire.MAX_HISTORY_LIMIT
        assert result.before is None or result.before >= 0
    if isinstance(result, commands.JoinRoom) and result.since is not None:
        assert isinstance(result.since[1], int) and result.since[1] >= 0


@PROPERTIES
@given(st.one_of(raw_frames, frames_of(EVENT_TYPES, EVENT_FIELDS)))
@example(DEEP)
def test_v2_server_frames_never_raise(frame: str | bytes) -> None:
    result = v2wire.decode_event_v2(frame)
    assert isinstance(result, jsonwire.FrameError) or type(result).__module__.endswith("events")


said = st.text(max_size=40).filter(str.strip)
client_frames = st.one_of(
    st.builds(
        v2wire.LoginV2,
        st.none() | names,
        st.none() | st.text(max_size=10),
        st.none()
        | st.dictionaries(names, st.none() | positions, max_size=3).filter(
            lambda rooms: len({name_key(r) for r in rooms}) == len(rooms)
        ),
    ),
    st.builds(commands.Say, said, st.none() | names),
    st.builds(commands.Action, said, st.none() | names),
    st.builds(commands.JoinRoom, names, st.none() | positions),
    st.builds(commands.Part, names),
    st.builds(
        commands.History, names, st.none() | st.integers(0, 2**62), st.integers(1, v2wire.MAX_HISTORY_LIMIT)
    ),
    st.builds(commands.PrivateMessage, st.text(max_size=10), said),
    st.builds(commands.Nick, names),
    st.sampled_from([commands.Who(), commands.ListRooms(), commands.Help(), commands.Quit()]),
)


@PROPERTIES
@given(client_frames)
def test_v2_client_frames_round_trip(frame: Any) -> None:
    encoded = v2wire.encode_client_frame_v2(frame)
    encoded.encode("utf-8")
    decoded = v2wire.decode_client_frame_v2(encoded)
    if isinstance(frame, v2wire.LoginV2) and frame.rooms is not None:
        # Room names are checked but case is kept; the map keeps its order.
        assert isinstance(decoded, v2wire.LoginV2)
        assert dict(decoded.rooms or {}) == {k: v for k, v in frame.rooms.items()}
        assert (decoded.name, decoded.token) == (frame.name, frame.token)
    else:
        assert decoded == frame


chat = st.builds(
    ChatMessage,
    id=st.integers(0, 2**53),
    timestamp=st.floats(0, 2e9, allow_nan=False),
    sender=names,
    room=names,
    content=hostile_text,
    agent=st.booleans(),
    action=st.booleans(),
    seq=st.integers(0, 2**62),
    epoch=st.text("0123456789abcdef", min_size=10, max_size=10),
    history=st.booleans(),
)
v2_events = st.one_of(
    events(),
    chat,
    st.builds(HistoryPage, names, st.lists(chat, max_size=3).map(tuple)),
    st.builds(
        RoomEntered,
        names,
        st.lists(names, max_size=3).map(tuple),
        st.text("0123456789abcdef", max_size=10),
        st.integers(0, 2**62),
        st.booleans(),
    ),
)


@PROPERTIES
@given(v2_events)
def test_v2_events_round_trip_with_their_text_exactly(event: Event) -> None:
    encoded = v2wire.encode_event_v2(event)
    encoded.encode("utf-8")
    obj = v2wire.event_object_v2(event)
    assert json.loads(encoded) == json.loads(json.dumps(obj))  # the fast path agrees with the generic one
    if isinstance(event, RoomList):
        event = RoomList(event.rooms, event.joined)  # "current" is not part of the frame
    if not SURROGATE.search(json.dumps(obj, ensure_ascii=False)):
        assert v2wire.decode_event_v2(encoded) == event


@PROPERTIES
@given(chat)
def test_v1_never_sees_positions(message: ChatMessage) -> None:
    obj = json.loads(jsonwire.encode_event(message))
    assert set(obj) == {"type", "id", "ts", "room", "from", "text", "agent", "action"}
    v2 = json.loads(v2wire.encode_event_v2(message))
    assert {k: v for k, v in v2.items() if k not in ("seq", "epoch", "history")} == obj
    assert (v2["seq"], v2["epoch"], v2.get("history", False)) == (message.seq, message.epoch, message.history)


@PROPERTIES
@given(hostile_text)
def test_lone_surrogates_are_refused_in_v2_too(content: str) -> None:
    text = json.loads(json.dumps("x" + content))
    decoded = v2wire.decode_client_frame_v2(json.dumps({"type": "say", "text": text, "room": "lobby"}))
    if SURROGATE.search(text):
        assert isinstance(decoded, jsonwire.FrameError)
    else:
        assert decoded == commands.Say(text, "lobby")
