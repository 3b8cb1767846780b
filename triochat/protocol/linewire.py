"""The TCP line transport's wire format: events as ``\\r\\n``-terminated text lines."""

from __future__ import annotations

from collections.abc import Iterable

from . import text
from .events import (
    ChatMessage,
    Error,
    Event,
    Goodbye,
    HelpText,
    HistoryPage,
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


def event_lines(event: Event) -> list[str]:
    """The lines *event* is shown as to a line-protocol user (no line ends).

    This is the one place that builds what line users read: every line is
    framed by the server and safe to show (see :mod:`triochat.protocol.text`);
    a message that spans lines becomes a head line and continuation lines.
    """
    if isinstance(event, ChatMessage):
        if event.action:
            return text.action(event.sender, event.content)
        return text.chat(event.sender, event.content)
    if isinstance(event, HistoryPage):
        return _elsewhere_lines(event.messages)
    if isinstance(event, PrivateChat):
        if event.outgoing:
            return text.private_out(event.target, event.content)
        return text.private_in(event.sender, event.content)
    if isinstance(event, HelpText):
        return [text.printable(line) for line in event.lines]
    return [_single_line(event)]


def _single_line(event: Event) -> str:
    if isinstance(event, Joined):
        if event.login:
            return text.joined_chat(event.name)
        return text.joined_room(event.name, event.room)
    if isinstance(event, Left):
        if event.logout:
            return text.left_chat(event.name, event.reason)
        return text.left_room(event.name, event.room)
    if isinstance(event, Renamed):
        return text.renamed(event.old, event.new)
    if isinstance(event, RoomEntered):
        return text.notice(f"you are in #{event.room} with {len(event.names)}: {', '.join(event.names)}")
    if isinstance(event, WhoList):
        return text.who(event.room, event.names)
    if isinstance(event, RoomList):
        return text.rooms(event.rooms, event.joined, event.current)
    if isinstance(event, Welcome):
        return text.welcome(event.name)
    if isinstance(event, Goodbye):
        return text.goodbye(event.name)
    if isinstance(event, NameChanged):
        return text.notice(f"you are now known as {event.name}")
    if isinstance(event, Notice):
        return text.notice(event.text)
    if isinstance(event, Error):
        return text.error(event.text)
    if isinstance(event, Moderated):
        return text.moderated(event.action, event.name, event.by, event.reason, event.duration, event.room)
    if isinstance(event, RoomTopic):
        return text.topic(event.room, event.text, event.by)
    raise TypeError(f"not an event: {event!r}")


def _elsewhere_lines(messages: Iterable[ChatMessage]) -> list[str]:
    lines: list[str] = []
    for message in messages:
        if message.action:
            lines += text.action(message.sender, message.content, message.room)
        else:
            lines += text.chat(message.sender, message.content, message.room)
    return lines


def event_text(event: Event) -> str:
    """The text of *event* as a line-protocol user reads it, lines joined by ``\\n``."""
    return "\n".join(event_lines(event))


def encode_elsewhere(event: Event) -> bytes:
    """Like :func:`encode_event`, for a reader whose current room is not the event's.

    A chat message then starts with its room (``[#dev] bob: hi``); every
    other event reads the same.
    """
    if isinstance(event, ChatMessage):
        return "".join(f"{line}\r\n" for line in _elsewhere_lines((event,))).encode("utf-8")
    return encode_event(event)


def encode_event(event: Event) -> bytes:
    """Encode *event* as one or more ``\\r\\n``-terminated lines of the line protocol."""
    # event_lines already made every line safe: no need to check them again.
    lines = event_lines(event)
    if len(lines) == 1:
        return (lines[0] + "\r\n").encode("utf-8")
    return "".join(f"{line}\r\n" for line in lines).encode("utf-8")
