"""WebSocket: the native protocol, the group-terminal endpoint, limits and keepalive."""

import json
from typing import Any

import pytest
import trio
import trio.testing
import trio_websocket
from trio_websocket import ConnectionClosed, ConnectionRejected, WebSocketConnection
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Ping, Request, TextMessage

from triochat import ChatServer
from triochat.testing import connect, open_test_server, open_websocket


async def recv(ws: WebSocketConnection) -> dict[str, Any]:
    message = await ws.get_message()
    assert isinstance(message, str)
    obj = json.loads(message)
    assert isinstance(obj, dict)
    return obj


async def send(ws: WebSocketConnection, **frame: Any) -> None:
    await ws.send_message(json.dumps(frame))


async def v1_login(ws: WebSocketConnection, name: str) -> None:
    await send(ws, type="login", name=name)
    assert await recv(ws) == {"type": "welcome", "name": name, "protocol": 1}


async def gt_connect(ws: WebSocketConnection, name: str) -> dict[str, Any]:
    await send(ws, type="connect", username=name)
    return await recv(ws)


# -- native protocol -------------------------------------------------------------------


async def test_native_protocol_chat_and_presence(chat_server: ChatServer) -> None:
    async with open_websocket(chat_server) as alice, open_websocket(chat_server, "/v1") as bob:
        await v1_login(alice, "alice")
        await v1_login(bob, "bob")
        assert await recv(alice) == {"type": "joined", "name": "bob", "room": "lobby", "login": True}
        await send(bob, type="say", text="hello")
        message = await recv(alice)
        assert message["type"] == "message"
        assert (message["from"], message["room"], message["text"]) == ("bob", "lobby", "hello")
        assert (message["agent"], message["action"]) == (False, False)
        assert isinstance(message["id"], int) and isinstance(message["ts"], float)
        await send(bob, type="action", text="waves")
        assert (await recv(alice))["action"] is True
        await send(alice, type="private", to="bob", text="psst")
        assert await recv(alice) == {
            "type": "private",
            "from": "alice",
            "to": "bob",
            "text": "psst",
            "agent": False,
            "echo": True,
        }
        assert await recv(bob) == {
            "type": "private",
            "from": "alice",
            "to": "bob",
            "text": "psst",
            "agent": False,
            "echo": False,
        }
        await send(alice, type="who")
        assert await recv(alice) == {"type": "who", "room": "lobby", "members": ["alice", "bob"]}
        await send(alice, type="join", room="dev")
        assert await recv(alice) == {"type": "room", "room": "dev", "members": ["alice"]}
        assert await recv(bob) == {
            "type": "left",
            "name": "alice",
            "room": "lobby",
            "logout": False,
            "reason": None,
        }
        await send(bob, type="rooms")
        assert await recv(bob) == {
            "type": "rooms",
            "rooms": [{"name": "lobby", "members": 1}, {"name": "dev", "members": 1}],
        }
        await send(bob, type="nick", name="robert")
        assert await recv(bob) == {"type": "nick", "name": "robert"}
        await send(bob, type="quit")
        assert await recv(bob) == {"type": "goodbye", "name": "robert"}
        with pytest.raises(ConnectionClosed):
            await bob.get_message()


async def test_native_protocol_errors_keep_the_connection(chat_server: ChatServer) -> None:
    async with open_websocket(chat_server, subprotocols=["triochat.v1"]) as ws:
        assert ws.subprotocol == "triochat.v1"
        await send(ws, type="say", text="too early")
        assert await recv(ws) == {
            "type": "error",
            "code": "login_required",
            "message": "send a 'login' frame first",
        }
        await send(ws, type="login", name="bad name")
        assert (await recv(ws))["code"] == "login_refused"
        await v1_login(ws, "alice")
        cases: list[tuple[str | bytes, str]] = [
            ("{not json", "bad_json"),
            (b"\x00\x01", "binary_frame"),
            ("[1, 2]", "bad_frame"),
            ('{"type": "teleport"}', "unknown_type"),
            ('{"type": "say", "text": 42}', "bad_field"),
            ('{"type": "join", "room": "no spaces"}', "bad_name"),
            ('{"type": "login", "name": "again"}', "already_logged_in"),
            ('{"type": "private", "to": "nobody", "text": "x"}', "no_such_user"),
        ]
        for frame, code in cases:
            await ws.send_message(frame)
            answer = await recv(ws)
            assert (answer["type"], answer["code"]) == ("error", code), frame
        await send(ws, type="who")
        assert (await recv(ws))["members"] == ["alice"]


