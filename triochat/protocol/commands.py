"""Parsing of what a logged-in user types: chat text or a slash command.

:func:`parse_command` is shared by every text-based front end (the TCP line
transport and the interactive client), so the commands behave the same
everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .durations import looks_like_duration, parse_duration
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
class Kick:
    """``/kick NAME [reason]``: end NAME's connection (operators only)."""

    name: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Ban:
    """``/ban NAME [duration] [reason]``: keep NAME out for *duration* seconds
    (``None``: until unbanned), and end their connection (operators only)."""

    name: str
    duration: float | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Unban:
    """``/unban NAME``: lift NAME's ban (operators only)."""

    name: str


@dataclass(frozen=True, slots=True)
class Mute:
    """``/mute NAME [duration]``: NAME may not speak in *room* (``None``: the
    current room) for *duration* seconds (``None``: until unmuted); operators only."""

    name: str
    duration: float | None = None
    room: str | None = None


@dataclass(frozen=True, slots=True)
class Unmute:
    """``/unmute NAME``: NAME may speak again in *room* (``None``: the current room)."""

    name: str
    room: str | None = None


@dataclass(frozen=True, slots=True)
class Topic:
    """``/topic [text]``: show *room*'s topic (``text`` ``None``), or set it
    (operators only; ``""`` clears it).  *room* ``None``: the current room."""

    text: str | None = None
    room: str | None = None


ModerationCommand = Kick | Ban | Unban | Mute | Unmute | Topic
"""The commands of :mod:`triochat._moderation` (all but reading a topic are for operators)."""

MAX_REASON_LENGTH = 300
"""The longest kick or ban reason, in characters."""

MAX_TOPIC_LENGTH = 300
"""The longest room topic, in characters."""


@dataclass(frozen=True, slots=True)
class CommandError:
    """The input was a command that cannot be carried out; *message* says why."""

    message: str


Command = (
    Say
    | Action
    | PrivateMessage
    | JoinRoom
    | Part
    | History
    | ListRooms
    | Who
    | Nick
    | Help
    | Quit
    | Kick
    | Ban
    | Unban
    | Mute
    | Unmute
    | Topic
)

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
    "  /topic            show the topic of this room",
    "  /help             this list",
    "  /quit or QUIT     leave the chat",
    "Start a line with // to send text that begins with /.",
)

OPERATOR_HELP_LINES: tuple[str, ...] = (
    "Operator commands:",
    "  /kick NAME [reason]            disconnect NAME",
    "  /ban NAME [duration] [reason]  disconnect NAME and keep the name out (none: until /unban)",
    "  /unban NAME                    lift the ban on NAME",
    "  /mute NAME [duration]          NAME may not speak in this room (none: until /unmute)",
    "  /unmute NAME                   NAME may speak in this room again",
    "  /topic text                    set the topic of this room (/topic - clears it)",
    "Durations: 30s, 10m, 2h, 1d.",
)
"""What ``/help`` adds for operators (only they see these lines)."""


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
    if verb in _MODERATION:
        return _MODERATION[verb](rest)
    return CommandError(f"unknown command /{word}; type /help for the list")


def _target(rest: str, usage: str) -> tuple[str, str] | CommandError:
    """The NAME a moderation command starts with, and the rest of the line."""
    name, _, more = rest.partition(" ")
    if not name:
        return CommandError(f"usage: {usage}")
    problem = name_problem(name)
    if problem:
        return CommandError(problem)
    return name, more.strip()


def _reason(text: str) -> str | CommandError | None:
    if not text:
        return None
    if len(text) > MAX_REASON_LENGTH:
        return CommandError(f"a reason is at most {MAX_REASON_LENGTH} characters")
    return text


def _duration_first(text: str) -> tuple[float | None, str] | CommandError:
    """An optional duration at the start of *text*, and what follows it."""
    word, _, more = text.partition(" ")
    if not looks_like_duration(word):
        return None, text
    seconds = parse_duration(word)
    if isinstance(seconds, str):
        return CommandError(seconds)
    return seconds, more.strip()


def _kick(rest: str) -> Kick | CommandError:
    target = _target(rest, "/kick NAME [reason]")
    if isinstance(target, CommandError):
        return target
    reason = _reason(target[1])
    return reason if isinstance(reason, CommandError) else Kick(target[0], reason)


def _ban(rest: str) -> Ban | CommandError:
    target = _target(rest, "/ban NAME [duration] [reason]")
    if isinstance(target, CommandError):
        return target
    timed = _duration_first(target[1])
    if isinstance(timed, CommandError):
        return timed
    reason = _reason(timed[1])
    return reason if isinstance(reason, CommandError) else Ban(target[0], timed[0], reason)


def _unban(rest: str) -> Unban | CommandError:
    target = _target(rest, "/unban NAME")
    if isinstance(target, CommandError):
        return target
    return CommandError("usage: /unban NAME") if target[1] else Unban(target[0])


def _mute(rest: str) -> Mute | CommandError:
    target = _target(rest, "/mute NAME [duration]")
    if isinstance(target, CommandError):
        return target
    timed = _duration_first(target[1])
    if isinstance(timed, CommandError):
        return timed
    if timed[1]:
        return CommandError("usage: /mute NAME [duration], e.g. /mute bob 10m")
    return Mute(target[0], timed[0])


def _unmute(rest: str) -> Unmute | CommandError:
    target = _target(rest, "/unmute NAME")
    if isinstance(target, CommandError):
        return target
    return CommandError("usage: /unmute NAME") if target[1] else Unmute(target[0])


def _topic(rest: str) -> Topic | CommandError:
    if not rest:
        return Topic()
    if rest == "-":
        return Topic("")
    if len(rest) > MAX_TOPIC_LENGTH:
        return CommandError(f"a topic is at most {MAX_TOPIC_LENGTH} characters")
    return Topic(rest)


def moderation_line(command: ModerationCommand) -> str:
    """The line a user types for *command*: what :func:`parse_command` reads back as it.

    Raises :class:`ValueError` for what a line cannot say: a room (the line
    protocol acts in the current room), a duration that is not whole
    seconds' worth, or a reason that starts with a digit after no duration
    (it would read as a duration).
    """
    if getattr(command, "room", None) is not None:
        raise ValueError(f"/{type(command).__name__.lower()} acts in the current room on the line protocol")
    if isinstance(command, Topic):
        if command.text is None:
            return "/topic"
        if command.text == "-":
            raise ValueError("a line cannot set the topic '-' (/topic - clears it)")
        return f"/topic {command.text}" if command.text else "/topic -"
    if isinstance(command, Unban | Unmute):
        return f"/{type(command).__name__.lower()} {command.name}"
    words = [f"/{type(command).__name__.lower()}", command.name]
    if isinstance(command, Ban | Mute) and command.duration is not None:
        words.append(_duration_word(command.duration))
    reason = command.reason if isinstance(command, Kick | Ban) else None
    if reason:
        if isinstance(command, Ban) and command.duration is None and looks_like_duration(reason):
            raise ValueError("a ban reason that starts with a digit needs a duration before it")
        words.append(reason)
    return " ".join(words)


def _duration_word(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{math.ceil(seconds)}s"


_MODERATION = {
    "kick": _kick,
    "ban": _ban,
    "unban": _unban,
    "mute": _mute,
    "unmute": _unmute,
    "topic": _topic,
}
