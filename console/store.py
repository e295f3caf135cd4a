"""The state database (SQLAlchemy Core): local-engine runs, action requests, worker heartbeat and lock.

SQLite under ``.data/`` by default; any SQLAlchemy URL (PostgreSQL) works. The schema is Alembic's migrations in
console/migrations/: SQLite is upgraded on open, PostgreSQL by its owner (``python -m console migrate``).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

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
    # Not carried out after this moment (an unacknowledged rerun requested before the date's 08:30 upload).
    sa.Column("not_after", UTCDateTime()),
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

# Every statement the console sent to the warehouse (console/adapters/meter.py), classified by its cost:
# compute (resumes the warehouse), result_cache or metadata (answered without a running warehouse).
warehouse_statements = sa.Table(
    "warehouse_statements", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime(), nullable=False, index=True),
    sa.Column("process", sa.String(20), nullable=False),  # ui | worker | cli
    sa.Column("kind", sa.String(20), nullable=False),  # compute | result_cache | metadata
    sa.Column("statement", sa.String(200), nullable=False, default=""),  # the text's start, never bindings
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

# The worker's APScheduler job store (console/worker.py), exactly as ``SQLAlchemyJobStore`` defines it: created by
# the migrations so that the console's role on PostgreSQL, which cannot create tables, finds it in place.
apscheduler_jobs = sa.Table(
    "apscheduler_jobs", metadata,
    sa.Column("id", sa.Unicode(191), primary_key=True),
    sa.Column("next_run_time", sa.Float(25), index=True),
    sa.Column("job_state", sa.LargeBinary, nullable=False),
)

# The job cluster's node timeline per run, shaped like Databricks' system.compute.node_timeline (one row per node
# per minute). Only the embedded demo writes it (console/demo_cluster.py, generated by code); on Databricks the
# console reads the system tables instead (console/adapters/databricks.py: utilization).
cluster_node_minutes = sa.Table(
    "cluster_node_minutes", metadata,
    sa.Column("run_id", sa.Integer, primary_key=True),
    sa.Column("node", sa.String(40), primary_key=True),
    sa.Column("minute", UTCDateTime(), primary_key=True),
    sa.Column("driver", sa.Boolean, nullable=False),
    sa.Column("spot", sa.Boolean, nullable=False),
    sa.Column("cpu_user_percent", sa.Float, nullable=False),
    sa.Column("cpu_system_percent", sa.Float, nullable=False),
    sa.Column("cpu_wait_percent", sa.Float, nullable=False),
    sa.Column("mem_used_percent", sa.Float, nullable=False),
    sa.Column("dbus", sa.Float, nullable=False),  # the node's DBUs for the minute (system.billing.usage's share)
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
    """A thin holder of the SQLAlchemy engine and the tables; domain code uses ``engine`` directly.

    On SQLite the store brings the schema to the latest migration itself (the file is the process's own); on any
    other database it only checks that the owner did (``python -m console migrate``) and stops if not, because the
    console's role there cannot create tables.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            if url.startswith("sqlite:///"):
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = sa.create_engine(url, future=True)
            if self.engine.dialect.name == "sqlite":
                event.listen(self.engine, "connect", _sqlite_pragmas)
                if schema_revision(self.engine) != head_revision():
                    # an in-memory database exists only on this engine's connection: migrate it there
                    in_memory = sa.engine.make_url(url).database in (None, "", ":memory:")
                    upgrade(url, self.engine if in_memory else None)
            else:
                require_head(self.engine, url)
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


# ------------------------------------------------------------------------------------------------ migrations
MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATE_HINT = ("Run `python -m console migrate` as the database owner (its URL in CONSOLE_STATE_OWNER_URL or "
                "--url; --grant ROLE for the console's role), then start the console again.")


def alembic_config(url: str = "", connection: Connection | None = None) -> Config:
    """Alembic configured from code, so the migrations run from the installed package (no alembic.ini)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str:
    """The revision this console's code expects (the newest migration)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, f"no migrations in {MIGRATIONS}"
    return head


def schema_revision(bind: Engine | Connection) -> str | None:
    """The database's migration revision; None when it has none (empty, or made by create_all)."""
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return schema_revision(conn)
    return MigrationContext.configure(bind).get_current_revision()


def require_head(engine: Engine, url: str) -> None:
    """Stop with one clear message unless the owner migrated the database to this console's schema."""
    try:
        found = schema_revision(engine)
    except sa.exc.ProgrammingError:  # no SELECT on alembic_version: migrated, but the role was never granted
        raise StateStoreError(f"The console's role cannot read the schema version of the state database "
                              f"{redact_url(url)} (permission denied).",
                              "Run `python -m console migrate --grant ROLE` as the database owner, with ROLE the "
                              "console's role, then start the console again.") from None
    if found == head_revision():
        return
    if found is None:
        raise StateStoreError(f"The state database {redact_url(url)} has no console schema yet.", MIGRATE_HINT)
    if found not in {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}:
        raise StateStoreError(f"The state database {redact_url(url)} is at schema revision {found}, which this "
                              "console does not know: a newer console migrated it.",
                              "Deploy the same console version everywhere.")
    raise StateStoreError(f"The state database {redact_url(url)} is at schema revision {found}; this console "
                          f"needs {head_revision()}.", MIGRATE_HINT)


def upgrade(url: str, engine: Engine | None = None) -> tuple[str | None, str]:
    """Bring the database at ``url`` to the newest migration in one locked transaction: (revision before, after).

    Two processes starting on a new database at once are serialized: SQLite by ``BEGIN IMMEDIATE`` (its write
    lock, waited for by ``busy_timeout``), PostgreSQL by a transaction-level advisory lock.
    """
    own_engine = engine is None
    engine = engine or _migration_engine(url)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            before = schema_revision(conn)
            if before is None and set(sa.inspect(conn).get_table_names()) & set(metadata.tables):
                _adopt(conn)
            command.upgrade(alembic_config(connection=conn), "head")
            return before, head_revision()
    finally:
        if own_engine:
            engine.dispose()


def migrate(url: str, grant: str = "") -> list[str]:
    """``python -m console migrate``: upgrade as the owner, then grant the console's role; the lines to print."""
    if grant and sa.engine.make_url(url).get_backend_name() != "postgresql":
        raise StateStoreError(f"--grant applies to PostgreSQL; {redact_url(url)} has no roles to grant.",
                              "Leave out --grant for a SQLite state database.")
    try:
        before, after = upgrade(url)
        lines = [f"state database {redact_url(url)}: " + (f"schema {after} (already the newest)" if before == after
                                                          else f"schema {before or 'none'} -> {after}")]
        if grant:
            lines += grant_console_role(url, grant)
        return lines
    except sa.exc.SQLAlchemyError as exc:
        raise StateStoreError(f"Migrating the state database {redact_url(url)} failed: {exc.__class__.__name__}: "
                              f"{_first_line(exc)}",
                              "Check that the server answers and that the URL is the owner's (CONSOLE_STATE_OWNER_URL "
                              "or --url): the role that owns the database and may create tables.") from None


def grant_console_role(url: str, role: str) -> list[str]:
    """Grant the console's PostgreSQL role what it mutates; on ``audit_log`` only INSERT and SELECT.

    Revokes first, so running it again after a migration leaves exactly these privileges. Refuses a role that
    could create tables or bypass privileges (the owner, a superuser, CREATE on the schema).
    """
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            if conn.dialect.name != "postgresql":
                raise StateStoreError(f"--grant applies to PostgreSQL; {conn.dialect.name} has no roles to grant.",
                                      "Leave out --grant for a SQLite state database.")
            found = conn.execute(sa.text("SELECT rolsuper, rolname = current_user AS is_me FROM pg_roles "
                                         "WHERE rolname = :r"), {"r": role}).first()
            if found is None:
                raise StateStoreError(f"There is no PostgreSQL role '{role}'.",
                                      f"Create it first (CREATE ROLE {role} LOGIN PASSWORD '…') and run again.")
            if found.rolsuper or found.is_me:
                what = "a superuser" if found.rolsuper else "the owner running the migration"
                raise StateStoreError(f"'{role}' is {what}: the console's role must not be able to change the schema.",
                                      "Give the console its own LOGIN role without ownership or superuser.")
            quoted = conn.dialect.identifier_preparer.quote(role)
            conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {_schema(conn)} TO {quoted}")
            conn.exec_driver_sql(f"GRANT SELECT ON alembic_version TO {quoted}")
            for table in metadata.sorted_tables:
                privileges = "SELECT, INSERT" if table.name == audit_log.name else "SELECT, INSERT, UPDATE, DELETE"
                conn.exec_driver_sql(f"REVOKE ALL ON {table.name} FROM {quoted}")
                conn.exec_driver_sql(f"GRANT {privileges} ON {table.name} TO {quoted}")
                for column in table.primary_key.columns:
                    sequence = conn.execute(sa.text("SELECT pg_get_serial_sequence(:t, :c)"),
                                            {"t": table.name, "c": column.name}).scalar()
                    if sequence:
                        conn.exec_driver_sql(f"GRANT USAGE ON SEQUENCE {sequence} TO {quoted}")
            if conn.execute(sa.text("SELECT has_schema_privilege(:r, current_schema(), 'CREATE')"),
                            {"r": role}).scalar():
                raise StateStoreError(f"'{role}' may create tables in schema {_schema(conn)} (it or PUBLIC holds "
                                      "CREATE on it).",
                                      f"As the owner: REVOKE CREATE ON SCHEMA {_schema(conn)} FROM PUBLIC, {role}; "
                                      "then run the grant again.")
        return [f"role {role}: SELECT, INSERT, UPDATE, DELETE on the console's tables; SELECT, INSERT only on "
                f"{audit_log.name}"]
    finally:
        engine.dispose()


_MIGRATION_LOCK = 0x5C0_5013  # any constant: the advisory lock key of the console's migrations


def _schema(conn: Connection) -> str:
    return str(conn.dialect.identifier_preparer.quote(str(conn.execute(sa.text("SELECT current_schema()")).scalar())))


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else ""


def _migration_engine(url: str) -> Engine:
    """An engine whose transactions hold the database's write lock from BEGIN, DDL included."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    if engine.dialect.name == "sqlite":
        # pysqlite runs DDL outside transactions by default; take transaction control (SQLAlchemy's documented
        # recipe) so the whole upgrade is one transaction that a second process waits for.
        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, record: Any) -> None:
            _sqlite_pragmas(dbapi_conn, record)
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    return engine


# A database made by create_all before the migrations existed: the same tables and (SQLite) triggers, without
# alembic_version. Adopting it creates whatever that console version had not made yet, exactly as its next start
# would have, and stamps the first revision; the later revisions then apply as to any database.
_LEGACY_APPEND_ONLY = {
    "sqlite": [
        "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
        "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege'; END $$",
        "CREATE OR REPLACE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
    ],
}
FIRST_REVISION = "0001"


def _adopt(conn: Connection) -> None:
    logger.info("state database made before the migrations: adopting it as revision %s", FIRST_REVISION)
    metadata.create_all(conn)  # only the missing tables (checkfirst)
    for statement in _LEGACY_APPEND_ONLY.get(conn.dialect.name, []):
        conn.exec_driver_sql(statement)
    command.stamp(alembic_config(connection=conn), FIRST_REVISION)
