"""The chat page in a real headless Chromium: people chat with each other and with `nc` users."""

from __future__ import annotations

import re
import threading

import pytest
import trio
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from triochat import open_chat_client
from triochat.protocol.events import ChatMessage

from .conftest import BrowserFactory, LineUserFactory, ServerFactory
from .harness import (
    WAIT,
    focused_id,
    log_in,
    members,
    prefer_color_scheme,
    private_messages,
    room_button,
    room_names,
    say,
    set_viewport,
    severe_console_errors,
    shown_messages,
    shown_notes,
    texts,
    type_keys,
    unread,
    wait_for,
    wait_text,
)

pytestmark = pytest.mark.browser


def test_two_browsers_and_a_line_user_chat(
    serve: ServerFactory, browser: BrowserFactory, line_user: LineUserFactory
) -> None:
    server = serve()
    alice, bob = browser(), browser()
    log_in(alice, server.url, "alice")
    # A name that is taken is refused in words, and the name field keeps the focus.
    bob.get(server.url)
    wait_for("the focus in the name field", lambda: focused_id(bob) == "name")
    type_keys(bob, "ALICE")
    error = bob.find_element(By.ID, "login-error")
    wait_for("the refusal", lambda: "already connected" in error.text)
    assert focused_id(bob) == "name"
    assert not bob.find_element(By.ID, "chat-view").is_displayed()
    type_keys(bob, "bob")  # the refused name is selected: typing replaces it
    wait_for("bob's chat", lambda: focused_id(bob) == "message")
    carol = line_user(server, "carol")

    wait_for(
        "bob and carol in alice's member list", lambda: members(alice) == ["alice (you)", "bob", "carol"]
    )
    assert "carol joined #lobby." in shown_notes(alice)

    say(alice, "hi from alice")
    wait_text(bob, "hi from alice")
    wait_text(alice, "hi from alice")
    carol.read_until(lambda line: line == "alice: hi from alice")
    assert bob.find_element(By.ID, "message").get_attribute("value") == ""

    carol.send("hello from nc")
    wait_text(alice, "hello from nc")
    wait_text(bob, "hello from nc")

    say(bob, "/me waves")
    carol.read_until(lambda line: line == "* bob waves")
    wait_for("bob's action in alice's page", lambda: ("bob", "waves") in shown_messages(alice))

    say(alice, "/msg carol psst")
    carol.read_until(lambda line: line == "[private] alice: psst")
    carol.send("/msg bob just for you")
    wait_for(
        "the private message in bob's page",
        lambda: any(line.endswith("private from carol: just for you") for line in private_messages(bob)),
    )
    assert "just for you" not in alice.find_element(By.ID, "log").text

    # Renames and leaves show live.
    carol.send("/nick carla")
    wait_for("the rename in bob's list", lambda: members(bob) == ["alice", "bob (you)", "carla"])
    carol.send("/quit")
    wait_for("carla gone from alice's list", lambda: members(alice) == ["alice (you)", "bob"])
    assert texts(bob) == ["hi from alice", "hello from nc", "waves"]

    # /help lists the same commands as every other client; an unknown one is refused in words.
    say(bob, "/help")
    wait_for("the help", lambda: any("/msg NAME text" in note for note in shown_notes(bob)))
    say(bob, "/frobnicate")
    wait_for(
        "the refusal", lambda: "unknown command /frobnicate; type /help for the list" in shown_notes(bob)
    )
    assert severe_console_errors(alice) == []
    assert severe_console_errors(bob) == []

    # The Python client (protocol v2, no Origin field) chats with the page too.
    heard: list[str] = []
    failure: list[Exception] = []

    async def client() -> None:
        async with open_chat_client(f"ws://127.0.0.1:{server.port}/v2", name="pyuser") as chat:
            await chat.send("hello from the python client")
            with trio.fail_after(WAIT):
                async for event in chat:
                    if isinstance(event, ChatMessage) and event.sender == "alice" and not event.history:
                        heard.append(event.content)
                        return

    def run() -> None:
        try:
            trio.run(client)
        except Exception as exc:  # reported by the test below
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        wait_text(alice, "hello from the python client")
        say(alice, "hello back, <b>python</b>")
    finally:
        thread.join(WAIT + 5)
    assert not failure, failure
    assert heard == ["hello back, <b>python</b>"]


