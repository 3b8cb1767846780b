"""The native JSON protocol, version 2 (``/v2`` or subprotocol ``triochat.v2``).

Version 2 is version 1 (see :mod:`.jsonwire`, whose framing and field rules
it shares) with rooms that remember: a user is in several rooms at once,
every chat message carries its place in its room's log (``room``, ``seq``,
``epoch``), history is sent on entering a room and on request, and a client
that reconnects says where it stopped (``since``) to get exactly what it
missed.  See ``docs/protocol.md`` for the frames with an example exchange.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import commands
from .events import ChatMessage, Event, HistoryPage, RoomEntered, RoomList, Welcome
from .jsonwire import (
    FrameError,
    Login,
    _dumps,
    _load_object,
    _name_field,
    _text_field,
    decode_client_frame,
    encode_client_frame,
    event_object,
    text_problem,
    utf8_safe,
)
from .jsonwire import _event_from as _v1_event_from
from .jsonwire import _names as _name_list
from .jsonwire import _str as _string
from .names import name_key

PROTOCOL_VERSION = 2
SUBPROTOCOL = "triochat.v2"
PATH = "/v2"

MAX_HISTORY_LIMIT = 100
"""The most messages one ``history`` request may ask for."""

DEFAULT_HISTORY_LIMIT = 50
"""What a ``history`` request without ``limit`` gets."""

MAX_LOGIN_ROOMS = 100
"""The most rooms one ``login`` frame may name."""

MAX_SEQ = 2**63 - 1
"""The largest ``seq`` a frame may carry."""

Since = tuple[str, int]
"""A position in a room's log: ``(epoch, seq)``."""


@dataclass(frozen=True, slots=True)
class LoginV2:
    """Client frame ``login`` of version 2: *rooms* maps each room to be in to
    the last position seen there (or ``None``); ``None`` for the default room."""

    name: str | None = None
    token: str | None = None
    rooms: Mapping[str, Since | None] | None = None


ClientFrame = LoginV2 | commands.Command


# -- client -> server ------------------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _since(kind: str, value: object) -> Since | FrameError:
    if not isinstance(value, dict):
        return FrameError("bad_field", f"'{kind}' 'since' must be an object with 'epoch' and 'seq'")
    epoch, seq = value.get("epoch"), value.get("seq")
    if not isinstance(epoch, str) or text_problem(epoch):
        return FrameError("bad_field", f"'{kind}' 'since' needs a string 'epoch'")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= MAX_SEQ:
        return FrameError("bad_field", f"'{kind}' 'since' needs an integer 'seq', 0 or more")
    return (epoch, seq)


def _optional_room(obj: dict[str, Any]) -> str | FrameError | None:
    if obj.get("room") is None:
        return None
    return _name_field(obj, "room", "room name")


def _login(obj: dict[str, Any]) -> LoginV2 | FrameError:
    v1 = decode_client_frame(_dumps({k: obj[k] for k in ("type", "name", "token") if k in obj}))
    if isinstance(v1, FrameError):
        return v1
    assert isinstance(v1, Login)
    given = obj.get("rooms")
    if given is None:
        return LoginV2(v1.name, v1.token)
    if not isinstance(given, dict):
        return FrameError("bad_field", "'login' 'rooms' must be an object: {room: null or since}")
    if len(given) > MAX_LOGIN_ROOMS:
        return FrameError("bad_field", f"'login' may name at most {MAX_LOGIN_ROOMS} rooms")
    rooms: dict[str, Since | None] = {}
    keys: set[str] = set()
    for room, since in given.items():
        checked = _name_field({"type": "login", "room": room}, "room", "room name")
        if isinstance(checked, FrameError):
            return checked
        if name_key(checked) in keys:
            return FrameError("bad_field", f"'login' names the room {checked} twice")
        keys.add(name_key(checked))
        if since is None:
            rooms[checked] = None
            continue
        position = _since("login", since)
        if isinstance(position, FrameError):
            return position
        rooms[checked] = position
    return LoginV2(v1.name, v1.token, rooms)


