"""Reading the line protocol back into events (for line-protocol clients).

:func:`parse_server_line` is the inverse of
:func:`triochat.protocol.linewire.event_text` for every line a logged-in user
can receive.  Fields a line does not carry (a chat message's id, timestamp
and room) are left for the caller to fill in.  Names never contain spaces,
``:``, ``*`` or ``[``, and the names ``error`` and ``server`` are reserved,
so the forms cannot be confused.
"""

from __future__ import annotations

import re

from .events import (
    ChatMessage,
    Error,
    Event,
    Goodbye,
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

_N = r"[A-Za-z0-9_.\-]+"
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"\*\*\* ({_N}) has joined the chat \*\*\*"), "joined_chat"),
    (re.compile(rf"\*\*\* ({_N}) has left the chat(?: \((.*)\))? \*\*\*"), "left_chat"),
    (re.compile(rf"\*\*\* ({_N}) has joined #({_N}) \*\*\*"), "joined_room"),
    (re.compile(rf"\*\*\* ({_N}) has left #({_N}) \*\*\*"), "left_room"),
    (re.compile(rf"\*\*\* ({_N}) is now known as ({_N}) \*\*\*"), "renamed"),
    (re.compile(rf"\*\*\* you are in #({_N}) with \d+: (.*) \*\*\*"), "room"),
    (re.compile(rf"\*\*\* \d+ in #({_N}): (.*) \*\*\*"), "who"),
    (re.compile(r"\*\*\* rooms: (.*) \*\*\*"), "rooms"),
    (re.compile(rf"\*\*\* you are now known as ({_N}) \*\*\*"), "nick"),
    (re.compile(r"\*\*\* (.*) \*\*\*"), "notice"),
    (re.compile(rf"Welcome ({_N})\. Send QUIT or /quit to disconnect\."), "welcome"),
    (re.compile(rf"Goodbye ({_N})\."), "goodbye"),
    (re.compile(rf"\[private to ({_N})\] (.*)", re.S), "private_out"),
    (re.compile(rf"\[private\] ({_N}): (.*)", re.S), "private_in"),
    (re.compile(r"error: (.*)", re.S), "error"),
    (re.compile(rf"\* ({_N}) (.*)", re.S), "action"),
    (re.compile(rf"({_N}): (.*)", re.S), "chat"),
]


def _names(text: str) -> tuple[str, ...]:
    return tuple(n for n in text.split(", ") if n)


def parse_server_line(line: str, *, me: str = "") -> Event:
    """The event a line stands for; unrecognised lines become a :class:`Notice`.

    *me* is the reader's own name, the sender of ``[private to X]`` lines.
    """
    for pattern, kind in _PATTERNS:
        match = pattern.fullmatch(line)
        if match is None:
            continue
        g = match.groups()
        if kind == "joined_chat":
            return Joined(g[0], "", login=True)
        if kind == "left_chat":
            return Left(g[0], "", logout=True, reason=g[1])
        if kind == "joined_room":
            return Joined(g[0], g[1], login=False)
        if kind == "left_room":
            return Left(g[0], g[1], logout=False)
        if kind == "renamed":
            return Renamed(g[0], g[1])
        if kind == "room":
            return RoomEntered(g[0], _names(g[1]))
        if kind == "who":
            return WhoList(g[0], _names(g[1]))
        if kind == "rooms":
            pairs = re.findall(rf"#({_N}) \((\d+)\)", g[0])
            return RoomList(tuple((room, int(count)) for room, count in pairs))
        if kind == "nick":
            return NameChanged(g[0])
        if kind == "notice":
            code = "shutdown" if g[0] == "server is shutting down" else "notice"
            return Notice(g[0], code=code)
        if kind == "welcome":
            return Welcome(g[0])
        if kind == "goodbye":
            return Goodbye(g[0])
        if kind == "private_out":
            return PrivateChat(me, g[0], g[1], outgoing=True)
        if kind == "private_in":
            return PrivateChat(g[0], me, g[1])
        if kind == "error":
            return Error("error", g[0])
        if kind == "action":
            return ChatMessage(0, 0.0, g[0], "", g[1], action=True)
        return ChatMessage(0, 0.0, g[0], "", g[1])
    return Notice(line, code="text")
