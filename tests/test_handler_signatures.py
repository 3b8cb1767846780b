"""A handler or middleware that cannot be called right fails at registration, clearly."""

from collections.abc import Callable
from typing import Any

import pytest

from triochat import ChatMessage, ChatServer, HandlerContext


def sync_handler(content: str, username: str) -> None:
    pass


async def one_param(content: str) -> None:
    pass


async def three_params(content: str, username: str, extra: str) -> None:
    pass


@pytest.mark.parametrize(
    ("handler", "fragment"),
    [
        (sync_handler, "must be async"),
        (one_param, "cannot take two arguments"),
        (three_params, "cannot take two arguments"),
        ("not callable", "must be async def handler"),
    ],
)
def test_add_handler_refuses_wrong_signatures(handler: Any, fragment: str) -> None:
    server = ChatServer()
    with pytest.raises(TypeError, match=fragment):
        server.add_handler(handler)
    with pytest.raises(TypeError):
        server.add_middleware(handler)


class AsyncCallable:
    async def __call__(self, message: ChatMessage, ctx: HandlerContext) -> ChatMessage | None:
        return message


async def with_defaults(content: str, username: str, extra: str = "") -> None:
    pass


async def variadic(*args: object) -> None:
    pass


@pytest.mark.parametrize("callback", [with_defaults, variadic, AsyncCallable()])
def test_right_signatures_are_accepted(callback: Callable[..., Any]) -> None:
    server = ChatServer()
    server.add_handler(callback)
    server.add_middleware(callback)