def decode_client_frame_v2(text: str | bytes) -> ClientFrame | FrameError | None:
    """Decode a version 2 frame from a client; ``None`` for blank chat text (ignored)."""
    obj = _load_object(text)
    if isinstance(obj, FrameError):
        return obj
    kind = obj["type"]
    if kind == "login":
        return _login(obj)
    if kind in ("say", "action"):
        content = _text_field(obj, "text")
        if isinstance(content, FrameError):
            return content
        room = _optional_room(obj)
        if isinstance(room, FrameError):
            return room
        if not content.strip():
            return None
        return commands.Say(content, room) if kind == "say" else commands.Action(content, room)
    if kind == "join":
        room = _name_field(obj, "room", "room name")
        if isinstance(room, FrameError):
            return room
        if obj.get("since") is None:
            return commands.JoinRoom(room)
        since = _since("join", obj["since"])
        return since if isinstance(since, FrameError) else commands.JoinRoom(room, since)
    if kind == "part":
        room = _name_field(obj, "room", "room name")
        return room if isinstance(room, FrameError) else commands.Part(room)
    if kind == "history":
        return _history(obj)
    frame = decode_client_frame(text)  # the frames version 1 has too
    if isinstance(frame, Login):  # not reached: login is decoded above
        return FrameError("bad_frame", "unexpected login")
    return frame


def _history(obj: dict[str, Any]) -> commands.History | FrameError:
    room = _name_field(obj, "room", "room name")
    if isinstance(room, FrameError):
        return room
    before = obj.get("before")
    if before is not None and (not _is_int(before) or not 0 <= before <= MAX_SEQ):
        return FrameError("bad_field", "'history' 'before' must be a seq (an integer, 0 or more)")
    limit = obj.get("limit", DEFAULT_HISTORY_LIMIT)
    if not _is_int(limit) or not 1 <= limit <= MAX_HISTORY_LIMIT:
        return FrameError("bad_field", f"'history' 'limit' must be an integer from 1 to {MAX_HISTORY_LIMIT}")
    return commands.History(room, before, limit)


def _since_object(since: Since) -> dict[str, Any]:
    return {"epoch": since[0], "seq": since[1]}


def encode_client_frame_v2(frame: ClientFrame) -> str:
    """Encode a version 2 client frame (used by :class:`triochat.ChatClient`)."""
    if isinstance(frame, LoginV2):
        obj: dict[str, Any] = {"type": "login"}
        if frame.name is not None:
            obj["name"] = frame.name
        if frame.token is not None:
            obj["token"] = frame.token
        if frame.rooms is not None:
            obj["rooms"] = {
                room: None if since is None else _since_object(since) for room, since in frame.rooms.items()
            }
        return _dumps(obj)
    if isinstance(frame, commands.Say | commands.Action):
        obj = {"type": "say" if isinstance(frame, commands.Say) else "action", "text": frame.text}
        if frame.room is not None:
            obj["room"] = frame.room
        return _dumps(obj)
    if isinstance(frame, commands.JoinRoom):
        obj = {"type": "join", "room": frame.room}
        if frame.since is not None:
            obj["since"] = _since_object(frame.since)
        return _dumps(obj)
    if isinstance(frame, commands.Part):
        if frame.room is None:
            raise ValueError("a version 2 'part' names its room")
        return _dumps({"type": "part", "room": frame.room})
    if isinstance(frame, commands.History):
        obj = {"type": "history", "room": frame.room, "limit": frame.limit}
        if frame.before is not None:
            obj["before"] = frame.before
        return _dumps(obj)
    return encode_client_frame(frame)


# -- server -> client ------------------------------------------------------------

_quote = json.encoder.encode_basestring
_BOOL = {True: "true", False: "false"}


def _message_text(event: ChatMessage) -> str:
    history = ',"history":true' if event.history else ""
    return (
        f'{{"type":"message","id":{event.id},"ts":{event.timestamp!r},'
        f'"room":{_quote(event.room)},"seq":{event.seq},"epoch":{_quote(event.epoch)},'
        f'"from":{_quote(event.sender)},"text":{_quote(event.content)},'
        f'"agent":{_BOOL[event.agent]},"action":{_BOOL[event.action]}{history}}}'
    )


