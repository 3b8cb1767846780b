"""What a node's Redis link reports to ``/metrics`` and ``/readyz``.

The cluster's tasks keep plain counters (:class:`LinkStats`, outside the
broadcaster); a scrape turns them into metric families through
:attr:`~triochat.ops.metrics.ServerMetrics.sources`, and ``/readyz`` asks
:func:`readiness` through :attr:`~triochat.ops.health.Health.checks`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ..ops.buckets import LATENCY_BOUNDS, Buckets
from ..ops.metrics import _histogram

if TYPE_CHECKING:
    from .node import Cluster

UNREACHABLE = "Redis unreachable"
"""The ``/readyz`` reason while the node's Redis session is down."""


class LinkStats:
    """Counters of one node's Redis link (changed by the cluster's tasks only)."""

    __slots__ = ("published", "received", "round_trip")

    def __init__(self) -> None:
        self.round_trip = Buckets(LATENCY_BOUNDS)
        """Seconds per publisher pipeline and per command a connection task awaits."""
        self.published = 0
        """Chat messages sent to Redis (each one script in a pipeline that completed)."""
        self.received = 0
        """Room and private messages read from Redis (pub/sub and stream repairs)."""


def metric_source(cluster: Cluster) -> Callable[[], Iterable[Metric]]:
    """A :data:`~triochat.ops.metrics.MetricSource` for *cluster*'s link."""

    def collect() -> Iterable[Metric]:
        stats = cluster.stats
        yield _histogram(
            "triochat_redis_round_trip_seconds",
            "Round trips to Redis: each publisher pipeline and each command a connection awaits.",
            stats.round_trip,
        )
        yield CounterMetricFamily(
            "triochat_redis_reconnects",
            "Redis sessions opened again after Redis went away.",
            value=cluster.reconnects,
        )
        yield GaugeMetricFamily(
            "triochat_redis_up",
            "1 while this node has a working Redis session.",
            value=int(cluster.available),
        )
        yield CounterMetricFamily(
            "triochat_redis_messages_published",
            "Chat messages this node published to Redis.",
            value=stats.published,
        )
        yield CounterMetricFamily(
            "triochat_redis_messages_received",
            "Room and private messages this node read from Redis.",
            value=stats.received,
        )

    return collect


def readiness(cluster: Cluster) -> Callable[[], str | None]:
    """A :data:`~triochat.ops.health.ReadinessCheck`: :data:`UNREACHABLE` while the link is down."""

    def redis_reachable() -> str | None:
        return None if cluster.available else UNREACHABLE

    return redis_reachable
