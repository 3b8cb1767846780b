"""Every program the documentation shows is a file in docs/examples/ (or examples/), and runs here.

The pages include the files with ``literalinclude``, so what a reader copies is
what these tests run, against a real server on loopback.  Shell commands on the
pages are parsed with triochat's own argument parser, and the tutorial's ``nc``
transcript is replayed against a server.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import re
import signal
import subprocess
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from types import ModuleType

import pytest
import trio
import trio.testing
import trustme

from tests.cluster.conftest import COREDIS_LEAK, command
from tests.redisproc import start_redis
from tests.test_docs import subparsers
from tests.test_readme import loopback_servers
from triochat import open_chat_client
from triochat._config import DEFAULT_WS_PORT
from triochat.cli import build_parser
from triochat.testing import LineTestClient, connect, connect_tcp, open_test_server

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


def text_blocks(page: str, after: str = "") -> list[list[str]]:
    """The ``text`` blocks of a page (those after the first mention of *after*), as lines."""
    text = (DOCS / page).read_text(encoding="utf-8")
    text = text[text.index(after) :]
    return [block.splitlines() for block in re.findall(r"^```text\n(.*?)^```$", text, re.M | re.S)]


def prose(page: str) -> str:
    """A page's text with its white space collapsed (a quoted line may wrap on the page)."""
    return " ".join((DOCS / page).read_text(encoding="utf-8").split())


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


async def test_moderation_bot_example(monkeypatch: pytest.MonkeyPatch) -> None:
    example = load("moderation_bot")
    created, started = loopback_servers(example, monkeypatch)
    page = "howto/moderation-bot.md"
    room_sees, spammer_sees = text_blocks(page, after="examples/moderation_bot.py")[:2]
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery, AsyncExitStack() as clients:
            nursery.start_soon(example.main)
            await started.wait()
            (server,) = created
            assert server.tcp_port is not None

            async def client(name: str | None = None) -> LineTestClient:
                assert server.tcp_port is not None
                new = await connect_tcp("127.0.0.1", server.tcp_port, name)
                clients.push_async_callback(new.aclose)  # closed even when a check fails
                return new

            alice = await client("alice")
            spammer = await client("spammer")
            assert await alice.receive() == "*** spammer has joined the chat ***"
            await spammer.send("FREE CRYPTO here")  # what the page says spammer wrote
            # The spam itself reaches nobody: the room's next line is the mute.
            assert [await alice.receive()] == room_sees
            assert [await spammer.receive(), await spammer.receive()] == [spammer_sees[0], *room_sees]
            await spammer.send("hello?")  # muted: refused before the chain
            assert await spammer.receive() == spammer_sees[1]
            await alice.send("clean words")  # others still chat
            assert await spammer.receive() == "alice: clean words"

            for strike in (2, 3):
                await server.unmute("spammer", "lobby")
                assert await alice.receive() == "*** spammer was unmuted in #lobby by server ***"
                assert await spammer.receive() == "*** spammer was unmuted in #lobby by server ***"
                await spammer.send("buy now, buy now")
                if strike == 2:
                    assert await spammer.receive() == spammer_sees[0]
                    assert await spammer.receive() == room_sees[0]
                    assert await alice.receive() == room_sees[0]
            banned = "*** spammer was banned by modbot for 1h (spam, third time) ***"
            assert [await alice.receive(), await alice.receive()] == [
                banned,
                "*** spammer has left the chat (banned by modbot) ***",
            ]
            assert await spammer.receive_all() == [
                "error: you were banned by modbot for 1h (spam, third time)"
            ]
            assert f"`{banned}`" in prose(page) and "(`banned by modbot`)" in prose(page)

            again = await client()
            assert [await again.receive(), await again.receive()][1] == "Enter your name:"
            await again.send("spammer")
            refusal = await again.receive()
            assert refusal == "error: spammer is banned for 1h more (spam, third time)"
            assert f"(`{refusal}`)" in prose(page)
            await server.stop()


