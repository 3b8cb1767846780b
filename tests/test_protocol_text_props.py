"""Properties of text.py (what received text looks like) and names.py."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from triochat.protocol import text
from triochat.protocol.names import MAX_NAME_LENGTH, RESERVED_NAMES, name_problem

from .protocol_strategies import CHANGED, FORBIDDEN, PROPERTIES, hostile_text

LINE_BREAKS = re.compile(r"\r\n|\r|\n")


def one_safe_line(line: str) -> None:
    assert FORBIDDEN.search(line) is None, line
    assert line.splitlines() in ([line], []), line
    line.encode("utf-8")  # no lone surrogate left


@PROPERTIES
@given(hostile_text)
def test_printable_is_one_safe_line_and_idempotent(raw: str) -> None:
    shown = text.printable(raw)
    one_safe_line(shown)
    assert text.printable(shown) == shown
    if CHANGED.search(raw) is None:
        assert shown == raw
    else:
        assert shown != raw


@PROPERTIES
@given(hostile_text)
def test_display_lines_split_exactly_at_line_breaks(raw: str) -> None:
    lines = text.display_lines(raw)
    assert len(lines) == len(LINE_BREAKS.findall(raw)) + 1
    for line in lines:
        one_safe_line(line)
    assert lines == [text.printable(part) for part in LINE_BREAKS.split(raw)]


@PROPERTIES
@given(st.sampled_from(["alice: ", "* alice ", "[private] alice: ", "[private to bob] "]), hostile_text)
def test_framed_lines_start_with_the_head_or_the_continuation_marker(head: str, raw: str) -> None:
    first, *rest = text.framed(head, raw)
    if rest:
        assert first.startswith(f"({len(rest) + 1} lines) {head}")
    else:
        assert first.startswith(head)
    for line in (first, *rest):
        one_safe_line(line)
    assert all(line.startswith(text.CONTINUATION) for line in rest)


@PROPERTIES
@given(st.one_of(hostile_text, st.text(max_size=40)))
def test_valid_names_are_short_plain_ascii(name: str) -> None:
    problem = name_problem(name)
    assert problem is None or isinstance(problem, str)
    if problem is None:
        assert 1 <= len(name) <= MAX_NAME_LENGTH
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+", name)
        assert name.lower() not in RESERVED_NAMES
        assert text.printable(name) == name
        assert not any(c in name for c in " :*[]()|#,")
    room_problem = name_problem(name, what="room name")
    assert room_problem is None or room_problem.startswith(("room name", "the name"))
