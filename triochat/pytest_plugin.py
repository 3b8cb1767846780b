"""pytest fixtures for testing apps built on triochat (loaded automatically).

Needs ``pytest-trio`` (in trio mode, or with ``@pytest.mark.trio``):

* ``chat_server``: a running in-memory :class:`~triochat.ChatServer`,
  stopped after the test.  Add handlers to it in the test.
* ``chat_client``: a factory, ``await chat_client("alice")`` returns a logged
  in :class:`~triochat.testing.LineTestClient` of ``chat_server``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from ._server import ChatServer
from .testing import LineTestClient, connect, open_test_server

ChatClientFactory = Callable[[str], Awaitable[LineTestClient]]


@pytest.fixture
async def chat_server() -> AsyncIterator[ChatServer]:
    """A running server with no network listener, stopped after the test."""
    async with open_test_server() as server:
        yield server


@pytest.fixture
async def chat_client(chat_server: ChatServer) -> ChatClientFactory:
    """``await chat_client(name)``: a logged-in line client of ``chat_server``."""

    async def make(name: str) -> LineTestClient:
        return await connect(chat_server, name)

    return make
