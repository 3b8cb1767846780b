"""Properties of the line framing (lines.py): bounded, chunking-independent, one line out."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from triochat.protocol import text
from triochat.protocol.lines import InvalidUtf8, Line, LineDecoder, LineEvent, LineTooLong, encode_line

from .protocol_strategies import FORBIDDEN, PROPERTIES, hostile_text

chunks = st.lists(st.binary(max_size=64) | st.sampled_from([b"\n", b"\r\n", b"\r", b"\xff", b"\xc3"]))


def feed_all(decoder: LineDecoder, parts: list[bytes]) -> list[LineEvent]:
    events: list[LineEvent] = []
    for part in parts:
        events += decoder.feed(part)
        assert decoder.buffered <= decoder.max_line_bytes + 1
    return events


@PROPERTIES
@given(chunks, st.integers(1, 40))
def test_decoder_never_raises_stays_bounded_and_ignores_chunking(parts: list[bytes], limit: int) -> None:
    events = feed_all(LineDecoder(limit), parts)
    joined = b"".join(parts)
    assert feed_all(LineDecoder(limit), [joined]) == events
    assert feed_all(LineDecoder(limit), [bytes([b]) for b in joined]) == events
    for event in events:
        assert isinstance(event, Line | LineTooLong | InvalidUtf8)
        if isinstance(event, Line):
            assert "\n" not in event.text
            assert len(event.text.encode()) <= limit


@PROPERTIES
@given(st.lists(st.text(max_size=20).filter(lambda s: "\n" not in s and not s.endswith("\r"))))
def test_decoder_gives_back_the_lines_it_was_sent(lines: list[str]) -> None:
    data = b"".join(line.encode() + b"\r\n" for line in lines)
    assert LineDecoder(100).feed(data) == [Line(line) for line in lines]


@PROPERTIES
@given(hostile_text)
def test_encode_line_is_exactly_one_safe_line(raw: str) -> None:
    data = encode_line(raw)
    assert data.endswith(b"\r\n") and data.count(b"\n") == 1 and data.count(b"\r") == 1
    line = data[:-2].decode("utf-8")
    assert FORBIDDEN.search(line) is None
    assert line.splitlines() in ([line], [])
    assert line == text.printable(raw)
    assert LineDecoder(len(data)).feed(data) == [Line(line)]


def test_decoder_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        LineDecoder(0)
