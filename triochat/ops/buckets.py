"""Fixed-bucket counts: what a histogram needs, kept cheaply on the hot path.

The broadcaster fills these itself (one ``bisect`` and two additions per
observation, no locks, no labels); the Prometheus collector turns them into
a histogram at scrape time.  No dependency on ``prometheus_client``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

__all__ = ["BATCH_BOUNDS", "LATENCY_BOUNDS", "Buckets"]

LATENCY_BOUNDS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Upper bounds (seconds) of the arrival-to-last-push latency buckets."""

BATCH_BOUNDS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
"""Upper bounds of the broadcaster's batch-size buckets (requests per batch)."""


class Buckets:
    """Counts of observations per bucket (``value <= bound``), their sum and number."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        if list(bounds) != sorted(set(bounds)) or not bounds:
            raise ValueError("bucket bounds must be increasing")
        self.bounds = tuple(float(b) for b in bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        """Per bucket, not cumulative; the last one is above every bound."""
        self.sum = 0.0

    def observe(self, value: float) -> None:
        """Count *value* in its bucket."""
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    @property
    def count(self) -> int:
        """How many values were observed."""
        return sum(self.counts)

    def cumulative(self) -> list[tuple[float, int]]:
        """``(upper bound, values <= bound)`` pairs, the last bound ``inf``."""
        total = 0
        pairs = []
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            total += count
            pairs.append((bound, total))
        return pairs
