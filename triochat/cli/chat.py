"""``triochat chat URL [--name NAME]``: a terminal client for people, and a filter for scripts.

On a terminal, the input line is a prompt_toolkit prompt (editing, history)
running in a worker thread; incoming messages are printed above it through
``run_in_terminal`` on the prompt's own loop, so typing is never garbled.
When standard input is not a terminal, each input line is sent and each
received message is printed as one plain line; end of input quits.

Without ``--name`` (and without a ``--token`` that decides the name), the
terminal client asks for a name, and asks again if the server refuses it.
A lost connection, including a server that shuts down, is retried with a
growing delay unless ``--no-reconnect`` is given; over ``ws://`` the new
connection resumes every room from the last message seen there, so what was
said meanwhile is shown once, and nothing twice.
"""

from __future__ import annotations

import functools
import os
import ssl
import sys
import threading
import time
import zlib
from collections.abc import Callable
from typing import Protocol

import trio

from .._client import (
    ChatClient,
    ConnectionLost,
    LoginRefused,
    TLSError,
    client_ssl_context,
    open_chat_client,
)
from ..protocol import commands, linewire
from ..protocol import text as linetext
from ..protocol.events import (
    ChatMessage,
    Error,
    Event,
    HelpText,
    NameChanged,
    PrivateChat,
    RoomList,
    WhoList,
)
from ..protocol.lines import Line, LineDecoder
from ..protocol.names import name_problem

PALETTE = (
    "ansired",
    "ansigreen",
    "ansiyellow",
    "ansiblue",
    "ansimagenta",
    "ansicyan",
    "ansibrightred",
    "ansibrightgreen",
    "ansibrightyellow",
    "ansibrightblue",
    "ansibrightmagenta",
    "ansibrightcyan",
)
MAX_BACKOFF = 30.0


def sender_colour(name: str) -> str:
    """A colour that stays the same for a name across runs."""
    return PALETTE[zlib.crc32(name.encode()) % len(PALETTE)]


class UI(Protocol):
    """What the chat loop needs of a front end."""

    can_ask: bool
    """Whether :meth:`ask_name` can ask someone (a terminal) or not (a script)."""

    def show(self, event: Event, me: str, here: str | None = None) -> None: ...
    def info(self, text: str) -> None: ...
    def error(self, text: str) -> None: ...
    def echo(self, text: str, me: str) -> None: ...
    def echo_action(self, text: str, me: str, room: str) -> None: ...
    def set_name(self, name: str) -> None: ...
    async def ask_name(self) -> str | None: ...
    async def read_line(self) -> str | None: ...
    def close(self) -> None: ...
    async def finish(self, message: str | None) -> None: ...


class FilterUI:
    """Plain lines on stdout; input lines from a non-terminal stdin."""

    can_ask = False

    def __init__(self) -> None:
        self._stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
        self._decoder = LineDecoder(1 << 20)
        self._lines: list[str] = []
        self._eof = False

    def show(self, event: Event, me: str, here: str | None = None) -> None:
        """The event as the line protocol shows it: framed, safe lines.

        Chat from a room other than *here* (the room we talk in) starts with its room.
        """
        if isinstance(event, ChatMessage) and here is not None and event.room != here:
            print(linewire.encode_elsewhere(event).decode("utf-8").replace("\r\n", "\n"), end="", flush=True)
            return
        print(linewire.event_text(event), flush=True)

    def info(self, text: str) -> None:
        print(f"triochat: {text}", file=sys.stderr, flush=True)

    error = info

    def echo(self, text: str, me: str) -> None:
        """Scripts know what they sent."""

    def echo_action(self, text: str, me: str, room: str) -> None:
        """Scripts know what they sent."""

    def set_name(self, name: str) -> None:
        """Plain lines have no prompt to update."""

    async def ask_name(self) -> str | None:
        """A script cannot be asked: ``None``."""
        await trio.lowlevel.checkpoint()
        return None

    async def read_line(self) -> str | None:
        while not self._lines:
            if self._eof:
                return None
            data = await self._stdin.receive_some(65536)
            if not data:
                self._eof = True
                tail = self._decoder.feed(b"\n") if self._decoder.buffered else []
                self._lines += [e.text for e in tail if isinstance(e, Line)]
                continue
            self._lines += [e.text for e in self._decoder.feed(data) if isinstance(e, Line)]
        return self._lines.pop(0)

    def close(self) -> None:
        pass

    async def finish(self, message: str | None) -> None:
        await trio.lowlevel.checkpoint()
        if message:
            self.error(message)


