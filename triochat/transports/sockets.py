"""A socket stream with a non-blocking send, and TCP listening sockets.

``trio.SocketStream`` has no way to try a send without waiting, and its
``send_all`` takes a lock and several scheduler passes per call.  The
broadcaster writes straight to each recipient with :meth:`SocketStream.send_nowait`
and leaves only what the kernel did not take to a writer task, so this module
keeps a plain non-blocking :mod:`socket` and waits on it with
:func:`trio.lowlevel.wait_readable` / :func:`trio.lowlevel.wait_writable`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import stat
from collections.abc import Callable

import trio

log = logging.getLogger("triochat.transports")


def _errnos(*names: str) -> frozenset[int]:
    return frozenset(getattr(errno, name) for name in names if hasattr(errno, name))


PER_CONNECTION_ERRNOS = _errnos(
    "ECONNABORTED",
    "ECONNRESET",
    "EPROTO",
    "ENETDOWN",
    "ENOPROTOOPT",
    "EHOSTDOWN",
    "ENONET",
    "EHOSTUNREACH",
    "EOPNOTSUPP",
    "ENETUNREACH",
    "EPERM",
    "ENOSR",
    "ESOCKTNOSUPPORT",
    "EPROTONOSUPPORT",
    "ETIMEDOUT",
)
"""accept() errors about one pending connection (Linux passes network errors of
the new socket on to accept()): skip that connection, keep listening."""

CAPACITY_ERRNOS = _errnos("EMFILE", "ENFILE", "ENOMEM", "ENOBUFS")
"""accept() errors that mean the process or system is out of resources for now:
log, pause for :data:`CAPACITY_PAUSE`, keep listening."""

CAPACITY_PAUSE = 0.1
"""Seconds the accept loop waits after a :data:`CAPACITY_ERRNOS` error."""


class SocketStream(trio.abc.HalfCloseableStream):
    """A :class:`trio.abc.HalfCloseableStream` over a connected socket.

    Besides the stream interface it offers :meth:`send_nowait`, which writes
    what the kernel will take right now and never waits.
    """

    __slots__ = ("_closed", "_eof_sent", "_sending", "socket")

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.socket = sock
        self._closed = False
        self._eof_sent = False
        self._sending = False

    def send_nowait(self, data: bytes | memoryview) -> int:
        """Send what the kernel accepts now; return how many bytes that was."""
        if self._closed:
            raise trio.ClosedResourceError("stream is closed")
        try:
            return self.socket.send(data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            raise trio.BrokenResourceError(f"send failed: {exc}") from exc

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._sending:
            raise trio.BusyResourceError("another task is sending on this stream")
        self._sending = True
        try:
            await trio.lowlevel.checkpoint_if_cancelled()
            if self._closed or self._eof_sent:
                raise trio.ClosedResourceError("stream is closed for sending")
            view = memoryview(data)
            sent_any = False
            while view:
                if self._closed:
                    raise trio.ClosedResourceError("stream is closed")
                try:
                    sent = self.socket.send(view)
                except BlockingIOError:
                    await trio.lowlevel.wait_writable(self.socket)
                    sent_any = True
                    continue
                except OSError as exc:
                    raise trio.BrokenResourceError(f"send failed: {exc}") from exc
                view = view[sent:]
            if not sent_any:
                await trio.lowlevel.cancel_shielded_checkpoint()
        finally:
            self._sending = False

    async def wait_send_all_might_not_block(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError("stream is closed")
        await trio.lowlevel.wait_writable(self.socket)

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.lowlevel.checkpoint_if_cancelled()
        size = 65536 if max_bytes is None else max_bytes
        if size < 1:
            raise ValueError("max_bytes must be at least 1")
        while True:
            if self._closed:
                raise trio.ClosedResourceError("stream is closed")
            try:
                data = self.socket.recv(size)
            except BlockingIOError:
                data = None  # wait outside the except block: it would keep the exception alive
            except OSError as exc:
                raise trio.BrokenResourceError(f"receive failed: {exc}") from exc
            if data is None:
                await trio.lowlevel.wait_readable(self.socket)
                continue
            await trio.lowlevel.cancel_shielded_checkpoint()
            return data

    async def send_eof(self) -> None:
        await trio.lowlevel.checkpoint()
        if self._closed:
            raise trio.ClosedResourceError("stream is closed")
        self._eof_sent = True
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        """Close the socket now (synchronously); waiting tasks are woken."""
        if not self._closed:
            self._closed = True
            trio.lowlevel.notify_closing(self.socket)
            self.socket.close()

    async def aclose(self) -> None:
        self.close()
        await trio.lowlevel.checkpoint()


def set_keepalive(sock: socket.socket, idle: int = 60, interval: int = 10, count: int = 3) -> None:
    """Turn on TCP keepalive so that half-open peers are noticed and dropped."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (
        ("TCP_KEEPIDLE", idle),
        ("TCP_KEEPINTVL", interval),
        ("TCP_KEEPCNT", count),
    ):
        option = getattr(socket, name, None)
        if option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)


async def bind_tcp(host: str | None, port: int, *, backlog: int = 1024) -> list[socket.socket]:
    """Open listening TCP sockets for every address *host* resolves to.

    With *port* 0 the first socket picks a free port and the others reuse it,
    so one port serves every address.  Raises :class:`OSError` (for example
    ``EADDRINUSE``) if any address cannot be bound; nothing stays open then.
    """
    infos = await trio.socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    seen: set[tuple[int, str]] = set()
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _canon, addr in infos:
            key = (int(family), str(addr[0]))
            if key in seen:
                continue
            seen.add(key)
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(sockets) > 1:
                addr = (addr[0], sockets[0].getsockname()[1], *addr[2:])
            sock.bind(addr)
            sock.listen(backlog)
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def bind_unix(path: str, *, backlog: int = 1024) -> socket.socket:
    """Open a listening Unix-domain socket at *path*.

    A stale socket file left by a dead server is replaced; one that a live
    server still accepts on raises ``OSError(EADDRINUSE)``.
    """
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.stat(path).st_mode):
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(path)
            except OSError:
                os.unlink(path)
            else:
                raise OSError(errno.EADDRINUSE, f"{path} is in use by a running server")
            finally:
                probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


async def accept_loop(listener: socket.socket, handle: Callable[[socket.socket, object], None]) -> None:
    """Accept connections on *listener* forever, passing each to *handle*.

    *handle* must not block: it starts a task for the connection; an
    :class:`OSError` from it (a failing ``setsockopt``) closes that socket
    only.  Errors about one pending connection are skipped; running out of
    file descriptors or memory is logged and backs off briefly instead of
    spinning.  Any other error (the listener itself is broken) is raised.
    """
    while True:
        await trio.lowlevel.wait_readable(listener)
        for _ in range(64):
            try:
                sock, peer = listener.accept()
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno in CAPACITY_ERRNOS:
                    log.warning("accept failed (%s); pausing new connections for %g s", exc, CAPACITY_PAUSE)
                    await trio.sleep(CAPACITY_PAUSE)
                    break
                if exc.errno in PER_CONNECTION_ERRNOS:
                    log.debug("accept failed for one connection (%s); going on", exc)
                    continue
                raise
            try:
                handle(sock, peer)
            except OSError as exc:
                # Setting up the new socket failed (setsockopt on a connection
                # already reset, say): that connection is lost, no one else.
                log.debug("dropping a new connection from %s: %s", peer, exc)
                sock.close()
