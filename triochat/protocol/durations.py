"""Durations as people type them: ``30s``, ``10m``, ``2h``, ``1d``.

The one parser for the durations of ``/ban`` and ``/mute`` (and their frames),
and the one way the server words a duration or a time left.
"""

from __future__ import annotations

import math
import re

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
"""Seconds per unit letter."""

MAX_DURATION = 366 * 86400
"""The longest duration accepted (a year); longer is meant as permanent: give none."""

_DURATION_RE = re.compile(r"([0-9]{1,9})([smhd])", re.IGNORECASE)

DURATION_HELP = "a number and a unit: 30s, 10m, 2h or 1d"


def looks_like_duration(word: str) -> bool:
    """True if *word* starts with a digit: meant as a duration, valid or not.

    Commands read such a word as the duration (so ``/ban bob 10`` is an
    error, not a ban for the reason "10").
    """
    return bool(word) and word[0].isdigit()


def duration_problem(seconds: float) -> str | None:
    """Why *seconds* is not an acceptable duration, or ``None``.

    *seconds* may be any number a JSON frame can carry, an integer too
    large for a float included (compared as it is, never converted).
    """
    if (isinstance(seconds, float) and math.isnan(seconds)) or seconds <= 0:
        return "a duration must be more than 0 seconds"
    if seconds > MAX_DURATION:
        return f"a duration is at most {MAX_DURATION // 86400} days (give none for a permanent one)"
    return None


def parse_duration(text: str) -> float | str:
    """Seconds for *text* (``"10m"`` gives 600.0), or a message saying why it is not a duration."""
    match = _DURATION_RE.fullmatch(text.strip())
    if match is None:
        return f"bad duration {text!r}: use {DURATION_HELP}"
    seconds = float(int(match.group(1)) * UNITS[match.group(2).lower()])
    problem = duration_problem(seconds)
    return f"bad duration {text!r}: {problem}" if problem else seconds


def format_duration(seconds: float) -> str:
    """A duration or a time left as people read it: ``45s``, ``10m``, ``2h 5m``, ``1d 3h``.

    Rounded up to the second below a minute, to the minute below a day and
    to the hour beyond, so that a time left never reads as 0.
    """
    total = max(1, math.ceil(seconds))
    if total < 60:
        return f"{total}s"
    if total < 86400:
        minutes = math.ceil(total / 60)
        hours, minutes = divmod(minutes, 60)
        if not hours:
            return f"{minutes}m"
        return f"{hours}h" if not minutes else f"{hours}h {minutes}m"
    hours = math.ceil(total / 3600)
    days, hours = divmod(hours, 24)
    return f"{days}d" if not hours else f"{days}d {hours}h"
