"""What the server tells clients, independent of any wire format.

The broadcaster builds one of these per outgoing message and asks each wire
format present among the recipients to encode it once (see
``triochat.protocol.linewire.encode_event`` for the line format).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """A chat message as the handler chain and clients see it.

    ``id`` grows by one per message on a server; ``timestamp`` is seconds since
    the epoch when the server accepted it; ``agent`` marks messages from bots
    and applications; ``action`` marks ``/me`` lines.  Middleware replaces a
    message with :func:`dataclasses.replace`.

    ``seq`` and ``epoch`` are the message's position in its room's log
    (``seq`` grows by one per message of the room within an ``epoch``); they
    are given when the message is sent out, after the handler chain, so
    handlers see ``seq`` 0.  ``history`` marks a message sent again from the
    room's log (to a user who joined or reconnected), whose ``id`` is 0.
    """

    id: int
    timestamp: float
    sender: str
    room: str
    content: str
    agent: bool = False
    action: bool = False
    seq: int = 0
    epoch: str = ""
    history: bool = False


@dataclass(frozen=True, slots=True)
class PrivateChat:
    """A private message; ``outgoing`` is the copy its sender gets back."""

    sender: str
    target: str
    content: str
    outgoing: bool = False
    agent: bool = False


@dataclass(frozen=True, slots=True)
class Joined:
    """*name* came into *room*; ``login`` when it is their first room."""

    name: str
    room: str
    login: bool


@dataclass(frozen=True, slots=True)
class Left:
    """*name* left *room*; ``logout`` when they left the server.

    ``reason`` says why a connection ended when the user did not choose to.
    """

    name: str
    room: str
    logout: bool
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Renamed:
    """*old* is now called *new*."""

    old: str
    new: str


@dataclass(frozen=True, slots=True)
class RoomEntered:
    """Sent to a user who entered *room*: who is there now.

    ``epoch`` and ``seq`` are the room's newest position when the user
    entered; ``recovered`` is true when the user asked to resume from a
    position and gets every message after it (protocol version 2).
    """

    room: str
    names: tuple[str, ...]
    epoch: str = ""
    seq: int = 0
    recovered: bool = False


@dataclass(frozen=True, slots=True)
class WhoList:
    """The answer to a who-is-here question."""

    room: str
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RoomList:
    """The answer to a room-list question: ``(room, member count)`` pairs.

    ``joined`` are the asker's rooms, ``current`` the one it talks in.
    """

    rooms: tuple[tuple[str, int], ...]
    joined: tuple[str, ...] = ()
    current: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """The answer to a history question: earlier messages of *room*, oldest first."""

    room: str
    messages: tuple[ChatMessage, ...]


@dataclass(frozen=True, slots=True)
class Welcome:
    """Sent once to a user who has logged in."""

    name: str


@dataclass(frozen=True, slots=True)
class Goodbye:
    """Sent to a user who asked to leave."""

    name: str


@dataclass(frozen=True, slots=True)
class NameChanged:
    """Sent to a user whose own name changed."""

    name: str


@dataclass(frozen=True, slots=True)
class Notice:
    """A server notice; ``code`` is a stable machine-readable tag."""

    text: str
    code: str = "notice"


@dataclass(frozen=True, slots=True)
class Error:
    """Something the user did failed; ``code`` is stable, ``text`` for humans."""

    code: str
    text: str


@dataclass(frozen=True, slots=True)
class HelpText:
    """Several lines of help for the user."""

    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Moderated:
    """An operator (or the server) acted on *name*; everyone concerned is told.

    ``action`` is ``"kick"``, ``"ban"``, ``"unban"``, ``"mute"`` or
    ``"unmute"``; ``by`` is who did it (an operator's name, or ``server``);
    ``duration`` is in seconds (``None``: until lifted); ``room`` is the room
    of a mute (``None`` for the others).
    """

    action: str
    name: str
    by: str
    reason: str | None = None
    duration: float | None = None
    room: str | None = None


@dataclass(frozen=True, slots=True)
class RoomTopic:
    """*room*'s topic (``""``: none), shown on entering the room and when it changes.

    ``by`` is who set it when it just changed, ``None`` when it is only shown.
    """

    room: str
    text: str
    by: str | None = None


SHUTDOWN = Notice("server is shutting down", code="shutdown")

Event = (
    ChatMessage
    | PrivateChat
    | Joined
    | Left
    | Renamed
    | RoomEntered
    | WhoList
    | RoomList
    | Welcome
    | Goodbye
    | NameChanged
    | Notice
    | Error
    | HelpText
    | HistoryPage
    | Moderated
    | RoomTopic
)
