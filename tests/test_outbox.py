import socket

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from triochat._outbox import CONNECTION_LOST, SLOW_DEADLINE, SLOW_OVERFLOW, Outbox
from triochat.transports.sockets import SocketStream


class FakeStream(trio.abc.SendStream):
    """Takes at most *accept_now* bytes per send_nowait; send_all waits for a gate."""

    def __init__(self, accept_now: int) -> None:
        self.accept_now = accept_now
        self.written = bytearray()
        self.sends: list[bytes] = []
        self.gate = trio.Event()
        self.broken = False

    def send_nowait(self, data: bytes) -> int:
        if self.broken:
            raise trio.BrokenResourceError
        taken = data[: self.accept_now]
        self.written += taken
        return len(taken)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.gate.wait()
        self.sends.append(bytes(data))
        self.written += data

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


async def test_everything_the_kernel_takes_is_written_without_a_task() -> None:
    stream = FakeStream(accept_now=1000)
    failures: list[str] = []
    async with trio.open_nursery() as nursery:
        outbox = Outbox(stream, nursery, limit=100, send_timeout=1, on_fail=failures.append)
        assert outbox.push(b"abc")
        assert outbox.push(b"def")
        assert not outbox.draining
    assert bytes(stream.written) == b"abcdef"
    assert stream.sends == []
    assert failures == []


async def test_leftovers_are_drained_in_one_batch_in_order() -> None:
    stream = FakeStream(accept_now=2)
    async with trio.open_nursery() as nursery:
        outbox = Outbox(stream, nursery, limit=100, send_timeout=10, on_fail=pytest.fail)
        assert outbox.push(b"abc")  # "ab" now, "c" queued, writer started
        assert outbox.draining
        assert outbox.push(b"def")
        assert outbox.push(b"ghi")
        assert outbox.queued == 7
        await trio.testing.wait_all_tasks_blocked()
        stream.gate.set()
    assert bytes(stream.written) == b"abcdefghi"
    assert stream.sends == [b"cdefghi"]  # one send for all three leftovers
    assert not outbox.draining
    assert outbox.queued == 0


async def test_overflow_fails_the_outbox_once_and_refuses_more() -> None:
    stream = FakeStream(accept_now=0)
    failures: list[str] = []
    async with trio.open_nursery() as nursery:
        outbox = Outbox(stream, nursery, limit=10, send_timeout=10, on_fail=failures.append)
        assert outbox.push(b"12345")
        assert outbox.push(b"67890")
        assert not outbox.push(b"x")
        assert not outbox.push(b"y")
        assert failures == [SLOW_OVERFLOW]
        assert outbox.queued == 0
        stream.gate.set()
    assert bytes(stream.written) == b""  # the queue was dropped


async def test_a_missed_send_deadline_fails_the_outbox(autojump_clock: trio.testing.MockClock) -> None:
    stream = FakeStream(accept_now=0)
    failures: list[str] = []
    async with trio.open_nursery() as nursery:
        outbox = Outbox(stream, nursery, limit=100, send_timeout=3, on_fail=failures.append)
        start = trio.current_time()
        outbox.push(b"never read")
    assert failures == [SLOW_DEADLINE]
    assert trio.current_time() - start == pytest.approx(3)


async def test_a_broken_stream_fails_the_outbox() -> None:
    stream = FakeStream(accept_now=0)
    stream.broken = True
    failures: list[str] = []
    async with trio.open_nursery() as nursery:
        outbox = Outbox(stream, nursery, limit=100, send_timeout=3, on_fail=failures.append)
        assert not outbox.push(b"x")
    assert failures == [CONNECTION_LOST]


async def test_sealed_outbox_refuses_pushes_but_flushes_its_queue() -> None:
    stream = FakeStream(accept_now=1)
    async with trio.open_nursery() as nursery:
        outbox = Outbox(stream, nursery, limit=100, send_timeout=3, on_fail=pytest.fail)
        outbox.push(b"ab")
        outbox.seal()
        assert not outbox.push(b"c")
        stream.gate.set()
    assert bytes(stream.written) == b"ab"


async def test_outbox_over_a_stream_without_send_nowait() -> None:
    send, receive = trio.testing.memory_stream_one_way_pair()
    async with trio.open_nursery() as nursery:
        outbox = Outbox(send, nursery, limit=100, send_timeout=3, on_fail=pytest.fail)
        outbox.push(b"one ")
        outbox.push(b"two")
        assert outbox.draining
    assert await receive.receive_some() == b"one two"


