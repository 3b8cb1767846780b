"""Running triochat in production: metrics, health checks, trusted reverse proxies.

* :mod:`.buckets`: fixed-bucket counts the broadcaster fills cheaply (no dependencies).
* :mod:`.metrics`: a Prometheus collector that reads the server's counters at scrape time.
* :mod:`.health`: ``/healthz`` and ``/readyz``, with a hook for more readiness checks.
* :mod:`.listener`: the plain-HTTP listener of ``metrics_port``, and the one that answers
  health checks on the WebSocket listener while a graceful stop drains the clients.
* :mod:`.proxies`: which peers may name the client with ``X-Forwarded-For``.
"""
