"""The state DB's schema: Alembic migrations on SQLite and PostgreSQL, the roles, the append-only audit log.

PostgreSQL is a throwaway cluster (tests/pgkit.py) started once for this module: a template database migrated
by the owner role with ``--grant`` for the console's role, and one copy of it per test (about 60 ms).
"""

from __future__ import annotations

import datetime as dt
import inspect
import sqlite3
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

import tests.enginekit
from console import audit
from console.__main__ import main
from console.errors import StateStoreError
from console.store import (
    StateStore,
    apscheduler_jobs,
    audit_log,
    head_revision,
    metadata,
    migrate,
    outbox,
    schema_revision,
)
from tests import pgkit
from tests.pgkit import CONSOLE, OWNER, Cluster, running_cluster

# The store-heavy tests of other modules, run once more here with their own fixtures on a PostgreSQL store
# (the ``env``/``adapters`` fixtures below build the original fixture with the console's role on a copy of the
# migrated template). On SQLite they run in their own modules.
from tests.test_actions import test_a_double_click_and_simultaneous_clicks_queue_one_rerun as test_pg_double_click
from tests.test_actions import test_permission_is_checked_in_console_and_audited as test_pg_permission_audited
from tests.test_checklist import test_sign_off_once_and_the_day_report as test_pg_sign_off
from tests.test_checklist import test_tick_confirm_override_untick_and_na_follow_the_rules as test_pg_checklist_rules
from tests.test_checklist import test_twenty_people_ticking_and_unticking_lose_nothing as test_pg_twenty_people
from tests.test_engine import test_a_double_clicked_request_is_queued_once_and_carried_out as test_pg_request_once
from tests.test_engine import test_a_run_left_running_by_a_killed_worker_is_marked_failed as test_pg_orphan_run
from tests.test_engine import test_repair_reruns_the_failed_task_and_its_dependents_only as test_pg_repair
from tests.test_engine import test_runs_every_task_after_its_dependencies_and_in_parallel as test_pg_runs_dag
from tests.test_worker import test_a_stale_lock_is_taken_over as test_pg_stale_lock
from tests.test_worker import test_worker_runs_a_requested_run_beats_and_holds_the_lock as test_pg_worker

NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)


# ------------------------------------------------------------------------------------------------ fixtures
class Postgres:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.template = cluster.create_database()
        migrate(cluster.url(self.template, OWNER), grant=CONSOLE)

    def empty(self) -> str:
        return self.cluster.create_database()

    def migrated(self) -> str:
        return self.cluster.create_database(template=self.template)

    def console_url(self, db: str) -> str:
        return self.cluster.url(db, CONSOLE)

    def owner_url(self, db: str) -> str:
        return self.cluster.url(db, OWNER)


@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    with running_cluster(pgkit.require_bindir()) as cluster:
        yield Postgres(cluster)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """The console's store: a new SQLite file, or the console's role on a migrated PostgreSQL database."""
    if request.param == "sqlite":
        opened = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    else:
        pg: Postgres = request.getfixturevalue("pg")
        opened = StateStore(pg.console_url(pg.migrated()))
    yield opened
    opened.dispose()


def _original_fixture(request: pytest.FixtureRequest, name: str, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """The fixture ``name`` of the test's own module, built with a PostgreSQL store instead of a SQLite file."""
    pg: Postgres = request.getfixturevalue("pg")
    opened = StateStore(pg.console_url(pg.migrated()))
    monkeypatch.setattr(tests.enginekit, "StateStore", lambda _sqlite_url: opened)
    original = getattr(sys.modules[request.function.__module__], name).__wrapped__
    yield original(**{p: request.getfixturevalue(p) for p in inspect.signature(original).parameters})
    opened.dispose()  # its pooled connections: the cluster allows 100


@pytest.fixture
def env(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    yield from _original_fixture(request, "env", monkeypatch)


@pytest.fixture
def adapters(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    yield from _original_fixture(request, "adapters", monkeypatch)


def differences(engine: sa.Engine, target: sa.MetaData = metadata) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), target)


def audit_count(store: StateStore) -> int:
    with store.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one())


# ------------------------------------------------------------------------------------------------ migrations
def test_the_migrations_on_an_empty_sqlite_file_make_exactly_the_models(tmp_path: Path) -> None:
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    assert schema_revision(store.engine) == head_revision()
    assert differences(store.engine) == []


def test_an_in_memory_sqlite_store_is_migrated_on_its_own_connection() -> None:
    store = StateStore("sqlite://")
    assert schema_revision(store.engine) == head_revision()
    audit.record(store, "ana@example.com", "engineer", "repair", "accepted")
    assert audit_count(store) == 1


