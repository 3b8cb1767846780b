"""The per-connection outbox: every byte a connection writes goes through it.

:meth:`Outbox.push` is synchronous and never waits for the client.  When
nothing is queued it hands the bytes straight to the stream's non-blocking
send (if the stream has one); whatever the kernel does not take is queued, and
a writer task, started on demand in the connection's nursery, drains the queue
in batches (many queued messages become one ``send_all``) under a
``trio.move_on_after`` deadline.  A queue over its byte limit, a missed
deadline or a broken stream *fails* the outbox: its queue is dropped, its
``failure`` says why, and its ``on_fail`` callback disconnects the client.
Nobody else is affected.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Protocol

import trio

SLOW_OVERFLOW = "too slow: outbox overflow"
SLOW_DEADLINE = "too slow: send deadline missed"
CONNECTION_LOST = "connection lost"


class SendNowait(Protocol):
    """A stream's optional non-blocking send: returns the bytes written."""

    def __call__(self, data: bytes, /) -> int: ...


class Outbox:
    """Ordered, bounded outgoing bytes of one connection."""

    __slots__ = (
        "_chunks",
        "_drained",
        "_held",
        "_in_batch",
        "_marks",
        "_nursery",
        "_send_nowait",
        "_stream",
        "_write_scope",
        "draining",
        "failure",
        "limit",
        "on_fail",
        "queued",
        "sealed",
        "send_timeout",
        "sent_bytes",
    )

    def __init__(
        self,
        stream: trio.abc.SendStream,
        nursery: trio.Nursery,
        *,
        limit: int,
        send_timeout: float,
        on_fail: Callable[[str], None],
    ) -> None:
        self._stream = stream
        self._send_nowait: SendNowait | None = getattr(stream, "send_nowait", None)
        self._nursery = nursery
        self._chunks: list[bytes] = []
        self._held: list[bytes] = []
        self._in_batch = False
        """This outbox is in the pending list of the broadcaster's open batch."""
        self._marks: deque[tuple[int, int]] = deque()
        """Closed batches waiting for release: (batch, held items up to its end)."""
        self._write_scope: trio.CancelScope | None = None
        self._drained: trio.Event | None = None
        """Set when the current writer task ends; made only when someone waits."""
        self.limit = limit
        self.send_timeout = send_timeout
        self.on_fail = on_fail
        self.queued = 0
        """Bytes waiting for the writer task."""
        self.draining = False
        """True while a writer task owns the stream."""
        self.sealed = False
        """No more pushes are accepted (the connection is ending)."""
        self.failure: str | None = None
        """Why the outbox failed, or ``None``."""
        self.sent_bytes = 0
        """Bytes written to the stream so far (for the metrics)."""

    def hold(self, data: bytes, pending: list[Outbox], instant: bool = True) -> bool:
        """Like :meth:`push`, but keep *data* until :meth:`release`.

        The broadcaster holds everything it sends during one batch of
        requests and releases each outbox once at the end, so that several
        messages to one client leave in one ``send()``.  The first hold of a
        batch adds the outbox to *pending*.  Unless *instant*, the batch may
        end held (:meth:`close_batch`) and be released later
        (:meth:`release_through`), so bytes are held even while a writer
        drains.
        """
        if self.sealed:
            return False
        if self.draining and instant and not self._held:
            return self._write(data)
        if not self._in_batch:
            self._in_batch = True
            pending.append(self)
        return self._hold(data)

    def _hold(self, data: bytes) -> bool:
        self._held.append(data)
        self.queued += len(data)
        if self.queued > self.limit:
            self.fail(SLOW_OVERFLOW)
            return False
        return True

    def release(self) -> None:
        """Write everything :meth:`hold` kept, as one push."""
        self._in_batch = False
        self._marks.clear()
        held = self._held
        if not held:
            return
        data = held[0] if len(held) == 1 else b"".join(held)
        self._held = []
        self.queued -= len(data)
        self._write(data)  # even if sealed meanwhile: these bytes came first

    def close_batch(self, batch: int) -> None:
        """End the broadcaster's batch *batch* here; its bytes stay held."""
        self._in_batch = False
        self._marks.append((batch, len(self._held)))

    def release_through(self, batch: int) -> None:
        """Write what batches up to *batch* held (and pushes made after the last batch)."""
        marks = self._marks
        count = 0
        while marks and marks[0][0] <= batch:
            count = marks.popleft()[1]
        if not marks and not self._in_batch:
            count = len(self._held)
        if not count:
            return
        held = self._held
        data = held[0] if count == 1 else b"".join(held[:count])
        del held[:count]
        if marks:
            self._marks = deque((b, n - count) for b, n in marks)
        self.queued -= len(data)
        self._write(data)

    def push(self, data: bytes) -> bool:
        """Queue *data* to be written after everything pushed before it.

        Returns ``False`` if the bytes were not accepted because the outbox is
        sealed or failed (possibly by this very push).
        """
        if self.sealed:
            return False
        if self._held:
            # Keep the order: these bytes go after what is being held.
            return self._hold(data)
        return self._write(data)

    def _write(self, data: bytes) -> bool:
        if self.failure is not None:
            return False
        if self.draining:
            self._chunks.append(data)
            self.queued += len(data)
            if self.queued > self.limit:
                self.fail(SLOW_OVERFLOW)
                return False
            return True
        if self._send_nowait is not None:
            try:
                sent = self._send_nowait(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self.fail(CONNECTION_LOST)
                return False
            self.sent_bytes += sent
            if sent == len(data):
                return True
            data = data[sent:]
        self._chunks.append(data)
        self.queued = len(data)
        if self.queued > self.limit:
            self.fail(SLOW_OVERFLOW)
            return False
        self.draining = True
        self._nursery.start_soon(self._drain)
        return True

    def seal(self) -> None:
        """Accept no more pushes; what is queued is still written."""
        self.sealed = True

    def fail(self, reason: str) -> None:
        """Drop the queue, stop any write in flight, refuse further pushes.

        *reason* is reported to ``on_fail`` once.
        """
        if self.failure is not None:
            return
        self.failure = reason
        self.sealed = True
        self._chunks.clear()
        self._held.clear()
        self._marks.clear()
        self.queued = 0
        if self._write_scope is not None:
            self._write_scope.cancel()
        self.on_fail(reason)

    async def wait_drained(self) -> None:
        """Wait until the writer task has written what it was given, or stopped.

        Returns at once when no writer runs.  A writer may start again for
        later pushes: check :attr:`draining` again if that matters.
        """
        if not self.draining:
            await trio.lowlevel.checkpoint()
            return
        if self._drained is None:
            self._drained = trio.Event()
        await self._drained.wait()

    async def _drain(self) -> None:
        try:
            while self._chunks and self.failure is None:
                # Everything queued so far leaves in one send; pushes made
                # meanwhile count against the limit again from zero.
                chunks = self._chunks
                data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                self._chunks = []
                self.queued = 0
                with trio.move_on_after(self.send_timeout) as deadline:
                    self._write_scope = deadline
                    await self._stream.send_all(data)
                    self.sent_bytes += len(data)
                self._write_scope = None
                if deadline.cancelled_caught:
                    self.fail(SLOW_DEADLINE)  # does nothing if fail() cancelled the write
                    return
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.fail(CONNECTION_LOST)
        finally:
            self._write_scope = None
            self.draining = False
            if self._drained is not None:
                self._drained.set()
                self._drained = None
