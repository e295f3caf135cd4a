"""What a list task receives: a Snowpark session, the business date(s) and where things live."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from jobs.business_calendar import business_days

if TYPE_CHECKING:
    from snowflake.snowpark import Session

    from jobs.tables import TableNames


@dataclass
class TaskContext:
    """A task computes its lists for every business date from ``start_date`` to ``business_date``.

    A scheduled run has ``start_date == business_date``; the demo backfill passes a whole range so the
    same set-based code builds 90 days of history in one pass.
    """

    session: Session
    business_date: dt.date
    tables: TableNames
    sftp_outbox: Path
    sftp_inbox: Path
    task_key: str = ""
    run_id: int | None = None
    start_date: dt.date | None = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("jobs"))

    @property
    def first_date(self) -> dt.date:
        return self.start_date or self.business_date

    @property
    def dates(self) -> list[dt.date]:
        return business_days(self.first_date, self.business_date)
