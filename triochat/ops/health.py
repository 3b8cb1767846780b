"""``GET /healthz`` and ``GET /readyz``: for load balancers and orchestrators.

``/healthz`` answers 200 while the process serves requests at all (a
liveness check).  ``/readyz`` answers 200 only when the server should get
new clients: every listener accepts, the room log can be written, and every
check added to :attr:`Health.checks` passes (a scale-out broker adds "Redis
reachable" there).  Otherwise it answers 503 with the reasons, one a line.
From the moment a graceful stop begins it answers 503, while the connected
clients are still being drained, so that a load balancer stops sending new
ones first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..protocol.wshandshake import PlainRequest
from ..transports.http import HttpResponse

if TYPE_CHECKING:
    from .._runtime import Runtime

__all__ = ["HEALTH_PATH", "READY_PATH", "Health", "ReadinessCheck", "healthz", "readyz"]

HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"

ReadinessCheck = Callable[[], str | None]
"""A readiness check: ``None`` when fine, else why the server is not ready (one line)."""

NO_STORE = (("Cache-Control", "no-store"),)


class Health:
    """What ``/readyz`` looks at besides the store (one per server run)."""

    __slots__ = ("checks", "listening", "stopping")

    def __init__(self) -> None:
        self.listening = False
        """Every listener accepts connections (set by the server)."""
        self.stopping = False
        """A graceful stop has begun (set by the server, before clients are drained)."""
        self.checks: list[ReadinessCheck] = []
        """More checks, e.g. that a broker is reachable; each one's problem is reported."""

    def problems(self, runtime: Runtime) -> list[str]:
        """Why *runtime* is not ready for new clients (empty: it is)."""
        if self.stopping or runtime.stopping:
            return ["stopping: the server is draining its clients"]
        problems = []
        if not self.listening:
            problems.append("starting: the listeners are not all accepting yet")
        failure = runtime.broadcaster.store.statistics().failure
        if failure is not None:
            problems.append(f"store: {failure}")
        for check in self.checks:
            try:
                problem = check()
            except Exception as exc:
                problem = f"{getattr(check, '__name__', 'a check')} failed: {exc}"
            if problem:
                problems.append(problem)
        return problems


async def healthz(runtime: Runtime, request: PlainRequest) -> HttpResponse:
    """200 ``ok``: the process is alive and answers."""
    return HttpResponse(200, b"ok\n", headers=NO_STORE)


async def readyz(runtime: Runtime, request: PlainRequest) -> HttpResponse:
    """200 ``ready``, or 503 with the reasons the server should get no new clients."""
    problems = runtime.health.problems(runtime)
    if problems:
        body = "".join(f"{problem}\n" for problem in problems)
        return HttpResponse(503, body.encode("utf-8", "replace"), headers=NO_STORE)
    return HttpResponse(200, b"ready\n", headers=NO_STORE)
