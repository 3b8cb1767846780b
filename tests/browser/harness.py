"""What the browser tests and the screenshot script share: a `triochat serve` process,
a headless Chromium driven by Selenium, a raw TCP line user, and waiting.

The browser is Debian's (``/usr/bin/chromium`` with ``/usr/bin/chromedriver``); Selenium
Manager is never asked to download anything.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chromium.webdriver import ChromiumDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
WAIT = 15.0
"""How long a test waits for the page to show something."""

T = TypeVar("T")


class BrowserUnavailable(Exception):
    """Chromium or chromedriver cannot be started; the message says how to fix it."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(what: str, check: Callable[[], T | None], timeout: float = WAIT) -> T:
    """Poll *check* until it returns something truthy; fail saying *what* was awaited."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


class ServerProcess:
    """``python -m triochat serve`` on 127.0.0.1, stopped by its PID."""

    def __init__(self, *args: str, port: int | None = None, tcp_port: int | None = None, log: Path) -> None:
        self.port = port if port is not None else free_port()
        self.tcp_port = tcp_port if tcp_port is not None else free_port()
        self.args = args
        self.log = log
        self.process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        """The page's address."""
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> None:
        """Start the server and wait until it serves."""
        command = [
            sys.executable,
            "-m",
            "triochat",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--tcp-port",
            str(self.tcp_port),
            *self.args,
        ]
        with open(self.log, "a", encoding="utf-8") as log:
            self.process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        assert self.process.stdout is not None
        deadline = time.monotonic() + WAIT
        serving = 0
        while serving < 2:
            line = self.process.stdout.readline()
            if not line:
                self.process.wait()
                raise AssertionError(
                    f"triochat serve exited ({self.process.returncode}): {self.log.read_text()}"
                )
            if line.startswith("triochat serving on"):
                serving += 1
            if time.monotonic() > deadline:
                raise AssertionError("triochat serve did not start in time")

    def stop(self) -> None:
        """SIGTERM (a graceful stop); SIGKILL if it has not ended within 10 s."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
        assert process.stdout is not None
        process.stdout.close()

    def logged(self) -> str:
        """What the server logged so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")