async def test_outbox_over_a_real_socket_with_a_stalled_reader(
    autojump_clock: trio.testing.MockClock,
) -> None:
    a, b = socket.socketpair()
    with b:
        stream = SocketStream(a)
        failures: list[str] = []
        async with trio.open_nursery() as nursery:
            outbox = Outbox(stream, nursery, limit=64 * 1024, send_timeout=2, on_fail=failures.append)
            chunk = b"x" * 1024
            pushed = 0
            while outbox.push(chunk):
                pushed += 1
                assert pushed < 100_000
        # The kernel buffers filled, then the outbox limit was passed.
        assert failures == [SLOW_OVERFLOW]
        await stream.aclose()


async def test_fail_cancels_a_write_in_flight() -> None:
    stream = FakeStream(accept_now=0)  # send_all blocks until the gate opens
    failures: list[str] = []
    async with trio.open_nursery() as nursery:
        outbox = Outbox(stream, nursery, limit=100, send_timeout=1000, on_fail=failures.append)
        outbox.push(b"stuck")
        await trio.testing.wait_all_tasks_blocked()
        assert outbox.draining
        outbox.fail(CONNECTION_LOST)
    # The nursery closed at once: the writer did not wait for its deadline.
    assert failures == [CONNECTION_LOST]
    assert stream.sends == []
    assert not outbox.draining


class CountingStream(FakeStream):
    def __init__(self) -> None:
        super().__init__(accept_now=1 << 30)
        self.nowait_calls = 0

    def send_nowait(self, data: bytes) -> int:
        self.nowait_calls += 1
        return super().send_nowait(data)


async def test_held_bytes_leave_in_one_write_per_batch() -> None:
    stream = CountingStream()
    pending: list[Outbox] = []
    async with trio.open_nursery() as nursery:
        outbox = Outbox(stream, nursery, limit=100, send_timeout=1, on_fail=pytest.fail)
        assert outbox.hold(b"one ", pending)
        assert outbox.hold(b"two ", pending)
        assert pending == [outbox]  # listed once
        assert outbox.push(b"three")  # a direct push waits behind what is held
        assert stream.written == b""
        outbox.release()
        assert bytes(stream.written) == b"one two three"
        assert stream.nowait_calls == 1
        assert outbox.queued == 0


async def test_bytes_held_before_a_seal_are_still_written() -> None:
    stream = CountingStream()
    pending: list[Outbox] = []
    async with trio.open_nursery() as nursery:
        outbox = Outbox(stream, nursery, limit=100, send_timeout=1, on_fail=pytest.fail)
        outbox.hold(b"goodbye", pending)
        outbox.seal()
        assert not outbox.hold(b"late", pending)
        outbox.release()
    assert bytes(stream.written) == b"goodbye"


async def test_holding_past_the_limit_fails() -> None:
    stream = CountingStream()
    failures: list[str] = []
    pending: list[Outbox] = []
    async with trio.open_nursery() as nursery:
        outbox = Outbox(stream, nursery, limit=10, send_timeout=1, on_fail=failures.append)
        assert outbox.hold(b"12345678", pending)
        assert not outbox.hold(b"9abc", pending)
        outbox.release()
    assert failures == [SLOW_OVERFLOW]
    assert stream.written == b""


async def test_a_push_while_bytes_are_held_counts_against_the_limit() -> None:
    stream = CountingStream()
    failures: list[str] = []
    pending: list[Outbox] = []
    async with trio.open_nursery() as nursery:
        outbox = Outbox(stream, nursery, limit=10, send_timeout=1, on_fail=failures.append)
        assert outbox.hold(b"12345678", pending)
        assert not outbox.push(b"9abc")
    assert failures == [SLOW_OVERFLOW]


async def test_batches_held_for_durability_are_released_in_order() -> None:
    stream = FakeStream(accept_now=1000)
    async with trio.open_nursery() as nursery:
        outbox = Outbox(stream, nursery, limit=100, send_timeout=1, on_fail=pytest.fail)
        pending: list[Outbox] = []
        assert outbox.hold(b"1a", pending, False)
        assert outbox.hold(b"1b", pending, False)
        assert pending == [outbox]
        outbox.close_batch(1)
        pending = []
        assert outbox.hold(b"2", pending, False)
        assert pending == [outbox]  # a new batch lists it again
        outbox.close_batch(2)
        assert outbox.push(b"p")  # a push (a pong) goes after the held batches
        assert outbox.queued == 6
        assert bytes(stream.written) == b""
        outbox.release_through(1)
        assert bytes(stream.written) == b"1a1b"
        outbox.release_through(2)  # the last batch: the push after it goes too
        assert bytes(stream.written) == b"1a1b2p"
        assert outbox.queued == 0
        outbox.release_through(3)  # nothing left: harmless
        assert bytes(stream.written) == b"1a1b2p"


