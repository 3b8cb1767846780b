"""What the server tells clients, independent of any wire format.

The broadcaster builds one of these per outgoing message and asks each wire
format present among the recipients to encode it once (see
:func:`triochat.protocol.linewire.encode_event` for the line format).
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
    """

    id: int
    timestamp: float
    sender: str
    room: str
    content: str
    agent: bool = False
    action: bool = False


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
    """Sent to a user who entered *room*: who is there now."""

    room: str
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WhoList:
    """The answer to a who-is-here question."""

    room: str
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RoomList:
    """The answer to a room-list question: ``(room, member count)`` pairs."""

    rooms: tuple[tuple[str, int], ...]


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
)
