"""The README's snippets are the files in examples/, and each one runs as shown."""

import importlib.util
import re
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import trio
import trio.testing

from triochat import ChatServer
from triochat.cli import build_parser, serve
from triochat.testing import connect, open_test_server

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"


def readme_blocks(language: str) -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def test_every_python_snippet_is_an_example_file_and_back() -> None:
    examples = {path.name: path.read_text(encoding="utf-8") for path in EXAMPLES.glob("*.py")}
    blocks = readme_blocks("python")
    assert blocks
    for block in blocks:
        assert block in examples.values(), f"README snippet is not a file in examples/:\n{block}"
    for name, text in examples.items():
        assert text in blocks, f"examples/{name} is not in the README"


def test_the_config_snippet_is_a_valid_config(tmp_path: Path) -> None:
    (block,) = readme_blocks("toml")
    config = tmp_path / "triochat.toml"
    config.write_text(block)
    args = build_parser().parse_args(["serve", "--config", str(config)])
    server = serve.build_server(serve.settings_from(args))
    assert (server.config.host, server.config.tcp_port) == ("127.0.0.1", 0)
    assert server.config.rooms == ("lobby", "dev")


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def loopback_servers(
    module: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[ChatServer], trio.Event]:
    """Make the example's ChatServer bind loopback free ports (its fixed ones may be taken).

    Returns the servers it makes, and an event set once one has started.
    """
    created: list[ChatServer] = []
    started = trio.Event()

    class LoopbackChatServer(ChatServer):
        def __init__(self, host: str = "localhost", port: int = 8723, **settings: Any) -> None:
            if settings.get("tcp_port") is not None:
                settings["tcp_port"] = 0
            super().__init__("127.0.0.1", 0, **settings)
            created.append(self)

        async def start(self) -> None:
            await super().start()
            started.set()

    monkeypatch.setattr(module, "ChatServer", LoopbackChatServer)
    return created, started


async def test_embed_server_example(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    example = load("embed_server")
    created, started = loopback_servers(example, monkeypatch)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(example.main)
            await started.wait()
            (server,) = created
            assert server.config.tcp_port is None  # WebSocket only, as group-terminal
            assert [listener.transport for listener in server.listeners] == ["ws"]
            alice = await connect(server, "alice")
            await alice.send("hello")
            await trio.testing.wait_all_tasks_blocked()
            assert capsys.readouterr().out == "Received 'hello' from alice\n"
            await server.stop()  # main() returns from join()


async def test_free_port_example_uses_port_0_for_every_listener(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    example = load("free_port")
    servers: list[ChatServer] = []
    entered = trio.Event()
    original = example.open_chat_server

    def recording(*args: Any, **kwargs: Any) -> Any:
        context = original(*args, **kwargs)

        class Recorder:
            async def __aenter__(self) -> ChatServer:
                server: ChatServer = await context.__aenter__()
                servers.append(server)
                entered.set()
                return server

            async def __aexit__(self, *exc: Any) -> Any:
                return await context.__aexit__(*exc)

        return Recorder()

    monkeypatch.setattr(example, "open_chat_server", recording)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(example.main)
            await entered.wait()
            await trio.testing.wait_all_tasks_blocked()
            (server,) = servers
            assert (server.config.port, server.config.tcp_port) == (0, 0)
            printed = capsys.readouterr().out.splitlines()
            assert printed == [listener.url for listener in server.listeners]
            assert {listener.transport for listener in server.listeners} == {"ws", "tcp"}
            for listener in server.listeners:
                assert listener.port not in (0, 8723, 8724)
            nursery.cancel_scope.cancel()


async def test_port_in_use_example_catches_a_plain_oserror(capsys: pytest.CaptureFixture[str]) -> None:
    example = load("port_in_use")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with trio.fail_after(10):
            await example.main(port)
    err = capsys.readouterr().err
    assert err.startswith("cannot serve: ")
    assert f":{port}" in err and "WebSocket" in err


async def test_moderation_example(monkeypatch: pytest.MonkeyPatch) -> None:
    example = load("moderation")
    created, started = loopback_servers(example, monkeypatch)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(example.main)
            await started.wait()
            (server,) = created
            assert server.tcp_port is not None  # it asked for the line protocol
            alice = await connect(server, "alice")
            bob = await connect(server, "bob")
            assert await alice.receive() == "*** bob has joined the chat ***"
            await bob.send("cheap spam here")
            assert await bob.receive() == "[private] moderator: dropped: no spam here"
            await bob.send("  hi  ")
            assert await alice.receive() == "bob: hi"
            assert alice.lines_nowait() == []
            await server.stop()


async def test_client_example(capsys: pytest.CaptureFixture[str]) -> None:
    example = load("client")
    with trio.fail_after(10):
        async with open_test_server() as server:
            alice = await connect(server, "alice")
            async with trio.open_nursery() as nursery:
                nursery.start_soon(example.main, f"ws://127.0.0.1:{server.ws_port}")
                assert await alice.receive() == "*** bot has joined the chat ***"
                assert await alice.receive() == "bot: hello"
                await alice.send("!ping")
                assert await alice.receive() == "bot: pong"
                assert capsys.readouterr().out == "('alice', 'bot')\n"
                nursery.cancel_scope.cancel()


def test_testing_example_runs_as_copied_without_trio_mode() -> None:
    # No project configuration (-c /dev/null): as in a user's project without trio_mode.
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", "/dev/null"]
    done = subprocess.run(
        [*command, "--rootdir", str(EXAMPLES), str(EXAMPLES / "test_my_bot.py")],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


async def test_a_taken_port_is_a_plain_oserror_from_start_and_serve() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with trio.fail_after(10):
            with pytest.raises(OSError, match=f"WebSocket on 127.0.0.1:{port}"):
                await ChatServer("127.0.0.1", port).start()
            async with trio.open_nursery() as nursery:
                with pytest.raises(OSError, match=f"line protocol on 127.0.0.1:{port}"):
                    await nursery.start(ChatServer("127.0.0.1", 0, tcp_port=port).serve)


async def test_the_terminal_transcript_is_what_nc_shows(chat_server: ChatServer) -> None:
    (block,) = readme_blocks("console")
    command, *expected = block.splitlines()
    assert command == "$ nc localhost 8724"
    seen: list[str] = []
    alice = await connect(chat_server)

    async def receive(count: int = 1) -> None:
        for _ in range(count):
            seen.append(await alice.receive())

    async def send(line: str) -> None:
        seen.append(line)
        await alice.send(line)

    with trio.fail_after(10):
        await receive(2)  # the banner and the prompt
        await send("alice")
        await receive()
        bob = await connect(chat_server, "bob")
        await receive()
        await bob.send("hi alice")
        await receive()
        await send("/who")
        await receive()
        await send("/msg bob see you in #dev")
        await receive()
        await send("/join dev")
        await receive()
    assert seen == expected


def test_every_triochat_command_in_the_readme_parses() -> None:
    commands = []
    for block in readme_blocks("sh"):
        for line in block.splitlines():
            line = line.split("#", 1)[0]
            for part in line.split("|"):
                words = part.split()
                for i, word in enumerate(words):
                    if word.endswith("triochat") and not word.startswith("'"):
                        commands.append(words[i + 1 :])
    assert len(commands) >= 5
    parser = build_parser()
    for argv in commands:
        parser.parse_args(argv)  # SystemExit (a failed test) on a stale flag
