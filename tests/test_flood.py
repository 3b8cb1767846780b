"""Flood control: the token bucket, its place in the runtime, and its settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from triochat import RateLimit, ServerConfig
from triochat._ratelimit import DEFAULT_BURST, DEFAULT_RATE, TokenBucket
from triochat.auth import bearer_tokens
from triochat.cli import build_parser, serve
from triochat.cli.serve import UsageError, build_server
from triochat.testing import connect, open_test_server, open_websocket

TOO_FAST = (
    "error: too fast: you may send 20 messages at once, then 10 per second; the rest are delayed, not lost"
)


def test_the_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(RateLimit(rate=10, burst=3), now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.1)
    # The caller waited its 0.1 s: the next token is due 0.1 s later.
    assert bucket.take(0.1) == pytest.approx(0.1)
    assert bucket.take(0.2) == pytest.approx(0.1)
    # Quiet for a while: the bucket refills up to the burst, no further.
    assert bucket.tokens(100.0) == 3
    assert [bucket.take(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(100.0) > 0


def test_a_full_bucket_ends_the_flood_episode() -> None:
    bucket = TokenBucket(RateLimit(rate=1, burst=2), now=0.0)
    bucket.take(0.0)
    bucket.take(0.0)
    assert bucket.take(0.0) > 0
    bucket.warned = True
    bucket.take(1.5)  # not yet full again: still the same flood
    assert bucket.warned
    bucket.take(10.0)
    assert not bucket.warned


def test_rate_limits_parse_and_validate() -> None:
    assert RateLimit.parse("100/50") == RateLimit(100.0, 50)
    assert RateLimit.parse("2.5", burst=7) == RateLimit(2.5, 7)
    assert RateLimit.parse("off") is None
    for bad in ("fast", "1/x", "0", "-1/3", "5/0", "inf"):
        with pytest.raises(ValueError):
            RateLimit.parse(bad)
    assert str(RateLimit(100, 50)) == "100/50"
    assert (DEFAULT_RATE, DEFAULT_BURST) == (10.0, 20)
    with pytest.raises(ValueError):
        ServerConfig(rate_limit=0)
    with pytest.raises(ValueError):
        ServerConfig(rate_burst=0)
    with pytest.raises(ValueError):
        ServerConfig(rate_limit_for={"bot": (1, 2)})  # type: ignore[dict-item]
    assert ServerConfig(rate_limit=None).rate_limit is None


async def test_a_flooder_is_delayed_and_told_once_and_loses_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_test_server(echo=True) as server:
        flooder = await connect(server, "flooder")
        quiet = await connect(server, "quiet")
        assert await flooder.receive() == "*** quiet has joined the chat ***"
        start = trio.current_time()
        for n in range(50):
            await flooder.send(f"m{n}")
        arrivals: list[float] = []
        lines: list[str] = []
        while len(arrivals) < 50:
            line = await flooder.receive()
            lines.append(line)
            if line.startswith("flooder: m"):
                arrivals.append(trio.current_time() - start)
        # Twenty at once, then ten per second: the fiftieth after 3 s.
        assert arrivals[19] == pytest.approx(0, abs=0.01)
        assert arrivals[49] == pytest.approx(3.0, abs=0.05)
        expected = [f"flooder: m{n}" for n in range(50)]
        assert [line for line in lines if line.startswith("flooder: ")] == expected
        # One notice for the flood, in order: right after the burst.
        assert [line for line in lines if line.startswith("error:")] == [TOO_FAST]
        assert lines.index(TOO_FAST) == 20
        # The quiet member got every message and was never slowed down.
        assert [await quiet.receive() for _ in range(50)] == expected
        before = trio.current_time()
        await quiet.send("hi")
        assert await flooder.receive() == "quiet: hi"
        assert trio.current_time() - before < 0.01
        assert server.statistics().rate_limited == 1
        # After a pause long enough to refill the bucket, a new flood is a new episode.
        await trio.sleep(5)
        for n in range(25):
            await flooder.send(f"again{n}")
        later = await flooder.receive_until("flooder: again24")
        assert later.count(TOO_FAST) == 1
        assert server.statistics().rate_limited == 2


async def test_commands_count_but_quit_is_never_delayed(autojump_clock: trio.testing.MockClock) -> None:
    async with open_test_server(rate_limit=1, rate_burst=2) as server:
        user = await connect(server, "user")
        start = trio.current_time()
        for _ in range(4):
            await user.send("/who")
        await user.send("/nosuchcommand")
        await user.send("/quit")
        lines = await user.receive_all()
        assert lines == [
            "*** 1 in #lobby: user ***",
            "*** 1 in #lobby: user ***",
            "error: too fast: you may send 2 messages at once, then 1 per second; "
            "the rest are delayed, not lost",
            "*** 1 in #lobby: user ***",
            "*** 1 in #lobby: user ***",
            "error: unknown command /nosuchcommand; type /help for the list",
            "Goodbye user.",
        ]
        # 2 at once, then 3 more at 1 per second; the quit did not wait for a token.
        assert trio.current_time() - start == pytest.approx(3.0, abs=0.05)


async def test_a_trusted_bot_gets_its_own_limit(autojump_clock: trio.testing.MockClock) -> None:
    settings = {
        "rate_limit": 1.0,
        "rate_burst": 1,
        "rate_limit_for": {"bot": RateLimit(1000, 100), "root": None},
        "auth": bearer_tokens({"B": "bot", "R": "root"}),
    }
    async with open_test_server(**settings) as server:
        for token, name in (("B", "bot"), ("R", "root")):
            async with open_websocket(server, headers=[(b"Authorization", f"Bearer {token}".encode())]) as ws:
                await ws.send_message(json.dumps({"type": "login"}))
                assert json.loads(await ws.get_message())["name"] == name
                start = trio.current_time()
                for n in range(99):  # with the who: the bot's burst of 100
                    await ws.send_message(json.dumps({"type": "say", "text": f"{n}"}))
                await ws.send_message(json.dumps({"type": "who"}))
                while json.loads(await ws.get_message())["type"] != "who":
                    pass
                assert trio.current_time() - start < 0.01
        assert server.statistics().rate_limited == 0


async def test_a_websocket_flooder_is_told_with_a_rate_limited_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_test_server(rate_limit=5, rate_burst=5) as server, open_websocket(server) as ws:
        await ws.send_message(json.dumps({"type": "login", "name": "wsflood"}))
        assert json.loads(await ws.get_message())["type"] == "welcome"
        start = trio.current_time()
        for n in range(10):
            await ws.send_message(json.dumps({"type": "say", "text": f"{n}"}))
        await ws.send_message(json.dumps({"type": "who"}))
        frames: list[dict[str, Any]] = []
        while not frames or frames[-1]["type"] != "who":
            frames.append(json.loads(await ws.get_message()))
        errors = [frame for frame in frames if frame["type"] == "error"]
        assert [e["code"] for e in errors] == ["rate_limited"]
        assert "5 messages at once, then 5 per second" in errors[0]["message"]
        assert trio.current_time() - start == pytest.approx(1.2, abs=0.05)


def test_the_cli_sets_rate_limits() -> None:
    server = build_server(
        {"rate_limit": 50.0, "rate_burst": 40, "rate_limit_for": ["bot=500/100", "admin=off", "slow=2"]}
    )
    config = server.config
    assert (config.rate_limit, config.rate_burst) == (50.0, 40)
    assert config.rate_limit_for == {"bot": RateLimit(500, 100), "admin": None, "slow": RateLimit(2, 40)}
    assert build_server({"rate_limit": "off"}).config.rate_limit is None
    # A TOML table works too.
    table = build_server({"rate_limit_for": {"bot": "100/10"}})
    assert table.config.rate_limit_for == {"bot": RateLimit(100, 10)}
    for bad in (["bot"], ["bot=fast"], ["=3"], "bot=3"):
        with pytest.raises(UsageError):
            build_server({"rate_limit_for": bad})
    with pytest.raises(UsageError):
        build_server({"rate_limit": -3.0})


def test_the_serve_flags_reach_the_config(tmp_path: Path) -> None:
    def config_of(argv: list[str]) -> ServerConfig:
        args = build_parser().parse_args(["serve", *argv])
        return build_server(serve.settings_from(args)).config

    config = config_of(
        [
            "--rate-limit",
            "5",
            "--rate-burst",
            "8",
            "--rate-limit-for",
            "bot=100/50",
            "--rate-limit-for",
            "op=off",
        ]
    )
    assert (config.rate_limit, config.rate_burst) == (5.0, 8)
    assert config.rate_limit_for == {"bot": RateLimit(100, 50), "op": None}
    assert config_of(["--rate-limit", "off"]).rate_limit is None
    toml = tmp_path / "serve.toml"
    toml.write_text('[serve]\nrate-limit = 3\nrate-limit-for = {bot = "30/60"}\n', encoding="utf-8")
    config = config_of(["--config", str(toml)])
    assert (config.rate_limit, config.rate_limit_for) == (3, {"bot": RateLimit(30, 60)})
