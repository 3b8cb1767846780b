"""X-Forwarded-For names the client only when the TCP peer is a trusted proxy."""

from __future__ import annotations

import base64
import logging
import os

import pytest
import trio

from triochat.auth import Accept, ConnectionInfo, Reject
from triochat.cli import build_parser, serve
from triochat.ops.proxies import TrustedProxies, peer_address
from triochat.testing import open_test_server


def test_peer_addresses_as_the_server_names_peers() -> None:
    assert str(peer_address("127.0.0.1:5000")) == "127.0.0.1"
    assert str(peer_address("[::1]:5000")) == "::1"
    assert str(peer_address("[::ffff:10.1.2.3]:5000")) == "10.1.2.3"
    assert peer_address("/run/triochat.sock") is None
    assert peer_address("stream") is None


def test_only_a_trusted_peer_is_believed_and_only_up_to_the_first_untrusted_hop() -> None:
    proxies = TrustedProxies.parse(["127.0.0.1", "10.0.0.0/8"])
    # A client that is not a proxy cannot name itself.
    assert proxies.client("198.51.100.9:4000", ["203.0.113.7"]) == "198.51.100.9:4000"
    # The right-most address that is not a trusted proxy is the client; the left part is the client's own.
    assert proxies.client("127.0.0.1:4000", ["6.6.6.6, 203.0.113.7"]) == "203.0.113.7"
    assert proxies.client("127.0.0.1:4000", ["6.6.6.6", "203.0.113.7, 10.1.1.1"]) == "203.0.113.7"
    assert proxies.client("[::ffff:127.0.0.1]:4000", ["203.0.113.7"]) == "203.0.113.7"
    # Only trusted hops: the left-most one.  No header: the peer.
    assert proxies.client("127.0.0.1:4000", ["10.2.2.2, 10.1.1.1"]) == "10.2.2.2"
    assert proxies.client("127.0.0.1:4000", []) == "127.0.0.1:4000"
    # Not an address where the client should be: the nearest trusted hop, never the text.
    assert proxies.client("127.0.0.1:4000", ["203.0.113.7, \x1b[31mevil"]) == "127.0.0.1:4000"
    assert proxies.client("127.0.0.1:4000", ["bogus, 10.1.1.1"]) == "10.1.1.1"
    assert proxies.client("127.0.0.1:4000", ["[2001:db8::1]"]) == "2001:db8::1"
    # The Unix-domain socket only when "unix" is trusted.
    assert proxies.client("/run/t.sock", ["203.0.113.7"], unix=True) == "/run/t.sock"
    assert TrustedProxies.parse(["unix"]).client("/run/t.sock", ["203.0.113.7"], unix=True) == "203.0.113.7"
    assert not TrustedProxies.parse([])


def test_a_bad_trusted_proxy_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="'nginx' is not an IP address"):
        TrustedProxies.parse(["nginx"])
    args = build_parser().parse_args(["serve", "--trusted-proxy", "10.0.0.0/8", "--trusted-proxy", "bad"])
    with pytest.raises(serve.UsageError, match="'bad' is not an IP address"):
        serve.build_server(serve.settings_from(args))
    args = build_parser().parse_args(["serve", "--trusted-proxy", "10.0.0.0/8", "--trusted-proxy", "::1"])
    config = serve.build_server(serve.settings_from(args)).config
    assert config.trusted_proxies == ("10.0.0.0/8", "::1")


async def _connect_as_proxy(port: int, forwarded_for: list[str]) -> bytes:
    """Open a WebSocket from loopback with these X-Forwarded-For fields; the response head."""
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        "GET /v1 HTTP/1.1",
        "Host: localhost",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"X-Forwarded-For: {value}" for value in forwarded_for),
    ]
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(("\r\n".join(lines) + "\r\n\r\n").encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = await stream.receive_some()
                assert chunk
                head += chunk
    return head


@pytest.mark.parametrize(
    ("trusted", "forwarded_for", "seen"),
    [
        # Not a trusted proxy: a spoofed header changes nothing.
        ((), ["203.0.113.7"], None),
        (("10.0.0.0/8",), ["203.0.113.7"], None),
        # The loopback peer is the trusted proxy: its header names the client...
        (("127.0.0.1",), ["203.0.113.7"], "203.0.113.7"),
        # ...but what the client itself put in front is not believed.
        (("127.0.0.1",), ["6.6.6.6, 203.0.113.7"], "203.0.113.7"),
        (("127.0.0.0/8", "10.0.0.0/8"), ["6.6.6.6", "203.0.113.7, 10.9.9.9"], "203.0.113.7"),
    ],
)
async def test_what_auth_hooks_and_the_access_log_see_as_the_peer(
    trusted: tuple[str, ...], forwarded_for: list[str], seen: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    peers: list[str] = []

    async def record(info: ConnectionInfo) -> Accept | Reject:
        peers.append(info.peer)
        return Reject(403, "recorded")

    caplog.set_level(logging.INFO, logger="triochat.access")
    async with open_test_server(auth=record, trusted_proxies=trusted) as server:
        assert server.ws_port is not None
        head = await _connect_as_proxy(server.ws_port, forwarded_for)
    assert head.startswith(b"HTTP/1.1 403 ")
    (peer,) = peers
    if seen is None:
        assert peer.startswith("127.0.0.1:")
    else:
        assert peer == seen
    refusals = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused ")]
    assert refusals == [f"refused {peer} (ws /v1): authentication: 403 recorded"]
