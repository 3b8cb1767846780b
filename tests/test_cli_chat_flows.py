"""``triochat chat`` end to end: names (asked, decided by a token), own actions, /nick,
reconnecting after a server shutdown, TLS with a private CA."""

import functools
import os
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import trio
import trustme

from tests.test_cli_chat import Tmux
from triochat import ChatServer
from triochat.auth import bearer_tokens
from triochat.cli import main
from triochat.testing import connect, open_test_server

CHAT = [sys.executable, "-m", "triochat", "chat"]


async def _run(command: list[str], stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(30):
        return await trio.run_process(
            command, stdin=stdin, capture_stdout=True, capture_stderr=True, check=False
        )


def _background(command: list[str]) -> Callable[..., Awaitable[object]]:
    """For ``nursery.start``: run *command* with pipes on stdin, stdout and stderr."""
    return functools.partial(
        trio.run_process,
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        check=False,
    )


class Output:
    """What a running client has printed on one of its pipes so far."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self.stream = stream
        self.text = ""

    async def wait_for(self, text: str) -> str:
        with trio.fail_after(20):
            while text not in self.text:
                chunk = await self.stream.receive_some()
                if not chunk:
                    raise AssertionError(f"{text!r} never came; got {self.text!r}")
                self.text += chunk.decode()
        return self.text

    async def rest(self) -> str:
        with trio.fail_after(20):
            while chunk := await self.stream.receive_some():
                self.text += chunk.decode()
        return self.text


# -- point 1: a token decides the name ------------------------------------------------


async def test_token_without_name_logs_in_as_the_token_says() -> None:
    async with open_test_server(auth=bearer_tokens({"t-1": "alice"})) as server:
        url = f"ws://127.0.0.1:{server.ws_port}"
        result = await _run([*CHAT, url, "--token", "t-1"], b"hello\n/who\n")
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr
    assert result.stderr.decode() == f"triochat: connected to {url} as alice\n"
    assert result.stdout.decode().splitlines() == ["*** 1 in #lobby: alice ***", "Goodbye alice."]


async def test_token_without_name_on_a_terminal_prompts_with_that_name() -> None:
    async with open_test_server(auth=bearer_tokens({"t-1": "alice"})) as server:
        tmux = Tmux()
        await _start(tmux, [*CHAT, f"ws://127.0.0.1:{server.ws_port}", "--token", "t-1"])
        try:
            screen = await tmux.wait_for("alice>")
            assert any("connected to" in line and "as alice" in line for line in screen)
        finally:
            await _stop(tmux)


def test_token_over_the_line_protocol_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chat", "tcp://127.0.0.1:1", "--token", "t"]) == 2
    assert "--token is sent over ws:// and wss:// only" in capsys.readouterr().err


# -- point 2: asked for a name ---------------------------------------------------------


async def _start(tmux: Tmux, command: list[str]) -> None:
    env = {**os.environ, "TERM": "xterm-256color"}
    await trio.run_process(
        [
            "tmux",
            "-L",
            tmux.socket,
            "new-session",
            "-d",
            "-s",
            "chat",
            "-x",
            "100",
            "-y",
            "20",
            " ".join(command),
        ],
        env=env,
    )


async def _stop(tmux: Tmux) -> None:
    await trio.run_process(["tmux", "-L", tmux.socket, "kill-server"], check=False)


async def _type(tmux: Tmux, text: str) -> None:
    await tmux.run("send-keys", "-t", "chat", "-l", text)
    await tmux.run("send-keys", "-t", "chat", "Enter")


async def _wait_bottom(tmux: Tmux, start: str) -> list[str]:
    """Wait until the last line on the screen (the input line) starts with *start*."""
    with trio.fail_after(20):
        while True:
            screen = await tmux.screen()
            lines = [line for line in screen if line]
            if lines and lines[-1].startswith(start):
                return screen
            await trio.sleep(0.05)


@pytest.mark.parametrize("scheme", ["ws", "tcp"])
async def test_terminal_asks_for_a_name_until_one_is_free_then_me_and_nick(scheme: str) -> None:
    async with open_test_server(tcp_port=0) as server:
        port = server.ws_port if scheme == "ws" else server.tcp_port
        holder = await connect(server, "tina")
        tmux = Tmux()
        await _start(tmux, [*CHAT, f"{scheme}://127.0.0.1:{port}"])
        try:
            await tmux.wait_for("Your name:")
            await _type(tmux, "bad name")
            await tmux.wait_for("may only contain")
            await _wait_bottom(tmux, "Your name:")
            await _type(tmux, "tina")  # taken: asked again, not ended
            await tmux.wait_for("try another name")
            screen = await _wait_bottom(tmux, "Your name:")
            assert any("login refused" in line and "tina" in line for line in screen)
            await _type(tmux, "tina_b")
            await _wait_bottom(tmux, "tina_b>")
            assert await holder.receive() == "*** tina_b has joined the chat ***"
            # point 3: our own action is shown to us, and the prompt follows /nick
            await _type(tmux, "/me dances")
            assert await holder.receive() == "* tina_b dances"
            await tmux.wait_for("* tina_b dances")
            await _type(tmux, "/nick tina2")
            assert await holder.receive() == "*** tina_b is now known as tina2 ***"
            await tmux.wait_for("you are now known as tina2")
            await _wait_bottom(tmux, "tina2>")
            await _type(tmux, "hello")
            assert await holder.receive() == "tina2: hello"
        finally:
            await _stop(tmux)


async def test_own_action_is_shown_and_the_prompt_follows_nick() -> None:
    async with open_test_server() as server:
        holder = await connect(server, "holder")
        tmux = Tmux()
        await _start(tmux, [*CHAT, f"ws://127.0.0.1:{server.ws_port}", "--name", "tina"])
        try:
            await _wait_bottom(tmux, "tina>")
            await _type(tmux, "/me dances")
            assert await holder.receive_until("* tina dances")
            screen = await tmux.wait_for("* tina dances")
            assert [line[6:] for line in screen if line.endswith("* tina dances")] == ["* tina dances"]
            await _type(tmux, "/nick tina2")
            await tmux.wait_for("you are now known as tina2")
            await _wait_bottom(tmux, "tina2>")
        finally:
            await _stop(tmux)


async def test_no_name_and_no_terminal_is_a_usage_error() -> None:
    result = await _run([*CHAT, "tcp://127.0.0.1:1"], b"")
    assert result.returncode == 2
    assert result.stderr.decode().strip() == (
        "triochat chat: --name is required when standard input is not a terminal "
        "(or a --token that decides it)"
    )


async def test_a_taken_name_in_a_script_ends_with_one_line_and_exit_1() -> None:
    async with open_test_server(tcp_port=0) as server:
        await connect(server, "tina")
        result = await _run([*CHAT, f"tcp://127.0.0.1:{server.tcp_port}", "--name", "tina"], b"hi\n")
    assert result.returncode == 1
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "login refused" in lines[0] and "taken" in lines[0]


# -- point 4: a graceful shutdown is retried ---------------------------------------------


@pytest.mark.parametrize("scheme", ["ws", "tcp"])
async def test_a_restarting_server_is_reconnected_to(scheme: str) -> None:
    async with trio.open_nursery() as nursery:
        async with open_test_server(tcp_port=0) as first:
            port = first.ws_port if scheme == "ws" else first.tcp_port
            settings = {"port": port} if scheme == "ws" else {"tcp_port": port}
            watcher = await connect(first, "watcher")
            proc: trio.Process = await nursery.start(
                _background([*CHAT, f"{scheme}://127.0.0.1:{port}", "--name", "reader"])
            )
            assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
            out, err = Output(proc.stdout), Output(proc.stderr)
            with trio.fail_after(20):
                assert await watcher.receive() == "*** reader has joined the chat ***"
            await first.stop()
        await err.wait_for("connection lost: server is shutting down; reconnecting in 1 s")
        async with open_test_server(**settings) as second:
            watcher = await connect(second, "watcher")
            with trio.fail_after(20):
                assert await watcher.receive() == "*** reader has joined the chat ***"
            await watcher.send("welcome back")
            await out.wait_for("watcher: welcome back")
            await proc.stdin.aclose()
            with trio.fail_after(20):
                assert await proc.wait() == 0
        assert (await out.rest()).splitlines()[-1] == "Goodbye reader."
        assert "Traceback" not in await err.rest()


async def test_no_reconnect_exits_when_the_server_shuts_down() -> None:
    async with trio.open_nursery() as nursery:
        async with open_test_server() as server:
            watcher = await connect(server, "watcher")
            proc: trio.Process = await nursery.start(
                _background([*CHAT, f"ws://127.0.0.1:{server.ws_port}", "--name", "reader", "--no-reconnect"])
            )
            assert proc.stderr is not None
            with trio.fail_after(20):
                assert await watcher.receive() == "*** reader has joined the chat ***"
            await server.stop()
        with trio.fail_after(20):
            assert await proc.wait() == 1
        err = await Output(proc.stderr).rest()
        assert err.strip().splitlines()[-1] == "triochat: connection lost: server is shutting down"


# -- point 5: TLS with a private CA ------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_server(ca: trustme.CA) -> AsyncIterator[ChatServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    async with open_test_server(tcp_port=0, ssl_context=context) as server:
        yield server


def _tls_url(server: ChatServer, scheme: str) -> str:
    return f"{scheme}://127.0.0.1:{server.ws_port if scheme == 'wss' else server.tcp_port}"


@pytest.mark.parametrize("scheme", ["wss", "tcps"])
async def test_untrusted_certificate_is_one_line_exit_1_at_once(tls_server: ChatServer, scheme: str) -> None:
    start = trio.current_time()
    result = await _run([*CHAT, _tls_url(tls_server, scheme), "--name", "alice"], b"")
    assert trio.current_time() - start < 8  # not the 10 s connect timeout
    assert result.returncode == 1
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"triochat: cannot connect to {_tls_url(tls_server, scheme)}: ")
    assert "certificate verify failed: " in lines[0]


@pytest.mark.parametrize("scheme", ["wss", "tcps"])
async def test_cafile_trusts_the_private_ca(
    tls_server: ChatServer, ca: trustme.CA, tmp_path: Path, scheme: str
) -> None:
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    watcher = await connect(tls_server, "watcher")
    result = await _run(
        [*CHAT, _tls_url(tls_server, scheme), "--name", "alice", "--cafile", str(cafile)], b"over TLS\n"
    )
    assert result.returncode == 0, result.stderr
    assert await watcher.receive_until("*** alice has left the chat ***") == [
        "*** alice has joined the chat ***",
        "alice: over TLS",
        "*** alice has left the chat ***",
    ]


def test_cafile_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.pem"
    assert main(["chat", "wss://127.0.0.1:1", "--name", "a", "--cafile", str(missing)]) == 2
    assert f"--cafile: cannot load CA certificates from {missing}" in capsys.readouterr().err
    assert main(["chat", "ws://127.0.0.1:1", "--name", "a", "--cafile", str(missing)]) == 2
    assert "--cafile is for wss:// and tcps:// URLs" in capsys.readouterr().err
