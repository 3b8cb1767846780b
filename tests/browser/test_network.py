"""The page survives the network and the server: restarts, lost messages, other origins."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from .conftest import BrowserFactory, LineUserFactory, ServerFactory
from .harness import ServerProcess, free_port, log_in, say, shown_notes, status, texts, wait_for, wait_text

pytestmark = pytest.mark.browser

MISSING = "Some messages may be missing"

# Simulates the network being down for the page: new WebSockets cannot be opened
# until the test lets them again (the page's own code is untouched).
BLOCK_SOCKETS = """
window.__realWebSocket = window.__realWebSocket || window.WebSocket;
window.WebSocket = function () { throw new Error('the network is down'); };
"""
UNBLOCK_SOCKETS = "window.WebSocket = window.__realWebSocket;"


def restart(server: ServerProcess) -> None:
    """Stop the server (SIGTERM) and start it again on the same ports."""
    server.stop()
    server.start()


def test_the_page_recovers_after_a_restart_with_the_sqlite_store(
    serve: ServerFactory, browser: BrowserFactory, line_user: LineUserFactory, tmp_path: Path
) -> None:
    server = serve("--store", f"sqlite:{tmp_path / 'rooms.db'}")
    alice = browser()
    log_in(alice, server.url, "alice")
    say(alice, "/join dev")
    wait_for("#dev", lambda: alice.find_element("id", "room-title").text == "#dev")
    say(alice, "before the restart")
    wait_text(alice, "before the restart")

    server.stop()
    wait_for("the page to say the connection is lost", lambda: "Connection lost" in status(alice))
    # What is typed meanwhile is not lost: it stays in the box.
    say(alice, "typed while away")
    wait_for("the note", lambda: any(note.startswith("Not connected") for note in shown_notes(alice)))
    box = alice.find_element("id", "message")
    assert box.get_attribute("value") == "typed while away"
    box.clear()
    server.start()
    wait_for("the page to reconnect by itself", lambda: status(alice) == "Reconnected.")
    carol = line_user(server, "carol")
    carol.send("/join dev")
    carol.send("after the restart")
    wait_text(alice, "after the restart")
    assert texts(alice) == ["before the restart", "after the restart"]
    assert not any(MISSING in note for note in shown_notes(alice))
    say(alice, "still here")
    carol.read_until(lambda line: line == "alice: still here")
    assert alice.find_element("id", "room-title").text == "#dev"


def test_what_was_said_while_the_page_was_away_comes_once_and_in_order(
    serve: ServerFactory, browser: BrowserFactory, line_user: LineUserFactory, tmp_path: Path
) -> None:
    server = serve("--store", f"sqlite:{tmp_path / 'rooms.db'}")
    alice = browser()
    log_in(alice, server.url, "alice")
    carol = line_user(server, "carol")
    carol.send("one")
    wait_text(alice, "one")

    alice.execute_script(BLOCK_SOCKETS)
    restart(server)
    carol = line_user(server, "carol")
    carol.send("two, while alice was away")
    carol.send("three, while alice was away")
    carol.send("/who")
    carol.read_until(lambda line: line.startswith("*** 1 in #lobby"))
    wait_for("a failed reconnection", lambda: "Cannot connect" in status(alice))
    alice.execute_script(UNBLOCK_SOCKETS)
    wait_for("the page to reconnect", lambda: status(alice) == "Reconnected.", timeout=20)
    wait_text(alice, "three, while alice was away")
    carol.send("four")
    wait_text(alice, "four")
    assert texts(alice) == ["one", "two, while alice was away", "three, while alice was away", "four"]
    assert not any(MISSING in note for note in shown_notes(alice))


def test_the_page_says_so_when_the_server_cannot_recover_everything(
    serve: ServerFactory, browser: BrowserFactory, line_user: LineUserFactory, tmp_path: Path
) -> None:
    # The room keeps only 3 messages: 5 said while the page is away cannot all be sent.
    server = serve("--store", f"sqlite:{tmp_path / 'rooms.db'}", "--history-size", "3")
    alice = browser()
    log_in(alice, server.url, "alice")
    say(alice, "seen")
    wait_text(alice, "seen")
    alice.execute_script(BLOCK_SOCKETS)
    restart(server)
    carol = line_user(server, "carol")
    for number in range(1, 6):
        carol.send(f"missed {number}")
    carol.send("/who")
    carol.read_until(lambda line: line.startswith("*** 1 in #lobby"))
    wait_for("a failed reconnection", lambda: "Cannot connect" in status(alice))
    alice.execute_script(UNBLOCK_SOCKETS)
    wait_for("the warning", lambda: any(MISSING in note for note in shown_notes(alice)), timeout=20)
    wait_text(alice, "missed 5")
    assert texts(alice) == ["seen", "missed 3", "missed 4", "missed 5"]


@contextmanager
def other_site(page: str) -> Iterator[str]:
    """A second local HTTP server, on another port, serving *page* at ``/``; its URL."""
    body = page.encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


CROSS_SITE_PAGE = """<!doctype html><title>elsewhere</title><p id="result">waiting</p>
<script>
// Opens a WebSocket to triochat on the port after '?' in the address, says how it went.
const ws = new WebSocket(`ws://127.0.0.1:${location.search.slice(1)}/v2`, "triochat.v2");
ws.onopen = () => { document.getElementById("result").textContent = "open"; ws.close(); };
ws.onclose = (e) => { const r = document.getElementById("result");
  if (r.textContent === "waiting") r.textContent = "closed " + e.code; };
</script>"""


def result_of(page: WebDriver) -> str:
    return str(page.find_element("id", "result").text)


def test_a_page_from_another_origin_cannot_connect_unless_allowed(
    serve: ServerFactory, browser: BrowserFactory
) -> None:
    server = serve()
    page = browser()
    with other_site(CROSS_SITE_PAGE) as url:
        page.get(f"{url}?{server.port}")
        outcome = wait_for(
            "the cross-site WebSocket to end", lambda: result_of(page) != "waiting" and result_of(page)
        )
        assert outcome == "closed 1006"
        wait_for("the refusal in the server's log", lambda: "origin 'http://127.0.0.1:" in server.logged())
        assert "is not allowed (403)" in server.logged()
        # A server that lists the other site's origin lets its page in.
        friendly = serve("--allow-origin", url.rstrip("/"))
        page.get(f"{url}?{friendly.port}")
        outcome = wait_for("the WebSocket to open", lambda: result_of(page) != "waiting" and result_of(page))
        assert outcome == "open"
        assert "403" not in friendly.logged()
    # The server's own page connects.
    log_in(page, server.url, "alice")


def test_behind_auth_the_page_works_with_basic_credentials_or_a_token(
    serve: ServerFactory, browser: BrowserFactory, tmp_path: Path
) -> None:
    passwords = tmp_path / "passwords"
    passwords.write_text("alice:pw\n")
    with_basic = serve("--basic-auth", str(passwords))
    with_tokens = serve("--token", "s3cret=bob")
    page = browser()
    page.get(with_tokens.url)
    assert page.find_element("tag name", "body").text == "a bearer token is required"
    # The browser sends the page's credentials on its WebSocket too.
    log_in(page, f"http://alice:pw@127.0.0.1:{with_basic.port}/", "alice")
    say(page, "with a password")
    wait_text(page, "with a password")
    # The token in the page's address goes with its WebSocket.
    log_in(page, f"{with_tokens.url}?token=s3cret", "bob")
    say(page, "with a token")
    wait_text(page, "with a token")
    assert "login bob (ws " in with_tokens.logged()
