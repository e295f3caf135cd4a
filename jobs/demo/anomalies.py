"""The anomalies seeded into the demo history, so trends and alerts have something true to show.

Each is placed a fixed number of business days before the last seeded day, so every fresh seed has them
at the same relative places. They are listed on the Home page's demo notice and in README.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Anomaly:
    days_ago: int  # business days before the last history day
    kind: str  # failed_task | late_run | short_list | missing_export | memory_heavy
    subject: str  # task key (short), list name or ""
    description: str


ANOMALIES: tuple[Anomaly, ...] = (
    Anomaly(4, "missing_export", "",
            "The 22:30 Genesys results export never landed in Snowflake (Kafka connector stalled)."),
    Anomaly(6, "memory_heavy", "worker-3",
            "A skewed partition in BI-2482 held one worker (worker-3) above 90% memory for about 9 minutes."),
    Anomaly(9, "short_list", "GR_CALL_LIST",
            "The loan tape arrived partial: the GR call list is about 40% short of its usual size."),
    Anomaly(15, "late_run", "",
            "Cluster startup delay (spot capacity): the workflow started 06:52 and finished after 08:00; "
            "two spot workers were reclaimed and replaced on demand."),
    Anomaly(23, "failed_task", "DI-749",
            "The e-mail non-openers file was late on SFTP: DI-749 failed after its retries; "
            "DI-986 and its dependents were upstream-failed until a repair at 07:41."),
)


def by_kind(kind: str) -> list[Anomaly]:
    return [a for a in ANOMALIES if a.kind == kind]