def test_without_postgresql_the_harness_fails_under_ci_and_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pgkit, "find_bindir", lambda: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"scripts/ensure-system-packages\.sh"):
        pgkit.require_bindir()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="apt-installs Debian's postgresql"):
        pgkit.require_bindir()


def test_the_migrations_on_an_empty_postgresql_database_make_exactly_the_models(pg: Postgres) -> None:
    db = pg.empty()
    lines = migrate(pg.owner_url(db))
    assert lines == [f"state database {pg.owner_url(db)}: schema none -> {head_revision()}"]
    engine = sa.create_engine(pg.owner_url(db))
    try:
        assert schema_revision(engine) == head_revision()
        assert differences(engine) == []
    finally:
        engine.dispose()
    assert migrate(pg.owner_url(db))[0].endswith("(already the newest)")


def test_the_job_store_table_is_the_one_apscheduler_defines(tmp_path: Path) -> None:
    """The worker's job store finds its table made by the migrations: same columns, types and index."""
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    theirs = sa.MetaData()
    SQLAlchemyJobStore(engine=store.engine, tablename=apscheduler_jobs.name, metadata=theirs)
    for table in metadata.sorted_tables:
        if table.name != apscheduler_jobs.name:
            table.to_metadata(theirs)
    assert differences(store.engine, theirs) == []


def test_an_old_create_all_sqlite_file_is_adopted_and_keeps_its_rows(tmp_path: Path) -> None:
    """A .data/state.db from before the migrations (create_all, the two triggers, no job store yet, no outbox)."""
    path = tmp_path / "state.db"
    legacy = sa.create_engine(f"sqlite:///{path}")
    old_tables = [t for t in metadata.sorted_tables if t.name not in (apscheduler_jobs.name, outbox.name)]
    metadata.create_all(legacy, tables=old_tables)
    with legacy.begin() as conn:
        for verb in ("UPDATE", "DELETE"):
            conn.exec_driver_sql(f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                                 "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END")
        conn.execute(audit_log.insert().values(at=NOW, actor="ana@example.com", role="engineer", action="repair",
                                               outcome="accepted"))
    legacy.dispose()

    store = StateStore(f"sqlite:///{path}")
    assert schema_revision(store.engine) == head_revision()
    assert differences(store.engine) == []
    with store.connect() as conn:
        assert conn.execute(sa.select(audit_log.c.actor)).scalars().all() == ["ana@example.com"]
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), store.begin() as conn:
        conn.exec_driver_sql("DELETE FROM audit_log")
    assert StateStore(f"sqlite:///{path}").url  # and the next start has nothing left to do


