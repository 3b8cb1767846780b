"""Authentication hooks, TLS on both transports, and the Unix-socket listener."""

import base64
import json
import ssl
from pathlib import Path

import pytest
import trio
import trio_websocket
import trustme
from trio_websocket import ConnectionRejected

from triochat import ChatServer
from triochat.auth import Accept, ConnectionInfo, Reject, basic_auth, bearer_tokens
from triochat.testing import LineTestClient, connect, connect_tcp, open_test_server, open_websocket


def basic(user: str, password: str) -> list[tuple[bytes, bytes]]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return [(b"Authorization", f"Basic {token}".encode())]


async def login_v1(ws: trio_websocket.WebSocketConnection, name: str | None = None) -> dict[str, object]:
    frame: dict[str, object] = {"type": "login"}
    if name is not None:
        frame["name"] = name
    await ws.send_message(json.dumps(frame))
    answer = json.loads(await ws.get_message())
    assert isinstance(answer, dict)
    return answer


async def test_basic_auth_rejects_and_accepts_with_identity() -> None:
    async with open_test_server(tcp_port=0, auth=basic_auth({"alice": "s3cret"})) as server:
        for headers, status in [(None, 401), (basic("alice", "wrong"), 401), (basic("mallory", "x"), 401)]:
            with pytest.raises(ConnectionRejected) as rejected:
                async with open_websocket(server, headers=headers):
                    pass
            assert rejected.value.status_code == status
            assert any(k.lower() == b"www-authenticate" for k, _ in rejected.value.headers or ())
        malformed = [(b"Authorization", b"Basic !!!")]
        with pytest.raises(ConnectionRejected) as rejected:
            async with open_websocket(server, headers=malformed):
                pass
        assert rejected.value.status_code == 400

        async with open_websocket(server, headers=basic("alice", "s3cret")) as ws:
            # The identity is fixed: another name is refused, none means "alice".
            refused = await login_v1(ws, "bob")
            assert refused["type"] == "error"
            assert refused["code"] == "login_refused"
            assert "authenticated as alice" in str(refused["message"])
            assert await login_v1(ws) == {"type": "welcome", "name": "alice", "protocol": 1}
        async with open_websocket(server, "/ws/bob", headers=basic("alice", "s3cret")) as gt:
            await gt.send_message(json.dumps({"type": "connect", "username": "bob"}))
            answer = json.loads(await gt.get_message())
            assert answer["success"] is False

        # TCP line clients have no headers: refused with a line.
        assert server.tcp_port
        tcp = await connect_tcp("127.0.0.1", server.tcp_port)
        assert await tcp.receive_all() == ["error: refused: authentication required"]
        await tcp.aclose()


async def test_basic_auth_with_a_check_function_and_tcp_allowed() -> None:
    hook = basic_auth(lambda user, password: password == user[::-1], allow_tcp=True)
    async with open_test_server(auth=hook) as server:
        async with open_websocket(server, "/ws/abc", headers=basic("abc", "cba")) as gt:
            await gt.send_message(json.dumps({"type": "connect", "username": "abc"}))
            assert json.loads(await gt.get_message())["success"] is True
        line = await connect(server, "tcp_user")
        await line.send("/who")
        assert await line.receive() == "*** 1 in #lobby: tcp_user ***"


async def test_bearer_tokens_from_header_or_query() -> None:
    async with open_test_server(auth=bearer_tokens({"tok-1": "alice", "tok-2": "bob"})) as server:
        async with open_websocket(server, headers=[(b"Authorization", b"Bearer tok-1")]) as ws:
            assert (await login_v1(ws))["name"] == "alice"
        async with open_websocket(server, "/v1?token=tok-2") as ws:
            assert (await login_v1(ws))["name"] == "bob"
        for resource, headers in [
            ("/v1", None),
            ("/v1?token=nope", None),
            ("/v1", [(b"Authorization", b"Bearer x")]),
        ]:
            with pytest.raises(ConnectionRejected) as rejected:
                async with open_websocket(server, resource, headers=headers):
                    pass
            assert rejected.value.status_code == 401


