"""How chat events read as text lines, and how received text is made safe to show.

One function per kind of line, so every text front end words things alike.
Every piece of text that did not come from the server's own wording passes
through :func:`printable` (one line) or :func:`display_lines` (a message that
may span lines) before it reaches a line-protocol user or a terminal: those
two functions are the one place that decides what a terminal may be sent.

The rules (see ``docs/protocol.md``):

* ``\\r\\n``, ``\\n`` and a lone ``\\r`` end a line of a message; each line
  after the first is shown as a *continuation line* that starts with
  :data:`CONTINUATION` (two spaces, ``|``, a space).  No other line the
  server sends starts with it, and no server-framed line starts with a space
  except the fixed lines of the help text, which start with two spaces and a
  ``/``.
* TAB becomes spaces up to the next multiple of :data:`TAB_SIZE` columns of
  its line.
* Every other character a terminal may act on, or that can make a line show
  differently than it reads, is shown as a Python-style escape (``\\x1b``,
  ``\\u202e``): the C0 controls, DEL and the C1 controls (U+0080-U+009F,
  among them NEL and CSI), the line and paragraph separators U+2028/U+2029,
  the bidirectional controls (the Unicode ``Bidi_Control`` set: U+061C,
  U+200E/U+200F, U+202A-U+202E, U+2066-U+2069), the invisible format
  characters U+200B, U+2060-U+2064, U+206A-U+206F, U+FEFF and U+FFF9-U+FFFB,
  and lone surrogates (which UTF-8 cannot carry).  Zero-width joiners and
  non-joiners, variation selectors and emoji tag characters are kept: they
  are needed to write some languages and emoji, and cannot move or hide text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .durations import format_duration

CONTINUATION = "  | "
"""The start of every line that continues a multi-line message."""

TAB_SIZE = 4
"""A TAB becomes spaces up to the next multiple of this many columns."""

_ESCAPED = (
    "\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f"  # C0 (but TAB, LF, CR), DEL, C1
    "\u061c\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f"
    "\ufeff\ufff9-\ufffb\ud800-\udfff"
)
_UNSAFE = re.compile(f"[{_ESCAPED}\t\n\r]")
_ESCAPE = re.compile(f"[{_ESCAPED}]")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _clean(line: str) -> str:
    """One line of text (no line breaks left in it) made safe to show."""
    if "\t" in line:
        line = line.expandtabs(TAB_SIZE)
    return _ESCAPE.sub(_escape, line)


def printable(text: str) -> str:
    """*text* as one line that is safe to show: controls escaped, TAB expanded.

    Line breaks are escaped too (``\\n``, ``\\r``), so the result is always
    exactly one line with no character a terminal acts on.  Text that needs
    no change is returned as it is.
    """
    if _UNSAFE.search(text) is None:
        return text
    return _clean(text.replace("\r", "\\r").replace("\n", "\\n"))


def display_lines(text: str) -> list[str]:
    """The lines *text* is shown as (at least one), each made safe as by :func:`printable`.

    ``\\r\\n``, ``\\n`` and a lone ``\\r`` separate lines; the caller shows
    every line after the first as a continuation line (see
    ``continued``).
    """
    if _UNSAFE.search(text) is None:
        return [text]
    return [_clean(line) for line in _LINE_BREAK.split(text)]


def continued(line: str) -> str:
    """A line (already made safe) shown as the continuation of the line above."""
    return CONTINUATION + line


def multi_line_head(count: int, first: str) -> str:
    """The first line of a message of *count* (> 1) lines: ``(3 lines) alice: hi``."""
    return f"({count} lines) {first}"


def framed(head: str, text: str) -> list[str]:
    """The lines that show server-framed *head* followed by user *text*.

    *head* is the server's own wording (``alice: ``, ``* alice ``); *text*
    may span lines.  A one-line text gives ``[head + text]``; a text of N
    lines gives :func:`multi_line_head` of the first and N - 1 continuation
    lines.  Every line is safe to show.
    """
    lines = display_lines(text)
    if len(lines) == 1:
        return [head + lines[0]]
    return [multi_line_head(len(lines), head + lines[0]), *map(continued, lines[1:])]


def room_mark(room: str | None) -> str:
    """What starts a line from a room that is not the reader's current one: ``[#dev] ``."""
    return f"[#{printable(room)}] " if room is not None else ""


