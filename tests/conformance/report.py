"""Read the fuzzing client's ``index.json``, judge every case, and summarise per section."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Outcomes that conform: the server did what RFC 6455 asks, or something it allows.
PASSING = frozenset({"OK", "NON-STRICT", "INFORMATIONAL"})
#: Column order of the summary table; anything else the suite reports is appended.
BEHAVIOURS = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED", "WRONG CODE", "UNCLEAN")
#: The compression sections (RFC 7692 permessage-deflate).
COMPRESSION_SECTIONS = frozenset({12, 13})
SECTION_TITLES = {
    1: "Framing",
    2: "Pings/Pongs",
    3: "Reserved bits",
    4: "Opcodes",
    5: "Fragmentation",
    6: "UTF-8 handling",
    7: "Close handling",
    9: "Limits/performance",
    10: "Miscellaneous",
    12: "Compression (payloads)",
    13: "Compression (parameters)",
}


class ReportError(RuntimeError):
    """The report is missing or is not what the fuzzing client writes."""


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One case as the suite judged it."""

    case: str
    behavior: str
    behavior_close: str
    remote_close_code: int | None
    duration_ms: int

    @property
    def section(self) -> int:
        """The case's top-level section: ``6`` for ``6.4.3``."""
        return int(self.case.split(".", 1)[0])


def case_key(case: str) -> tuple[int, ...]:
    """Sort key: ``9.10.1`` after ``9.2.1``."""
    return tuple(int(part) for part in case.split("."))


def load_index(path: Path, agent: str) -> list[CaseResult]:
    """The cases run against *agent*, in case order, from the report's ``index.json``."""
    try:
        data: Any = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ReportError(f"no report at {path}: the fuzzing client wrote none") from exc
    except (OSError, ValueError) as exc:
        raise ReportError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get(agent), dict):
        raise ReportError(f"{path} has no results for agent {agent!r}")
    results = []
    for case, entry in data[agent].items():
        if not isinstance(entry, dict) or not isinstance(entry.get("behavior"), str):
            raise ReportError(f"{path}: case {case} has no behaviour")
        code = entry.get("remoteCloseCode")
        results.append(
            CaseResult(
                case=case,
                behavior=entry["behavior"],
                behavior_close=str(entry.get("behaviorClose", "")),
                remote_close_code=code if isinstance(code, int) else None,
                duration_ms=int(entry.get("duration", 0)),
            )
        )
    return sorted(results, key=lambda r: case_key(r.case))


def is_failure(result: CaseResult, *, compression: bool) -> bool:
    """Whether a case fails the bar.

    OK, NON-STRICT and INFORMATIONAL pass. UNIMPLEMENTED passes only in the compression
    sections when the server was started without compression.
    """
    if result.behavior in PASSING:
        return False
    return not (
        result.behavior == "UNIMPLEMENTED" and result.section in COMPRESSION_SECTIONS and not compression
    )


def failures(results: list[CaseResult], *, compression: bool) -> list[CaseResult]:
    """The cases that fail the bar, in case order."""
    return [r for r in results if is_failure(r, compression=compression)]


def describe_failure(result: CaseResult) -> str:
    """One readable line for a failing case."""
    code = "none" if result.remote_close_code is None else str(result.remote_close_code)
    return (
        f"case {result.case}: {result.behavior} (close: {result.behavior_close}, server's close code: {code})"
    )


def summary_markdown(results: list[CaseResult]) -> str:
    """A Markdown table: one row per section, one column per behaviour, counts in the cells."""
    counts: dict[int, Counter[str]] = {}
    seconds: Counter[int] = Counter()
    for r in results:
        counts.setdefault(r.section, Counter())[r.behavior] += 1
        seconds[r.section] += r.duration_ms
    extra = sorted({b for c in counts.values() for b in c} - set(BEHAVIOURS))
    columns = [*BEHAVIOURS, *extra]
    header = ["Section", "Cases", *columns, "Case time (s)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    total: Counter[str] = Counter()
    for section in sorted(counts):
        row = counts[section]
        total.update(row)
        title = SECTION_TITLES.get(section, "")
        cells = [f"{section} {title}".strip(), str(sum(row.values()))]
        cells += [str(row[b]) if row[b] else "" for b in columns]
        cells.append(f"{seconds[section] / 1000:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    cells = ["All", str(sum(total.values()))] + [str(total[b]) if total[b] else "" for b in columns]
    cells.append(f"{sum(seconds.values()) / 1000:.1f}")
    lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