async def test_oversized_message_closes_with_1009() -> None:
    async with open_test_server(max_message_bytes=1000) as server:
        async with open_websocket(server) as ws:
            await v1_login(ws, "alice")
            await send(ws, type="say", text="x" * 2000)
            with pytest.raises(ConnectionClosed) as closed:
                await ws.get_message()
            reason = closed.value.reason
            assert reason is not None
            assert reason.code == 1009
            assert "1000" in (reason.reason or "")
        assert server.statistics().users == 0


async def test_unknown_path_is_404(chat_server: ChatServer) -> None:
    with pytest.raises(ConnectionRejected) as rejected:
        async with open_websocket(chat_server, "/nowhere"):
            pass
    assert rejected.value.status_code == 404


async def test_beyond_max_connections_is_503() -> None:
    async with open_test_server(max_connections=1) as server, open_websocket(server) as first:
        await v1_login(first, "first")
        with pytest.raises(ConnectionRejected) as rejected:
            async with open_websocket(server):
                pass
        assert rejected.value.status_code == 503


async def test_peer_that_stops_answering_pings_is_dropped(autojump_clock: trio.testing.MockClock) -> None:
    async with open_test_server(ping_interval=20, ping_timeout=10) as server:
        alice = await connect(server, "alice")
        server_stream, client = trio.testing.memory_stream_pair()
        assert server.attach_websocket_stream(server_stream)
        # A raw client that completes the handshake and logs in, then never
        # reads again, so it never answers a ping.
        ws = WSConnection(ConnectionType.CLIENT)
        await client.send_all(ws.send(Request(host="localhost", target="/v1")))
        events: list[object] = []
        while not any(isinstance(e, AcceptConnection) for e in events):
            ws.receive_data(bytes(await client.receive_some()))
            events += list(ws.events())
        await client.send_all(ws.send(TextMessage(json.dumps({"type": "login", "name": "mute"}))))
        assert await alice.receive() == "*** mute has joined the chat ***"
        start = trio.current_time()
        assert await alice.receive() == "*** mute has left the chat (ping timeout) ***"
        # A ping after 20 s of quiet, cut off 10 s later; the sweeper wakes every 2.5 s.
        assert 30 <= trio.current_time() - start <= 35
        ws.receive_data(bytes(await client.receive_some()))
        assert any(isinstance(e, Ping) for e in ws.events())


# -- group-terminal endpoint ----------------------------------------------------------------


async def test_group_terminal_protocol(chat_server: ChatServer) -> None:
    async with (
        open_websocket(chat_server, "/ws/alice") as alice,
        open_websocket(chat_server, "/ws/bob") as bob,
    ):
        ok = {"type": "connect_response", "success": True, "message": "Connected successfully"}
        assert await gt_connect(alice, "alice") == ok
        assert await gt_connect(bob, "bob") == ok
        assert await recv(alice) == {"type": "user_joined", "username": "bob", "room": "lobby"}
        await send(bob, type="chat_message", content="hi all")
        expected = {"type": "chat_message", "content": "hi all", "sender": "bob", "agent": False}
        assert await recv(alice) == expected
        assert await recv(bob) == expected  # the sender gets it too
        await chat_server.send_message("beep", "bot")
        agent = {"type": "chat_message", "content": "beep", "sender": "bot", "agent": True}
        assert await recv(alice) == agent
        assert await recv(bob) == agent
        # The sender field always comes from the server.
        await send(bob, type="chat_message", content="forged?", sender="alice")
        assert (await recv(alice))["sender"] == "bob"


async def test_group_terminal_bad_frames_get_an_error_and_stay_open(chat_server: ChatServer) -> None:
    async with open_websocket(chat_server, "/ws/alice") as alice:
        assert (await gt_connect(alice, "alice"))["success"] is True
        gt_cases: list[tuple[str | bytes, str]] = [
            ('{"type": "chat_message", "content": 5}', "bad_content"),
            ("not json", "bad_json"),
            (b"\xff", "binary_frame"),
            ('{"type": "chat_message"}', "bad_content"),
        ]
        for frame, code in gt_cases:
            await alice.send_message(frame)
            answer = await recv(alice)
            assert (answer["type"], answer["code"]) == ("error", code)
        await send(alice, type="chat_message", content="still here")
        assert (await recv(alice))["content"] == "still here"


