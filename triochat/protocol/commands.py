"""Parsing of what a logged-in user types: chat text or a slash command.

:func:`parse_command` is shared by every text-based front end (the TCP line
transport and the interactive client), so the commands behave the same
everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from .names import name_problem


@dataclass(frozen=True, slots=True)
class Say:
    """Plain chat text for *room* (``None``: the current room)."""

    text: str
    room: str | None = None


@dataclass(frozen=True, slots=True)
class Action:
    """``/me text``: an action line for *room* (``None``: the current room)."""

    text: str
    room: str | None = None


@dataclass(frozen=True, slots=True)
class PrivateMessage:
    """``/msg NAME text``: a message only NAME sees."""

    target: str
    text: str


@dataclass(frozen=True, slots=True)
class JoinRoom:
    """``/join ROOM``: join a room (and make it the current one).

    *since* is the last position (epoch, seq) the user saw of the room, to
    get exactly what was said after it (protocol version 2).
    """

    room: str
    since: tuple[str, int] | None = None


@dataclass(frozen=True, slots=True)
class Part:
    """``/part [ROOM]``: leave *room* (``None``: the current room)."""

    room: str | None = None


@dataclass(frozen=True, slots=True)
class History:
    """Ask for up to *limit* messages of *room* older than *before* (``None``: the newest)."""

    room: str
    before: int | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class ListRooms:
    """``/rooms``: list the rooms."""


@dataclass(frozen=True, slots=True)
class Who:
    """``/who``: list who is in the current room."""


@dataclass(frozen=True, slots=True)
class Nick:
    """``/nick NEW``: change one's name."""

    name: str


@dataclass(frozen=True, slots=True)
class Help:
    """``/help``: list the commands."""


@dataclass(frozen=True, slots=True)
class Quit:
    """``QUIT`` or ``/quit``: end the session."""


@dataclass(frozen=True, slots=True)
class CommandError:
    """The input was a command that cannot be carried out; *message* says why."""

    message: str


Command = Say | Action | PrivateMessage | JoinRoom | Part | History | ListRooms | Who | Nick | Help | Quit

HELP_LINES: tuple[str, ...] = (
    "Commands:",
    "  /who              who is in this room",
    "  /msg NAME text    a private message to NAME",
    "  /me text          an action line",
    "  /say text         say text as it is (even QUIT)",
    "  /join ROOM        join ROOM (created if needed) and talk there",
    "  /part [ROOM]      leave ROOM (or the room you talk in)",
    "  /rooms            list the rooms (yours are marked)",
    "  /nick NEW         change your name",
    "  /help             this list",
    "  /quit or QUIT     leave the chat",
    "Start a line with // to send text that begins with /.",
)


def parse_command(text: str) -> Command | CommandError | None:
    """Parse one line of user input.

    Returns ``None`` for a blank line (to be ignored), a :class:`CommandError`
    for a malformed or unknown command, and a command object otherwise.
    """
    if not text.strip():
        return None
    if text == "QUIT":
        return Quit()
    if not text.startswith("/"):
        return Say(text)
    if text.startswith("//"):
        return Say(text[1:])
    word, _, rest = text[1:].partition(" ")
    verb = word.lower()
    rest = rest.strip()
    if verb == "quit":
        return Quit()
    if verb == "help":
        return Help()
    if verb == "who":
        return Who()
    if verb == "rooms":
        return ListRooms()
    if verb == "say":
        body = text[len(word) + 2 :]
        if not body.strip():
            return CommandError("usage: /say text")
        return Say(body)
    if verb == "me":
        if not rest:
            return CommandError("usage: /me text")
        return Action(rest)
    if verb == "msg":
        target, _, body = rest.partition(" ")
        body = body.strip()
        if not target or not body:
            return CommandError("usage: /msg NAME text")
        return PrivateMessage(target, body)
    if verb == "join":
        if not rest:
            return CommandError("usage: /join ROOM")
        room = rest[1:] if rest.startswith("#") else rest
        problem = name_problem(room, what="room name")
        if problem:
            return CommandError(problem)
        return JoinRoom(room)
    if verb == "part":
        if not rest:
            return Part()
        room = rest[1:] if rest.startswith("#") else rest
        problem = name_problem(room, what="room name")
        if problem:
            return CommandError(problem)
        return Part(room)
    if verb == "nick":
        if not rest or " " in rest:
            return CommandError("usage: /nick NEW")
        problem = name_problem(rest)
        if problem:
            return CommandError(problem)
        return Nick(rest)
    return CommandError(f"unknown command /{word}; type /help for the list")
