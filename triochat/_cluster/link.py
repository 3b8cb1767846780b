"""Reaching Redis: the optional ``coredis`` import, clients, and what counts as Redis failing."""

from __future__ import annotations

from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from .._store import StoreError

TIMEOUT = 3.0
"""Seconds one connect or one command may take before Redis counts as unreachable."""


class ClusterError(StoreError):
    """The cluster cannot start (Redis unreachable, or the extra is missing); one line."""


class Unavailable(Exception):
    """Redis cannot be reached right now (an operation for a user could not be done)."""


def shown_url(url: str) -> str:
    """*url* as logs and error messages show it: a password in it becomes ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port is not None else "")
    return parts._replace(netloc=netloc).geturl()


def coredis_module() -> ModuleType:
    """``coredis``, imported on first use; :class:`ClusterError` if it is not installed."""
    try:
        import coredis
    except ImportError:
        raise ClusterError("--redis needs the redis extra: pip install 'triochat[redis]'") from None
    return coredis


async def connect(url: str) -> Any:
    """A client for *url* (not yet entered): a cluster client if Redis runs in cluster mode."""
    coredis = coredis_module()
    options: dict[str, Any] = {
        "decode_responses": True,
        "retry_policy": coredis.retry.NoRetryPolicy(),
        "connect_timeout": TIMEOUT,
        "stream_timeout": TIMEOUT,
    }
    probe = coredis.Redis.from_url(url, **options)
    async with probe:
        info = await probe.info("cluster")
    if info.get("cluster_enabled") in (1, "1", True):
        parts = urlsplit(url)
        start = coredis.connection.TCPLocation(parts.hostname or "localhost", parts.port or 6379)
        return coredis.RedisCluster.from_url(url, startup_nodes=[start], **options)
    return coredis.Redis.from_url(url, **options)


def is_redis_failure(exc: BaseException) -> bool:
    """True if *exc* (or every exception in a group) means Redis failed or went away."""
    if isinstance(exc, BaseExceptionGroup):
        return all(is_redis_failure(e) for e in exc.exceptions)
    import anyio

    coredis = coredis_module()
    return isinstance(
        exc,
        coredis.exceptions.RedisError
        | OSError
        | TimeoutError
        | Unavailable
        | anyio.ClosedResourceError
        | anyio.BrokenResourceError
        | anyio.EndOfStream,
    )


def describe(exc: BaseException) -> str:
    """One line for a Redis failure (the first exception of a group)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
