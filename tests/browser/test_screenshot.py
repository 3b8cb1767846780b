"""The script that takes the README's screenshot still works."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from .screenshot import HEIGHT, WIDTH, take_screenshot

pytestmark = pytest.mark.browser


def test_the_screenshot_script_writes_a_png_of_the_page(tmp_path: Path) -> None:
    path = tmp_path / "docs" / "screenshot.png"
    take_screenshot(path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (WIDTH, HEIGHT)
    assert len(data) > 10_000  # a page with text on it, not a blank image
