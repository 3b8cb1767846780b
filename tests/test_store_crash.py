"""``kill -9`` during traffic loses nothing that was shown, and reuses no shown seq.

The child side runs as ``python -m tests.test_store_crash PATH TOKEN``: like
the broadcaster, it appends batches and goes on while earlier batches are
being written; a releaser "shows" each batch (prints one line per message)
only once its ticket is done.  The test kills the child with SIGKILL in the
middle of that, reopens the file and checks every shown line.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import trio

from triochat._store import Entry, Record, Ticket, open_sqlite_store

ROOT = Path(__file__).resolve().parent.parent
HISTORY = 1_000_000  # keep everything, so that every shown message can be checked
ROOMS = ("lobby", "dev", "ops")
CHILD_LIMIT = 50_000
SHOWN_BEFORE_KILL = 400


async def _release(receive: trio.MemoryReceiveChannel[tuple[Ticket, list[Record]]]) -> None:
    async for ticket, batch in receive:
        await ticket.wait()
        lines = "".join(f"{r.room} {r.epoch} {r.seq} {r.entry.content}\n" for r in batch)
        sys.stdout.write(lines)
        sys.stdout.flush()


async def _child(path: str, token: str) -> None:
    rng = random.Random()
    send, receive = trio.open_memory_channel[tuple[Ticket, list[Record]]](64)
    async with (
        open_sqlite_store(path, history_size=HISTORY, max_pending=500) as store,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(_release, receive)
        for n in range(CHILD_LIMIT):
            await store.wait_writable()
            batch = [
                store.append(rng.choice(ROOMS), Entry("bot", f"{token}-{n}-{i}", time.time()))
                for i in range(rng.randint(1, 20))
            ]
            await send.send((store.end_batch(), batch))
        await trio.sleep_forever()


async def run_and_kill(path: Path, token: str) -> list[tuple[str, str, int, str]]:
    """Run the child until it has shown enough, SIGKILL it, return what it showed."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "tests.test_store_crash", str(path), token],
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    assert process.stdout is not None
    data = b""
    try:
        with trio.fail_after(30):
            while data.count(b"\n") < SHOWN_BEFORE_KILL:
                chunk = await process.stdout.receive_some()
                assert chunk, f"the child ended early with status {await process.wait()}"
                data += chunk
    finally:
        os.kill(process.pid, signal.SIGKILL)
    with trio.fail_after(10):
        while chunk := await process.stdout.receive_some():
            data += chunk
        assert await process.wait() == -signal.SIGKILL
    await process.stdout.aclose()
    shown = []
    for line in data.decode().splitlines(keepends=True):
        if line.endswith("\n"):  # a line cut by the kill was not shown whole
            room, epoch, seq, content = line.split()
            shown.append((room, epoch, int(seq), content))
    return shown


async def test_kill_9_loses_nothing_shown_and_reuses_no_shown_seq(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    all_shown: list[tuple[str, str, int, str]] = []
    for run in range(2):
        shown = await run_and_kill(path, f"run{run}")
        assert len(shown) >= SHOWN_BEFORE_KILL
        all_shown += shown
        # The next start after the crash opens the file and sees everything shown.
        async with open_sqlite_store(str(path), history_size=HISTORY) as store:
            assert store.unclean_start
            kept = {(r.room, r.seq): r for room in ROOMS for r in store.recent(room, HISTORY)}
            for room, epoch, seq, content in all_shown:
                record = kept[(room, seq)]
                assert (record.epoch, record.entry.content) == (epoch, content)
            for room in ROOMS:
                top = max((seq for r, _, seq, _ in all_shown if r == room), default=0)
                assert store.position(room).seq >= top
    # No seq of a room was shown with two different messages, across both runs.
    by_position: dict[tuple[str, str, int], str] = {}
    for room, epoch, seq, content in all_shown:
        assert by_position.setdefault((room, epoch, seq), content) == content
    assert len({content for *_, content in all_shown}) == len(all_shown)
    # The second run continued where the durable log of the first ended.
    first_run = [s for s in all_shown if s[3].startswith("run0-")]
    second_run = [s for s in all_shown if s[3].startswith("run1-")]
    for room in ROOMS:
        first_top = max((seq for r, _, seq, _ in first_run if r == room), default=0)
        second_seqs = [seq for r, _, seq, _ in second_run if r == room]
        assert all(seq > first_top for seq in second_seqs)
    # A clean close after the crash leaves a clean file.
    async with open_sqlite_store(str(path), history_size=HISTORY) as store:
        assert not store.unclean_start
        record = store.append("lobby", Entry("ann", "after", 0.0))
        assert record.seq > max(seq for r, _, seq, _ in all_shown if r == "lobby")


if __name__ == "__main__":
    trio.run(_child, sys.argv[1], sys.argv[2])
