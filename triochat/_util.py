"""Small helpers shared by the package."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def unwrap_single_exception() -> Iterator[None]:
    """Let a lone exception out of a nursery as itself, not as a group of one.

    For context managers that run a nursery around their caller's block: the
    caller sees ``LoginRefused`` rather than ``ExceptionGroup([LoginRefused])``.
    """
    try:
        yield
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1 and not isinstance(group.exceptions[0], BaseExceptionGroup):
            raise group.exceptions[0] from None
        raise
