"""A bad list is caught and held before Genesys dials it: the checks after the workflow, the upload gate, a red
verdict and one alert per fault, on the embedded stack with faults injected through the warehouse's own SQL.

The morning of the last seeded day is replayed: its import log and results are removed (as at 06:40, the
workflow done, the upload at 08:30 still to come), the clock is frozen at 06:40, and each fault is injected,
found, alerted, held or not, then repaired (the list's task rerun, or the data put back) and found cleared.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from snowflake.snowpark import functions as F

from console import alerts, demo, facts, gate, reconcile, releases, volumes
from console.adapters.embedded_warehouse import WarehouseServer, open_session
from console.app import build_adapters
from console.auth import User
from console.clock import FrozenClock, at_et, last_business_days
from console.errors import InvalidRequest, NotAuthorised
from console.model import FAIL, CheckResult
from console.settings import load_settings
from console.status import day_status
from console.store import audit_log
from jobs.common import hash_bucket
from jobs.demo import genesys
from jobs.demo.anomalies import ANOMALIES
from jobs.demo.seed import build_warehouse

from .conftest import DEMO_END, free_port

HISTORY_DAYS = 40
ACCOUNTS = 30_000  # the call list ~2,700: 200 duplicate rows stay inside its volume band
CALL_LIST = "GR_CALL_LIST"
ENGINEER = User("eng@corp.com", "engineer")


# ------------------------------------------------------------------------------------------------ the judgment
def _check(name: str, status: str, numbers: dict[str, Any], evidence: str = "") -> CheckResult:
    return CheckResult(name, name, status, evidence or f"{name} {status}", numbers)


def test_the_gate_holds_only_the_lists_a_blocking_check_names() -> None:
    lists = [("GR_CALL_LIST", "CALL"), ("GR_SMS", "SMS"), ("GR_EMAIL", "EMAIL")]
    checks = [
        _check("suppression_leaks", FAIL, {"leaks": [{"list_name": "GR_CALL_LIST", "reason": "CEASE_AND_DESIST",
                                                      "accounts": 3}]}),
        _check("contact_fields", FAIL, {"missing": {"GR_EMAIL/EMAIL": 12}}),
        _check("record_counts", FAIL, {}),  # not blocking: alerts, never holds
        _check("duplicate_accounts", "pass", {"duplicates": {}}),
    ]
    by_list = {d.list_name: d for d in gate.decide(lists, checks)}
    assert by_list["GR_CALL_LIST"].state == gate.HELD
    assert by_list["GR_CALL_LIST"].reason == "3 suppressed account(s) (CEASE_AND_DESIST)"
    assert by_list["GR_EMAIL"].reason == "12 row(s) without a valid e-mail address"
    assert by_list["GR_SMS"].state == gate.RELEASED and by_list["GR_SMS"].reason == ""
    # A check taken out of [gate] blocking_checks holds nothing.
    assert {d.state for d in gate.decide(lists, checks, blocking=("duplicate_accounts",))} == {gate.RELEASED}


def test_a_stale_tape_holds_every_list_of_the_day() -> None:
    stale = _check("loan_tape_freshness", FAIL, {}, "Stale loan tape: the newest load is as of 2026-11-24, 1 "
                                                    "business day(s) behind 2026-11-25; the lists were built on old")
    decisions = gate.decide([("A", "CALL"), ("B", "SMS")], [stale])
    assert [d.state for d in decisions] == [gate.HELD, gate.HELD]
    assert decisions[0].reason == "Stale loan tape" and decisions[0].checks == ("loan_tape_freshness",)


# ------------------------------------------------------------------------------------------------ the stack
@dataclasses.dataclass
class Morning:
    adapters: Any
    session: Any
    day: dt.date
    saved: dict[str, list[dict[str, Any]]]

    @property
    def tables(self) -> Any:
        return self.adapters.settings.tables

    def at(self, hhmm: str) -> dt.datetime:
        return at_et(self.day, hhmm)


def _clean_day(days: list[dt.date]) -> dt.date:
    """The last seeded day with no seeded anomaly (a failed task, a late run, a short list, a missing export)."""
    end = days[-1]
    marked = {last_business_days(end, a.days_ago + 1)[0] for a in ANOMALIES}
    return next(d for d in reversed(days) if d not in marked)


@pytest.fixture(scope="module")
def morning(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Morning]:
    data = Path(tmp_path_factory.mktemp("gate"))
    env = {"CONSOLE_DATA_DIR": str(data), "CONSOLE_WAREHOUSE_PORT": str(free_port()),
           "CONSOLE_SECRETS": str(data / "no-secrets.toml")}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        mp.delenv("CONSOLE_SETTINGS", raising=False)
        base = load_settings()
    # The console's own worker is not part of these scenarios: its heartbeat rule would alert too.
    settings = dataclasses.replace(base, demo_accounts=ACCOUNTS,
                                   alerts={**base.alerts, "disabled_rules": ("worker_down",)})
    server = WarehouseServer(settings)
    server.start()
    try:
        session = open_session(settings)
        adapters = build_adapters(settings)
        days = last_business_days(DEMO_END, HISTORY_DAYS)
        build_warehouse(session, settings, adapters.spec, days)
        volumes.refresh_daily_volumes(session, settings.tables)
        demo.record_history_runs(adapters, days, seed_value=1)
        day = _clean_day(days)
        saved = {}
        for table in ("import_log", "campaign_results"):  # as at 06:40: nothing uploaded, nothing exported
            name = getattr(settings.tables, table)
            saved[table] = [r.as_dict() for r in session.table(name).filter(F.col("BUSINESS_DATE") == day).collect()]
            session.table(name).delete(F.col("BUSINESS_DATE") == F.lit(day))
        yield Morning(adapters, session, day, saved)
        adapters.store.dispose()
    finally:
        server.stop()


def judge(m: Morning, hhmm: str) -> tuple[Any, Any, list[dict[str, Any]]]:
    """What the worker does when the facts change: reconcile + checks + gate, then the alert cycle."""
    now = m.at(hhmm)
    result = reconcile.reconcile_day(m.adapters, m.day, "worker", trigger="CHANGE", clock=FrozenClock(now))
    alerts.run_cycle(m.adapters, now=now, day=m.day)
    status = day_status(m.adapters, m.day, FrozenClock(now))
    open_alerts = [a for a in facts.alert_rows(m.adapters, m.day, m.day) if a["state"] != "resolved"]
    return result, status, open_alerts


def rerun_task_of(m: Morning, list_name: str) -> None:
    """The engineer's repair: the task that writes ``list_name`` runs again for the day (real task code)."""
    short = m.session.table(m.tables.outbound_lists).filter(
        (F.col("BUSINESS_DATE") == F.lit(m.day)) & (F.col("LIST_NAME") == list_name)).select("TASK_KEY") \
        .limit(1).collect()[0]["TASK_KEY"]
    task = m.adapters.spec.task(short)
    importlib.import_module(task.module).run(m.adapters.task_context(m.session, m.day, task.key))


