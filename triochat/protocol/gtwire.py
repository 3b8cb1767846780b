"""Wire compatibility with the ``group-terminal`` package's WebSocket protocol.

Its client connects to ``/ws/{username}``, sends ``{"type": "connect",
"username": NAME}``, then ``{"type": "chat_message", "content": TEXT}``
frames; it shows ``chat_message`` frames and ignores every other type.  So
what its user must see goes out as ``chat_message``: private messages (their
sender marked ``bob (private)``) and the answers to slash commands (``/who``,
``/msg``, ``/me``, ``/rooms``, ``/nick``, ``/help``), sent by ``server``.  Its
client has one room view, so ``/join`` is refused on this endpoint.  Joins,
leaves and renames go out as typed frames that richer clients can use, and so
does the error for a malformed frame.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from . import commands, linewire
from .events import (
    ChatMessage,
    Error,
    Event,
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
    WhoList,
)
from .jsonwire import FrameError, load_json, text_problem, utf8_safe

PATH_PREFIX = "/ws/"

SERVER_SENDER = "server"
"""The ``sender`` of the server's own answers (a name no user may take)."""

FRAME_ERRORS = frozenset({"binary_frame", "bad_json", "bad_frame", "bad_content", "unknown_type"})
"""Codes of errors about a malformed frame: a program's mistake, sent as ``error`` frames."""

ONE_ROOM = "this endpoint has one room; /join and /part need the native or the line protocol"


@dataclass(frozen=True, slots=True)
class Connect:
    """The ``connect`` frame that opens a group-terminal session."""

    username: str | None


def _dumps(obj: dict[str, Any]) -> str:
    return utf8_safe(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))


def connect_response(success: bool, message: str) -> str:
    """The server's answer to ``connect``."""
    return _dumps({"type": "connect_response", "success": success, "message": message})


def decode_client_frame(text: str | bytes) -> Connect | commands.Command | FrameError | None:
    """Decode a frame from a group-terminal client; ``None`` for blank content.

    Chat content is read as the line protocol reads a line, so slash commands
    give the same command objects (see :func:`~triochat.protocol.commands.parse_command`).
    """
    if isinstance(text, bytes):
        return FrameError("binary_frame", "binary frames are not supported; send JSON text frames")
    obj = load_json(text)
    if isinstance(obj, FrameError):
        return obj
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        return FrameError("bad_frame", "a frame must be a JSON object with a string 'type'")
    kind = obj["type"]
    if kind == "connect":
        username = obj.get("username")
        return Connect(username if isinstance(username, str) else None)
    if kind == "chat_message":
        content = obj.get("content")
        if not isinstance(content, str):
            return FrameError("bad_content", "'content' must be a string")
        problem = text_problem(content)
        if problem:
            return FrameError("bad_content", f"'content' {problem}")
        if not content.strip():
            return None
        command = commands.parse_command(content)
        if isinstance(command, commands.CommandError):
            return FrameError("bad_command", command.message)
        if isinstance(command, commands.JoinRoom | commands.Part):
            return FrameError("one_room", ONE_ROOM)
        return command
    return FrameError("unknown_type", f"unknown frame type '{kind}'")


def _from_server(content: str, code: str) -> str:
    return _dumps(
        {"type": "chat_message", "content": content, "sender": SERVER_SENDER, "agent": True, "code": code}
    )


def event_text(event: Event) -> str | None:
    """The JSON text for *event*, or ``None`` if group-terminal clients get nothing."""
    if isinstance(event, ChatMessage):
        obj: dict[str, Any] = {
            "type": "chat_message",
            "content": f"* {event.content}" if event.action else event.content,
            "sender": event.sender,
            "agent": event.agent,
        }
        if event.action:
            obj["action"] = True
        return _dumps(obj)
    if isinstance(event, PrivateChat):
        # Shown as chat (the client shows nothing else), marked in the sender:
        # no user can send public chat as "bob (private)", names have no spaces.
        mark = f"private to {event.target}" if event.outgoing else "private"
        return _dumps(
            {
                "type": "chat_message",
                "content": event.content,
                "sender": f"{event.sender} ({mark})",
                "agent": event.agent,
                "private": True,
                "target": event.target,
            }
        )
    if isinstance(event, Joined):
        return _dumps({"type": "user_joined", "username": event.name, "room": event.room})
    if isinstance(event, Left):
        return _dumps(
            {"type": "user_left", "username": event.name, "room": event.room, "reason": event.reason}
        )
    if isinstance(event, Renamed):
        return _dumps({"type": "user_renamed", "old": event.old, "new": event.new})
    if isinstance(event, Error):
        if event.code in FRAME_ERRORS:
            return _dumps({"type": "error", "code": event.code, "message": event.text})
        return _from_server(linewire.event_text(event), event.code)
    if isinstance(event, HelpText):
        lines = [line for line in event.lines if not line.lstrip().startswith(("/join", "/part"))]
        return _from_server("\n".join(lines), "help")
    if isinstance(event, Notice):
        return _from_server(linewire.event_text(event), event.code)
    if isinstance(event, Moderated):
        return _from_server(linewire.event_text(event), "moderation")
    if isinstance(event, RoomTopic):
        return _from_server(linewire.event_text(event), "topic")
    if isinstance(event, WhoList | RoomList | NameChanged | RoomEntered):
        return _from_server(linewire.event_text(event), type(event).__name__.lower())
    return None
