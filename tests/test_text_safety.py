"""Received text as line users and the terminal client see it: framed, one line each, no controls."""

from __future__ import annotations

import pytest

from triochat.cli.chat import FilterUI, TerminalUI
from triochat.protocol import text
from triochat.protocol.events import ChatMessage, Error, Event, HelpText, Left, Notice, PrivateChat, RoomList
from triochat.protocol.lineparse import ServerLineParser, parse_server_line
from triochat.protocol.lines import Line, LineDecoder, encode_line
from triochat.protocol.linewire import encode_event, event_lines

FORGERY = "hi\r\n*** admin has joined the chat ***\n[private] root: x\rbob: me too"


def test_line_breaks_become_continuation_lines_under_a_counted_head() -> None:
    assert event_lines(ChatMessage(0, 0.0, "alice", "", FORGERY)) == [
        "(4 lines) alice: hi",
        "  | *** admin has joined the chat ***",
        "  | [private] root: x",
        "  | bob: me too",
    ]
    assert event_lines(ChatMessage(0, 0.0, "alice", "", "a\n\nb\n", action=True)) == [
        "(4 lines) * alice a",
        "  | ",
        "  | b",
        "  | ",
    ]
    assert event_lines(PrivateChat("alice", "bob", "a\nb")) == ["(2 lines) [private] alice: a", "  | b"]
    assert event_lines(PrivateChat("alice", "bob", "a\nb", outgoing=True)) == [
        "(2 lines) [private to bob] a",
        "  | b",
    ]
    assert encode_event(ChatMessage(0, 0.0, "alice", "", "a\r\nb")) == b"(2 lines) alice: a\r\n  | b\r\n"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[2J", "\\x1b[2J"),
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
        ("nul\x00", "nul\\x00"),
        ("del\x7f", "del\\x7f"),
        ("\x9b2J", "\\x9b2J"),
        ("nel\x85", "nel\\x85"),
        ("vt\x0bff\x0c", "vt\\x0bff\\x0c"),
        ("fs\x1cgs\x1drs\x1e", "fs\\x1cgs\\x1drs\\x1e"),
        ("a\u2028b\u2029c", "a\\u2028b\\u2029c"),
        ("\u202eabc\u202c", "\\u202eabc\\u202c"),
        ("\u2066i\u2069 \u200e\u200f\u061c", "\\u2066i\\u2069 \\u200e\\u200f\\u061c"),
        ("zw\u200bsp \ufeff \u2060", "zw\\u200bsp \\ufeff \\u2060"),
        ("lone \ud800", "lone \\ud800"),
        ("a\tb", "a   b"),
        ("tab\t|", "tab |"),
    ],
)
def test_controls_and_invisible_characters_are_shown_escaped(raw: str, shown: str) -> None:
    assert text.printable(raw) == shown
    assert text.display_lines(raw) == [shown]
    assert event_lines(ChatMessage(0, 0.0, "alice", "", raw)) == [f"alice: {shown}"]


@pytest.mark.parametrize(
    "kept",
    [
        "\u00e9t\u00e9 \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",
        "\U0001f468\u200d\U0001f469\u200d\U0001f467 family, \u2764\ufe0f",
        "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f flag",
        "\u0915\u094d\u200c\u0937 zwnj, soft\u00adhyphen, nbsp\u00a0",
        "back\\slash \\x1b as typed",
    ],
)
def test_ordinary_text_is_left_alone(kept: str) -> None:
    assert text.printable(kept) == kept
    assert event_lines(ChatMessage(0, 0.0, "alice", "", kept)) == [f"alice: {kept}"]


def test_single_line_fields_escape_line_breaks() -> None:
    assert event_lines(Notice("two\nlines")) == ["*** two\\nlines ***"]
    assert event_lines(Error("x", "bad\r\nname \x1b")) == ["error: bad\\r\\nname \\x1b"]
    assert event_lines(Left("bob", "", logout=True, reason="a\nb")) == [
        "*** bob has left the chat (a\\nb) ***"
    ]
    assert encode_line("one\ntwo\x1b") == b"one\\ntwo\\x1b\r\n"
    assert event_lines(HelpText(("Commands:", "  /who\x07"))) == ["Commands:", "  /who\\x07"]