def event_object_v2(event: Event) -> dict[str, Any]:
    """The version 2 JSON object for a server event."""
    if isinstance(event, ChatMessage):
        obj = event_object(event)
        obj["seq"] = event.seq
        obj["epoch"] = event.epoch
        if event.history:
            obj["history"] = True
        return obj
    if isinstance(event, RoomEntered):
        return {
            "type": "room",
            "room": event.room,
            "members": list(event.names),
            "epoch": event.epoch,
            "seq": event.seq,
            "recovered": event.recovered,
        }
    if isinstance(event, HistoryPage):
        return {
            "type": "history",
            "room": event.room,
            "messages": [event_object_v2(m) for m in event.messages],
        }
    if isinstance(event, RoomList):
        joined = set(event.joined)
        return {
            "type": "rooms",
            "rooms": [{"name": n, "members": c, "joined": n in joined} for n, c in event.rooms],
        }
    if isinstance(event, Welcome):
        return {"type": "welcome", "name": event.name, "protocol": PROTOCOL_VERSION}
    return event_object(event)


def encode_event_v2(event: Event) -> str:
    """Encode a server event as a version 2 JSON text (chat messages formatted directly)."""
    if type(event) is ChatMessage:
        return utf8_safe(_message_text(event))
    if isinstance(event, HistoryPage):
        inner = ",".join(_message_text(m) for m in event.messages)
        return utf8_safe(f'{{"type":"history","room":{_quote(event.room)},"messages":[{inner}]}}')
    return _dumps(event_object_v2(event))


def _int(obj: dict[str, Any], key: str) -> int:
    value = obj[key]
    if not _is_int(value):
        raise TypeError(f"'{key}' must be an integer")
    return int(value)


def _message_from(obj: dict[str, Any]) -> ChatMessage:
    if obj.get("type") != "message":
        raise ValueError("not a message frame")
    epoch = obj["epoch"]
    if not isinstance(epoch, str):
        raise TypeError("'epoch' must be a string")
    return ChatMessage(
        id=_int(obj, "id"),
        timestamp=float(obj["ts"]),
        sender=_string(obj, "from"),
        room=_string(obj, "room"),
        content=_string(obj, "text"),
        agent=bool(obj.get("agent", False)),
        action=bool(obj.get("action", False)),
        seq=_int(obj, "seq"),
        epoch=epoch,
        history=obj.get("history") is True,
    )


def _event_from(obj: dict[str, Any]) -> Event | FrameError:
    kind = obj["type"]
    if kind == "message":
        return _message_from(obj)
    if kind == "room":
        recovered = obj.get("recovered", False)
        if not isinstance(recovered, bool):
            raise TypeError("'recovered' must be true or false")
        epoch = obj["epoch"]
        if not isinstance(epoch, str):
            raise TypeError("'epoch' must be a string")
        return RoomEntered(
            _string(obj, "room"), _name_list(obj, "members"), epoch, _int(obj, "seq"), recovered
        )
    if kind == "history":
        messages = obj["messages"]
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise TypeError("'messages' must be a list of message frames")
        return HistoryPage(_string(obj, "room"), tuple(_message_from(m) for m in messages))
    if kind == "rooms":
        rooms = obj["rooms"]
        if not isinstance(rooms, list):
            raise TypeError("'rooms' must be a list")
        return RoomList(
            tuple((_string(r, "name"), _int(r, "members")) for r in rooms),
            tuple(_string(r, "name") for r in rooms if r.get("joined") is True),
        )
    return _v1_event_from(obj)


def decode_event_v2(text: str | bytes) -> Event | FrameError:
    """Decode a version 2 server frame into an event (used by :class:`triochat.ChatClient`)."""
    obj = _load_object(text)
    if isinstance(obj, FrameError):
        return obj
    try:
        return _event_from(obj)
    except (KeyError, TypeError, ValueError, OverflowError, AttributeError) as exc:
        return FrameError("bad_frame", f"malformed '{obj['type']}' frame: {exc}")
