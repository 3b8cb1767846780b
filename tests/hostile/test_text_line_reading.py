"""Reading lines: a flood of newlines cannot hold the event loop, and costs linear work."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, SupportsIndex

import pytest
import trio

from triochat.protocol import commands
from triochat.protocol.lines import LineDecoder, LineEvent
from triochat.testing import connect, open_test_server
from triochat.transports import lines as line_transport

NEWLINES = 100_000


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the lines the line sessions have read (one parse per line)."""
    count = [0]
    real = commands.parse_command

    def counting(text: str) -> commands.Command | commands.CommandError | None:
        count[0] += 1
        return real(text)

    monkeypatch.setattr(commands, "parse_command", counting)
    return count


async def test_a_stream_of_newlines_does_not_hold_the_event_loop(parsed: list[int]) -> None:
    """Another task runs between any two blank lines, however many come in one read."""
    async with open_test_server() as server:
        bob = await connect(server, "bob")
        gaps: list[int] = []

        async def other_task() -> None:
            seen = parsed[0]
            while parsed[0] <= NEWLINES:
                gaps.append(parsed[0] - seen)
                seen = parsed[0]
                await trio.lowlevel.checkpoint()

        with trio.fail_after(50):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(other_task)
                await bob.send_raw(b"\n" * NEWLINES + b"/who\n")
                assert await bob.receive() == "*** 1 in #lobby: bob ***"
    assert parsed[0] == NEWLINES + 1
    # Before the fix, a whole read (16,384 blank lines) went by between two
    # steps of the other task.
    assert len(gaps) > NEWLINES // 2
    assert max(gaps) <= 4


class CostList(list[LineEvent]):
    """A list that counts the element visits and moves its readers cause."""

    cost = 0

    def pop(self, index: SupportsIndex = -1) -> LineEvent:
        position = index.__index__() % len(self)
        CostList.cost += len(self) - position  # the elements list.pop shifts, plus one
        return super().pop(index)

    def __getitem__(self, index: Any) -> Any:
        CostList.cost += 1
        return super().__getitem__(index)

    def __iter__(self) -> Iterator[LineEvent]:
        for item in super().__iter__():
            CostList.cost += 1
            yield item


class CountingDecoder(LineDecoder):
    def feed(self, data: bytes | bytearray) -> list[LineEvent]:
        return CostList(super().feed(data))


async def test_a_read_of_many_lines_costs_linear_work(
    parsed: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(line_transport, "LineDecoder", CountingDecoder)
    CostList.cost = 0
    lines = line_transport.RECEIVE_SIZE  # one full read of blank lines
    async with open_test_server() as server:
        bob = await connect(server, "bob")
        CostList.cost = 0
        await bob.send_raw(b"\n" * lines + b"/who\n")
        with trio.fail_after(30):
            assert await bob.receive() == "*** 1 in #lobby: bob ***"
    assert parsed[0] == lines + 1
    # list.pop(0) per line would cost lines**2 / 2 (134 million here).
    assert CostList.cost <= 3 * lines
