"""The browser harness says clearly why a browser cannot start (the fixture then fails the test)."""

from __future__ import annotations

from pathlib import Path

import pytest

from . import harness

pytestmark = pytest.mark.browser


def test_a_missing_browser_is_reported_with_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(harness, "CHROMIUM", str(tmp_path / "no-chromium"))
    with pytest.raises(harness.BrowserUnavailable, match="apt-get install chromium chromium-driver"):
        harness.start_browser(tmp_path / "profile")


def test_a_browser_that_fails_to_start_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(harness, "CHROMIUM", str(fake))
    with pytest.raises(harness.BrowserUnavailable, match="headless Chromium did not start"):
        harness.start_browser(tmp_path / "profile")
