"""The Origin rule of WebSocket handshakes: the server's own pages, listed origins, non-browsers."""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path

import pytest
import trio
import trio.testing

from triochat import ChatServer, ServerConfig
from triochat.cli import build_parser, serve
from triochat.protocol.origin import normalize_origin, origin_allowed, origin_problem
from triochat.testing import open_test_server


def test_normalized_origins_are_lower_case_without_default_ports() -> None:
    assert normalize_origin("HTTP://Example.COM:80") == "http://example.com"
    assert normalize_origin("https://example.com:443") == "https://example.com"
    assert normalize_origin("https://example.com:8443") == "https://example.com:8443"
    assert normalize_origin("http://[::1]:8723") == "http://[::1]:8723"
    for bad in (
        "null",
        "",
        "file://",
        "ftp://example.com",
        "http://example.com/path",
        "http://u@h",
        "http://h:99999",
    ):
        assert normalize_origin(bad) is None, bad
        assert origin_problem(bad) is not None
    assert origin_problem("https://chat.example.com") is None


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        (None, "localhost:8723", True),  # not a browser: curl, the Python client, websockets
        ("http://localhost:8723", "localhost:8723", True),
        ("https://LOCALHOST:8723", "localhost:8723", True),  # the same page over TLS
        ("http://127.0.0.1:8723", "127.0.0.1:8723", True),
        ("http://[::1]:8723", "[::1]:8723", True),
        ("https://chat.example.com", "chat.example.com", True),  # default port on both sides
        ("https://chat.example.com", "chat.example.com:443", True),
        ("http://chat.example.com", "chat.example.com:80", True),
        ("http://localhost:9999", "localhost:8723", False),  # another port is another site
        ("http://evil.example", "localhost:8723", False),
        ("http://localhost:8723.evil.example", "localhost:8723", False),
        ("null", "localhost:8723", False),  # sandboxed frames and local files
        ("http://localhost:8723, http://evil.example", "localhost:8723", False),  # two Origin fields
        ("http://chat.example.com", "chat.example.com:443", False),
    ],
)
def test_the_servers_own_origin_and_requests_without_origin_are_allowed(
    origin: str | None, host: str, allowed: bool
) -> None:
    assert origin_allowed(origin, host) is allowed


def test_listed_origins_are_allowed_in_any_spelling() -> None:
    listed = ("https://Chat.Example.com:443", "http://localhost:3000")
    assert origin_allowed("https://chat.example.com", "127.0.0.1:8723", listed)
    assert origin_allowed("http://localhost:3000", "127.0.0.1:8723", listed)
    assert not origin_allowed("http://localhost:3001", "127.0.0.1:8723", listed)
    assert not origin_allowed("http://chat.example.com", "127.0.0.1:8723", listed)


def test_allowed_origins_are_checked_by_the_config() -> None:
    assert ServerConfig(allowed_origins=("https://a.example",)).allowed_origins == ("https://a.example",)
    for bad in (("https://a.example/",), ("a.example",), "https://a.example", 5, (5,)):
        with pytest.raises(ValueError, match="allowed_origins"):
            ServerConfig(allowed_origins=bad)  # type: ignore[arg-type]


def _settings(argv: list[str]) -> dict[str, object]:
    return serve.settings_from(build_parser().parse_args(["serve", *argv]))


def test_serve_flags_and_config_file(tmp_path: Path) -> None:
    server = serve.build_server(
        _settings(["--allow-origin", "https://a.example", "--allow-origin", "http://b:8080"])
    )
    assert server.config.allowed_origins == ("https://a.example", "http://b:8080")
    assert server.config.web is True
    assert serve.build_server(_settings(["--no-web"])).config.web is False
    config = tmp_path / "serve.toml"
    config.write_text('allow-origin = ["https://c.example"]\nno-web = true\n')
    from_file = serve.build_server(_settings(["--config", str(config)]))
    assert from_file.config.allowed_origins == ("https://c.example",)
    assert from_file.config.web is False
    with pytest.raises(serve.UsageError, match="not an origin"):
        serve.build_server(_settings(["--allow-origin", "https://c.example/chat"]))
    for value in ("5", "[5]", '{a = "b"}'):
        config.write_text(f"allow-origin = {value}\n")
        with pytest.raises(serve.UsageError, match="allow"):
            serve.build_server(_settings(["--config", str(config)]))


async def handshake(server: ChatServer, *fields: str) -> bytes:
    """A WebSocket upgrade to /v2 with extra header *fields*; the response head."""
    server_stream, client = trio.testing.memory_stream_pair()
    assert server.attach_websocket_stream(server_stream, peer="test")
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        "GET /v2 HTTP/1.1",
        "Host: localhost:8723",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *fields,
    ]
    response = b""
    with trio.fail_after(10):
        await client.send_all(("\r\n".join(lines) + "\r\n\r\n").encode())
        while b"\r\n\r\n" not in response:
            chunk = await client.receive_some()
            assert chunk, response
            response += chunk
    await client.aclose()
    return response


async def test_a_handshake_from_another_origin_gets_403_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="triochat.websocket")
    async with open_test_server(allowed_origins=("https://friend.example",)) as server:
        refused = await handshake(server, "Origin: http://evil.example")
        assert refused.startswith(b"HTTP/1.1 403 "), refused
        assert b"this origin may not connect" in refused
        assert "origin 'http://evil.example' is not allowed (403)" in caplog.text
        for fields in ((), ("Origin: http://localhost:8723",), ("Origin: https://friend.example",)):
            accepted = await handshake(server, *fields)
            assert accepted.startswith(b"HTTP/1.1 101 "), (fields, accepted)


def test_an_allowed_origin_with_an_international_name_matches_its_punycode_form() -> None:
    """Browsers send IDN hosts as punycode; an operator may write the name as people read it."""
    assert origin_problem("https://bücher.example") is None
    assert normalize_origin("https://Bücher.example:8443") == "https://xn--bcher-kva.example:8443"
    assert origin_allowed("https://xn--bcher-kva.example", "chat.example.com", ["https://bücher.example"])
    assert not origin_allowed("https://xn--bcher-kva.example", "chat.example.com", ["https://bucher.example"])
    assert normalize_origin("https://b\u00fccher\u202e.example") is None  # not a name IDNA allows
