"""Wire compatibility with the ``group-terminal`` package's WebSocket protocol.

Its client connects to ``/ws/{username}``, sends ``{"type": "connect",
"username": NAME}``, then ``{"type": "chat_message", "content": TEXT}``
frames; it shows ``chat_message`` frames and ignores every other type, so the
server also sends join, leave, notice and error frames that richer clients
can use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from . import commands
from .events import ChatMessage, Error, Event, Joined, Left, Notice, PrivateChat, Renamed
from .jsonwire import FrameError, load_json, text_problem, utf8_safe

PATH_PREFIX = "/ws/"


@dataclass(frozen=True, slots=True)
class Connect:
    """The ``connect`` frame that opens a group-terminal session."""

    username: str | None


def _dumps(obj: dict[str, Any]) -> str:
    return utf8_safe(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))


def connect_response(success: bool, message: str) -> str:
    """The server's answer to ``connect``."""
    return _dumps({"type": "connect_response", "success": success, "message": message})


def decode_client_frame(text: str | bytes) -> Connect | commands.Say | FrameError | None:
    """Decode a frame from a group-terminal client; ``None`` for blank content."""
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
        return commands.Say(content)
    return FrameError("unknown_type", f"unknown frame type '{kind}'")


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
        return _dumps(
            {
                "type": "private_message",
                "content": event.content,
                "sender": event.sender,
                "target": event.target,
                "agent": event.agent,
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
    if isinstance(event, Notice):
        return _dumps({"type": "notice", "code": event.code, "message": event.text})
    if isinstance(event, Error):
        return _dumps({"type": "error", "code": event.code, "message": event.text})
    return None