class TerminalUI:
    """A prompt_toolkit input line with messages printed above it."""

    can_ask = True

    def __init__(self, name: str | None) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import InMemoryHistory

        self._session: PromptSession[str] = PromptSession(history=InMemoryHistory(), erase_when_done=True)
        self._name = name or ""
        self._idle = threading.Event()
        self._idle.set()

    def _print(self, fragments: list[tuple[str, str]]) -> None:
        from prompt_toolkit import print_formatted_text
        from prompt_toolkit.application import run_in_terminal
        from prompt_toolkit.formatted_text import FormattedText

        text = FormattedText(fragments)
        app = self._session.app
        loop = getattr(app, "loop", None) if app.is_running else None
        if loop is None:
            print_formatted_text(text)
            return

        def in_loop() -> None:
            run_in_terminal(functools.partial(print_formatted_text, text), in_executor=False)

        loop.call_soon_threadsafe(in_loop)

    @staticmethod
    def _time(timestamp: float | None = None) -> tuple[str, str]:
        return ("ansibrightblack", time.strftime("%H:%M ", time.localtime(timestamp)))

    @staticmethod
    def _body(style: str, content: str) -> list[tuple[str, str]]:
        """Received *content*, safe to show: its first line, then continuation lines."""
        first, *rest = linetext.display_lines(content)
        fragments = [(style, first)]
        for line in rest:
            fragments += [("ansibrightblack", "\n" + linetext.CONTINUATION), (style, line)]
        return fragments

    def show(self, event: Event, me: str, here: str | None = None) -> None:
        if isinstance(event, ChatMessage):
            colour = sender_colour(event.sender)
            who = f"{linetext.printable(event.sender)}{' (bot)' if event.agent else ''}"
            if here is not None and event.room != here:
                who = f"{linetext.room_mark(event.room)}{who}"
            if event.action:
                self._print(
                    [self._time(event.timestamp), (colour, f"* {who} "), *self._body("", event.content)]
                )
            else:
                self._print(
                    [
                        self._time(event.timestamp),
                        (f"bold {colour}", who),
                        ("", ": "),
                        *self._body("", event.content),
                    ]
                )
        elif isinstance(event, PrivateChat):
            if event.outgoing:
                label = f"[private to {linetext.printable(event.target)}] "
            else:
                label = f"[private] {linetext.printable(event.sender)}: "
            self._print(
                [self._time(), ("ansimagenta bold", label), *self._body("ansimagenta", event.content)]
            )
        elif isinstance(event, Error):
            self._print([self._time(), ("ansired", linetext.error(event.text))])
        elif isinstance(event, HelpText):
            self._print([("ansibrightblack", "\n".join(map(linetext.printable, event.lines)))])
        else:
            self._print([self._time(), ("ansibrightblack", linewire.event_text(event))])

    def echo(self, text: str, me: str) -> None:
        self._print([self._time(), (f"bold {sender_colour(me)} underline", me), ("", f": {text}")])

    def echo_action(self, text: str, me: str, room: str) -> None:
        """Our own ``/me``, shown as the others see it."""
        self.show(ChatMessage(0, time.time(), me, room, text, action=True), me)

    def set_name(self, name: str) -> None:
        """Show *name* in the prompt, at once if a prompt is showing."""
        self._name = name
        app = self._session.app
        loop = getattr(app, "loop", None)
        if app.is_running and loop is not None:
            loop.call_soon_threadsafe(app.invalidate)

    async def ask_name(self) -> str | None:
        """Ask for a name on the input line; ``None`` if the user ends input."""

        line = await self._prompt("Your name: ")
        return None if line is None else line.strip()

    def info(self, text: str) -> None:
        self._print([("ansibrightblack", f"-- {text}")])

    def error(self, text: str) -> None:
        self._print([("ansired", f"-- {text}")])

    async def read_line(self) -> str | None:
        return await self._prompt(lambda: f"{self._name}> ")

    async def _prompt(self, message: str | Callable[[], str]) -> str | None:
        """One line from the input line, in a worker thread; ``None`` when input ends."""

        def prompt() -> str:
            self._idle.clear()
            try:
                return self._session.prompt(message, handle_sigint=False)
            finally:
                self._idle.set()

        try:
            line: str = await trio.to_thread.run_sync(prompt, abandon_on_cancel=True)
        except (EOFError, KeyboardInterrupt):
            return None
        return line

    async def finish(self, message: str | None) -> None:
        """Wait (briefly) for the prompt to leave the terminal, then say *message*."""
        self.close()
        await trio.to_thread.run_sync(self._idle.wait, 2.0, abandon_on_cancel=True)
        if message:
            self.error(message)

    def close(self) -> None:
        """End the prompt, if one is showing (safe to call more than once)."""
        app = self._session.app
        loop = getattr(app, "loop", None)
        if not app.is_running or loop is None:
            return

        def stop() -> None:
            future = app.future
            if app.is_running and future is not None and not future.done():
                app.exit(exception=EOFError())

        loop.call_soon_threadsafe(stop)


