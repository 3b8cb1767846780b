"""Prometheus metrics: a collector that reads the server's own counters at scrape time.

Nothing here runs on the hot path.  The broadcaster, the runtime and the
outboxes keep plain integer counters (:class:`~triochat._broadcaster.Stats`,
``Outbox.sent_bytes``) and two :class:`~.buckets.Buckets`; a scrape walks
them and builds the metric families with ``prometheus_client``, which also
writes the text format.  Each server run has its own
:class:`~prometheus_client.CollectorRegistry` (never the global one), so
several servers can run in one process.

The latency histogram (``triochat_message_latency_seconds``) is sampled: one
message at a time is timed, from the moment its connection hands it to the
broadcaster's queue (after flood control) until its batch's bytes are pushed
into every recipient's outbox (with SQLite, once the batch is durable).  The
next message is timed once that one is done, so a busy server times about
one message per broadcaster batch, at the cost of two clock reads per batch,
and an idle one times every message.

Redis (scale-out) adds its round trip and reconnects through
:attr:`ServerMetrics.sources`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from .._version import __version__
from ..protocol.wshandshake import PlainRequest
from ..transports.http import HttpResponse
from .buckets import Buckets

if TYPE_CHECKING:
    from .._runtime import Runtime

__all__ = [
    "CUT_OFF_REASONS",
    "METRICS_PATH",
    "REFUSAL_REASONS",
    "TRANSPORTS",
    "MetricSource",
    "ServerCollector",
    "ServerMetrics",
    "metrics",
]

METRICS_PATH = "/metrics"

TRANSPORTS = ("tcp", "ws")
"""Transports reported even with no connection (``ws`` includes the Unix-domain socket)."""

REFUSAL_REASONS = (
    "auth",
    "banned",
    "invalid_name",
    "name_reserved",
    "name_taken",
    "origin",
    "server_full",
    "stopping",
)
"""Reasons a login or connection is refused, reported from zero."""

CUT_OFF_REASONS = (
    "banned",
    "idle",
    "keepalive",
    "kicked",
    "outbox_overflow",
    "send_deadline",
    "store_failure",
)
"""Reasons the server cuts a client off, reported from zero.  Flood control
slows a user down instead (``triochat_rate_limited_total``)."""

MetricSource = Callable[[], Iterable[Metric]]
"""More metric families, read at each scrape (e.g. the Redis broker's)."""


def _labelled(family: CounterMetricFamily, counts: dict[str, int], known: Iterable[str]) -> Metric:
    for reason in sorted({*known, *counts}):
        family.add_metric([reason], counts.get(reason, 0))
    return family


def _histogram(name: str, documentation: str, buckets: Buckets | None) -> Metric:
    family = HistogramMetricFamily(name, documentation)
    if buckets is not None:
        pairs = buckets.cumulative()
        family.add_metric(
            [],
            [("+Inf" if math.isinf(bound) else repr(bound), count) for bound, count in pairs],
            sum_value=buckets.sum,
        )
    return family


class ServerCollector(Collector):
    """Every ``triochat_*`` metric of one server run, read from its counters when scraped."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self.sources: list[MetricSource] = []

    def collect(self) -> Iterator[Metric]:
        """The metric families, as of now."""
        runtime = self._runtime
        stats = runtime.stats
        broadcaster = runtime.broadcaster

        info = InfoMetricFamily("triochat_build", "The triochat version serving.")
        info.add_metric([], {"version": __version__})
        yield info

        by_transport: dict[str, int] = dict.fromkeys(TRANSPORTS, 0)
        sent = stats.sent_bytes
        queued = 0
        for conn in list(runtime.connections):
            by_transport[conn.transport] = by_transport.get(conn.transport, 0) + 1
            outbox = getattr(conn, "outbox", None)
            if outbox is not None:
                sent += outbox.sent_bytes
                queued += outbox.queued
        connections = GaugeMetricFamily(
            "triochat_connections", "Open connections, logged in or not, by transport.", labels=["transport"]
        )
        for transport, count in sorted(by_transport.items()):
            connections.add_metric([transport], count)
        yield connections
        yield GaugeMetricFamily(
            "triochat_users", "Users logged in (names held).", value=runtime.hub.name_count
        )
        yield GaugeMetricFamily("triochat_rooms", "Rooms that exist.", value=len(runtime.hub.room_counts()))

        yield CounterMetricFamily("triochat_logins", "Users who logged in.", value=stats.logins)
        yield _labelled(
            CounterMetricFamily(
                "triochat_logins_refused",
                "Logins and connections refused, by reason.",
                labels=["reason"],
            ),
            stats.refused,
            REFUSAL_REASONS,
        )
        yield CounterMetricFamily(
            "triochat_messages_received",
            "Chat, action and private messages accepted from clients.",
            value=stats.messages_in,
        )
        yield CounterMetricFamily(
            "triochat_deliveries",
            "Broadcast messages and notices handed to clients' outboxes.",
            value=stats.deliveries,
        )
        yield CounterMetricFamily(
            "triochat_messages_dropped", "Messages a handler dropped.", value=stats.messages_dropped
        )
        yield CounterMetricFamily(
            "triochat_sent_bytes",
            "Bytes written to clients (before TLS), all connections since the start.",
            value=sent,
        )
        yield _labelled(
            CounterMetricFamily(
                "triochat_clients_cut_off", "Clients the server cut off, by reason.", labels=["reason"]
            ),
            stats.cut_off,
            CUT_OFF_REASONS,
        )
        yield CounterMetricFamily(
            "triochat_rate_limited",
            "Floods: times a user went over the rate limit and was slowed down (and told).",
            value=stats.rate_limited,
        )
        yield CounterMetricFamily(
            "triochat_handler_errors",
            "Handlers that raised or returned a wrong value.",
            value=stats.handler_errors,
        )
        yield CounterMetricFamily(
            "triochat_handler_timeouts",
            "Handlers cancelled for overrunning handler_timeout.",
            value=stats.handler_timeouts,
        )

        yield GaugeMetricFamily(
            "triochat_inbound_queue_requests",
            "Requests waiting for the broadcaster.",
            value=runtime.inbound_send.statistics().current_buffer_used,
        )
        yield GaugeMetricFamily(
            "triochat_inbound_queue_capacity_requests",
            "How many requests the broadcaster's queue holds.",
            value=runtime.config.inbound_capacity,
        )
        yield GaugeMetricFamily(
            "triochat_outbox_queued_bytes", "Bytes waiting in all outboxes together.", value=queued
        )
        yield _histogram(
            "triochat_broadcaster_batch_requests",
            "Requests the broadcaster handled per batch (one write per client per batch).",
            broadcaster.batch_sizes,
        )
        yield _histogram(
            "triochat_message_latency_seconds",
            "From a message's arrival at the broadcaster's queue to the push of its bytes into the "
            "last recipient's outbox (sampled: one message at a time).",
            broadcaster.latency,
        )

        store = broadcaster.store.statistics()
        yield GaugeMetricFamily(
            "triochat_store_pending_records",
            "Messages appended to the room log but not yet durable: the store's lag.",
            value=store.pending_records,
        )
        yield CounterMetricFamily(
            "triochat_store_commits", "Write transactions the room log completed.", value=store.commits
        )
        yield GaugeMetricFamily(
            "triochat_store_last_commit_seconds",
            "How long the room log's last write transaction took.",
            value=store.last_commit_seconds,
        )
        yield GaugeMetricFamily(
            "triochat_store_failed",
            "1 once the room log cannot be written any more.",
            value=0 if store.failure is None else 1,
        )
        # Scale-out adds the Redis round trip and reconnects here.
        for source in self.sources:
            yield from source()


class ServerMetrics:
    """One server run's registry and collector."""

    def __init__(self, runtime: Runtime) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.collector = ServerCollector(runtime)
        self.registry.register(self.collector)
        # The process's CPU time, memory and file descriptors (process_*), read at scrape time.
        ProcessCollector(registry=self.registry)

    @property
    def sources(self) -> list[MetricSource]:
        """More metric families for the scrape: append a callable to add some."""
        return self.collector.sources

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric, as of now."""
        return generate_latest(self.registry)


async def metrics(runtime: Runtime, request: PlainRequest) -> HttpResponse:
    """``GET /metrics``: the Prometheus text format (404 when metrics are off)."""
    collected = runtime.metrics
    if collected is None:
        return HttpResponse(404, b"metrics are off (--no-metrics)")
    return HttpResponse(200, collected.exposition(), CONTENT_TYPE_LATEST, (("Cache-Control", "no-store"),))