def upload(m: Morning) -> set[str]:
    """The simulated 08:30 upload (it reads the gate); the lists it imported."""
    genesys.upload(m.session, m.tables, [m.day])
    return {r["LIST_NAME"] for r in m.session.table(m.tables.import_log).filter(
        F.col("BUSINESS_DATE") == F.lit(m.day)).select("LIST_NAME").collect()}


def insert_suppressed_account(m: Morning) -> None:
    supp = m.session.table(m.tables.suppressions)
    row = (supp.filter(F.col("CHANNEL").isin("CALL", "ALL") & (F.col("START_DATE") <= F.lit(m.day))
                       & F.col("END_DATE").is_null() & (F.col("REASON") == "CEASE_AND_DESIST"))
           .sort("ACCOUNT_ID").limit(1).collect()[0])
    m.session.sql(f"INSERT INTO {m.tables.outbound_lists} (BUSINESS_DATE, LIST_NAME, CHANNEL, DESTINATION, "
                  f"ACCOUNT_ID, TASK_KEY, CONTACT, DAYS_PAST_DUE, PRIORITY, GENERATED_AT) VALUES ('{m.day}', "
                  f"'{CALL_LIST}', 'CALL', 'GENESYS', {row['ACCOUNT_ID']}, 'BI-737', '555-0100', 40, 999999, "
                  f"'{m.day} 11:00:00')").collect()


