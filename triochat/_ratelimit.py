"""Flood control: a token bucket per connection (pure arithmetic, no trio).

A user may send ``burst`` requests at once, then ``rate`` per second.  Over
that, the connection task waits until its next token is due (see
:meth:`triochat._runtime.Runtime.request`): it stops reading, TCP backpressure
slows the sender, and nothing it sent is lost.  Everyone else is served as
usual meanwhile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_RATE = 10.0
"""Requests per second, sustained.  A fast typist sends one or two lines a
second; a chatty bot answering every message of a busy room rarely needs more
than a few.  Ten leaves room for both and still holds a flooder to a pace any
reader keeps up with."""

DEFAULT_BURST = 20
"""Requests at once: a pasted block of twenty lines, or a bot's burst of
replies, goes through without delay."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A sustained ``rate`` (requests per second) and a ``burst`` allowance."""

    rate: float = DEFAULT_RATE
    burst: int = DEFAULT_BURST

    def __post_init__(self) -> None:
        if not (self.rate > 0 and math.isfinite(self.rate)):
            raise ValueError("a rate limit must be a positive number of messages per second")
        if self.burst < 1:
            raise ValueError("a rate limit's burst must be at least 1")

    @classmethod
    def parse(cls, text: str, *, burst: int = DEFAULT_BURST) -> RateLimit | None:
        """Read ``RATE`` or ``RATE/BURST`` (``off`` for no limit); :class:`ValueError` if bad."""
        spec = text.strip()
        if spec.lower() in ("off", "none"):
            return None
        rate_text, sep, burst_text = spec.partition("/")
        try:
            rate = float(rate_text)
            if sep:
                burst = int(burst_text)
        except ValueError:
            raise ValueError(f"expected RATE[/BURST] or off, not {text!r}") from None
        return cls(rate, burst)

    def __str__(self) -> str:
        return f"{self.rate:g}/{self.burst}"


class TokenBucket:
    """The tokens one connection has left; times come from the caller's clock.

    :meth:`take` always takes a token, going into debt if there is none, and
    says how long the caller must wait before its request is due.  Requests of
    one connection are taken one at a time, so the debt stays below one token
    per waiting request.
    """

    __slots__ = ("_stamp", "_tokens", "limit", "warned")

    def __init__(self, limit: RateLimit, now: float) -> None:
        self.limit = limit
        self._tokens = float(limit.burst)
        self._stamp = now
        self.warned = False
        """True once the current flood episode has been reported to the user."""

    def tokens(self, now: float) -> float:
        """Tokens available at *now* (negative while in debt)."""
        elapsed = max(0.0, now - self._stamp)
        return min(float(self.limit.burst), self._tokens + elapsed * self.limit.rate)

    def take(self, now: float) -> float:
        """Take one token at *now*; return the seconds to wait before using it (0 if none).

        A bucket found full ends the flood episode: the next time the user
        goes over the limit is reported again.
        """
        tokens = self.tokens(now)
        if tokens >= self.limit.burst:
            self.warned = False
        self._tokens = tokens - 1.0
        self._stamp = now
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self.limit.rate
