"""Reading the line protocol back into events (for line-protocol clients).

:func:`parse_server_line` is the inverse of
:func:`triochat.protocol.linewire.event_text` for every line a logged-in user
can receive.  Fields a line does not carry (a chat message's id, timestamp
and, unless the line starts with ``[#room]``, its room) are left for the
caller to fill in (a message without a room is from the reader's current
room).  Names never contain spaces,
``:``, ``*`` or ``[``, and the names ``error`` and ``server`` are reserved,
so the forms cannot be confused.

A message that spans lines arrives as a head line ``(N lines) alice: first``
and N - 1 continuation lines that start with
:data:`~triochat.protocol.text.CONTINUATION`; :class:`ServerLineParser` puts
them back together into one event whose text has ``\\n`` between its lines.
Characters the server escaped (controls, see :mod:`triochat.protocol.text`)
stay escaped.
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
from .text import CONTINUATION, ROOM_HERE, ROOM_JOINED

_N = r"[A-Za-z0-9_.\-]+"
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"\*\*\* ({_N}) has joined the chat \*\*\*"), "joined_chat"),
    (re.compile(rf"\*\*\* ({_N}) has left the chat(?: \((.*)\))? \*\*\*"), "left_chat"),
    (re.compile(rf"\*\*\* ({_N}) has joined #({_N}) \*\*\*"), "joined_room"),
    (re.compile(rf"\*\*\* ({_N}) has left #({_N}) \*\*\*"), "left_room"),
    (re.compile(rf"\*\*\* ({_N}) is now known as ({_N}) \*\*\*"), "renamed"),
    (re.compile(rf"\*\*\* you are in #({_N}) with [0-9]+: (.*) \*\*\*"), "room"),
    (re.compile(rf"\*\*\* [0-9]+ in #({_N}): (.*) \*\*\*"), "who"),
    (re.compile(r"\*\*\* rooms: (.*) \*\*\*"), "rooms"),
    (re.compile(rf"\*\*\* you are now known as ({_N}) \*\*\*"), "nick"),
    (re.compile(r"\*\*\* (.*) \*\*\*", re.S), "notice"),
    (re.compile(rf"Welcome ({_N})\. Send QUIT or /quit to disconnect\."), "welcome"),
    (re.compile(rf"Goodbye ({_N})\."), "goodbye"),
    (re.compile(rf"\[private to ({_N})\] (.*)", re.S), "private_out"),
    (re.compile(rf"\[private\] ({_N}): (.*)", re.S), "private_in"),
    (re.compile(r"error: (.*)", re.S), "error"),
    (re.compile(rf"\[#({_N})\] \* ({_N}) (.*)", re.S), "room_action"),
    (re.compile(rf"\[#({_N})\] ({_N}): (.*)", re.S), "room_chat"),
    (re.compile(rf"\* ({_N}) (.*)", re.S), "action"),
    (re.compile(rf"({_N}): (.*)", re.S), "chat"),
]


def _names(text: str) -> tuple[str, ...]:
    return tuple(n for n in text.split(", ") if n)


def parse_server_line(line: str, *, me: str = "") -> Event:
    """The event a line stands for; unrecognised lines become a :class:`~triochat.protocol.events.Notice`.

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
            found = re.findall(rf"#({_N}) \(([0-9]{{1,18}})\)(?: \[({ROOM_HERE}|{ROOM_JOINED})\])?", g[0])
            return RoomList(
                tuple((room, int(count)) for room, count, _ in found),
                joined=tuple(room for room, _, mark in found if mark),
                current=next((room for room, _, mark in found if mark == ROOM_HERE), None),
            )
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
        if kind == "room_action":
            return ChatMessage(0, 0.0, g[1], g[0], g[2], action=True)
        if kind == "room_chat":
            return ChatMessage(0, 0.0, g[1], g[0], g[2])
        if kind == "action":
            return ChatMessage(0, 0.0, g[0], "", g[1], action=True)
        return ChatMessage(0, 0.0, g[0], "", g[1])
    return Notice(line, code="text")


MAX_PENDING_CHARS = 4 << 20
"""The most text :class:`ServerLineParser` holds for one unfinished message."""

_HEAD = re.compile(r"\(([1-9][0-9]{0,8}) lines\) (.*)", re.S)
_BARE_CONTINUATION = CONTINUATION.rstrip()


class ServerLineParser:
    """Turns the lines a server sends into events, joining continuation lines.

    Feed it each received line (without its line end) with :meth:`feed`; it
    returns the events the line completes: none while a multi-line message
    is still arriving, one usually, two when a line that does not continue
    an unfinished message arrives (the unfinished one is given as it is).
    It never raises, and holds at most ``MAX_PENDING_CHARS`` (4 Mi) characters of text.
    """

    __slots__ = ("_expected", "_held", "_me", "_parts", "max_pending_chars")

    def __init__(self, max_pending_chars: int = MAX_PENDING_CHARS) -> None:
        self.max_pending_chars = max_pending_chars
        self._parts: list[str] = []
        self._expected = 0
        self._held = 0
        self._me = ""

    @property
    def pending(self) -> bool:
        """True while a multi-line message is incomplete."""
        return self._expected > 0

    def feed(self, line: str, *, me: str = "") -> list[Event]:
        """The events *line* completes; *me* is the reader's own name."""
        if self._expected:
            if line.startswith(CONTINUATION) or line == _BARE_CONTINUATION:
                part = line[len(CONTINUATION) :]
                self._parts.append(part)
                self._held += len(part)
                if len(self._parts) >= self._expected or self._held > self.max_pending_chars:
                    return [self._finish()]
                return []
            return [self._finish(), *self.feed(line, me=me)]
        head = _HEAD.fullmatch(line)
        if head is not None and int(head[1]) > 1:
            self._expected = int(head[1])
            self._parts = [head[2]]
            self._held = len(head[2])
            self._me = me
            return []
        return [parse_server_line(line, me=me)]

    def _finish(self) -> Event:
        text = "\n".join(self._parts)
        self._parts = []
        self._expected = self._held = 0
        return parse_server_line(text, me=self._me)
