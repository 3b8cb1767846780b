"""parse_server_line undoes linewire.event_text."""

import dataclasses

import pytest

from triochat.protocol.events import (
    SHUTDOWN,
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
from triochat.protocol.lineparse import parse_server_line
from triochat.protocol.linewire import event_text
from triochat.protocol.names import name_problem

EVENTS: list[Event] = [
    ChatMessage(0, 0.0, "alice", "", "hello: world *** [private] x"),
    ChatMessage(0, 0.0, "alice", "", "waves", action=True),
    PrivateChat("bob", "me", "psst: hi"),
    PrivateChat("me", "bob", "psst", outgoing=True),
    Joined("bob", "", login=True),
    Joined("bob", "dev", login=False),
    Left("bob", "", logout=True),
    Left("bob", "", logout=True, reason="too slow: outbox overflow"),
    Left("bob", "dev", logout=False),
    Renamed("bob", "robert"),
    RoomEntered("dev", ("alice", "bob")),
    WhoList("lobby", ("alice", "bob", "carol")),
    RoomList((("lobby", 2), ("dev", 1))),
    Welcome("alice"),
    Goodbye("alice"),
    NameChanged("al"),
    Notice("you are already in #dev"),
    SHUTDOWN,
    Error("error", "the name bob is taken"),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_round_trip(event: Event) -> None:
    assert parse_server_line(event_text(event), me="me") == event


def test_error_codes_are_not_carried_by_lines() -> None:
    parsed = parse_server_line(event_text(Error("no_such_user", "there is no user named x")))
    assert parsed == Error("error", "there is no user named x")


def test_unknown_text_is_a_notice_and_chat_fields_are_blank() -> None:
    assert parse_server_line("triochat 0.1.0: a Trio group chat.") == Notice(
        "triochat 0.1.0: a Trio group chat.", code="text"
    )
    message = parse_server_line("bob: hi")
    assert isinstance(message, ChatMessage)
    assert dataclasses.astuple(message)[:4] == (0, 0.0, "bob", "")


def test_reserved_names() -> None:
    assert name_problem("error") == "the name error is reserved"
    assert name_problem("Server") is not None
    assert name_problem("error", what="room name") is None
