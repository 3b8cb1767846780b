"""Line framing for the raw TCP transport.

:class:`LineDecoder` turns received bytes into :data:`LineEvent` objects.  A
line ends at ``\\n``; a ``\\r`` right before it is dropped, so both ``\\r\\n``
and ``\\n`` end a line.  A line longer than the limit is reported once as
:class:`LineTooLong` and the rest of it, up to its end, is discarded; bytes
that are not UTF-8 are reported as :class:`InvalidUtf8`.  Memory held by the
decoder never exceeds the limit plus one received chunk.
"""

from __future__ import annotations

from dataclasses import dataclass

from .text import printable

DEFAULT_MAX_LINE_BYTES = 4096


@dataclass(frozen=True, slots=True)
class Line:
    """One complete, decoded line, without its line ending."""

    text: str


@dataclass(frozen=True, slots=True)
class LineTooLong:
    """A line exceeded the limit; it has been (or is being) discarded."""

    limit: int


@dataclass(frozen=True, slots=True)
class InvalidUtf8:
    """A complete line was not valid UTF-8; it has been discarded."""


LineEvent = Line | LineTooLong | InvalidUtf8


class LineDecoder:
    """Incremental, bounded line splitter.

    Feed it bytes with :meth:`feed`; it returns the events completed by them,
    in order.
    """

    __slots__ = ("_buffer", "_discarding", "max_line_bytes")

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be at least 1")
        self.max_line_bytes = max_line_bytes
        self._buffer = b""
        self._discarding = False

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete line."""
        return len(self._buffer)

    def feed(self, data: bytes | bytearray) -> list[LineEvent]:
        """Add received bytes and return the events they complete."""
        events: list[LineEvent] = []
        if self._buffer:
            data = self._buffer + data
            self._buffer = b""
        elif isinstance(data, bytearray):
            data = bytes(data)
        start = 0
        limit = self.max_line_bytes
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            if self._discarding:
                # The tail of an over-long line: drop it, it was reported.
                self._discarding = False
            else:
                stop = end
                if stop > start and data[stop - 1] == 0x0D:
                    stop -= 1
                if stop - start > limit:
                    events.append(LineTooLong(limit))
                else:
                    try:
                        events.append(Line(data[start:stop].decode("utf-8")))
                    except UnicodeDecodeError:
                        events.append(InvalidUtf8())
            start = end + 1
        rest = len(data) - start
        if self._discarding:
            return events
        # Allow one extra byte for a "\r" that may precede the "\n".
        if rest > limit + 1:
            events.append(LineTooLong(limit))
            self._discarding = True
        elif rest:
            self._buffer = bytes(data[start:])
        return events


def encode_line(text: str) -> bytes:
    """Encode one outgoing line, terminated by ``\\r\\n``.

    The line is made safe first (:func:`~triochat.protocol.printable`):
    line breaks and control characters in *text* are escaped, so the result
    is always exactly one line that a terminal shows as it reads.
    """
    return (printable(text) + "\r\n").encode("utf-8")