def cut_40_percent(m: Morning) -> None:
    m.session.table(m.tables.outbound_lists).delete(
        (F.col("BUSINESS_DATE") == F.lit(m.day)) & (F.col("LIST_NAME") == CALL_LIST)
        & (hash_bucket("ACCOUNT_ID", modulo=100, salt="cut") < 40))


def duplicate_200_rows(m: Morning) -> None:
    m.session.sql(f"INSERT INTO {m.tables.outbound_lists} SELECT * FROM {m.tables.outbound_lists} "
                  f"WHERE BUSINESS_DATE = '{m.day}' AND LIST_NAME = '{CALL_LIST}' LIMIT 200").collect()


FAULTS: dict[str, tuple[Callable[[Morning], None], str, str, bool]] = {
    # name: (inject, the check that names it, the alert rule, whether it holds GR_CALL_LIST)
    "a suppressed account on the call list": (insert_suppressed_account, "suppression_leaks", "quality_check", True),
    "the call list cut by 40 %": (cut_40_percent, "record_counts", "volume_anomaly", False),
    "200 duplicate rows": (duplicate_200_rows, "duplicate_accounts", "quality_check", True),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_bad_list_is_named_held_and_alerted_before_the_upload_and_cleared_by_a_rerun(morning: Morning,
                                                                                       fault: str) -> None:
    inject, check_name, rule, holds = FAULTS[fault]
    m = morning
    inject(m)
    result, status, open_alerts = judge(m, "06:40")
    failed = {c.name: c for c in result.checks if c.status == FAIL}
    assert set(failed) == {check_name}, {k: c.evidence for k, c in failed.items()}
    assert status.overall.state == "failed" and CALL_LIST in status.overall.reason
    assert [a["rule"] for a in open_alerts] == [rule]
    held = {r["list_name"]: r for r in status.held}
    if holds:
        assert set(held) == {CALL_LIST} and "upload held" in status.overall.reason
        assert CALL_LIST not in upload(m)  # the 08:30 upload skips the held list, and only it
        assert len(upload(m)) == len(result.rows) - 1
        assert result.rows.set_index("LIST_NAME").loc[CALL_LIST, "REASON"].startswith("On hold, not uploaded")
    else:
        assert held == {}
    rerun_task_of(m, CALL_LIST)  # the repair
    result, status, open_alerts = judge(m, "06:50")
    assert [c.name for c in result.checks if c.status == FAIL] == []
    assert status.held == [] and open_alerts == []
    assert status.overall.state != "failed", status.overall.reason
    assert CALL_LIST in upload(m)
    m.session.table(m.tables.import_log).delete(F.col("BUSINESS_DATE") == F.lit(m.day))  # back to 06:40
    if holds:
        with m.adapters.store.connect() as conn:
            actions = [r.action for r in conn.execute(sa.select(audit_log).where(audit_log.c.target ==
                                                                                 f"{CALL_LIST}/CALL"))]
        assert actions[-2:] == ["gate.hold", "gate.clear"]


def test_a_stale_tape_holds_every_list_and_its_return_releases_them(morning: Morning) -> None:
    m = morning
    loads = m.session.table(m.tables.loan_tape_loads)
    kept = [r.as_dict() for r in loads.filter(F.col("AS_OF_DATE") == F.lit(m.day)).collect()]
    loads.delete(F.col("AS_OF_DATE") == F.lit(m.day))
    result, status, open_alerts = judge(m, "06:40")
    assert [c.name for c in result.checks if c.status == FAIL] == ["loan_tape_freshness"]
    assert len(status.held) == len(result.rows) and status.overall.state == "failed"
    assert [a["rule"] for a in open_alerts] == ["quality_check"]
    assert upload(m) == set()  # nothing goes to Genesys on a stale tape
    for row in kept:
        values = ", ".join(f"'{v}'" if v is not None else "NULL" for v in row.values())
        m.session.sql(f"INSERT INTO {m.tables.loan_tape_loads} ({', '.join(row)}) VALUES ({values})").collect()
    result, status, open_alerts = judge(m, "06:50")
    assert status.held == [] and open_alerts == [] and status.overall.state != "failed"
    m.session.table(m.tables.import_log).delete(F.col("BUSINESS_DATE") == F.lit(m.day))


def test_an_engineer_releases_a_held_list_once_with_a_reason_and_it_is_audited(morning: Morning) -> None:
    m = morning
    insert_suppressed_account(m)
    judge(m, "06:40")
    viewer = User("ann@corp.com", "viewer")
    with pytest.raises(NotAuthorised):
        releases.release(m.adapters, viewer, m.day, CALL_LIST, "CALL", "looks fine", now=m.at("06:45"))
    with pytest.raises(InvalidRequest, match="needs a reason"):
        releases.release(m.adapters, ENGINEER, m.day, CALL_LIST, "CALL", "  ", now=m.at("06:45"))
    with pytest.raises(InvalidRequest, match="not held"):
        releases.release(m.adapters, ENGINEER, m.day, "GR_SMS", "SMS", "why not", now=m.at("06:45"))
    other = last_business_days(m.day, 2)[0]
    with pytest.raises(InvalidRequest, match="not held"):
        releases.release(m.adapters, ENGINEER, other, CALL_LIST, "CALL", "wrong date", now=m.at("06:45"))
    first = releases.release(m.adapters, ENGINEER, m.day, CALL_LIST, "CALL", "legal cleared the account",
                             now=m.at("06:45"))
    second = releases.release(m.adapters, ENGINEER, m.day, CALL_LIST, "CALL", "legal cleared the account",
                              now=m.at("06:45"))  # a double click
    assert "released for the upload" in first and second.startswith("Already released")
    _, status, _ = judge(m, "06:50")  # the checks run again and still fail: the person's release stands
    assert status.held == [] and CALL_LIST in upload(m)
    with m.adapters.store.connect() as conn:
        rows = conn.execute(sa.select(audit_log).where(audit_log.c.action == "gate.release")
                            .order_by(audit_log.c.id)).all()
    assert [(r.actor, r.outcome) for r in rows] == [("eng@corp.com", "accepted"), ("eng@corp.com", "duplicate")]
    assert "legal cleared the account" in rows[0].detail and "suppressed" in rows[0].detail
    rerun_task_of(m, CALL_LIST)
    m.session.table(m.tables.import_log).delete(F.col("BUSINESS_DATE") == F.lit(m.day))


def test_after_the_upload_a_missing_import_row_and_at_night_half_the_results(morning: Morning) -> None:
    m = morning
    genesys.upload(m.session, m.tables, [m.day])
    m.session.table(m.tables.import_log).delete((F.col("BUSINESS_DATE") == F.lit(m.day))
                                                & (F.col("LIST_NAME") == CALL_LIST))
    result, status, open_alerts = judge(m, "09:10")
    row = result.rows.set_index("LIST_NAME").loc[CALL_LIST]
    assert row.STATUS == "mismatch" and row.REASON.startswith("List not uploaded")
    assert status.overall.state == "failed" and CALL_LIST in status.overall.reason
    assert [a["rule"] for a in open_alerts] == ["reconciliation_mismatch"]
    assert status.held == []  # too late to hold: the mismatch is the alarm
    genesys.upload(m.session, m.tables, [m.day])  # the repair: the upload is run again
    genesys.export(m.session, m.tables, [m.day])
    _, status, open_alerts = judge(m, "23:30")
    assert open_alerts == [] and status.overall.state == "done", status.overall.reason
    m.session.table(m.tables.campaign_results).delete(
        (F.col("BUSINESS_DATE") == F.lit(m.day)) & (F.col("LIST_NAME") == CALL_LIST)
        & (hash_bucket("ACCOUNT_ID", modulo=2, salt="half") == 0))
    result, status, open_alerts = judge(m, "23:45")
    assert result.rows.set_index("LIST_NAME").loc[CALL_LIST, "REASON"].startswith("Partial export")
    assert status.overall.state == "failed" and [a["rule"] for a in open_alerts] == ["reconciliation_mismatch"]
    genesys.export(m.session, m.tables, [m.day])
    _, status, open_alerts = judge(m, "23:50")
    assert open_alerts == [] and status.overall.state == "done"


def test_thirty_clean_seeded_days_hold_nothing_alert_nothing_and_are_done(morning: Morning) -> None:
    m = morning
    days = last_business_days(DEMO_END, HISTORY_DAYS)
    marked = {last_business_days(days[-1], a.days_ago + 1)[0] for a in ANOMALIES}
    clean = [d for d in days[-36:] if d not in marked and d != m.day]
    assert len(clean) >= 30
    for day in clean:
        now = at_et(day + dt.timedelta(days=1), "08:00")
        reconcile.reconcile_day(m.adapters, day, "worker", trigger="SCHEDULE", clock=FrozenClock(now))
        alerts.run_cycle(m.adapters, now=now, day=day)
        status = day_status(m.adapters, day, FrozenClock(now))
        assert status.held == [], day
        assert [a for a in facts.alert_rows(m.adapters, day, day) if a["state"] != "resolved"] == [], day
        assert status.overall.state == "done", (day, status.overall.reason)


def test_the_watch_sees_a_finished_run_and_a_landed_upload_and_nothing_else(morning: Morning) -> None:
    from console.worker import facts_changed

    m = morning
    run = m.adapters.engine.run_for_date(m.day)
    assert run is not None and run.end is not None
    first = facts_changed(m.adapters, m.day, run.end + dt.timedelta(seconds=5))
    if facts.stored_reconciliation(m.adapters, m.day) is None:  # nothing checked yet: the run's end is news
        assert first is not None and first.startswith(f"run {run.run_id} succeeded")
    judge(m, "06:55")
    assert facts_changed(m.adapters, m.day, m.at("06:56")) is None  # checked since the run ended
    genesys.upload(m.session, m.tables, [m.day])  # the import log lands (stamped 08:50-09:00)
    assert facts_changed(m.adapters, m.day, m.at("07:30")) is None  # stamped after 07:30: not news before then
    change = facts_changed(m.adapters, m.day, m.at("09:05"))
    assert change is not None and change.startswith("the Genesys upload landed")
    judge(m, "09:06")
    assert facts_changed(m.adapters, m.day, m.at("09:07")) is None
    # A late list lands at 10:30, after the old upload window (ready + 1 h): the change markers let the watch
    # look all day, so it is checked at once, not at 23:00.
    late = f"'{m.day} 15:30:00'"  # 10:30 ET, naive UTC as the upload writes it
    m.session.sql(f"insert into {m.tables.import_log} (BUSINESS_DATE, LIST_NAME, CHANNEL, CONTACT_LIST_ID, "
                  f"RECORDS_SENT, RECORDS_ACCEPTED, RECORDS_REJECTED, STATUS, STARTED_AT, FINISHED_AT) values "
                  f"('{m.day}', 'LATE_LIST', 'PHONE', 'cl-late', 1, 1, 0, 'COMPLETED', {late}, {late})").collect()
    late_change = facts_changed(m.adapters, m.day, m.at("10:31"))
    assert late_change is not None and "10:30" in late_change
    m.session.table(m.tables.import_log).delete(F.col("BUSINESS_DATE") == F.lit(m.day))
