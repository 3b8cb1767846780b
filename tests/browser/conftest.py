"""Fixtures of the browser tests: servers started with `triochat serve`, headless Chromiums.

A browser that cannot start fails the test (it never skips): CI installs Debian's
chromium and chromium-driver (.ci/run).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from .harness import BrowserUnavailable, LineUser, ServerProcess, fresh_profile, remove_profile, start_browser

ServerFactory = Callable[..., ServerProcess]
BrowserFactory = Callable[..., WebDriver]
LineUserFactory = Callable[[ServerProcess, str], LineUser]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServerFactory]:
    """``serve(*flags)``: a started `triochat serve` process; all are stopped after the test."""
    started: list[ServerProcess] = []

    def make(*args: str, port: int | None = None) -> ServerProcess:
        server = ServerProcess(*args, port=port, log=tmp_path / f"server{len(started)}.log")
        started.append(server)
        server.start()
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def browser() -> Iterator[BrowserFactory]:
    """``browser()``: a headless Chromium with a fresh profile; all are quit after the test."""
    drivers: list[WebDriver] = []
    profiles: list[Path] = []

    def make(**size: int) -> WebDriver:
        profile = fresh_profile()
        profiles.append(profile)
        try:
            driver = start_browser(profile, **size)
        except BrowserUnavailable as exc:
            pytest.fail(f"the browser tests need a headless Chromium: {exc}", pytrace=False)
        drivers.append(driver)
        return driver

    yield make
    for driver in drivers:
        driver.quit()
    for profile in profiles:
        remove_profile(profile)


@pytest.fixture
def line_user() -> Iterator[LineUserFactory]:
    """``line_user(server, name)``: a logged-in raw TCP line user; hung up after the test."""
    users: list[LineUser] = []

    def make(server: ServerProcess, name: str) -> LineUser:
        user = LineUser(server.tcp_port, name)
        users.append(user)
        return user

    yield make
    for user in users:
        user.close()
