"""How long statements keep a Snowflake warehouse awake, by Snowflake's billing rules (pure functions).

A suspended warehouse resumes when a statement that needs it arrives, runs while statements keep coming and
suspends ``auto_suspend`` seconds after the last one finished. Each resume is billed for at least 60 seconds,
then per second. Statements answered without a warehouse (metadata, the result cache) do not count.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

MIN_BILLED_SECONDS = 60.0
RUN_SECONDS = 1.0  # what one of the console's reads takes on the warehouse (they aggregate a day's rows)


@dataclass(frozen=True)
class Awake:
    statements: int  # the statements that needed the warehouse
    resumes: int
    awake_seconds: float  # from each resume to its suspension
    billed_seconds: float  # with the 60-second minimum of each resume

    @property
    def billed_minutes(self) -> float:
        return self.billed_seconds / 60.0


def awake(times: Iterable[dt.datetime], auto_suspend_seconds: float,
          run_seconds: float = RUN_SECONDS) -> Awake:
    """The warehouse time that statements at ``times`` (each taking ``run_seconds``) cause."""
    moments = sorted(times)
    spans: list[tuple[dt.datetime, dt.datetime]] = []
    tail = dt.timedelta(seconds=run_seconds + auto_suspend_seconds)
    for moment in moments:
        if spans and moment <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], moment + tail))
        else:
            spans.append((moment, moment + tail))
    lengths = [(end - start).total_seconds() for start, end in spans]
    return Awake(len(moments), len(spans), sum(lengths), sum(max(MIN_BILLED_SECONDS, s) for s in lengths))


PIPELINE = "pipeline"  # the embedded stack's pipeline statements (console/adapters/meter.py: attributed)


def usage(statements: Any, auto_suspend_seconds: float) -> dict[str, Any]:
    """A day's statements (AT, PROCESS, KIND) in figures: counts per kind and per process, and the warehouse
    time the ``compute`` ones cause at ``auto_suspend_seconds``. The pipeline's statements (the embedded
    stack runs its list tasks and Genesys simulator in the console's processes) are counted apart, in
    ``pipeline``, and left out of the rest: in production they run on Databricks, not in the console."""
    pipeline = int((statements["PROCESS"] == PIPELINE).sum()) if len(statements) else 0
    statements = statements[statements["PROCESS"] != PIPELINE] if len(statements) else statements
    kinds = {kind: int((statements["KIND"] == kind).sum()) for kind in ("compute", "result_cache", "metadata")}
    per_process = {str(p): int(n) for p, n in statements.groupby("PROCESS").size().items()} if len(statements) else {}
    compute = [t for t, k in zip(statements["AT"], statements["KIND"], strict=True) if k == "compute"]
    return {"total": len(statements), "kinds": kinds, "per_process": per_process, "pipeline": pipeline,
            "awake": awake(compute, auto_suspend_seconds)}
