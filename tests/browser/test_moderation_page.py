"""Moderation in the chat page: an operator uses the page, a moderated user sees it and stays out."""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By

from .conftest import BrowserFactory, LineUserFactory, ServerFactory
from .harness import log_in, members, say, shown_notes, wait_for

pytestmark = pytest.mark.browser


def test_an_operator_moderates_from_the_page_and_a_kicked_page_does_not_come_back(
    serve: ServerFactory, browser: BrowserFactory, line_user: LineUserFactory
) -> None:
    server = serve("--operator", "op", "--local-operators")
    op, alice = browser(), browser()
    log_in(op, server.url, "op")
    log_in(alice, server.url, "alice")
    carol = line_user(server, "carol")
    wait_for("everyone in op's list", lambda: members(op) == ["alice", "carol", "op (you)"])

    # The operator's commands go out from the page; everyone's page shows what happened.
    say(op, "/topic Be <b>kind</b>")
    carol.read_until(lambda line: line == "*** op set the topic of #lobby: Be <b>kind</b> ***")
    wait_for(
        "the topic in alice's page",
        lambda: "op set the topic of #lobby: Be <b>kind</b>" in shown_notes(alice),
    )

    say(op, "/mute alice 10m")
    carol.read_until(lambda line: line == "*** alice was muted in #lobby by op for 10m ***")
    wait_for(
        "the mute in alice's page", lambda: "alice was muted in #lobby by op for 10m." in shown_notes(alice)
    )
    say(alice, "can I talk?")
    wait_for(
        "the refusal in alice's page",
        lambda: any(n.startswith("Error: you are muted in #lobby for") for n in shown_notes(alice)),
    )
    say(op, "/unmute alice")
    wait_for("the unmute in op's page", lambda: "alice was unmuted in #lobby by op." in shown_notes(op))

    say(op, "/kick alice spam")
    carol.read_until(lambda line: line == "*** alice was kicked by op (spam) ***")
    wait_for("the kick in op's page", lambda: "alice was kicked by op (spam)." in shown_notes(op))
    error = alice.find_element(By.ID, "login-error")
    wait_for("alice's page back at the login", lambda: "you were kicked by op (spam)" in error.text)
    # The page does not log alice back in on its own (a reconnect comes within a second).
    time.sleep(2)
    assert not alice.find_element(By.ID, "chat-view").is_displayed()
    assert members(op) == ["carol", "op (you)"]

    # A non-operator's page sends the command too, and the server says no.
    log_in(alice, server.url, "alice")
    say(alice, "/ban carol 1d")
    wait_for("the refusal", lambda: "Error: only operators may use /ban" in shown_notes(alice))
    say(alice, "/mute")
    wait_for("the usage", lambda: "usage: /mute NAME [duration]" in shown_notes(alice))