def test_processes_opening_a_new_sqlite_file_at_once_migrate_it_once(tmp_path: Path) -> None:
    """The UI and the worker of `make run` start together on a new .data/: one migrates, the other waits."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_store() -> None:
        start.wait()
        try:
            StateStore(url).dispose()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with sqlite3.connect(tmp_path / "state.db") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(head_revision(),)]


# ------------------------------------------------------------------------------------------------ production checks
def test_a_store_on_an_unmigrated_postgresql_database_stops_with_one_clear_message(pg: Postgres) -> None:
    db = pg.empty()
    with pytest.raises(StateStoreError, match="has no console schema yet") as raised:
        StateStore(pg.console_url(db))
    assert "python -m console migrate` as the database owner" in raised.value.hint
    owner = sa.create_engine(pg.owner_url(db))
    assert sa.inspect(owner).get_table_names() == []  # it created nothing (the console's role could not)
    owner.dispose()


def test_a_store_on_a_database_migrated_by_a_newer_console_says_so(pg: Postgres) -> None:
    db = pg.migrated()
    engine = sa.create_engine(pg.owner_url(db))
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    engine.dispose()
    with pytest.raises(StateStoreError, match="revision 9999, which this console does not know"):
        StateStore(pg.console_url(db))


def test_migrate_from_the_command_line_then_the_console_starts(pg: Postgres, capsys: pytest.CaptureFixture,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    db = pg.empty()
    monkeypatch.setenv("CONSOLE_STATE_OWNER_URL", pg.owner_url(db))
    assert main(["migrate", "--grant", CONSOLE]) == 0
    out = capsys.readouterr().out
    assert f"schema none -> {head_revision()}" in out and "SELECT, INSERT only on audit_log" in out
    store = StateStore(pg.console_url(db))
    audit.record(store, "ana@example.com", "engineer", "repair", "accepted")
    assert audit_count(store) == 1
    store.dispose()


def test_migrate_as_the_console_role_fails_with_what_to_do(pg: Postgres, capsys: pytest.CaptureFixture) -> None:
    assert main(["migrate", "--url", pg.console_url(pg.empty())]) == 2
    err = capsys.readouterr().err
    assert "Migrating the state database" in err and "permission denied for schema public" in err
    assert "the URL is the owner's" in err


@pytest.mark.parametrize("role, message", [(OWNER, "the owner running the migration"), ("postgres", "a superuser"),
                                           ("nobody", "There is no PostgreSQL role 'nobody'")])
def test_grant_refuses_a_role_that_could_change_the_schema(pg: Postgres, role: str, message: str) -> None:
    with pytest.raises(StateStoreError, match=message):
        migrate(pg.owner_url(pg.migrated()), grant=role)


def test_grant_refuses_when_the_console_role_could_create_tables(pg: Postgres) -> None:
    db = pg.migrated()
    pg.cluster.execute("GRANT CREATE ON SCHEMA public TO PUBLIC", database=db)
    with pytest.raises(StateStoreError, match="may create tables in schema public") as raised:
        migrate(pg.owner_url(db), grant=CONSOLE)
    assert "REVOKE CREATE ON SCHEMA public FROM PUBLIC" in raised.value.hint


# ------------------------------------------------------------------------------------------------ the audit log
def test_the_console_can_append_to_the_audit_log_and_read_it(store: StateStore) -> None:
    audit.record(store, "ana@example.com", "engineer", "repair", "accepted", business_date=dt.date(2026, 11, 24))
    audit.record(store, "bob@example.com", "viewer", "repair", "denied")
    with store.connect() as conn:
        rows = conn.execute(sa.select(audit_log.c.actor, audit_log.c.outcome).order_by(audit_log.c.id)).all()
    assert [tuple(r) for r in rows] == [("ana@example.com", "accepted"), ("bob@example.com", "denied")]


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log",
    "INSERT INTO audit_log (id, at, actor, role, action, outcome, target, detail) "
    "SELECT id, at, 'x', role, action, outcome, target, detail FROM audit_log WHERE true "
    "ON CONFLICT (id) DO UPDATE SET actor = excluded.actor",
])
def test_the_console_cannot_rewrite_the_audit_log(store: StateStore, statement: str) -> None:
    audit.record(store, "ana@example.com", "engineer", "repair", "accepted")
    with pytest.raises(sa.exc.DatabaseError) as raised, store.begin() as conn:
        conn.exec_driver_sql(statement)
    if store.engine.dialect.name == "postgresql":
        assert raised.value.orig.sqlstate == "42501"  # InsufficientPrivilege: the role holds no such privilege
    else:
        assert "append-only" in str(raised.value)  # SQLite has no roles: its triggers refuse
    assert audit_count(store) == 1


def test_sqlite_insert_or_replace_cannot_rewrite_an_audit_row(tmp_path: Path) -> None:
    """SQLite's REPLACE deletes the old row without firing the DELETE trigger: it got past 0001's triggers
    (issue 14); 0002 refuses an insert whose id exists, from any connection (the sqlite3 shell included)."""
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    audit.record(store, "ana@example.com", "engineer", "repair", "accepted")
    raw = sqlite3.connect(tmp_path / "state.db")  # not the console's connection: no pragmas of ours
    try:
        for verb in ("INSERT OR REPLACE", "REPLACE"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                raw.execute(f"{verb} INTO audit_log (id, at, actor, role, action, outcome, target, detail) "
                            "SELECT id, at, 'mallory', role, action, 'denied', target, detail FROM audit_log")
        assert raw.execute("SELECT actor, outcome FROM audit_log").fetchall() == [("ana@example.com", "accepted")]
    finally:
        raw.close()
        store.dispose()


def test_the_console_role_cannot_truncate_the_audit_log_nor_grant_itself_more(pg: Postgres) -> None:
    store = StateStore(pg.console_url(pg.migrated()))
    audit.record(store, "ana@example.com", "engineer", "repair", "accepted")
    with pytest.raises(sa.exc.ProgrammingError) as raised, store.begin() as conn:
        conn.exec_driver_sql("TRUNCATE audit_log")
    assert raised.value.orig.sqlstate == "42501"
    with store.begin() as conn:
        conn.exec_driver_sql(f"GRANT UPDATE ON audit_log TO {CONSOLE}")  # PostgreSQL only warns: nothing granted
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), store.begin() as conn:
        conn.exec_driver_sql("UPDATE audit_log SET actor = 'x'")
    assert audit_count(store) == 1
    store.dispose()


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log",
                                       "TRUNCATE audit_log"])
def test_even_the_owner_cannot_rewrite_the_audit_log_without_dropping_its_trigger(pg: Postgres, statement: str) \
        -> None:
    db = pg.migrated()
    store = StateStore(pg.console_url(db))
    audit.record(store, "ana@example.com", "engineer", "repair", "accepted")
    owner = sa.create_engine(pg.owner_url(db))
    with pytest.raises(sa.exc.DatabaseError, match="audit_log is append-only"), owner.begin() as conn:
        conn.exec_driver_sql(statement)
    owner.dispose()
    assert audit_count(store) == 1
    store.dispose()


@pytest.mark.parametrize("statement", ["CREATE TABLE notes (id integer)",
                                       "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
                                       "DROP TABLE audit_log"])
def test_the_console_role_cannot_change_the_schema(pg: Postgres, statement: str) -> None:
    store = StateStore(pg.console_url(pg.migrated()))
    with pytest.raises(sa.exc.ProgrammingError) as raised, store.begin() as conn:
        conn.exec_driver_sql(statement)
    assert raised.value.orig.sqlstate == "42501"  # insufficient privilege, or "must be owner of table"
    store.dispose()


# ------------------------------------------------------------------------------------------------ what the console does
def test_the_tables_the_console_mutates_take_every_change(store: StateStore) -> None:
    """SELECT, INSERT, UPDATE, DELETE on a console table (serial ids included), through the console's role."""
    with store.begin() as conn:
        new_id = conn.execute(outbox.insert().values(dedupe="d1", channel="email", subject="s", body="b",
                                                     created_at=NOW, next_attempt_at=NOW)
                              .returning(outbox.c.id)).scalar_one()
        conn.execute(outbox.update().where(outbox.c.id == new_id).values(sent_at=NOW, attempts=1))
    with store.connect() as conn:
        sent_at = conn.execute(sa.select(outbox.c.sent_at)).scalar_one()
    assert sent_at == NOW  # aware UTC back from a naive column, on both
    with pytest.raises(sa.exc.IntegrityError), store.begin() as conn:
        conn.execute(outbox.insert().values(dedupe="d1", channel="email", subject="s", body="b",
                                            created_at=NOW, next_attempt_at=NOW))
    with store.begin() as conn:
        conn.execute(outbox.delete())