async def test_custom_hook_sees_path_headers_and_peer_and_may_fail() -> None:
    seen: list[ConnectionInfo] = []

    async def hook(info: ConnectionInfo) -> Accept | Reject:
        seen.append(info)
        if info.header("x-team") == "blue":
            return Accept(identity="blue-" + (info.query("who") or "anon"))
        if info.header("x-team") == "boom":
            raise RuntimeError("hook bug")
        return Reject(403, "blue team only")

    async with open_test_server(auth=hook) as server:
        async with open_websocket(server, "/v1?who=x", headers=[(b"X-Team", b"blue")]) as ws:
            assert (await login_v1(ws))["name"] == "blue-x"
        with pytest.raises(ConnectionRejected) as rejected:
            async with open_websocket(server, headers=[(b"X-Team", b"red")]):
                pass
        assert rejected.value.status_code == 403
        assert rejected.value.body == b"blue team only"
        with pytest.raises(ConnectionRejected) as rejected:
            async with open_websocket(server, headers=[(b"X-Team", b"boom")]):
                pass
        assert rejected.value.status_code == 500
    assert seen[0].transport == "ws"
    assert seen[0].path == "/v1?who=x"
    assert seen[0].peer == "memory"
    assert ("x-team", "blue") in seen[0].headers


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def test_tls_on_both_transports(ca: trustme.CA) -> None:
    async with open_test_server(tcp_port=0, ssl_context=server_context(ca)) as server:
        kinds = [listener.transport for listener in server.listeners]
        assert kinds == ["tcps", "wss"]
        assert server.tcp_port and server.ws_port
        stream = await trio.open_ssl_over_tcp_stream(
            "127.0.0.1", server.tcp_port, ssl_context=client_context(ca)
        )
        line = LineTestClient.over(stream)
        await line.login("alice")
        url = f"wss://127.0.0.1:{server.ws_port}/v1"
        async with trio_websocket.open_websocket_url(url, ssl_context=client_context(ca)) as ws:
            assert (await login_v1(ws, "bob"))["type"] == "welcome"
            assert await line.receive() == "*** bob has joined the chat ***"
            await line.send("secret hello")
            message = json.loads(await ws.get_message())
            assert (message["from"], message["text"]) == ("alice", "secret hello")
        await line.aclose()

        # A client that does not trust the certificate fails its handshake;
        # the server carries on.
        bad = await trio.open_ssl_over_tcp_stream(
            "127.0.0.1", server.tcp_port, ssl_context=ssl.create_default_context()
        )
        try:
            with pytest.raises(trio.BrokenResourceError):
                await bad.do_handshake()
        finally:
            await trio.aclose_forcefully(bad)
        assert server.statistics().users == 0


async def test_websocket_on_a_unix_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "chat.sock")
    async with open_test_server(unix_path=path, websocket=False) as server:
        assert [listener.url for listener in server.listeners] == [f"ws+unix://{path}"]
        stream = await trio.open_unix_socket(path)
        async with trio.open_nursery() as nursery:
            ws = await trio_websocket.wrap_client_stream(nursery, stream, "localhost", "/v1")
            assert (await login_v1(ws, "unixer"))["type"] == "welcome"
            await connect(server, "nc")
            assert json.loads(await ws.get_message())["name"] == "nc"
            await ws.aclose()
            nursery.cancel_scope.cancel()
    assert not await trio.Path(path).exists()


async def test_a_live_unix_socket_is_not_stolen(tmp_path: Path) -> None:
    path = str(tmp_path / "chat.sock")
    async with open_test_server(unix_path=path, websocket=False):
        second = ChatServer("127.0.0.1", 0, tcp_port=None, websocket=False, unix_path=path)
        with pytest.raises(OSError, match="in use"):
            await second.serve()