class ChatSession:
    """Connects (and reconnects), shows events, and runs typed commands.

    *name* may be ``None``: then the *token* decides it, or the UI asks for
    one.  A name the server refuses at the first login is asked for again
    (when the UI can ask); later connection losses, a server shutdown among
    them, are retried unless *reconnect* is false.
    """

    def __init__(
        self,
        url: str,
        name: str | None,
        ui: UI,
        *,
        token: str | None,
        reconnect: bool,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.url = url
        self.name = name
        self.ui = ui
        self.token = token
        self.reconnect = reconnect
        self.ssl_context = ssl_context
        self.client: ChatClient | None = None
        self.status = 0
        self.final: str | None = None
        """Said last, after the input line is gone."""
        self.quitting = False
        self.connected = trio.Event()
        self.positions: dict[str, tuple[str, int] | None] = {}
        """The rooms we were in and the last message seen in each, to resume after a lost connection."""

    async def run(self) -> int:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._connection, nursery.cancel_scope)
            await self.connected.wait()
            while True:
                line = await self.ui.read_line()
                if line is None:
                    break
                if not await self._command(line):
                    break
            await self._quit()
            nursery.cancel_scope.cancel()
        await self.ui.finish(self.final)
        return self.status

    async def _login_name(self) -> str | None:
        """The name to log in with: ours, or (with no token to decide it) one the user gives."""
        while self.name is None and self.token is None:
            name = await self.ui.ask_name()
            if name is None:
                return None
            problem = name_problem(name)
            if problem:
                self.ui.error(f"{problem}; try another")
                continue
            self.name = name
        return self.name

    async def _connection(self, done: trio.CancelScope) -> None:
        # With a token the server decides the name: send only the one asked for, if any.
        requested = self.name
        backoff = 1.0
        while True:
            if not self.connected.is_set() and await self._login_name() is None and self.token is None:
                break  # the user ended input instead of giving a name
            try:
                async with open_chat_client(
                    self.url,
                    name=self.name if self.token is None else requested,
                    token=self.token,
                    ssl_context=self.ssl_context,
                    rooms=self.positions or None,
                ) as client:
                    self.client = client
                    # Kept up to date by the client; after a lost connection the
                    # next one asks for exactly the messages missed meanwhile.
                    self.positions = client.positions
                    self.name = client.name
                    self.ui.set_name(client.name)
                    self.ui.info(f"connected to {self.url} as {client.name}")
                    self.connected.set()
                    backoff = 1.0
                    async for event in client:
                        self.ui.show(event, client.name, client.room)
                        if isinstance(event, NameChanged):
                            self.name = event.name
                            self.ui.set_name(event.name)
                # The iteration ended at the goodbye we asked for.
                self.client = None
                break
            except LoginRefused as exc:
                self.client = None
                if not self.connected.is_set():
                    if exc.name_refused and self.token is None and self.ui.can_ask:
                        self.ui.error(f"login refused: {exc}; try another name")
                        self.name = None
                        continue
                elif exc.code == "name_taken" and self.reconnect:
                    # Our old connection may hold the name until the server sees it gone.
                    self.ui.error(f"login refused: {exc}; retrying in {backoff:g} s")
                    await trio.sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF)
                    continue
                self.final = f"login refused: {exc}"
                self.status = 1
            except TLSError as exc:
                self.client = None
                self.final = str(exc)
                self.status = 1
            except ConnectionLost as exc:
                self.client = None
                if self.quitting:
                    break
                if not self.connected.is_set():
                    self.final = str(exc)
                    self.status = 1
                elif not self.reconnect:
                    self.final = f"connection lost: {exc}"
                    self.status = 1
                else:
                    self.ui.error(f"connection lost: {exc}; reconnecting in {backoff:g} s")
                    await trio.sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF)
                    continue
            self.ui.close()
            break
        done.cancel()

    async def _quit(self) -> None:
        self.quitting = True
        client = self.client
        if client is None:
            return
        with trio.move_on_after(5):
            await client.quit()
            await trio.sleep_forever()  # the connection task ends us at the goodbye

    async def _command(self, line: str) -> bool:
        """Carry out one typed line; ``False`` to quit."""
        command = commands.parse_command(line)
        if command is None:
            return True
        if isinstance(command, commands.Quit):
            return False
        if isinstance(command, commands.CommandError):
            self.ui.show(Error("bad_command", command.message), self.name or "")
            return True
        if isinstance(command, commands.Help) and self.client is None:
            self.ui.show(HelpText(commands.HELP_LINES), self.name or "")
            return True
        client = self.client
        if client is None:
            self.ui.error("not connected; the line was not sent")
            return True
        try:
            if isinstance(command, commands.Who):
                names = await client.who()
                self.ui.show(WhoList(client.room, names), client.name)
            elif isinstance(command, commands.ListRooms):
                self.ui.show(RoomList(await client.rooms()), client.name)
            else:
                await client.command(command)
                if isinstance(command, commands.Say):
                    self.ui.echo(command.text, client.name)
                elif isinstance(command, commands.Action):
                    self.ui.echo_action(command.text, client.name, client.room)
        except ConnectionLost as exc:
            self.ui.error(f"not sent: {exc}")
        except ValueError as exc:  # a command this protocol has not got (/part on /v1)
            self.ui.error(f"not sent: {exc}")
        return True