def test_the_worker_job_store_starts_on_the_migrated_table(store: StateStore) -> None:
    """APScheduler creates its table itself unless it exists: the console's role on PostgreSQL could not."""
    job_store = SQLAlchemyJobStore(engine=store.engine, tablename=apscheduler_jobs.name)
    job_store.start(None, "default")  # checks first, creates nothing here
    assert job_store.get_all_jobs() == []


# Imported to be collected here (above); named so that no linter takes them for unused imports.
_collected_here = (test_pg_double_click, test_pg_permission_audited, test_pg_sign_off, test_pg_checklist_rules,
                   test_pg_twenty_people, test_pg_request_once, test_pg_orphan_run, test_pg_repair, test_pg_runs_dag,
                   test_pg_stale_lock, test_pg_worker)


def test_two_people_acknowledging_one_alert_at_once_one_wins_and_the_other_is_told(store: StateStore) -> None:
    """Both were audited as accepted and the second overwrote the first (issue 14). The competing
    acknowledgement is made on the same connection right before ours writes, as if it had committed between
    our read and our write: ours changes no row, is refused, and audited as refused; theirs stands."""
    from types import SimpleNamespace

    from console import alerts as alert_rules
    from console.auth import User
    from console.errors import InvalidRequest
    from console.store import alerts as alerts_table

    now = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)
    with store.begin() as conn:
        alert_id = conn.execute(alerts_table.insert().values(
            key="task_failed:2026-11-25:DI-749", rule="task_failed", business_date=dt.date(2026, 11, 25),
            subject="DI-749", severity="critical", state="open", summary="DI-749 failed", opened_at=now,
            updated_at=now)).inserted_primary_key[0]
    raced = []

    def first_gets_there(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE ALERTS") and not raced:
            raced.append(True)
            cursor.execute(f"UPDATE alerts SET state = 'acknowledged', acknowledged_by = 'first@corp.example' "
                           f"WHERE id = {int(alert_id)}")

    sa.event.listen(store.engine, "before_cursor_execute", first_gets_there)
    try:
        with pytest.raises(InvalidRequest, match=r"acknowledged by first@corp\.example at the same moment"):
            alert_rules.acknowledge(SimpleNamespace(store=store), User("second@corp.example", "operator"), alert_id,
                                    "mine", now=now)
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", first_gets_there)
    with store.connect() as conn:
        row = conn.execute(sa.select(alerts_table).where(alerts_table.c.id == alert_id)).one()
        audited = conn.execute(sa.select(audit_log.c.actor, audit_log.c.outcome)
                               .where(audit_log.c.action == "alert.acknowledge")).all()
    assert (row.acknowledged_by, row.note) == ("first@corp.example", "")
    assert [tuple(a) for a in audited] == [("second@corp.example", "refused")]
