"""Plain HTTP requests on the WebSocket listener: routes, 426 for the endpoints, 404, HEAD."""

from __future__ import annotations

import trio
import trio.testing

from triochat import ChatServer
from triochat._runtime import Runtime
from triochat.protocol.wshandshake import HandshakeError, PlainRequest, parse_head
from triochat.testing import open_test_server
from triochat.transports.http import HttpResponse, HttpRoutes


async def fetch(server: ChatServer, request: bytes) -> bytes:
    """Send *request* as a fresh connection's first bytes; everything the server says until it closes."""
    server_stream, client = trio.testing.memory_stream_pair()
    assert server.attach_websocket_stream(server_stream)
    with trio.fail_after(10):
        await client.send_all(request)
        response = b""
        while chunk := await client.receive_some():
            response += chunk
        return response


def get(path: str, method: str = "GET", *extra: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_a_request_without_upgrade_is_a_plain_request_with_its_headers() -> None:
    request = parse_head(get("/metrics?x=1", "GET", "Accept: text/plain", "X-Two: 2"))
    assert isinstance(request, PlainRequest)
    assert (request.method, request.target, request.host) == ("GET", "/metrics?x=1", "127.0.0.1")
    assert request.header("ACCEPT") == "text/plain"
    assert request.header("missing") is None
    assert isinstance(parse_head(get("/", "HEAD")), PlainRequest)


def test_a_plain_request_with_another_method_or_a_body_is_refused() -> None:
    for data in (get("/", "POST"), get("/", "GET", "Content-Length: 3"), get("/", "GET", "Host: two")):
        try:
            parse_head(data)
        except HandshakeError as exc:
            assert exc.status == 400
        else:
            raise AssertionError(f"accepted {data!r}")


def test_routes_match_exact_paths_then_the_longest_prefix() -> None:
    async def one(runtime: Runtime, request: PlainRequest) -> HttpResponse:
        return HttpResponse(200, b"1")

    async def two(runtime: Runtime, request: PlainRequest) -> HttpResponse:
        return HttpResponse(200, b"2")

    routes = HttpRoutes()
    assert not routes
    routes.add("/static/", one)
    routes.add("/static/deep/", two)
    routes.add("/", two)
    assert routes.find("/static/a.js") is one
    assert routes.find("/static/deep/b.css") is two
    assert routes.find("/") is two
    assert routes.find("/other") is None


async def test_the_endpoints_answer_426_and_other_paths_404() -> None:
    # Without the page (web=False), "/" is the version 1 endpoint and says so.
    async with open_test_server(web=False) as chat_server:
        for path in ("/v1", "/v2", "/ws/alice", "/"):
            response = await fetch(chat_server, get(path))
            assert response.startswith(b"HTTP/1.1 426 "), response
            assert b"\r\nUpgrade: websocket\r\n" in response
        response = await fetch(chat_server, get("/nothing/here"))
        assert response.startswith(b"HTTP/1.1 404 ")
        assert response.endswith(b"unknown path")
        assert chat_server.statistics().connections == 0


async def test_a_route_answers_get_and_head_and_a_failing_handler_gives_500(chat_server: ChatServer) -> None:
    async def hello(runtime: Runtime, request: PlainRequest) -> HttpResponse:
        return HttpResponse(200, b"hello " + request.target.encode(), "text/html", (("X-Test", "yes"),))

    async def broken(runtime: Runtime, request: PlainRequest) -> HttpResponse:
        raise RuntimeError("boom")

    runtime = chat_server._runtime
    assert runtime is not None
    runtime.http_routes.add("/hello", hello)
    runtime.http_routes.add("/broken", broken)
    response = await fetch(chat_server, get("/hello?q"))
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"\r\nContent-Type: text/html\r\n" in head + b"\r\n"
    assert b"\r\nX-Test: yes" in head
    assert b"\r\nContent-Length: 14" in head
    assert body == b"hello /hello?q"
    response = await fetch(chat_server, get("/hello", "HEAD"))
    assert response.endswith(b"\r\n\r\n") and b"Content-Length: 12" in response
    response = await fetch(chat_server, get("/broken"))
    assert response.startswith(b"HTTP/1.1 500 ")


async def test_a_route_answering_an_impossible_status_gives_500_and_the_server_lives(
    chat_server: ChatServer,
) -> None:
    async def odd(runtime: Runtime, request: PlainRequest) -> HttpResponse:
        return HttpResponse(1000, b"?")

    runtime = chat_server._runtime
    assert runtime is not None
    runtime.http_routes.add("/odd", odd)
    response = await fetch(chat_server, get("/odd"))
    assert response.startswith(b"HTTP/1.1 500 ")
    response = await fetch(chat_server, get("/odd"))  # still serving
    assert response.startswith(b"HTTP/1.1 500 ")
