"""The state database (SQLAlchemy Core): local-engine runs, action requests, worker heartbeat and lock.

SQLite under ``.data/`` by default; any SQLAlchemy URL (PostgreSQL) works. Tables are created on open.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from console.errors import StateStoreError

logger = logging.getLogger(__name__)

metadata = sa.MetaData()


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """Stored as naive UTC (SQLite has no time zones), returned as aware UTC."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the state store; pass an aware datetime")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return value.replace(tzinfo=dt.UTC) if value is not None else None


runs = sa.Table(
    "runs", metadata,
    sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_name", sa.String(200), nullable=False),
    sa.Column("business_date", sa.Date, nullable=False, index=True),
    sa.Column("trigger", sa.String(20), nullable=False),  # SCHEDULE | MANUAL | RETRY | BACKFILL
    sa.Column("requested_by", sa.String(200), nullable=False),
    sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
    sa.Column("life_cycle_state", sa.String(20), nullable=False),  # Databricks RunLifeCycleState
    sa.Column("result_state", sa.String(30)),  # Databricks RunResultState, set when TERMINATED
    sa.Column("state_message", sa.Text, nullable=False, default=""),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("start_time", UTCDateTime()),
    sa.Column("end_time", UTCDateTime()),
    sa.Column("executor", sa.String(100)),  # host:pid of the process executing it
    sa.Column("source", sa.String(20), nullable=False, default="engine"),  # engine | demo-backfill
)

task_runs = sa.Table(
    "task_runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.run_id"), nullable=False, index=True),
    sa.Column("task_key", sa.String(200), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False, default=0),
    sa.Column("repair_id", sa.Integer),
    sa.Column("life_cycle_state", sa.String(20), nullable=False),
    sa.Column("result_state", sa.String(30)),
    sa.Column("start_time", UTCDateTime()),
    sa.Column("end_time", UTCDateTime()),
    sa.Column("setup_seconds", sa.Float),
    sa.Column("execution_seconds", sa.Float),
    sa.Column("error_message", sa.Text),
    sa.Column("error_trace", sa.Text),
    sa.Column("output", sa.Text),  # JSON of what the task returned
)

repairs = sa.Table(
    "repairs", metadata,
    sa.Column("repair_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.run_id"), nullable=False, index=True),
    sa.Column("requested_by", sa.String(200), nullable=False),
    sa.Column("requested_at", UTCDateTime(), nullable=False),
    sa.Column("task_keys", sa.Text, nullable=False),  # JSON list of the tasks rerun (with dependents)
    sa.Column("reason", sa.Text, nullable=False, default=""),
)

action_requests = sa.Table(
    "action_requests", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(20), nullable=False),  # trigger | repair | cancel
    sa.Column("business_date", sa.Date),
    sa.Column("run_id", sa.Integer),
    sa.Column("task_keys", sa.Text, nullable=False, default="[]"),
    sa.Column("requested_by", sa.String(200), nullable=False),
    sa.Column("requested_at", UTCDateTime(), nullable=False),
    sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
    sa.Column("status", sa.String(20), nullable=False, default="pending"),  # pending|running|done|failed
    sa.Column("message", sa.Text, nullable=False, default=""),
    sa.Column("finished_at", UTCDateTime()),
)

# Append-only record of every confirmed action (who, what, on what, with which outcome). Nothing in the
# console updates or deletes a row of it.
audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("business_date", sa.Date),
    sa.Column("run_id", sa.Integer),
    sa.Column("target", sa.Text, nullable=False, default=""),
    sa.Column("outcome", sa.String(20), nullable=False),  # accepted | duplicate | refused | denied | failed
    sa.Column("detail", sa.Text, nullable=False, default=""),
    sa.Column("request_id", sa.Integer),
)