async def test_health_check_example(capsys: pytest.CaptureFixture[str]) -> None:
    example = load("health_check")
    with trio.fail_after(20):
        async with open_test_server(metrics_port=0) as server:
            (http,) = [listener for listener in server.listeners if listener.transport == "http"]
            url = f"http://127.0.0.1:{http.port}/readyz"
            assert await trio.to_thread.run_sync(example.check, url) == 0
            # (stderr is compared by its last line: the server's log may come before it)
            out, err = capsys.readouterr()
            assert out == "ready\n" and "not ready" not in err
            runtime = server._runtime
            assert runtime is not None
            runtime.health.checks.append(lambda: "redis: unreachable")
            assert await trio.to_thread.run_sync(example.check, url) == 1
            out, err = capsys.readouterr()
            assert out == "" and err.splitlines()[-1] == "not ready (503): redis: unreachable"
            port = http.port
        # Nobody listens there any more.
        assert await trio.to_thread.run_sync(example.check, f"http://127.0.0.1:{port}/readyz") == 1
        assert capsys.readouterr().err.splitlines()[-1].startswith("no answer: ")
    assert "python health_check.py http://127.0.0.1:9723/readyz" in prose("howto/monitor.md")


def test_the_operators_page_shows_the_refusal_without_proof() -> None:
    from triochat import ServerConfig

    (refusal, *_) = text_blocks("howto/operators.md")
    with pytest.raises(ValueError) as raised:
        ServerConfig(operators=("op",))
    assert refusal == [f"triochat serve: {raised.value}"]


async def test_the_operator_transcript_is_what_nc_shows() -> None:
    (block,) = console_blocks("howto/operators.md")
    command, *expected = block
    assert command == "$ nc localhost 8724"
    (bob_sees,) = text_blocks("howto/operators.md", after="Meanwhile `bob` saw")[:1]
    # What a line typed at the prompt is: the name after the prompt, then commands.
    typed = {
        i for i, line in enumerate(expected) if line.startswith("/") or expected[i - 1] == "Enter your name:"
    }
    seen: list[str] = []
    with trio.fail_after(10):
        # The server the page starts: --operator op --local-operators (nc from loopback).
        async with (
            open_test_server(tcp_port=0, operators=["op"], local_operators=True) as server,
            AsyncExitStack() as clients,
        ):
            assert server.tcp_port is not None
            bob = await connect_tcp("127.0.0.1", server.tcp_port, "bob")
            clients.push_async_callback(bob.aclose)
            op = await connect_tcp("127.0.0.1", server.tcp_port)
            clients.push_async_callback(op.aclose)
            for i, line in enumerate(expected):
                if i in typed:
                    seen.append(line)
                    await op.send(line)
                elif line == expected[-1]:
                    seen.extend(await op.receive_all())
                else:
                    seen.append(await op.receive())
            assert await bob.receive_all() == bob_sees
    assert seen == expected


# -- the operations pages: what they name exists ---------------------------------------------

OPS_PAGES = ("howto/deploy.md", "howto/monitor.md", "howto/operators.md", "howto/moderation-bot.md")
OTHER_PROGRAMS_FLAGS = {"--stop-timeout"}  # docker run's
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]*")


def triochat_flags(command: str | None = None) -> set[str]:
    """Every option of every ``triochat`` command (or of one)."""
    return {
        flag
        for name, parser in subparsers(build_parser()).items()
        if command in (None, name)
        for action in parser._actions
        for flag in action.option_strings
    }


def test_the_flag_pattern_finds_flags_and_not_arrows() -> None:
    line = "triochat serve --trusted-proxy ::1 (--no-web) ---> nginx -- wss `--stop-timeout`"
    assert FLAG.findall(line) == ["--trusted-proxy", "--no-web", "--stop-timeout"]


