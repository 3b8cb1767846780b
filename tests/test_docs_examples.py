"""Every program the documentation shows is a file in docs/examples/ (or examples/), and runs here.

The pages include the files with ``literalinclude``, so what a reader copies is
what these tests run, against a real server on loopback.  Shell commands on the
pages are parsed with triochat's own argument parser, and the tutorial's ``nc``
transcript is replayed against a server.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import trio
import trio.testing
import trustme

from tests.test_readme import loopback_servers
from triochat import open_chat_client
from triochat.cli import build_parser
from triochat.testing import connect, open_test_server

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
# The pages written for the site (the older pages beside them have their own tests).
SITE_PAGES = sorted(
    [DOCS / "index.md", DOCS / "changelog.md"]
    + [page for part in ("tutorial", "howto", "reference", "topics") for page in (DOCS / part).glob("*.md")]
)


def load(name: str) -> ModuleType:
    """docs/examples/NAME.py as a fresh module (as ``python NAME.py`` would run it)."""
    spec = importlib.util.spec_from_file_location(f"docs_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shown_output(page: str, example: str) -> list[str]:
    """The lines a page shows as the output of docs/examples/EXAMPLE.py: its next ``text`` block."""
    text = (DOCS / page).read_text(encoding="utf-8")
    include = text.index(f"examples/{example}.py")
    block = re.compile(r"^```text\n(.*?)^```$", re.M | re.S).search(text, include)
    assert block is not None, f"{page} shows no output after {example}.py"
    return block.group(1).splitlines()


def included_files() -> set[Path]:
    included = set()
    for page in SITE_PAGES:
        for target in re.findall(r"^```\{literalinclude\} (\S+)$", page.read_text(encoding="utf-8"), re.M):
            included.add((page.parent / target).resolve())
    return included


def test_every_docs_example_is_on_a_page_and_has_a_test() -> None:
    included = included_files()
    examples = sorted(EXAMPLES.glob("*.py"))
    assert examples
    for example in examples:
        assert example.resolve() in included, f"docs/examples/{example.name} is on no page"
        assert f"test_{example.stem}_example" in globals(), f"docs/examples/{example.name} has no test"
    for path in included:
        assert path.is_file(), path


def test_the_pages_show_python_only_from_files() -> None:
    # A Python block typed into a page would never run; every program is a tested file.
    for page in SITE_PAGES:
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"^```(python|py|pycon)\s*$", text, re.M), (
            f"{page}: a Python block not from a file"
        )


def shell_commands() -> list[tuple[Path, list[str]]]:
    commands = []
    for page in SITE_PAGES:
        blocks = re.findall(r"^```(sh|console)\n(.*?)^```$", page.read_text(encoding="utf-8"), re.M | re.S)
        for language, block in blocks:
            for line in block.splitlines():
                if language == "console":  # a transcript: only what is typed at the prompt
                    if not line.startswith("$ "):
                        continue
                    line = line[2:]
                for part in line.split("#", 1)[0].split("|"):
                    words = part.split()
                    for i, word in enumerate(words):
                        if word.endswith("triochat") and not word.startswith("'"):
                            commands.append((page, words[i + 1 :]))
    return commands


def test_every_triochat_command_on_the_pages_parses() -> None:
    commands = shell_commands()
    assert len(commands) >= 10
    parser = build_parser()
    for page, argv in commands:
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"{page.name}: triochat {' '.join(argv)} does not parse")


async def test_first_bot_example(monkeypatch: pytest.MonkeyPatch) -> None:
    example = load("first_bot")
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
            # What the tutorial shows after the program.
            said, answer = shown_output("tutorial/first-bot.md", "first_bot")
            await alice.send(said.removeprefix("alice: "))
            assert [await bob.receive(), await bob.receive()] == [said, answer]
            await alice.send("thanks bob++ and carol++")
            assert await bob.receive() == "alice: thanks bob++ and carol++"
            assert await bob.receive() == "karmabot: bob has 2 karma"
            assert await bob.receive() == "karmabot: carol has 1 karma"
            await bob.send("alice-- ALICE--")
            assert await bob.receive() == "karmabot: alice has -1 karma"
            assert await bob.receive() == "karmabot: ALICE has -2 karma"
            await bob.send("bob++")
            assert await bob.receive() == "[private] karmabot: no karma for yourself"
            await trio.testing.wait_all_tasks_blocked()
            assert bob.lines_nowait() == []
            await server.stop()


def test_test_first_bot_example() -> None:
    # The test file as a user would run it beside first_bot.py: no project configuration.
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", "/dev/null"]
    done = subprocess.run(
        [*command, "--rootdir", str(EXAMPLES), str(EXAMPLES / "test_first_bot.py")],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


async def test_embedded_app_example(capsys: pytest.CaptureFixture[str]) -> None:
    with trio.fail_after(10):
        await load("embedded_app").main()
    assert capsys.readouterr().out.splitlines() == shown_output("tutorial/embedding.md", "embedded_app")


async def test_persistence_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    example = load("persistence")
    path = tmp_path / "chat.db"
    with trio.fail_after(20):
        await example.main(str(path))
    shown = shown_output("howto/persistence.md", "persistence")
    assert shown == ["alice: remember this (seq 1)"]
    assert capsys.readouterr().out.splitlines() == shown
    assert path.is_file()
    with trio.fail_after(20):  # a third server on the file: positions go on
        await example.main(str(path))
    assert capsys.readouterr().out.splitlines() == [
        "alice: remember this (seq 1)",
        "alice: remember this (seq 2)",
    ]


async def test_token_auth_example(capsys: pytest.CaptureFixture[str]) -> None:
    with trio.fail_after(10):
        await load("token_auth").main()
    assert capsys.readouterr().out.splitlines() == shown_output("howto/auth.md", "token_auth")


async def test_custom_auth_example(capsys: pytest.CaptureFixture[str]) -> None:
    example = load("custom_auth")
    with trio.fail_after(10):
        await example.main()
    assert capsys.readouterr().out.splitlines() == shown_output("howto/auth.md", "custom_auth")
    hook = example.InviteCodes({"c": "carol"})
    with trio.fail_after(10):
        async with open_test_server(auth=hook, tcp_port=0) as server:
            # Line users cannot send an invite code: the hook refuses them with its reason.
            refused = await connect(server)
            assert await refused.receive_all() == ["error: refused: WebSocket clients only"]


async def test_tls_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ca = trustme.CA()
    ca.issue_cert("localhost").private_key_and_cert_chain_pem.write_to_path(tmp_path / "server.pem")
    ca.cert_pem.write_to_path(tmp_path / "ca.pem")
    with trio.fail_after(10):
        await load("tls").main(str(tmp_path / "server.pem"), None, str(tmp_path / "ca.pem"))
    assert capsys.readouterr().out.splitlines() == shown_output("howto/tls.md", "tls")


def console_blocks(page: str) -> list[list[str]]:
    text = (DOCS / page).read_text(encoding="utf-8")
    return [block.splitlines() for block in re.findall(r"^```console\n(.*?)^```$", text, re.M | re.S)]


async def test_the_tutorial_transcript_is_what_nc_shows() -> None:
    first, second = console_blocks("tutorial/chatting.md")
    assert second[: len(first)] == first
    command, *expected = second
    assert command == "$ nc localhost 8724"
    seen: list[str] = []
    with trio.fail_after(10):
        async with open_test_server() as server:
            alice = await connect(server)

            async def receive(count: int = 1) -> None:
                for _ in range(count):
                    seen.append(await alice.receive())

            async def send(line: str) -> None:
                seen.append(line)
                await alice.send(line)

            await receive(2)  # the banner and the prompt
            await send("alice")
            await receive()
            url = f"ws://127.0.0.1:{server.ws_port}"
            async with open_chat_client(url, name="bob") as bob:  # as `triochat chat` does
                await receive()
                await bob.send("hi alice")
                await receive()
                await send("hello bob")
                await send("/who")
                await receive()
                await send("/me waves")
                await send("/quit")
                seen.extend(await alice.receive_all())
    assert seen == expected


def test_the_docs_examples_run_as_scripts(tmp_path: Path) -> None:
    # `python embedded_app.py` as the tutorial says: the __main__ block works too.
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "embedded_app.py")],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == shown_output("tutorial/embedding.md", "embedded_app")


def test_the_tutorial_shows_what_triochat_serve_prints() -> None:
    text = (DOCS / "tutorial/install.md").read_text(encoding="utf-8")
    (shown,) = re.findall(r"^```text\n(.*?)^```$", text, re.M | re.S)
    command = [
        sys.executable,
        "-m",
        "triochat",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--tcp-port",
        "0",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    ) as proc:
        try:
            assert proc.stdout is not None
            printed = [proc.stdout.readline(), proc.stdout.readline()]
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    # The tutorial's server has the default ports; this one, free ones.
    tcp, ws = re.findall(r":(\d+)", "".join(printed))
    assert "".join(printed).replace(f":{tcp}", ":8724").replace(f":{ws}/", ":8723/") == shown
