"""Validation of user and room names."""

from __future__ import annotations

import re

MAX_NAME_LENGTH = 32
"""The longest user or room name, in characters."""

_NAME_RE = re.compile(r"[A-Za-z0-9_.\-]+")

RESERVED_NAMES = frozenset({"error", "server"})
"""User names nobody may take: ``error: ...`` lines and server notices would be ambiguous."""


def name_key(name: str) -> str:
    """The form in which user and room names are compared.

    Names are case-insensitive, as on IRC: ``ALICE`` and ``alice`` are the same
    user, ``#Lobby`` and ``#lobby`` the same room.  The spelling a user chose is
    kept for display; only comparisons go through this key.
    """
    return name.casefold()


def name_problem(name: str, *, what: str = "name") -> str | None:
    """Say what is wrong with *name*, or return ``None`` when it is valid.

    A valid name is 1 to :data:`~triochat.protocol.MAX_NAME_LENGTH` characters of ASCII letters,
    digits, ``_``, ``-`` or ``.``.  *what* names the thing in the message
    ("name", "room name").
    """
    if not name:
        return f"{what} must not be empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"{what} is longer than {MAX_NAME_LENGTH} characters"
    if not _NAME_RE.fullmatch(name):
        return f"{what} may only contain letters, digits, '_', '-' and '.'"
    if what == "name" and name.lower() in RESERVED_NAMES:
        return f"the name {name} is reserved"
    return None