def test_history_shows_on_entering_and_older_messages_on_scrolling_back(
    serve: ServerFactory, browser: BrowserFactory, line_user: LineUserFactory
) -> None:
    server = serve("--join-history", "5")
    carol = line_user(server, "carol")
    for number in range(1, 13):
        carol.send(f"message {number}")
    carol.send("/who")
    carol.read_until(lambda line: line.startswith("*** 1 in #lobby"))
    alice = browser()
    log_in(alice, server.url, "alice")
    wait_for("the recent history", lambda: texts(alice) == [f"message {n}" for n in range(8, 13)])
    older = alice.find_element(By.ID, "older")
    assert older.is_displayed()
    older.click()
    wait_for("all the history", lambda: texts(alice) == [f"message {n}" for n in range(1, 13)])
    wait_for("no more to load", lambda: not older.is_displayed())
    carol.send("live again")
    wait_text(alice, "live again")
    assert texts(alice)[-2:] == ["message 12", "live again"]

    # A server that sends no history on entering: the page can still page back.
    server = serve("--join-history", "0")
    carol = line_user(server, "carol")
    for number in range(1, 4):
        carol.send(f"message {number}")
    carol.send("/who")
    carol.read_until(lambda line: line.startswith("*** 1 in #lobby"))
    log_in(alice, server.url, "alice")
    older = alice.find_element(By.ID, "older")
    wait_for("the button for older messages", older.is_displayed)
    assert texts(alice) == []
    older.send_keys(Keys.ENTER)
    wait_for("the history", lambda: texts(alice) == ["message 1", "message 2", "message 3"])
    wait_for("no more to load", lambda: not older.is_displayed())
    carol.send("message 4")
    wait_text(alice, "message 4")
    assert texts(alice) == ["message 1", "message 2", "message 3", "message 4"]


def test_html_in_a_message_is_shown_as_text_and_runs_nothing(
    serve: ServerFactory, browser: BrowserFactory, line_user: LineUserFactory
) -> None:
    server = serve()
    alice, bob = browser(), browser()
    log_in(alice, server.url, "alice")
    log_in(bob, server.url, "bob")
    injection = "<img src=x onerror=alert(1)>"
    say(alice, injection)
    carol = line_user(server, "carol")
    carol.send("<script>alert(2)</script><b>bold</b>")
    for page in (alice, bob):
        wait_text(page, "<script>alert(2)</script><b>bold</b>")
        assert texts(page) == [injection, "<script>alert(2)</script><b>bold</b>"]
        log = page.find_element(By.ID, "log")
        assert log.find_elements(By.TAG_NAME, "img") == []
        assert log.find_elements(By.TAG_NAME, "script") == []
        assert log.find_elements(By.TAG_NAME, "b") == []
        try:
            alert = page.switch_to.alert
        except NoAlertPresentException:
            alert = None
        assert alert is None, f"an alert appeared: {alert.text if alert else ''}"
        assert severe_console_errors(page) == []


