"""How chat events read as text lines (the TCP line transport's wire format).

One function per kind of line, so every text front end words things alike.
"""

from __future__ import annotations

from collections.abc import Iterable


def chat(sender: str, content: str) -> str:
    """A chat message: ``alice: hello``."""
    return f"{sender}: {content}"


def action(sender: str, content: str) -> str:
    """A ``/me`` action: ``* alice waves``."""
    return f"* {sender} {content}"


def private_in(sender: str, content: str) -> str:
    """A private message as its recipient sees it."""
    return f"[private] {sender}: {content}"


def private_out(target: str, content: str) -> str:
    """A private message as its sender sees it."""
    return f"[private to {target}] {content}"


def notice(text: str) -> str:
    """A server notice: ``*** text ***``."""
    return f"*** {text} ***"


def error(text: str) -> str:
    """An error line: ``error: text``."""
    return f"error: {text}"


def joined_chat(name: str) -> str:
    """Someone logged in."""
    return notice(f"{name} has joined the chat")


def left_chat(name: str, reason: str | None = None) -> str:
    """Someone logged out or was disconnected."""
    if reason:
        return notice(f"{name} has left the chat ({reason})")
    return notice(f"{name} has left the chat")


def joined_room(name: str, room: str) -> str:
    """Someone came into this room from another one."""
    return notice(f"{name} has joined #{room}")


def left_room(name: str, room: str) -> str:
    """Someone moved from this room to another one."""
    return notice(f"{name} has left #{room}")


def renamed(old: str, new: str) -> str:
    """Someone changed their name."""
    return notice(f"{old} is now known as {new}")


def who(room: str, names: Iterable[str]) -> str:
    """The answer to ``/who``."""
    listed = sorted(names)
    return notice(f"{len(listed)} in #{room}: {', '.join(listed)}")


def rooms(counts: Iterable[tuple[str, int]]) -> str:
    """The answer to ``/rooms``."""
    listed = ", ".join(f"#{room} ({count})" for room, count in counts)
    return notice(f"rooms: {listed}")


def welcome(name: str) -> str:
    """The first line after a successful login."""
    return f"Welcome {name}. Send QUIT or /quit to disconnect."


def goodbye(name: str) -> str:
    """The last line of a session the user ended."""
    return f"Goodbye {name}."


PROMPT_NAME = "Enter your name:"
SHUTTING_DOWN = notice("server is shutting down")
