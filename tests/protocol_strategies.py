"""Hypothesis strategies shared by the protocol property tests."""

from __future__ import annotations

import re

from hypothesis import settings
from hypothesis import strategies as st

from triochat.protocol.events import (
    ChatMessage,
    Error,
    Event,
    Goodbye,
    HelpText,
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
from triochat.protocol.names import name_problem

PROPERTIES = settings(max_examples=200, deadline=None)
"""Enough examples to find the edge cases, few enough to keep the suite fast."""

SPECIALS = (
    "\r",
    "\n",
    "\r\n",
    "\t",
    "\x00",
    "\x07",
    "\x0b",
    "\x0c",
    "\x1b",
    "\x1c",
    "\x1d",
    "\x1e",
    "\x7f",
    "\x85",
    "\x9b",
    "\u061c",
    "\u200b",
    "\u200d",
    "\u200e",
    "\u2028",
    "\u2029",
    "\u202e",
    "\u2066",
    "\u2069",
    "\ufeff",
    "\ufff9",
    "\ud800",
    "\udfff",
    "\\",
    "*** ",
    " ***",
    "[private] ",
    "error: ",
    "  | ",
    "(2 lines) ",
    "alice: ",
    "\U0001f600",
)

# Any code point, surrogates included, with the troublesome ones made likely.
hostile_text = st.lists(
    st.one_of(st.characters(codec=None, exclude_categories=()), st.sampled_from(SPECIALS)),
    max_size=40,
).map("".join)

names = st.from_regex(re.compile(r"[A-Za-z0-9_.\-]{1,32}"), fullmatch=True).filter(
    lambda name: name_problem(name) is None
)

FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
"""Characters no line sent to a line user or printed by the terminal client may hold."""

CHANGED = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f"
    "\ufeff\ufff9-\ufffb\ud800-\udfff]"
)
"""Characters that text.printable changes (as docs/protocol.md lists them); all others stay."""


def events(text: st.SearchStrategy[str] = hostile_text) -> st.SearchStrategy[Event]:
    """Every kind of event, with *text* wherever an event carries text."""
    some_names = st.lists(names, max_size=4).map(tuple)
    return st.one_of(
        st.builds(
            ChatMessage,
            id=st.integers(0, 2**53),
            timestamp=st.floats(0, 2e9, allow_nan=False),
            sender=names,
            room=names,
            content=text,
            agent=st.booleans(),
            action=st.booleans(),
        ),
        st.builds(PrivateChat, names, names, text, st.booleans(), st.booleans()),
        st.builds(Joined, names, names, st.booleans()),
        st.builds(Left, names, names, st.booleans(), st.none() | text),
        st.builds(Renamed, names, names),
        st.builds(RoomEntered, names, some_names),
        st.builds(WhoList, names, some_names),
        st.builds(RoomList, st.lists(st.tuples(names, st.integers(0, 10**6)), max_size=4).map(tuple)),
        st.builds(Welcome, names),
        st.builds(Goodbye, names),
        st.builds(NameChanged, names),
        st.builds(Notice, text, st.sampled_from(["notice", "shutdown", "text"])),
        st.builds(Error, st.sampled_from(["error", "bad_name"]), text),
        st.builds(HelpText, st.lists(text, max_size=4).map(tuple)),
        st.builds(
            Moderated,
            st.sampled_from(["kick", "ban", "unban", "mute", "unmute"]),
            names,
            names,
            st.none() | text,
            st.none() | st.floats(1, 3e7),
            st.none() | names,
        ),
        st.builds(RoomTopic, names, text, st.none() | names),
    )