def test_the_operations_pages_name_real_flags_keys_and_files() -> None:
    flags = triochat_flags()
    assert {"--trusted-proxy", "--allow-origin", "--operator", "--metrics-port"} <= flags
    serve_keys = {flag.removeprefix("--") for flag in triochat_flags("serve")}
    for name in OPS_PAGES:
        text = (DOCS / name).read_text(encoding="utf-8")
        for flag in FLAG.findall(text):
            assert flag in flags | OTHER_PROGRAMS_FLAGS, f"{name} names {flag}, which no triochat command has"
        # `key = value`: a key of the configuration file, i.e. a flag of serve without "--".
        for key in re.findall(r"`([a-z][a-z-]*) = ", text):
            assert key in serve_keys, f"{name}: {key} is not a key of triochat serve --config"
        for path in re.findall(r"(?<![\w/])docs/[\w./-]+", text):
            assert (ROOT / path.rstrip(".")).exists(), f"{name} names {path}, which does not exist"
    deploy = (DOCS / "howto/deploy.md").read_text(encoding="utf-8")
    for target in (
        "../examples/triochat.toml",
        "../deploy/triochat.service",
        "../deploy/nginx.conf",
        "../deploy/Dockerfile",
    ):
        assert f"```{{literalinclude}} {target}\n" in deploy, target


def test_the_deploy_page_quotes_the_configuration_it_explains() -> None:
    import tomllib

    settings = tomllib.loads((EXAMPLES / "triochat.toml").read_text(encoding="utf-8"))["serve"]
    text = prose("howto/deploy.md")
    # The values the page explains are the file's.
    assert f'`host = "{settings["host"]}"`' in text
    assert f"`trusted-proxy = {settings['trusted-proxy']}`".replace("'", '"') in text
    assert f'`store = "{settings["store"]}"`' in text
    assert f"`metrics-port = {settings['metrics-port']}`" in text
    nginx = (DOCS / "deploy/nginx.conf").read_text(encoding="utf-8")
    for directive in ("proxy_read_timeout 75s", "proxy_set_header Host $host", "proxy_buffering off"):
        assert directive in nginx and f"`{directive}" in text, directive