def test_the_keyboard_alone_logs_in_and_sends(serve: ServerFactory, browser: BrowserFactory) -> None:
    server = serve()
    page = browser()
    page.get(server.url)
    wait_for("the focus in the name field", lambda: focused_id(page) == "name")
    type_keys(page, "not a name!")
    error = page.find_element(By.ID, "login-error")
    wait_for("the refusal in words", lambda: "invalid name" in error.text)
    assert focused_id(page) == "name"
    assert page.find_element(By.ID, "name").get_attribute("aria-invalid") == "true"
    type_keys(page, "dora")
    wait_for("the focus in the message box", lambda: focused_id(page) == "message")
    type_keys(page, "typed and sent with Enter")
    wait_text(page, "typed and sent with Enter")
    assert focused_id(page) == "message"
    # Every control has a name a screen reader can say.
    unlabelled = page.execute_script(
        """
        return [...document.querySelectorAll('input, button')].filter((e) =>
            !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim()
        ).map((e) => e.id || e.outerHTML);
        """
    )
    assert unlabelled == []
    # /quit goes back to the name field, which has the focus again.
    type_keys(page, "/quit")
    wait_for("the name field again", lambda: page.find_element(By.ID, "login-view").is_displayed())
    assert page.find_element(By.ID, "login-error").text == "You left the chat."
    assert focused_id(page) == "name"


def test_unread_counts_switching_and_leaving_rooms(
    serve: ServerFactory, browser: BrowserFactory, line_user: LineUserFactory
) -> None:
    server = serve()
    alice = browser()
    log_in(alice, server.url, "alice")
    say(alice, "/join dev")
    wait_for("#dev on screen", lambda: alice.find_element(By.ID, "room-title").text == "#dev")
    assert focused_id(alice) == "message"
    carol = line_user(server, "carol")
    carol.send("one in the lobby")
    carol.send("two in the lobby")
    wait_for("2 unread in #lobby", lambda: unread(alice, "lobby") == "2")
    assert room_button(alice, "lobby").get_attribute("aria-label") == "#lobby, 2 unread"
    assert alice.title == "(2) triochat"
    assert texts(alice) == []
    say(alice, "in dev")
    wait_text(alice, "in dev")
    assert unread(alice, "dev") == ""
    room_button(alice, "lobby").click()
    wait_for("the lobby's messages", lambda: texts(alice) == ["one in the lobby", "two in the lobby"])
    assert unread(alice, "lobby") == ""
    assert alice.title == "triochat"
    assert focused_id(alice) == "message"
    # A message in the room on screen goes where it was typed (the lobby), not to #dev.
    say(alice, "back in the lobby")
    carol.read_until(lambda line: line == "alice: back in the lobby")
    room_button(alice, "dev").click()
    alice.find_element(By.ID, "leave-room").click()
    wait_for("#dev gone", lambda: room_names(alice) == ["lobby"])
    assert alice.find_element(By.ID, "room-title").text == "#lobby"


def test_phone_width_and_the_systems_dark_preference(serve: ServerFactory, browser: BrowserFactory) -> None:
    server = serve()
    phone = browser()
    set_viewport(phone, 375, 667, mobile=True)
    log_in(phone, server.url, "erin")
    say(phone, "a long line " * 40)
    wait_for("the message", lambda: len(texts(phone)) == 1)
    # One column: nothing wider than the screen, the message box and the log on screen.
    layout = phone.execute_script(
        """
        const box = (id) => document.getElementById(id).getBoundingClientRect();
        return {scroll: document.documentElement.scrollWidth, width: window.innerWidth,
                message: box('message'), log: box('log'), rooms: box('room-list')};
        """
    )
    assert layout["scroll"] <= layout["width"] == 375
    for part in ("message", "log", "rooms"):
        assert layout[part]["left"] >= 0 and layout[part]["right"] <= 375, (part, layout[part])
        assert layout[part]["top"] >= 0 and layout[part]["bottom"] <= 667, (part, layout[part])
    assert layout["log"]["height"] > 200

    def background() -> int:
        """The page's background brightness: the sum of its red, green and blue."""
        color = str(phone.execute_script("return getComputedStyle(document.body).backgroundColor;"))
        return sum(int(c) for c in re.findall(r"\d+", color)[:3])

    prefer_color_scheme(phone, "light")
    light = background()
    prefer_color_scheme(phone, "dark")
    dark = background()
    assert dark < 200 < 600 < light