# Every tick, confirmation, override, un-tick, "not applicable" and sign-off of the daily checklist, in order.
# The state of an item is its latest event; ``seq`` numbers the events of one item of one day, and the
# unique constraint makes two concurrent changes of the same item conflict instead of losing one.
checklist_events = sa.Table(
    "checklist_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("business_date", sa.Date, nullable=False),
    sa.Column("item_key", sa.String(120), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("action", sa.String(20), nullable=False),  # tick | confirm | override | untick | na | sign_off
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("note", sa.Text, nullable=False, default=""),
    sa.Column("evidence", sa.Text, nullable=False, default=""),  # the automatic result seen when acting
    sa.UniqueConstraint("business_date", "item_key", "seq", name="uq_checklist_event_seq"),
)

# One row per condition: rule + business date + subject. open → acknowledged → resolved (automatically when
# the condition clears, or by a person with a reason); a cleared condition that comes back reopens it.
alerts = sa.Table(
    "alerts", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(300), nullable=False, unique=True),
    sa.Column("rule", sa.String(40), nullable=False),
    sa.Column("business_date", sa.Date, nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("severity", sa.String(20), nullable=False),  # warning | critical
    sa.Column("notified_severity", sa.String(20)),
    sa.Column("state", sa.String(20), nullable=False),  # open | acknowledged | resolved
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("evidence", sa.Text, nullable=False, default=""),
    sa.Column("page", sa.String(100), nullable=False, default=""),
    sa.Column("opened_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("acknowledged_by", sa.String(200)),
    sa.Column("acknowledged_at", UTCDateTime()),
    sa.Column("note", sa.Text, nullable=False, default=""),
    sa.Column("resolved_by", sa.String(200)),
    sa.Column("resolved_at", UTCDateTime()),
    sa.Column("resolution", sa.Text, nullable=False, default=""),
)

# Every notification is written here, in the transaction that decides it, before anything is sent; the
# worker delivers it, retries with backoff, and marks it sent once. ``dedupe`` makes a second write of the
# same notification a no-op.
outbox = sa.Table(
    "outbox", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dedupe", sa.String(300), nullable=False, unique=True),
    sa.Column("channel", sa.String(20), nullable=False),  # email | slack
    sa.Column("recipients", sa.Text, nullable=False, default=""),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("alert_id", sa.Integer),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
    sa.Column("sent_at", UTCDateTime()),
    sa.Column("last_error", sa.Text, nullable=False, default=""),
)

# SQLite refuses any change to a written audit row (PostgreSQL: grant INSERT and SELECT only).
_APPEND_ONLY = [
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
]

worker_heartbeat = sa.Table(
    "worker_heartbeat", metadata,
    sa.Column("worker", sa.String(20), primary_key=True),  # always "worker": one per store
    sa.Column("owner", sa.String(200), nullable=False),  # host:pid
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("beat_at", UTCDateTime(), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # running | stopped
    sa.Column("detail", sa.Text, nullable=False, default=""),
)

job_events = sa.Table(
    "job_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job", sa.String(100), nullable=False),
    sa.Column("business_date", sa.Date),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime()),
    sa.Column("status", sa.String(20), nullable=False),  # running | succeeded | failed
    sa.Column("message", sa.Text, nullable=False, default=""),
)

demo_meta = sa.Table(
    "demo_meta", metadata,
    sa.Column("key", sa.String(50), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


# Reconciliation and quality checks (console/reconcile.py): one row per run, the per-list rows of the runs
# that succeeded. A failed run keeps its message; the previous run's rows stay the date's current result.
reconcile_runs = sa.Table(
    "reconcile_runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("business_date", sa.Date, nullable=False, index=True),
    sa.Column("trigger", sa.String(20), nullable=False),  # SCHEDULE | MANUAL | CLI
    sa.Column("requested_by", sa.String(200), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime()),
    sa.Column("status", sa.String(20), nullable=False),  # running | succeeded | failed
    sa.Column("message", sa.Text, nullable=False, default=""),
    sa.Column("generated", sa.Integer),
    sa.Column("exported", sa.Integer),
    sa.Column("pairs", sa.Integer),  # list x channel rows reconciled
    sa.Column("matched", sa.Integer),  # of which matched
    sa.Column("checks", sa.Text, nullable=False, default="[]"),  # JSON list of quality-check results
)

reconcile_rows = sa.Table(
    "reconcile_rows", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("reconcile_runs.id"), nullable=False, index=True),
    sa.Column("list_name", sa.String(200), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("generated", sa.Integer, nullable=False),
    sa.Column("sent", sa.Integer),
    sa.Column("accepted", sa.Integer),
    sa.Column("exported", sa.Integer),
    sa.Column("status", sa.String(20), nullable=False),  # matched | pending | mismatch
    sa.Column("reason", sa.Text, nullable=False, default=""),
)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class StateStore:
    """A thin holder of the SQLAlchemy engine and the tables; domain code uses ``engine`` directly."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            if url.startswith("sqlite:///"):
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = sa.create_engine(url, future=True)
            if self.engine.dialect.name == "sqlite":
                event.listen(self.engine, "connect", _sqlite_pragmas)
            metadata.create_all(self.engine)
            if self.engine.dialect.name == "sqlite":
                with self.engine.begin() as conn:
                    for statement in _APPEND_ONLY:
                        conn.exec_driver_sql(statement)
        except sa.exc.SQLAlchemyError as exc:
            raise StateStoreError(f"Cannot open the state database {redact_url(url)}: {exc.__class__.__name__}.") \
                from None

    def begin(self) -> Any:
        return self.engine.begin()

    def connect(self) -> Any:
        return self.engine.connect()

    def dispose(self) -> None:
        self.engine.dispose()


def redact_url(url: str) -> str:
    """The URL with any password replaced, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<invalid url>"