def chat(sender: str, content: str, room: str | None = None) -> list[str]:
    """A chat message: ``alice: hello`` (``[#dev] alice: hello`` from another *room*)."""
    return framed(f"{room_mark(room)}{printable(sender)}: ", content)


def action(sender: str, content: str, room: str | None = None) -> list[str]:
    """A ``/me`` action: ``* alice waves`` (``[#dev] * alice waves`` from another *room*)."""
    return framed(f"{room_mark(room)}* {printable(sender)} ", content)


def private_in(sender: str, content: str) -> list[str]:
    """A private message as its recipient sees it: ``[private] alice: hi``."""
    return framed(f"[private] {printable(sender)}: ", content)


def private_out(target: str, content: str) -> list[str]:
    """A private message as its sender sees it: ``[private to bob] hi``."""
    return framed(f"[private to {printable(target)}] ", content)


def notice(text: str) -> str:
    """A server notice: ``*** text ***`` (always one line)."""
    return f"*** {printable(text)} ***"


def error(text: str) -> str:
    """An error line: ``error: text`` (always one line)."""
    return f"error: {printable(text)}"


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


ROOM_HERE = "here"
"""How ``/rooms`` marks the reader's current room."""

ROOM_JOINED = "joined"
"""How ``/rooms`` marks the reader's other rooms."""


def rooms(counts: Iterable[tuple[str, int]], joined: Iterable[str] = (), current: str | None = None) -> str:
    """The answer to ``/rooms``: ``#lobby (3) [here], #dev (1) [joined], #ops (2)``."""
    mine = set(joined)

    def entry(room: str, count: int) -> str:
        if room == current:
            return f"#{room} ({count}) [{ROOM_HERE}]"
        if room in mine:
            return f"#{room} ({count}) [{ROOM_JOINED}]"
        return f"#{room} ({count})"

    return notice(f"rooms: {', '.join(entry(room, count) for room, count in counts)}")


def history_start(room: str, count: int) -> str:
    """The line before the recent history a user gets on entering *room*."""
    return notice(f"the last {count} messages of #{room}" if count != 1 else f"the last message of #{room}")


def history_end(room: str) -> str:
    """The line after that history: what follows is live."""
    return notice(f"end of the history of #{room}")


def welcome(name: str) -> str:
    """The first line after a successful login."""
    return f"Welcome {printable(name)}. Send QUIT or /quit to disconnect."


def goodbye(name: str) -> str:
    """The last line of a session the user ended."""
    return f"Goodbye {printable(name)}."


_DONE = {"kick": "kicked", "ban": "banned", "unban": "unbanned", "mute": "muted", "unmute": "unmuted"}


def moderation_text(
    action: str,
    name: str,
    by: str,
    reason: str | None = None,
    duration: float | None = None,
    room: str | None = None,
) -> str:
    """What an operator did, in words: ``alice was banned by op for 2h (spam)`` (one line, unframed)."""
    words = f"{name} was {_DONE.get(action, action)}"
    if room is not None:
        words += f" in #{room}"
    words += f" by {by}"
    if action in ("ban", "mute"):
        words += f" for {format_duration(duration)}" if duration is not None else ""
        if action == "mute" and duration is None:
            words += " until unmuted"
    if reason:
        words += f" ({reason})"
    return words


def moderated(
    action: str,
    name: str,
    by: str,
    reason: str | None = None,
    duration: float | None = None,
    room: str | None = None,
) -> str:
    """The notice line of a moderation action: ``*** alice was kicked by op (spam) ***``.

    The reason is the operator's text: like all text, it is made safe and kept on one line.
    """
    return notice(moderation_text(action, name, by, reason, duration, room))


def topic(room: str, text: str, by: str | None = None) -> str:
    """A room's topic: shown on entering the room, or its change by *by*."""
    if by is not None:
        if not text:
            return notice(f"{by} cleared the topic of #{room}")
        return notice(f"{by} set the topic of #{room}: {text}")
    if not text:
        return notice(f"#{room} has no topic")
    return notice(f"topic of #{room}: {text}")


PROMPT_NAME = "Enter your name:"
SHUTTING_DOWN = notice("server is shutting down")