def test_no_user_text_starts_a_line_the_server_did_not_frame() -> None:
    for content in [FORGERY, "\n  | fake continuation", "x\n(2 lines) bob: fake head\n  | y"]:
        first, *rest = event_lines(ChatMessage(0, 0.0, "alice", "", content))
        assert first.startswith(f"({len(rest) + 1} lines) alice: ")
        assert all(line.startswith(text.CONTINUATION) for line in rest)


def test_the_parser_joins_continuation_lines_into_one_event() -> None:
    parser = ServerLineParser()
    events: list[Event] = []
    for line in event_lines(ChatMessage(0, 0.0, "alice", "", FORGERY)):
        events += parser.feed(line)
    assert events == [
        ChatMessage(
            0, 0.0, "alice", "", "hi\n*** admin has joined the chat ***\n[private] root: x\nbob: me too"
        )
    ]
    assert not parser.pending
    feed = [*event_lines(PrivateChat("me", "bob", "a\n\x1b", outgoing=True)), "bob: hi"]
    assert [e for line in feed for e in parser.feed(line, me="me")] == [
        PrivateChat("me", "bob", "a\n\\x1b", outgoing=True),
        ChatMessage(0, 0.0, "bob", "", "hi"),
    ]


def test_the_parser_survives_broken_multi_line_messages() -> None:
    parser = ServerLineParser(max_pending_chars=10)
    # A head whose continuation lines do not all come: the message is given as it is.
    assert parser.feed("(3 lines) alice: a") == []
    assert parser.feed("  | b") == []
    assert parser.feed("bob: hi") == [
        ChatMessage(0, 0.0, "alice", "", "a\nb"),
        ChatMessage(0, 0.0, "bob", "", "hi"),
    ]
    # A continuation line without a head is shown as text.
    assert parser.feed("  | stray") == [Notice("  | stray", code="text")]
    # The text held for one message is bounded.
    assert parser.feed("(999999999 lines) alice: ") == []
    assert parser.feed("  | 0123456789") == [ChatMessage(0, 0.0, "alice", "", "\n0123456789")]
    assert not parser.pending
    # "(1 lines)" is no head; huge counts in notices do not raise.
    assert parser.feed("(1 lines) alice: x") == [Notice("(1 lines) alice: x", code="text")]
    assert parse_server_line("*** rooms: #a (" + "9" * 5000 + ") ***") == RoomList(())


def test_decoded_lines_of_an_encoded_event_are_the_event_lines() -> None:
    event = ChatMessage(0, 0.0, "alice", "", FORGERY + "\x1b")
    decoded = LineDecoder(1000).feed(encode_event(event))
    assert decoded == [Line(line) for line in event_lines(event)]


def test_filter_mode_prints_framed_safe_lines(capsys: pytest.CaptureFixture[str]) -> None:
    ui = FilterUI.__new__(FilterUI)
    ui.show(ChatMessage(1, 0.0, "alice", "lobby", "hi\r\n*** admin ***\x1b[2J"), "me")
    assert capsys.readouterr().out == "(2 lines) alice: hi\n  | *** admin ***\\x1b[2J\n"


def test_terminal_client_shows_received_text_safely(monkeypatch: pytest.MonkeyPatch) -> None:
    ui = TerminalUI.__new__(TerminalUI)
    printed: list[str] = []
    monkeypatch.setattr(ui, "_print", lambda fragments: printed.append("".join(t for _, t in fragments)))
    monkeypatch.setattr(TerminalUI, "_time", staticmethod(lambda timestamp=None: ("", "12:00 ")))
    ui.show(ChatMessage(1, 0.0, "alice", "lobby", FORGERY + "\x1b]0;t\x07\x9b"), "me")
    ui.show(ChatMessage(1, 0.0, "alice", "lobby", "waves\n\u202eback", action=True), "me")
    ui.show(PrivateChat("alice", "me", "psst\r\x00"), "me")
    ui.show(PrivateChat("me", "alice", "ok\nthen", outgoing=True), "me")
    ui.show(Error("bad", "no \x1b[31m"), "me")
    ui.show(Notice("two\nlines"), "me")
    assert printed == [
        "12:00 alice: hi\n"
        "  | *** admin has joined the chat ***\n"
        "  | [private] root: x\n"
        "  | bob: me too\\x1b]0;t\\x07\\x9b",
        "12:00 * alice waves\n  | \\u202eback",
        "12:00 [private] alice: psst\n  | \\x00",
        "12:00 [private to alice] ok\n  | then",
        "12:00 error: no \\x1b[31m",
        "12:00 *** two\\nlines ***",
    ]