class LineUser:
    """An `nc`-style user: the line protocol over a raw TCP socket."""

    def __init__(self, port: int, name: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.buffer = b""
        self.seen: list[str] = []
        self.read_until(lambda line: "Enter your name" in line)
        self.send(name)
        self.read_until(lambda line: line.startswith("Welcome "))

    def send(self, line: str) -> None:
        """Type one line."""
        self.sock.sendall(line.encode() + b"\n")

    def read_until(self, done: Callable[[str], bool]) -> str:
        """Read lines until one satisfies *done*; that line."""
        deadline = time.monotonic() + WAIT
        while True:
            while b"\n" in self.buffer:
                raw, _, self.buffer = self.buffer.partition(b"\n")
                line = raw.decode().rstrip("\r")
                self.seen.append(line)
                if done(line):
                    return line
            if time.monotonic() > deadline:
                raise AssertionError(f"the line user did not get the line awaited; got {self.seen[-10:]!r}")
            chunk = self.sock.recv(4096)
            if not chunk:
                raise AssertionError(f"the server closed the line connection; got {self.seen[-10:]!r}")
            self.buffer += chunk

    def close(self) -> None:
        """Hang up."""
        self.sock.close()


def start_browser(profile: Path, *, width: int = 1100, height: int = 720) -> WebDriver:
    """A headless Chromium with its profile in *profile*; :class:`BrowserUnavailable` if it cannot start."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        raise BrowserUnavailable(
            f"{' and '.join(missing)} not found: install Debian's chromium and chromium-driver "
            "(apt-get install chromium chromium-driver; .ci/run does it)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except WebDriverException as exc:
        raise BrowserUnavailable(f"headless Chromium did not start: {exc.msg or exc}") from None
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    set_viewport(driver, width, height)
    return driver


def set_viewport(driver: WebDriver, width: int, height: int, *, mobile: bool = False) -> None:
    """Make the page's viewport exactly *width* x *height* CSS pixels (a phone's with *mobile*)."""
    assert isinstance(driver, ChromiumDriver)
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)


def prefer_color_scheme(driver: WebDriver, scheme: str) -> None:
    """Make the page see ``prefers-color-scheme: scheme`` (``light`` or ``dark``)."""
    assert isinstance(driver, ChromiumDriver)
    features = [{"name": "prefers-color-scheme", "value": scheme}]
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": features})


def fresh_profile() -> Path:
    """An empty Chromium profile folder (the caller removes it)."""
    return Path(tempfile.mkdtemp(prefix="triochat-chromium-"))


def remove_profile(path: Path) -> None:
    """Remove a profile folder made by :func:`fresh_profile`."""
    shutil.rmtree(path, ignore_errors=True)


# -- the page ---------------------------------------------------------------------


def focused_id(driver: WebDriver) -> str:
    """The id of the element that has the keyboard focus."""
    return str(driver.switch_to.active_element.get_attribute("id"))


def type_keys(driver: WebDriver, text: str, enter: bool = True) -> None:
    """Type *text* (and Enter) into whatever has the focus, as a keyboard would."""
    driver.switch_to.active_element.send_keys(text + (Keys.ENTER if enter else ""))


def log_in(driver: WebDriver, url: str, name: str) -> None:
    """Open the page and log in as *name* with the keyboard; wait for the chat."""
    driver.get(url)
    wait_for("the focus in the name field", lambda: focused_id(driver) == "name")
    type_keys(driver, name)
    wait_for(f"{name}'s chat view", lambda: driver.find_element(By.ID, "chat-view").is_displayed())
    wait_for("the focus in the message box", lambda: focused_id(driver) == "message")


def say(driver: WebDriver, text: str) -> None:
    """Type a line in the message box and press Enter."""
    box = driver.find_element(By.ID, "message")
    box.send_keys(text + Keys.ENTER)


def shown_messages(driver: WebDriver) -> list[tuple[str, str]]:
    """(sender, text) of the chat messages in the room on screen, in order."""
    rows = driver.execute_script(
        """
        const list = [...document.querySelectorAll('#log ol.messages')].find((ol) => !ol.hidden);
        if (!list) return [];
        return [...list.querySelectorAll('li.msg:not(.private)')].map((li) => [
            (li.querySelector('.from') || {}).textContent || '',
            (li.querySelector('.text') || {}).textContent || '']);
        """
    )
    return [(str(who), str(text)) for who, text in rows]


def shown_notes(driver: WebDriver) -> list[str]:
    """The notes (joins, errors, warnings...) of the room on screen."""
    rows = driver.execute_script(
        """
        const list = [...document.querySelectorAll('#log ol.messages')].find((ol) => !ol.hidden);
        return list ? [...list.querySelectorAll('li.note')].map((li) => li.textContent) : [];
        """
    )
    return [str(row) for row in rows]


def texts(driver: WebDriver) -> list[str]:
    """The texts of the chat messages on screen."""
    return [text for _, text in shown_messages(driver)]


def members(driver: WebDriver) -> list[str]:
    """The member list as shown."""
    return _strings(driver, "#member-list li")


def room_button(driver: WebDriver, room: str) -> WebElement:
    """The button of *room* in the room list."""
    return driver.find_element(By.CSS_SELECTOR, f'#room-list button[data-room="{room}"]')


def unread(driver: WebDriver, room: str) -> str:
    """The unread count shown on *room*'s button ('' for none)."""
    found = _strings(driver, f'#room-list button[data-room="{room}"] .unread')
    return found[0] if found else ""


def room_names(driver: WebDriver) -> list[str]:
    """The rooms in the room list, in order."""
    names = driver.execute_script(
        "return [...document.querySelectorAll('#room-list button')].map((b) => b.dataset.room);"
    )
    return [str(name) for name in names]


def _strings(driver: WebDriver, selector: str) -> list[str]:
    """The text of every element *selector* matches, read at once (the page may re-render)."""
    found = driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map((e) => e.textContent);", selector
    )
    return [str(text) for text in found]


def private_messages(driver: WebDriver) -> list[str]:
    """The private messages on screen, as text."""
    return _strings(driver, "#log li.private")


def status(driver: WebDriver) -> str:
    """The connection status line."""
    return str(driver.find_element(By.ID, "status").text)


def wait_text(driver: WebDriver, text: str) -> None:
    """Wait until a chat message with *text* is on screen."""
    wait_for(f"the message {text!r}", lambda: text in texts(driver))


def severe_console_errors(driver: WebDriver, *, ignore: tuple[str, ...] = ()) -> list[str]:
    """The page's console errors (CSP violations, script errors) not matching *ignore*."""
    assert isinstance(driver, ChromiumDriver)
    entries = driver.get_log("browser")  # type: ignore[no-untyped-call]
    found = []
    for entry in entries:
        message = str(entry.get("message", ""))
        if entry.get("level") == "SEVERE" and not any(re.search(pattern, message) for pattern in ignore):
            found.append(message)
    return found