def test_the_prometheus_example_scrapes_the_metrics_port() -> None:
    import tomllib

    from triochat.ops.metrics import METRICS_PATH

    yaml = importlib.import_module("yaml")  # PyYAML comes with myst-parser (the docs extra)
    text = (DOCS / "howto/monitor.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"^```yaml\n(.*?)^```$", text, re.M | re.S)
    (job,) = yaml.safe_load(block)["scrape_configs"]
    assert job["metrics_path"] == METRICS_PATH
    (target,) = job["static_configs"][0]["targets"]
    settings = tomllib.loads((EXAMPLES / "triochat.toml").read_text(encoding="utf-8"))["serve"]
    port = settings["metrics-port"]
    assert target == f"{settings['host']}:{port}"
    assert f"--metrics-port {port}\n" in text and f"http://127.0.0.1:{port}/metrics" in text


# -- scaling out with Redis ------------------------------------------------------------------

SCALE_OUT = "howto/scale-out.md"
REDIS_SERVER_FLAGS = {"--bind", "--port", "--appendonly", "--requirepass"}  # redis-server's


def page_commands(page: str, program: str) -> list[list[str]]:
    """The *program* command lines of a page's ``sh`` blocks, split as a shell would."""
    import shlex

    text = (DOCS / page).read_text(encoding="utf-8")
    return [
        shlex.split(line)[1:]
        for block in re.findall(r"^```sh\n(.*?)^```$", text, re.M | re.S)
        for line in block.splitlines()
        if line.startswith(program + " ")
    ]


def test_the_scale_out_page_names_real_flags_keys_and_files() -> None:
    from triochat import ServerConfig

    text = (DOCS / SCALE_OUT).read_text(encoding="utf-8")
    assert "scale-out\n" in (DOCS / "howto/index.md").read_text(encoding="utf-8")
    flags = triochat_flags()
    assert {"--redis", "--redis-lease"} <= flags
    for flag in FLAG.findall(text):
        assert flag in flags | REDIS_SERVER_FLAGS, f"{SCALE_OUT} names {flag}, which no triochat command has"
    for flag in {flag for argv in page_commands(SCALE_OUT, "redis-server") for flag in argv[::2]}:
        assert flag in REDIS_SERVER_FLAGS, flag
    serve_keys = {flag.removeprefix("--") for flag in triochat_flags("serve")}
    for key in re.findall(r"`([a-z][a-z-]*) = ", text):
        assert key in serve_keys, f"{SCALE_OUT}: {key} is not a key of triochat serve --config"
    for path in re.findall(r"(?<![\w/])docs/[\w./-]+", text):
        assert (ROOT / path.rstrip(".")).exists(), f"{SCALE_OUT} names {path}, which does not exist"
    # Each node's command parses and makes a valid configuration with the Redis on the page.
    parser = build_parser()
    serves = [argv for argv in page_commands(SCALE_OUT, "triochat") if argv[0] == "serve"]
    assert len(serves) == 2
    (redis_argv,) = page_commands(SCALE_OUT, "redis-server")
    password = redis_argv[redis_argv.index("--requirepass") + 1]
    host, port = redis_argv[redis_argv.index("--bind") + 1], redis_argv[redis_argv.index("--port") + 1]
    for argv in serves:
        args = parser.parse_args(argv)
        assert args.redis_url == f"redis://:{password}@{host}:{port}/0"
        ServerConfig(host=args.host, redis_url=args.redis_url)
    # The upstream block is the deploy recipe's, with the two nodes' addresses.
    nginx = (DOCS / "deploy/nginx.conf").read_text(encoding="utf-8")
    assert "upstream triochat {" in nginx and "proxy_pass http://triochat;" in nginx
    (upstream,) = re.findall(r"^```nginx\n(.*?)^```$", text, re.M | re.S)
    nodes = re.findall(r"^\s+server ([\d.]+):(\d+);$", upstream, re.M)
    assert nodes == [(parser.parse_args(argv).host, str(DEFAULT_WS_PORT)) for argv in serves]


@COREDIS_LEAK
async def test_two_nodes_example(capsys: pytest.CaptureFixture[str]) -> None:
    # A Redis with the page's options, password included, on a free loopback port.
    (redis_argv,) = page_commands(SCALE_OUT, "redis-server")
    password = redis_argv[redis_argv.index("--requirepass") + 1]
    with start_redis("--appendonly", redis_argv[redis_argv.index("--appendonly") + 1]) as redis:
        assert command(redis.port, "CONFIG", "SET", "requirepass", password) == "+OK\r\n"
        assert command(redis.port, "PING").startswith("-NOAUTH")
        with trio.fail_after(30):
            await load("two_nodes").main(f"redis://:{password}@127.0.0.1:{redis.port}/0")
        gc.collect()
    assert capsys.readouterr().out.splitlines() == shown_output(SCALE_OUT, "two_nodes")


def test_a_node_refuses_a_redis_url_without_the_password() -> None:
    # The page's advice holds: a Redis with a password does not serve a node without it,
    # and `triochat serve` says so in the one line the page shows, with status 1.
    (redis_argv,) = page_commands(SCALE_OUT, "redis-server")
    password = redis_argv[redis_argv.index("--requirepass") + 1]
    with start_redis() as redis:
        assert command(redis.port, "CONFIG", "SET", "requirepass", password) == "+OK\r\n"
        done = subprocess.run(
            [sys.executable, "-m", "triochat", "serve", "--port", "0", "--redis", redis.url],
            capture_output=True,
            text=True,
            timeout=50,
            check=False,
        )
    assert done.returncode == 1, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"triochat serve: cannot reach Redis at {redis.url}: ")
    assert "`triochat serve: cannot reach Redis at URL: REASON`" in prose(SCALE_OUT)
