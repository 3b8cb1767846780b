"""Properties of the line wire format (linewire.py) and its parser (lineparse.py)."""

from __future__ import annotations

import dataclasses

from hypothesis import example, given
from hypothesis import strategies as st

from triochat.protocol import text
from triochat.protocol.events import ChatMessage, Event, HelpText, PrivateChat, RoomList
from triochat.protocol.lineparse import ServerLineParser, parse_server_line
from triochat.protocol.lines import Line, LineDecoder
from triochat.protocol.linewire import encode_elsewhere, encode_event, event_lines, event_text

from .protocol_strategies import FORBIDDEN, PROPERTIES, events, hostile_text, names

SERVER_STARTS = ("(", "*", "[", "error: ", "Welcome ", "Goodbye ", "Commands:")


@PROPERTIES
@given(events())
def test_every_event_encodes_as_safe_lines(event: Event) -> None:
    lines = event_lines(event)
    assert lines or event == HelpText(())
    data = encode_event(event)
    assert data.endswith(b"\r\n") or data == b""
    assert data.count(b"\r") == data.count(b"\n") == data.count(b"\r\n") == len(lines)
    assert LineDecoder(len(data) + 1).feed(data) == [Line(line) for line in lines]
    for line in lines:
        assert FORBIDDEN.search(line) is None, line
        assert line.splitlines() in ([line], [])
    assert event_text(event) == "\n".join(lines)


@PROPERTIES
@given(events())
def test_only_continuation_lines_and_help_start_with_a_space(event: Event) -> None:
    first, *rest = event_lines(event) or [""]
    if isinstance(event, ChatMessage | PrivateChat):
        assert not first.startswith(" ")
        assert all(line.startswith(text.CONTINUATION) for line in rest)
        if rest:
            assert first.startswith(f"({len(rest) + 1} lines) ")
    elif not isinstance(event, HelpText):
        assert not rest
        assert first.startswith(SERVER_STARTS)


def chat_events() -> st.SearchStrategy[Event]:
    return st.one_of(
        st.builds(
            ChatMessage,
            st.just(0),
            st.just(0.0),
            names,
            st.just(""),
            hostile_text,
            st.just(False),
            st.booleans(),
        ),
        st.builds(PrivateChat, names, st.just("me"), hostile_text),
        st.builds(PrivateChat, st.just("me"), names, hostile_text, st.just(True)),
    )


@PROPERTIES
@given(st.lists(chat_events(), min_size=1, max_size=4))
def test_chat_round_trips_through_lines_as_one_event_each(sent: list[Event]) -> None:
    parser = ServerLineParser()
    received: list[Event] = []
    for event in sent:
        for line in event_lines(event):
            received += parser.feed(line, me="me")
    assert not parser.pending
    expected = []
    for event in sent:
        assert isinstance(event, ChatMessage | PrivateChat)
        shown = "\n".join(text.display_lines(event.content))
        expected.append(dataclasses.replace(event, content=shown))
    assert received == expected


@PROPERTIES
@given(st.lists(hostile_text | st.sampled_from(["  | x", "(3 lines) a: b", "(2 lines) ", "  |"]), max_size=8))
@example(["*** rooms: #a (" + "9" * 5000 + ") ***"])
@example(["(3 lines) alice: a", "  | b", "bob: c", "  | stray"])
def test_the_parser_takes_any_lines(lines: list[str]) -> None:
    parser = ServerLineParser(max_pending_chars=50)
    count = 0
    for line in lines:
        got = parser.feed(line)
        assert len(got) <= 2
        count += len(got)
        parse_server_line(line)
    assert count <= len(lines)


@PROPERTIES
@given(st.lists(st.tuples(chat_events(), names), min_size=1, max_size=4))
def test_chat_from_another_room_round_trips_with_its_room(sent: list[tuple[Event, str]]) -> None:
    parser = ServerLineParser()
    received: list[Event] = []
    expected: list[Event] = []
    for event, room in sent:
        if isinstance(event, ChatMessage):
            event = dataclasses.replace(event, room=room)
            data = encode_elsewhere(event)
        else:
            data = encode_event(event)
        lines = [line.text for line in LineDecoder(len(data) + 1).feed(data) if isinstance(line, Line)]
        for line in lines:
            assert FORBIDDEN.search(line) is None, line
        if isinstance(event, ChatMessage):
            assert lines[0].startswith(f"[#{room}] ") or lines[0].startswith(
                f"({len(lines)} lines) [#{room}] "
            )
            assert all(line.startswith(text.CONTINUATION) for line in lines[1:])
        for line in lines:
            received += parser.feed(line, me="me")
        assert isinstance(event, ChatMessage | PrivateChat)
        shown = "\n".join(text.display_lines(event.content))
        expected.append(dataclasses.replace(event, content=shown))
    assert not parser.pending
    assert received == expected


@PROPERTIES
@given(hostile_text, names, names)
def test_no_text_forges_a_room_mark(content: str, sender: str, room: str) -> None:
    # Only the server's own framing starts a line with "[#": never a sender's text.
    for event in (ChatMessage(0, 0.0, sender, room, content), PrivateChat(sender, "me", content)):
        for line in event_lines(event):
            assert not line.startswith("[#")


@PROPERTIES
@given(
    st.lists(st.tuples(names, st.integers(0, 10**6)), max_size=5, unique_by=lambda t: t[0].lower()), st.data()
)
def test_the_room_list_marks_ones_rooms_and_reads_back(
    counts: list[tuple[str, int]], data: st.DataObject
) -> None:
    rooms = [room for room, _ in counts]
    joined = data.draw(st.lists(st.sampled_from(rooms), unique=True) if rooms else st.just([]))
    current = data.draw(st.sampled_from(joined)) if joined else None
    event = RoomList(tuple(counts), tuple(joined), current)
    parsed = parse_server_line(text.rooms(event.rooms, event.joined, event.current))
    assert isinstance(parsed, RoomList)
    assert parsed.rooms == event.rooms
    assert set(parsed.joined) == set(joined)
    assert parsed.current == current
