"""Property: whatever text is received, the terminal client prints only framed, safe lines."""

from __future__ import annotations

import contextlib
import io

from hypothesis import given

from triochat.cli.chat import FilterUI, TerminalUI
from triochat.protocol import text
from triochat.protocol.events import Event

from .protocol_strategies import FORBIDDEN, PROPERTIES, events


def terminal_lines(event: Event) -> list[str]:
    ui = TerminalUI.__new__(TerminalUI)
    printed: list[str] = []
    ui._print = lambda fragments: printed.append("".join(t for _, t in fragments))  # type: ignore[method-assign]
    ui.show(event, "me")
    return "\n".join(printed).split("\n")


@PROPERTIES
@given(events())
def test_terminal_client_prints_safe_framed_lines(event: Event) -> None:
    first, *rest = terminal_lines(event)
    for line in (first, *rest):
        assert FORBIDDEN.search(line) is None, line
    if type(event).__name__ in ("ChatMessage", "PrivateChat"):
        assert not first.startswith(" ")
        assert all(line.startswith(text.CONTINUATION) for line in rest)


@PROPERTIES
@given(events())
def test_filter_mode_prints_safe_lines(event: Event) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        FilterUI.__new__(FilterUI).show(event, "me")
    for line in out.getvalue().split("\n"):
        assert FORBIDDEN.search(line) is None, line
