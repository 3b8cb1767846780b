"""The native JSON protocol, version 1 (``/v1`` or subprotocol ``triochat.v1``).

Every frame is a JSON object with a ``type``.  This module encodes and
decodes both directions, so the server and :class:`triochat.ChatClient` share
one definition; see ``docs/protocol.md`` for the frames with examples.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from . import commands
from .durations import duration_problem, parse_duration
from .events import (
    ChatMessage,
    Error,
    Event,
    Goodbye,
    HelpText,
    Joined,
    Left,
    Moderated,
    NameChanged,
    Notice,
    PrivateChat,
    Renamed,
    RoomEntered,
    RoomList,
    RoomTopic,
    Welcome,
    WhoList,
)
from .names import name_problem

PROTOCOL_VERSION = 1
SUBPROTOCOL = "triochat.v1"


@dataclass(frozen=True, slots=True)
class Login:
    """Client frame ``login``: the first frame of a session."""

    name: str | None = None
    token: str | None = None


@dataclass(frozen=True, slots=True)
class FrameError:
    """A frame that could not be decoded; ``code`` is stable, ``message`` for humans."""

    code: str
    message: str


ClientFrame = Login | commands.Command


_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_surrogate(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def utf8_safe(text: str) -> str:
    """JSON *text* that can be encoded as UTF-8.

    A lone surrogate (which ``\\ud800`` in received JSON can produce) cannot
    be encoded as UTF-8; inside a JSON string it is written as its ``\\u``
    escape instead, which decodes to the same string.
    """
    if _SURROGATE.search(text) is None:
        return text
    return _SURROGATE.sub(_escape_surrogate, text)


def _dumps(obj: dict[str, Any]) -> str:
    return utf8_safe(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))


def load_json(text: str) -> Any | FrameError:
    """Parse JSON *text*; a :class:`FrameError` instead of any exception."""
    try:
        return json.loads(text)
    except ValueError:
        return FrameError("bad_json", "the frame is not valid JSON")
    except RecursionError:
        return FrameError("bad_json", "the frame is nested too deeply")


def _load_object(text: str | bytes) -> dict[str, Any] | FrameError:
    if isinstance(text, bytes):
        return FrameError("binary_frame", "binary frames are not supported; send JSON text frames")
    obj = load_json(text)
    if isinstance(obj, FrameError):
        return obj
    if not isinstance(obj, dict):
        return FrameError("bad_frame", "a frame must be a JSON object")
    if not isinstance(obj.get("type"), str):
        return FrameError("bad_frame", "a frame needs a string 'type'")
    return obj


def text_problem(value: str) -> str | None:
    """Why *value*, a string from received JSON, is not text, or ``None``."""
    if _SURROGATE.search(value) is not None:
        return "is not valid Unicode text (it has a lone surrogate)"
    return None


def _text_field(obj: dict[str, Any], key: str) -> str | FrameError:
    value = obj.get(key)
    if not isinstance(value, str):
        return FrameError("bad_field", f"'{obj['type']}' needs a string '{key}'")
    problem = text_problem(value)
    if problem:
        return FrameError("bad_field", f"'{obj['type']}' '{key}' {problem}")
    return value


def _name_field(obj: dict[str, Any], key: str, what: str = "name") -> str | FrameError:
    value = _text_field(obj, key)
    if isinstance(value, FrameError):
        return value
    problem = name_problem(value, what=what)
    return FrameError("bad_name", problem) if problem else value


# -- client -> server ------------------------------------------------------------


def decode_client_frame(text: str | bytes) -> ClientFrame | FrameError | None:
    """Decode a frame from a client; ``None`` for blank chat text (ignored)."""
    obj = _load_object(text)
    if isinstance(obj, FrameError):
        return obj
    kind = obj["type"]
    if kind == "login":
        name, token = obj.get("name"), obj.get("token")
        if name is not None and not isinstance(name, str):
            return FrameError("bad_field", "'login' needs a string 'name'")
        if token is not None and not isinstance(token, str):
            return FrameError("bad_field", "'login' 'token' must be a string")
        for key, given in (("name", name), ("token", token)):
            problem = text_problem(given) if isinstance(given, str) else None
            if problem:
                return FrameError("bad_field", f"'login' '{key}' {problem}")
        return Login(name, token)
    if kind in ("say", "action"):
        content = _text_field(obj, "text")
        if isinstance(content, FrameError):
            return content
        if not content.strip():
            return None
        return commands.Say(content) if kind == "say" else commands.Action(content)
    if kind == "private":
        target = _text_field(obj, "to")
        content = _text_field(obj, "text")
        for value in (target, content):
            if isinstance(value, FrameError):
                return value
        assert isinstance(target, str) and isinstance(content, str)
        return commands.PrivateMessage(target, content)
    if kind == "join":
        room = _name_field(obj, "room", "room name")
        return room if isinstance(room, FrameError) else commands.JoinRoom(room)
    if kind == "nick":
        name = _name_field(obj, "name")
        return name if isinstance(name, FrameError) else commands.Nick(name)
    if kind == "who":
        return commands.Who()
    if kind == "rooms":
        return commands.ListRooms()
    if kind == "help":
        return commands.Help()
    if kind == "quit":
        return commands.Quit()
    if kind in _MODERATION_FRAMES:
        return _moderation_frame(obj)
    return FrameError("unknown_type", f"unknown frame type '{kind}'")


_MODERATION_FRAMES = frozenset({"kick", "ban", "unban", "mute", "unmute", "topic"})


def _optional_text(obj: dict[str, Any], key: str, limit: int) -> str | FrameError | None:
    if obj.get(key) is None:
        return None
    value = _text_field(obj, key)
    if isinstance(value, FrameError):
        return value
    if len(value) > limit:
        return FrameError("bad_field", f"'{obj['type']}' '{key}' is longer than {limit} characters")
    return value


def _duration_field(obj: dict[str, Any]) -> float | FrameError | None:
    """``duration``: seconds (a number) or a string such as ``"10m"``; absent or null: none."""
    value = obj.get("duration")
    if value is None:
        return None
    if isinstance(value, str):
        seconds = parse_duration(value)
        return FrameError("bad_field", f"'{obj['type']}' {seconds}") if isinstance(seconds, str) else seconds
    if isinstance(value, int | float) and not isinstance(value, bool):
        problem = duration_problem(value)
        if problem:
            return FrameError("bad_field", f"'{obj['type']}' 'duration': {problem}")
        return float(value)
    return FrameError("bad_field", f"'{obj['type']}' 'duration' must be seconds or a string like \"10m\"")


def _moderation_frame(obj: dict[str, Any]) -> commands.ModerationCommand | FrameError:
    kind = obj["type"]
    room: str | None = None
    if obj.get("room") is not None:
        given = _name_field(obj, "room", "room name")
        if isinstance(given, FrameError):
            return given
        room = given
    if kind == "topic":
        topic = _optional_text(obj, "text", commands.MAX_TOPIC_LENGTH)
        return topic if isinstance(topic, FrameError) else commands.Topic(topic, room)
    name = _name_field(obj, "name")
    if isinstance(name, FrameError):
        return name
    if kind == "unban":
        return commands.Unban(name)
    if kind == "unmute":
        return commands.Unmute(name, room)
    duration = _duration_field(obj) if kind in ("ban", "mute") else None
    if isinstance(duration, FrameError):
        return duration
    if kind == "mute":
        return commands.Mute(name, duration, room)
    reason = _optional_text(obj, "reason", commands.MAX_REASON_LENGTH)
    if isinstance(reason, FrameError):
        return reason
    if kind == "kick":
        return commands.Kick(name, reason)
    return commands.Ban(name, duration, reason)


def _moderation_client_object(frame: commands.ModerationCommand) -> dict[str, Any]:
    obj: dict[str, Any]
    if isinstance(frame, commands.Topic):
        obj = {"type": "topic"}
        if frame.text is not None:
            obj["text"] = frame.text
    elif isinstance(frame, commands.Kick):
        obj = {"type": "kick", "name": frame.name, "reason": frame.reason}
    elif isinstance(frame, commands.Ban):
        obj = {"type": "ban", "name": frame.name, "duration": frame.duration, "reason": frame.reason}
    elif isinstance(frame, commands.Unban):
        obj = {"type": "unban", "name": frame.name}
    elif isinstance(frame, commands.Mute):
        obj = {"type": "mute", "name": frame.name, "duration": frame.duration}
    else:
        obj = {"type": "unmute", "name": frame.name}
    room = getattr(frame, "room", None)
    if room is not None:
        obj["room"] = room
    return {k: v for k, v in obj.items() if v is not None}


def encode_client_frame(frame: ClientFrame) -> str:
    """Encode a client frame (used by :class:`triochat.ChatClient`)."""
    if isinstance(frame, Login):
        obj: dict[str, Any] = {"type": "login"}
        if frame.name is not None:
            obj["name"] = frame.name
        if frame.token is not None:
            obj["token"] = frame.token
        return _dumps(obj)
    if isinstance(frame, commands.Say):
        return _dumps({"type": "say", "text": frame.text})
    if isinstance(frame, commands.Action):
        return _dumps({"type": "action", "text": frame.text})
    if isinstance(frame, commands.PrivateMessage):
        return _dumps({"type": "private", "to": frame.target, "text": frame.text})
    if isinstance(frame, commands.JoinRoom):
        return _dumps({"type": "join", "room": frame.room})
    if isinstance(frame, commands.Nick):
        return _dumps({"type": "nick", "name": frame.name})
    if isinstance(frame, commands.Who):
        return _dumps({"type": "who"})
    if isinstance(frame, commands.ListRooms):
        return _dumps({"type": "rooms"})
    if isinstance(frame, commands.Help):
        return _dumps({"type": "help"})
    if isinstance(frame, commands.Quit):
        return _dumps({"type": "quit"})
    if isinstance(frame, commands.Kick | commands.Ban | commands.Unban | commands.Mute | commands.Unmute):
        return _dumps(_moderation_client_object(frame))
    if isinstance(frame, commands.Topic):
        return _dumps(_moderation_client_object(frame))
    raise TypeError(f"not a client frame: {frame!r}")


# -- server -> client ------------------------------------------------------------


def event_object(event: Event) -> dict[str, Any]:
    """The JSON object for a server event."""
    if isinstance(event, ChatMessage):
        return {
            "type": "message",
            "id": event.id,
            "ts": event.timestamp,
            "room": event.room,
            "from": event.sender,
            "text": event.content,
            "agent": event.agent,
            "action": event.action,
        }
    if isinstance(event, PrivateChat):
        return {
            "type": "private",
            "from": event.sender,
            "to": event.target,
            "text": event.content,
            "agent": event.agent,
            "echo": event.outgoing,
        }
    if isinstance(event, Joined):
        return {"type": "joined", "name": event.name, "room": event.room, "login": event.login}
    if isinstance(event, Left):
        return {
            "type": "left",
            "name": event.name,
            "room": event.room,
            "logout": event.logout,
            "reason": event.reason,
        }
    if isinstance(event, Renamed):
        return {"type": "renamed", "old": event.old, "new": event.new}
    if isinstance(event, RoomEntered):
        return {"type": "room", "room": event.room, "members": list(event.names)}
    if isinstance(event, WhoList):
        return {"type": "who", "room": event.room, "members": list(event.names)}
    if isinstance(event, RoomList):
        return {"type": "rooms", "rooms": [{"name": n, "members": c} for n, c in event.rooms]}
    if isinstance(event, Welcome):
        return {"type": "welcome", "name": event.name, "protocol": PROTOCOL_VERSION}
    if isinstance(event, Goodbye):
        return {"type": "goodbye", "name": event.name}
    if isinstance(event, NameChanged):
        return {"type": "nick", "name": event.name}
    if isinstance(event, Notice):
        if event.code == "shutdown":
            return {"type": "shutdown", "message": event.text}
        return {"type": "notice", "code": event.code, "message": event.text}
    if isinstance(event, Error):
        return {"type": "error", "code": event.code, "message": event.text}
    if isinstance(event, HelpText):
        return {"type": "help", "lines": list(event.lines)}
    if isinstance(event, Moderated):
        return {
            "type": "moderation",
            "action": event.action,
            "name": event.name,
            "by": event.by,
            "reason": event.reason,
            "duration": event.duration,
            "room": event.room,
        }
    if isinstance(event, RoomTopic):
        return {"type": "topic", "room": event.room, "text": event.text, "by": event.by}
    raise TypeError(f"not an event: {event!r}")


_quote = json.encoder.encode_basestring  # the C string encoder json.dumps uses
_BOOL = {True: "true", False: "false"}


def encode_event(event: Event) -> str:
    """Encode a server event as a JSON text.

    Chat messages, the hot path of a busy server, are formatted directly;
    the result is the same text the generic path would give.  The text can
    always be encoded as UTF-8 (see :func:`utf8_safe`).
    """
    if type(event) is ChatMessage:
        return utf8_safe(
            f'{{"type":"message","id":{event.id},"ts":{event.timestamp!r},'
            f'"room":{_quote(event.room)},"from":{_quote(event.sender)},'
            f'"text":{_quote(event.content)},"agent":{_BOOL[event.agent]},'
            f'"action":{_BOOL[event.action]}}}'
        )
    return _dumps(event_object(event))


def decode_event(text: str | bytes) -> Event | FrameError:
    """Decode a server frame into an event (used by :class:`triochat.ChatClient`)."""
    obj = _load_object(text)
    if isinstance(obj, FrameError):
        return obj
    try:
        return _event_from(obj)
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        return FrameError("bad_frame", f"malformed '{obj['type']}' frame: {exc}")


def _str(obj: dict[str, Any], key: str) -> str:
    value = obj[key]
    if not isinstance(value, str):
        raise TypeError(f"'{key}' must be a string")
    return value


def _names(obj: dict[str, Any], key: str) -> tuple[str, ...]:
    value = obj[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"'{key}' must be a list of strings")
    return tuple(value)


def _event_from(obj: dict[str, Any]) -> Event | FrameError:
    kind = obj["type"]
    if kind == "message":
        return ChatMessage(
            id=int(obj["id"]),
            timestamp=float(obj["ts"]),
            sender=_str(obj, "from"),
            room=_str(obj, "room"),
            content=_str(obj, "text"),
            agent=bool(obj.get("agent", False)),
            action=bool(obj.get("action", False)),
        )
    if kind == "private":
        return PrivateChat(
            _str(obj, "from"),
            _str(obj, "to"),
            _str(obj, "text"),
            outgoing=bool(obj.get("echo", False)),
            agent=bool(obj.get("agent", False)),
        )
    if kind == "joined":
        return Joined(_str(obj, "name"), _str(obj, "room"), bool(obj.get("login", False)))
    if kind == "left":
        reason = obj.get("reason")
        return Left(
            _str(obj, "name"),
            _str(obj, "room"),
            bool(obj.get("logout", False)),
            reason if isinstance(reason, str) else None,
        )
    if kind == "renamed":
        return Renamed(_str(obj, "old"), _str(obj, "new"))
    if kind == "room":
        return RoomEntered(_str(obj, "room"), _names(obj, "members"))
    if kind == "who":
        return WhoList(_str(obj, "room"), _names(obj, "members"))
    if kind == "rooms":
        rooms = obj["rooms"]
        if not isinstance(rooms, list):
            raise TypeError("'rooms' must be a list")
        return RoomList(tuple((_str(r, "name"), int(r["members"])) for r in rooms))
    if kind == "welcome":
        return Welcome(_str(obj, "name"))
    if kind == "goodbye":
        return Goodbye(_str(obj, "name"))
    if kind == "nick":
        return NameChanged(_str(obj, "name"))
    if kind == "shutdown":
        return Notice(_str(obj, "message"), code="shutdown")
    if kind == "notice":
        return Notice(_str(obj, "message"), code=_str(obj, "code"))
    if kind == "error":
        return Error(_str(obj, "code"), _str(obj, "message"))
    if kind == "help":
        return HelpText(_names(obj, "lines"))
    if kind == "moderation":
        duration = obj.get("duration")
        if duration is not None and (isinstance(duration, bool) or not isinstance(duration, int | float)):
            raise TypeError("'duration' must be a number or null")
        return Moderated(
            _str(obj, "action"),
            _str(obj, "name"),
            _str(obj, "by"),
            _optional_str(obj, "reason"),
            None if duration is None else float(duration),
            _optional_str(obj, "room"),
        )
    if kind == "topic":
        return RoomTopic(_str(obj, "room"), _str(obj, "text"), _optional_str(obj, "by"))
    return FrameError("unknown_type", f"unknown frame type '{kind}'")


def _optional_str(obj: dict[str, Any], key: str) -> str | None:
    return None if obj.get(key) is None else _str(obj, key)
