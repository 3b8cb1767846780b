"""A benchmark point: one scenario with its parameters, and the servers it runs against."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Point:
    """One scenario run by the load generator with these parameters, against each of these servers."""

    scenario: str
    subjects: tuple[str, ...]
    params: dict[str, Any]
    once: bool = False
    """Run once per server whatever ``--repeats`` says (long pass/fail runs)."""

    def label(self) -> str:
        return f"{self.scenario} " + " ".join(f"{k}={v}" for k, v in self.params.items())


def kind(point: Point) -> str:
    """What a point measures: saturation, latency, stalled, churn, compression, idle, logins, leak.

    Points with ``nodes`` (run on 1..3 server processes behind one Redis) are ``cluster``.
    """
    params = point.params
    if "nodes" in params:
        return "cluster"
    if point.scenario != "fanout":
        return point.scenario
    for key in ("deflate", "stalled", "churn"):
        if key in params:
            return "compression" if key == "deflate" else key
    return "latency" if "rate" in params else "saturation"
