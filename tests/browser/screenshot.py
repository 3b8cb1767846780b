"""Take the README's picture of the chat page: ``python -m tests.browser.screenshot [docs/screenshot.png]``.

Starts `triochat serve` on free loopback ports, has two browser users and an `nc`-style
line user chat for a moment, and saves what alice's browser shows.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from selenium.webdriver.remote.webdriver import WebDriver

from .harness import (
    LineUser,
    ServerProcess,
    fresh_profile,
    log_in,
    remove_profile,
    room_button,
    say,
    start_browser,
    unread,
    wait_for,
    wait_text,
)

WIDTH, HEIGHT = 1000, 600
"""The window size of the picture, in CSS pixels."""


def take_screenshot(path: Path) -> None:
    """Write a PNG of the page with two users chatting to *path*."""
    with tempfile.TemporaryDirectory(prefix="triochat-screenshot-") as folder:
        server = ServerProcess(log=Path(folder) / "server.log")
        server.start()
        profiles = [fresh_profile(), fresh_profile()]
        drivers: list[WebDriver] = []
        carol: LineUser | None = None
        try:
            alice = start_browser(profiles[0], width=WIDTH, height=HEIGHT)
            drivers.append(alice)
            bob = start_browser(profiles[1], width=WIDTH, height=HEIGHT)
            drivers.append(bob)
            log_in(alice, server.url, "alice")
            log_in(bob, server.url, "bob")
            carol = LineUser(server.tcp_port, "carol")
            say(alice, "/join dev")
            wait_for("#dev", lambda: room_button(alice, "dev").get_attribute("aria-current") == "true")
            room_button(alice, "lobby").click()
            for who, text in (
                (bob, "morning! the build is green again"),
                (alice, "great: the flaky reconnect test was a race, fixed with positions"),
                (bob, "/me cheers"),
            ):
                say(who, text)
                wait_text(alice, text.removeprefix("/me "))
            carol.send("hi all, I am on nc. Shall we ship it today?")
            wait_text(alice, "hi all, I am on nc. Shall we ship it today?")
            say(alice, "yes, after lunch")
            wait_text(alice, "yes, after lunch")
            carol.send("/join dev")
            carol.send("can someone review the page's CSS?")
            wait_for("an unread message in #dev", lambda: unread(alice, "dev") == "1")
            alice.find_element("id", "message").send_keys("see you in #dev")
            path.parent.mkdir(parents=True, exist_ok=True)
            if not alice.save_screenshot(str(path)):
                raise RuntimeError(f"could not save the screenshot to {path}")
        finally:
            if carol is not None:
                carol.close()
            for driver in drivers:
                driver.quit()
            for profile in profiles:
                remove_profile(profile)
            server.stop()


def main(argv: list[str]) -> int:
    """Take the screenshot to ``argv[0]`` (default: docs/screenshot.png)."""
    path = Path(argv[0]) if argv else Path("docs/screenshot.png")
    take_screenshot(path)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