def is_interactive() -> bool:
    """Whether ``triochat chat`` runs as the terminal client (else as a line filter)."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def usage_problem(url: str, name: str | None, token: str | None, cafile: str | None) -> str | None:
    """What is wrong with these ``triochat chat`` arguments, if anything (before connecting)."""
    scheme = url.partition(":")[0].lower()
    if token is not None and scheme not in ("ws", "wss"):
        return "--token is sent over ws:// and wss:// only"
    if cafile is not None and scheme not in ("wss", "tcps"):
        return "--cafile is for wss:// and tcps:// URLs"
    if name is None and token is None and not is_interactive():
        return "--name is required when standard input is not a terminal (or a --token that decides it)"
    return None


async def run_chat(
    url: str,
    name: str | None,
    *,
    token: str | None = None,
    reconnect: bool = True,
    interactive: bool | None = None,
    cafile: str | None = None,
) -> int:
    """Run the chat client; return the exit status (2 for an unreadable *cafile*).

    Without *name* and *token*, the terminal client asks for a name.
    """
    ssl_context = None
    if cafile is not None:
        try:
            ssl_context = client_ssl_context(cafile)
        except ValueError as exc:
            print(f"triochat chat: --cafile: {exc}", file=sys.stderr)
            return 2
    if interactive is None:
        interactive = is_interactive()
    ui: UI = TerminalUI(name) if interactive else FilterUI()
    session = ChatSession(url, name, ui, token=token, reconnect=reconnect, ssl_context=ssl_context)
    return await session.run()


__all__ = [
    "ChatSession",
    "FilterUI",
    "TerminalUI",
    "is_interactive",
    "run_chat",
    "sender_colour",
    "usage_problem",
]