async def test_a_draining_outbox_still_holds_for_durability() -> None:
    stream = FakeStream(accept_now=1)
    async with trio.open_nursery() as nursery:
        outbox = Outbox(stream, nursery, limit=100, send_timeout=10, on_fail=pytest.fail)
        assert outbox.push(b"ab")
        assert outbox.draining
        pending: list[Outbox] = []
        assert outbox.hold(b"c", pending, False)
        outbox.close_batch(7)
        stream.gate.set()
        await trio.testing.wait_all_tasks_blocked()
        assert bytes(stream.written) == b"ab"  # "c" waits for its batch
        outbox.release_through(7)
        await trio.testing.wait_all_tasks_blocked()
        assert bytes(stream.written) == b"abc"


@st.composite
def batch_scripts(draw: st.DrawFn) -> list[tuple[str, int]]:
    """Holds in batches, pushes between them, and releases of closed batches in order."""
    script: list[tuple[str, int]] = []
    closed = released = 0
    for _ in range(draw(st.integers(1, 12))):
        for _ in range(draw(st.integers(0, 3))):
            script.append(("hold", closed + 1))
        if draw(st.booleans()):
            closed += 1
            script.append(("close", closed))
        if draw(st.booleans()):
            script.append(("push", closed))
        if released < closed and draw(st.booleans()):
            released = draw(st.integers(released + 1, closed))
            script.append(("release", released))
    closed += 1
    script.append(("close", closed))
    script.append(("release", closed))
    return script


@settings(max_examples=200, deadline=None)
@given(batch_scripts())
def test_batches_released_in_order_keep_the_order_of_every_byte(script: list[tuple[str, int]]) -> None:
    async def run() -> None:
        stream = FakeStream(accept_now=1 << 20)
        async with trio.open_nursery() as nursery:
            outbox = Outbox(stream, nursery, limit=1 << 20, send_timeout=1, on_fail=pytest.fail)
            pending: list[Outbox] = []
            # The model: each item with the batch whose release lets it out.
            items: list[list[object]] = []  # [data, batch, floating push]
            closed = released = 0
            open_batch = False
            for n, (op, batch) in enumerate(script):
                data = f"<{n}>".encode()
                if op == "hold":
                    assert outbox.hold(data, pending, False)
                    for item in items:  # a push still held joins the batch now open
                        if item[2] and item[1] > released:  # type: ignore[operator]
                            item[1], item[2] = batch, False
                    items.append([data, batch, False])
                    open_batch = True
                elif op == "push":
                    assert outbox.push(data)
                    waiting = any(b > released for _, b, _ in items)  # type: ignore[operator]
                    if open_batch:  # held with the batch being built
                        items.append([data, closed + 1, False])
                    else:  # after the last closed batch, or at once
                        items.append([data, closed if waiting else released, waiting])
                elif op == "close":
                    outbox.close_batch(batch)
                    closed = batch
                    open_batch = False
                    for item in items:  # a push still held is inside this batch's span now
                        if item[2] and item[1] > released:  # type: ignore[operator]
                            item[1], item[2] = batch, False
                    pending.clear()
                else:
                    outbox.release_through(batch)
                    released = batch
                # Nothing is written before its batch is released, and all in order.
                due = b"".join(d for d, b, _ in items if b <= released)  # type: ignore[misc, operator]
                assert bytes(stream.written) == due, (op, batch)
            assert outbox.queued == 0

    trio.run(run)


async def test_wait_drained_returns_when_the_writer_has_written_everything() -> None:
    stream = FakeStream(accept_now=2)
    async with trio.open_nursery() as nursery:
        outbox = Outbox(stream, nursery, limit=100, send_timeout=10, on_fail=pytest.fail)
        await outbox.wait_drained()  # no writer: at once
        assert outbox.push(b"abcdef")  # "ab" now, the rest to the writer
        done = trio.Event()

        async def wait() -> None:
            await outbox.wait_drained()
            done.set()

        nursery.start_soon(wait)
        await trio.testing.wait_all_tasks_blocked()
        assert outbox.draining and not done.is_set()  # the writer waits for the stream
        stream.gate.set()
        await done.wait()
        assert not outbox.draining
        assert bytes(stream.written) == b"abcdef"


async def test_wait_drained_returns_when_the_outbox_fails() -> None:
    stream = FakeStream(accept_now=0)
    failures: list[str] = []
    async with trio.open_nursery() as nursery:
        outbox = Outbox(stream, nursery, limit=100, send_timeout=10, on_fail=failures.append)
        assert outbox.push(b"abc")
        await trio.testing.wait_all_tasks_blocked()
        with trio.fail_after(1):
            async with trio.open_nursery() as waiters:
                waiters.start_soon(outbox.wait_drained)
                await trio.testing.wait_all_tasks_blocked()
                outbox.fail("gone")
    assert failures == ["gone"]
    assert not outbox.draining