async def test_group_terminal_refusals_close_with_1000_and_never_evict(chat_server: ChatServer) -> None:
    async with open_websocket(chat_server, "/ws/alice") as alice:
        assert (await gt_connect(alice, "alice"))["success"] is True
        async with open_websocket(chat_server, "/ws/alice") as impostor:
            answer = await gt_connect(impostor, "alice")
            assert answer["type"] == "connect_response"
            assert answer["success"] is False
            assert "already connected" in answer["message"]
            with pytest.raises(ConnectionClosed) as closed:
                await impostor.get_message()
            assert closed.value.reason is not None
            assert closed.value.reason.code == 1000
        async with open_websocket(chat_server, "/ws/carol") as carol:
            await send(carol, type="chat_message", content="hi")
            assert await recv(carol) == {
                "type": "connect_response",
                "success": False,
                "message": "First message must be connect",
            }
            with pytest.raises(ConnectionClosed) as closed:
                await carol.get_message()
            assert closed.value.reason is not None
            assert closed.value.reason.code == 1000
        async with open_websocket(chat_server, "/ws/bad%20name") as bad:
            assert (await gt_connect(bad, "bad name"))["success"] is False
        # alice still owns her name and still chats.
        await send(alice, type="chat_message", content="I am still alice")
        assert (await recv(alice))["sender"] == "alice"
        assert chat_server.statistics().users == 1


async def test_line_and_websocket_users_share_rooms_and_names(chat_server: ChatServer) -> None:
    nc = await connect(chat_server, "nc_user")
    async with open_websocket(chat_server, "/ws/gt_user") as gt, open_websocket(chat_server) as native:
        assert (await gt_connect(gt, "gt_user"))["success"] is True
        assert await nc.receive() == "*** gt_user has joined the chat ***"
        await send(native, type="login", name="nc_user")
        assert (await recv(native))["code"] == "name_taken"
        await v1_login(native, "native")
        await nc.send("hello from nc")
        assert await recv(gt) == {"type": "user_joined", "username": "native", "room": "lobby"}
        assert (await recv(gt))["content"] == "hello from nc"
        assert (await recv(native))["text"] == "hello from nc"
        await send(gt, type="chat_message", content="hello from gt")
        assert await nc.receive() == "*** native has joined the chat ***"
        assert await nc.receive() == "gt_user: hello from gt"
        assert (await recv(native))["text"] == "hello from gt"
        await gt.aclose()
        assert await nc.receive() == "*** gt_user has left the chat ***"
        assert await recv(native) == {
            "type": "left",
            "name": "gt_user",
            "room": "lobby",
            "logout": True,
            "reason": None,
        }


async def test_websocket_over_real_loopback() -> None:
    async with open_test_server(tcp_port=0) as server:
        assert server.ws_port
        async with trio_websocket.open_websocket_url(f"ws://127.0.0.1:{server.ws_port}/v1") as ws:
            await v1_login(ws, "alice")
            nc = await connect(server, "bob")
            assert (await recv(ws))["name"] == "bob"
            await nc.send("over tcp")
            assert (await recv(ws))["text"] == "over tcp"


async def test_handshake_that_never_comes_is_closed(autojump_clock: trio.testing.MockClock) -> None:
    async with open_test_server(handshake_timeout=10) as server:
        server_stream, client = trio.testing.memory_stream_pair()
        assert server.attach_websocket_stream(server_stream)
        start = trio.current_time()
        await client.send_all(b"GET /v1 HTTP/1.1\r\nHost: x\r\n")  # and then nothing
        assert await client.receive_some() == b""
        assert trio.current_time() - start == pytest.approx(10)
        assert server.statistics().connections == 0


async def test_garbage_instead_of_a_handshake_gets_400(chat_server: ChatServer) -> None:
    server_stream, client = trio.testing.memory_stream_pair()
    assert chat_server.attach_websocket_stream(server_stream)
    await client.send_all(b"HELLO THERE\r\n\r\n")
    response = b""
    while chunk := await client.receive_some():
        response += chunk
    assert response.startswith(b"HTTP/1.1 400 ")


async def test_quiet_peer_that_answers_pings_stays(autojump_clock: trio.testing.MockClock) -> None:
    async with (
        open_test_server(ping_interval=20, ping_timeout=10) as server,
        open_websocket(server) as ws,
    ):
        await v1_login(ws, "quiet")
        await trio.sleep(300)  # fifteen keepalive rounds, answered by the client's library
        await send(ws, type="who")
        assert await recv(ws) == {"type": "who", "room": "lobby", "members": ["quiet"]}
        assert server.statistics().users == 1
