"""wss:// and tcps:// against a server whose certificate comes from a private CA."""

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trustme

from triochat import ChatServer, ConnectionLost, TLSError, open_chat_client
from triochat._client import client_ssl_context
from triochat.protocol.events import ChatMessage
from triochat.testing import open_test_server


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def cafile(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
async def tls_server(ca: trustme.CA) -> AsyncIterator[ChatServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    async with open_test_server(tcp_port=0, ssl_context=context) as server:
        yield server


def tls_url(server: ChatServer, scheme: str) -> str:
    port = server.ws_port if scheme == "wss" else server.tcp_port
    return f"{scheme}://127.0.0.1:{port}"


@pytest.mark.parametrize("scheme", ["wss", "tcps"])
async def test_an_untrusted_certificate_is_reported_at_once(tls_server: ChatServer, scheme: str) -> None:
    with trio.fail_after(2):  # not the 10 s connect timeout
        with pytest.raises(TLSError, match=r"certificate verify failed: \S") as info:
            async with open_chat_client(tls_url(tls_server, scheme), name="alice"):
                pass
    assert tls_url(tls_server, scheme) in str(info.value)
    assert isinstance(info.value, ConnectionLost)  # still a failure to connect


@pytest.mark.parametrize("scheme", ["wss", "tcps"])
async def test_cafile_trusts_a_private_ca(tls_server: ChatServer, cafile: Path, scheme: str) -> None:
    with trio.fail_after(5):
        async with (
            open_chat_client(tls_url(tls_server, scheme), name="alice", cafile=cafile) as alice,
            open_chat_client(tls_url(tls_server, "wss"), name="bob", cafile=str(cafile)) as bob,
        ):
            assert await alice.who() == ("alice", "bob")
            await bob.send("over TLS")
            async for event in alice:
                if isinstance(event, ChatMessage):
                    assert (event.sender, event.content) == ("bob", "over TLS")
                    break


async def test_plain_server_behind_a_tls_url_is_a_tls_error() -> None:
    async with open_test_server(tcp_port=0) as server:
        with trio.fail_after(2), pytest.raises(TLSError, match="TLS handshake failed"):
            async with open_chat_client(f"tcps://127.0.0.1:{server.tcp_port}", name="alice"):
                pass


def test_bad_cafile_is_a_clear_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"cannot load CA certificates from .*missing\.pem: "):
        client_ssl_context(tmp_path / "missing.pem")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ValueError, match="cannot load CA certificates"):
        client_ssl_context(junk)


async def test_cafile_and_ssl_context_together_are_refused(cafile: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        async with open_chat_client(
            "wss://127.0.0.1:1", name="x", cafile=cafile, ssl_context=ssl.create_default_context()
        ):
            pass
