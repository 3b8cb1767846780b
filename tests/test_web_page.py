"""The chat page's files as the server answers them: types, caching, security headers."""

from __future__ import annotations

import base64
import re
from importlib import resources

import trio
import trio.testing

from triochat import ChatServer
from triochat.auth import Accept, ConnectionInfo, Reject, basic_auth, bearer_tokens
from triochat.testing import open_test_server
from triochat.web import content_security_policy, load_files


async def fetch(
    server: ChatServer, path: str, *fields: str, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    """One plain HTTP request on a fresh connection: status, header fields (lower-cased names), body."""
    server_stream, client = trio.testing.memory_stream_pair()
    assert server.attach_websocket_stream(server_stream)
    request = "\r\n".join([f"{method} {path} HTTP/1.1", "Host: 127.0.0.1:8723", *fields]) + "\r\n\r\n"
    with trio.fail_after(10):
        await client.send_all(request.encode())
        response = b""
        while chunk := await client.receive_some():
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


async def test_the_page_and_its_files_have_their_types_and_security_headers() -> None:
    async with open_test_server() as server:
        for path, content_type in (
            ("/", "text/html; charset=utf-8"),
            ("/index.html", "text/html; charset=utf-8"),
            ("/static/app.js", "text/javascript; charset=utf-8"),
            ("/static/style.css", "text/css; charset=utf-8"),
            ("/static/icon.svg", "image/svg+xml"),
        ):
            status, headers, body = await fetch(server, path)
            assert status == 200, path
            assert headers["content-type"] == content_type
            assert int(headers["content-length"]) == len(body) > 0
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["x-frame-options"] == "DENY"
            assert headers["referrer-policy"] == "no-referrer"
            assert headers["cache-control"] == "no-cache"
            assert re.fullmatch(r'"[0-9a-f]{20}"', headers["etag"])
            policy = headers["content-security-policy"]
            assert policy.startswith("default-src 'none'; script-src 'self'; style-src 'self';")
            assert "connect-src 'self' ws://127.0.0.1:8723 wss://127.0.0.1:8723;" in policy
            assert "frame-ancestors 'none'" in policy
        _, _, page = await fetch(server, "/")
        assert b'<script src="/static/app.js" defer></script>' in page


async def test_an_unchanged_file_is_not_sent_again_and_head_has_no_body() -> None:
    async with open_test_server() as server:
        _, headers, body = await fetch(server, "/static/app.js")
        status, again, rest = await fetch(
            server, "/static/app.js", f'If-None-Match: "old", {headers["etag"]}'
        )
        assert (status, rest, again["etag"]) == (304, b"", headers["etag"])
        status, _, rest = await fetch(server, "/static/app.js", 'If-None-Match: "old"')
        assert (status, rest) == (200, body)
        status, head, rest = await fetch(server, "/", method="HEAD")
        assert (status, rest) == (200, b"")
        assert int(head["content-length"]) > 0


async def test_unknown_files_are_404_and_no_path_leaves_the_folder() -> None:
    async with open_test_server() as server:
        for path in (
            "/static/nope.js",
            "/static/../__init__.py",
            "/static/",
            "/static/%2e%2e/__init__.py",
            "/index.htm",
        ):
            status, _, body = await fetch(server, path)
            assert status == 404, path
            assert b"import" not in body


async def test_without_the_page_slash_is_the_websocket_endpoint_again() -> None:
    async with open_test_server(web=False) as server:
        status, headers, _ = await fetch(server, "/")
        assert status == 426
        assert headers["upgrade"] == "websocket"
        assert (await fetch(server, "/static/app.js"))[0] == 404


def test_the_policy_names_the_websocket_of_the_host_asked_for_and_nothing_odd() -> None:
    assert "connect-src 'self' wss://chat.example.com;" in content_security_policy(
        "chat.example.com", tls=True
    )
    assert "connect-src 'self' ws://[::1]:8723 wss://[::1]:8723;" in content_security_policy(
        "[::1]:8723", tls=False
    )
    # A Host that is not a plain host[:port] cannot add to the policy.
    odd = content_security_policy("x; script-src *", tls=False)
    assert "connect-src 'self';" in odd
    assert "script-src *" not in odd


def test_the_files_ship_in_the_package_and_the_script_never_writes_html() -> None:
    assert {"index.html", "app.js", "style.css", "icon.svg"} <= set(load_files())
    script = resources.files("triochat.web").joinpath("static", "app.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script, sink
    assert "textContent" in script
    page = resources.files("triochat.web").joinpath("static", "index.html").read_text(encoding="utf-8")
    # No inline script, style or event handler: the policy would block them.
    assert "<script>" not in page and "<style" not in page
    assert re.search(r"<[^>]*\s(on[a-z]+|style)=", page) is None


async def test_with_an_auth_hook_the_page_is_behind_it_and_its_files_are_not() -> None:
    async with open_test_server(auth=basic_auth({"alice": "pw"})) as server:
        status, headers, body = await fetch(server, "/")
        # The browser asks for a name and password, and sends them on the page's WebSocket too.
        assert (status, body) == (401, b"authentication required")
        assert headers["www-authenticate"] == 'Basic realm="triochat", charset="UTF-8"'
        basic = base64.b64encode(b"alice:pw").decode()
        assert (await fetch(server, "/", f"Authorization: Basic {basic}"))[0] == 200
        assert (await fetch(server, "/static/app.js"))[0] == 200
    async with open_test_server(auth=bearer_tokens({"s3cret": "bob"})) as server:
        assert (await fetch(server, "/"))[0] == 401
        assert (await fetch(server, "/index.html?token=s3cret"))[0] == 200
        assert (await fetch(server, "/?token=wrong"))[0] == 401
        assert (await fetch(server, "/static/style.css"))[0] == 200


async def test_an_auth_hook_refusing_with_a_status_that_is_not_an_error_gives_500() -> None:
    async def odd(info: ConnectionInfo) -> Accept | Reject:
        return Reject(700, "odd")

    async with open_test_server(auth=odd) as server:
        assert (await fetch(server, "/"))[0] == 500
        assert (await fetch(server, "/static/app.js"))[0] == 200
