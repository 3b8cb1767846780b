"""What the harness reads about a server process from ``/proc`` (Linux), and the fd limit."""

from __future__ import annotations

import os
import resource

_LISTEN = "0A"


def proc_cpu(pid: int) -> float:
    """User plus system CPU seconds of process *pid*."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss(pid: int) -> int:
    """Resident memory of process *pid*, in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def open_fds(pid: int) -> int:
    """How many file descriptors process *pid* has open."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed while we looked
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def client_sockets(pid: int) -> int:
    """TCP sockets process *pid* holds that are not listeners: its connections.

    A connection the client closed but the server did not (CLOSE_WAIT) counts
    too: that is what a leaked connection looks like.
    """
    inodes = _socket_inodes(pid)
    count = 0
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[9] in inodes and fields[3] != _LISTEN:
                        count += 1
        except FileNotFoundError:
            continue
    return count


def raise_fd_limit(needed: int) -> int:
    """Raise this process's soft ``RLIMIT_NOFILE`` to its hard limit; return the soft limit.

    Children inherit it.  Raises ``RuntimeError`` when even the hard limit is below *needed*.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, needed, 65536)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft < needed:
        raise RuntimeError(f"needs {needed} open files, but the limit is {soft} (raise ulimit -n)")
    return soft
