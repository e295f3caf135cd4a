"""Reconciliation, volume anomalies and quality checks on the embedded warehouse (real fakesnow + Snowpark).

A module fixture seeds its own warehouse with a history (``HISTORY_DAYS`` business days, the real list
jobs), so faults injected here never touch the session's shared demo. Each fault is injected inside a
transaction and rolled back: the clean data is the same for every test.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from snowflake.snowpark import functions as F

from console import checklist, facts, model, pipeline_data, reconcile, volumes
from console.app import build_adapters
from console.clock import FrozenClock, at_et, hhmm, last_business_days
from console.quality import FAIL, PASS, as_utc, run_checks
from console.settings import DEFAULT_SETTINGS, Settings, load_settings
from console.status import day_status
from console.workflow import load_workflow
from jobs.common import hash_bucket
from jobs.demo.anomalies import by_kind

from .conftest import DEMO_END, free_port

HISTORY_DAYS = 40  # 30+ clean days besides the seeded anomalies, and enough same weekdays for baselines
ACCOUNTS = 10_000
CALL_LIST = "GR_CALL_LIST"


@dataclasses.dataclass
class History:
    settings: Settings
    session: Any
    days: list[dt.date]
    adapters: Any
    env: dict[str, str]

    @property
    def day(self) -> dt.date:
        return self.days[-1]

    def after(self, day: dt.date | None = None) -> dt.datetime:
        """The next morning: every milestone of ``day`` is due."""
        return at_et((day or self.day) + dt.timedelta(days=1), "08:00")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    """This module's own warehouse server (fakesnow's DuckDB instance is per process and per server: a
    server another module stopped cannot take new sessions) seeded with ``HISTORY_DAYS`` days."""
    from console.adapters.embedded_warehouse import WarehouseServer, open_session
    from jobs.demo.seed import build_warehouse

    data = Path(tmp_path_factory.mktemp("recon"))
    env = {"CONSOLE_DATA_DIR": str(data), "CONSOLE_WAREHOUSE_PORT": str(free_port()),
           "CONSOLE_SECRETS": str(data / "no-secrets.toml")}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        mp.delenv("CONSOLE_SETTINGS", raising=False)
        settings = dataclasses.replace(load_settings(), demo_accounts=ACCOUNTS)
    server = WarehouseServer(settings)
    server.start()
    try:
        session = open_session(settings)
        days = last_business_days(DEMO_END, HISTORY_DAYS)
        build_warehouse(session, settings, load_workflow(settings.workflow_spec), days)
        volumes.refresh_daily_volumes(session, settings.tables)
        adapters = build_adapters(settings)
        yield History(settings, session, days, adapters, env)
        adapters.store.dispose()
    finally:
        server.stop()


@contextmanager
def fault(session: Any) -> Iterator[Any]:
    """Changes made inside are rolled back afterwards."""
    session.sql("BEGIN").collect()
    try:
        yield session
    finally:
        session.sql("ROLLBACK").collect()


def check(h: History, name: str, day: dt.date | None = None, now: dt.datetime | None = None) -> Any:
    results = {c.name: c for c in run_checks(h.session, h.settings, day or h.day, now or h.after(day))}
    return results[name]


def rows_by_list(h: History, day: dt.date | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    result = reconcile.compute(h.session, h.settings, day or h.day, now or h.after(day))
    return {r.LIST_NAME: r for r in result.rows.itertuples()}


# ------------------------------------------------------------------------------------------------ clean history
def test_clean_days_raise_no_flag_and_the_seeded_anomalies_are_named(history: History) -> None:
    seeded = {history.days[-1 - a.days_ago]: a.kind for a in by_kind("short_list") + by_kind("missing_export")}
    # The first weeks have no same-weekday baseline yet; the checks say so rather than guess.
    clean = 0
    for day in history.days[-32:]:
        result = reconcile.compute(history.session, history.settings, day, history.after(day))
        failed = {c.name: c.evidence for c in result.checks if c.status == FAIL}
        mismatched = {r.LIST_NAME: r.REASON for r in result.mismatches.itertuples()}
        if seeded.get(day) == "short_list":
            assert set(failed) == {"loan_tape_freshness", "record_counts"}, failed
            assert "Partial loan tape" in failed["loan_tape_freshness"]
            assert f"{CALL_LIST} (CALL)" in failed["record_counts"] and "too low" in failed["record_counts"]
            assert not mismatched
        elif seeded.get(day) == "missing_export":
            assert set(failed) == {"results_landing"}, failed
            assert mismatched and all(r.startswith("Export missing") for r in mismatched.values())
        else:
            assert not failed, (day, failed)
            assert not mismatched, (day, mismatched)
            assert not [c for c in result.checks if c.status == "warn"], day
            assert (result.rows["STATUS"] == model.MATCHED).all()
            clean += 1
    assert clean >= 30


def test_the_daily_aggregate_matches_the_list_rows(history: History) -> None:
    tables = history.settings.tables
    raw = {(r["BUSINESS_DATE"], r["LIST_NAME"]): int(r["N"]) for r in history.session.table(tables.outbound_lists)
           .group_by("BUSINESS_DATE", "LIST_NAME").agg(F.count(F.lit(1)).alias("N")).collect()}
    frame = volumes.daily_volumes(history.session, tables, history.days[0], history.day)
    assert {(r.BUSINESS_DATE, r.LIST_NAME): r.RECORDS for r in frame.itertuples()} == raw
    assert volumes.refresh_daily_volumes(history.session, tables, [history.day]) == len(
        frame[frame["BUSINESS_DATE"] == history.day])


# ------------------------------------------------------------------------------------------------ faults
def test_a_suppressed_account_put_back_on_the_call_list_is_a_leak(history: History) -> None:
    tables, day = history.settings.tables, history.day
    supp = history.session.table(tables.suppressions)
    suppressed = (supp.filter(F.col("CHANNEL").isin("CALL", "ALL") & (F.col("START_DATE") <= F.lit(day))
                              & F.col("END_DATE").is_null())
                  .sort("ACCOUNT_ID").limit(1).collect()[0])
    with fault(history.session) as session:
        session.sql(f"INSERT INTO {tables.outbound_lists} (BUSINESS_DATE, LIST_NAME, CHANNEL, DESTINATION, "
                    f"ACCOUNT_ID, TASK_KEY, CONTACT, DAYS_PAST_DUE, PRIORITY, GENERATED_AT) VALUES ('{day}', "
                    f"'{CALL_LIST}', 'CALL', 'GENESYS', {suppressed['ACCOUNT_ID']}, 'BI-737', '555-0100', 40, "
                    f"999999, '{day} 11:00:00')").collect()
        result = check(history, "suppression_leaks")
    assert result.status == FAIL
    assert f"{CALL_LIST}: 1 ({suppressed['REASON']})" in result.evidence
    assert result.numbers["leaks"] == [{"list_name": CALL_LIST, "reason": suppressed["REASON"], "accounts": 1}]
    clean = check(history, "suppression_leaks")
    assert clean.status == PASS and clean.numbers["removed_by_reason"]  # what each reason kept off the lists


def test_a_list_cut_by_40_percent_is_too_low(history: History) -> None:
    tables, day = history.settings.tables, history.day
    with fault(history.session) as session:
        session.table(tables.outbound_lists).delete(
            (F.col("BUSINESS_DATE") == F.lit(day)) & (F.col("LIST_NAME") == CALL_LIST)
            & (hash_bucket("ACCOUNT_ID", modulo=100, salt="cut") < 40))
        result = check(history, "record_counts")
    assert result.status == FAIL
    (flag,) = result.numbers["anomalies"]
    assert (flag["list_name"], flag["status"]) == (CALL_LIST, "too_low")
    assert "too low: expected" in result.evidence and f"of the last {flag['history']} {day:%A}s" in result.evidence
    assert flag["records"] < flag["low"]


def test_a_list_not_generated_yet_is_pending_before_the_target_and_missing_after(history: History) -> None:
    """A task that failed at 06:10 alerts on its own; its missing list is no "volume anomaly" before 08:00
    (the rehearsal's failed DI-749 sent a second e-mail: "FUNNEL_CALL (CALL): 0 records is too low")."""
    tables, day = history.settings.tables, history.day
    with fault(history.session) as session:
        session.table(tables.outbound_lists).delete((F.col("BUSINESS_DATE") == F.lit(day))
                                                    & (F.col("LIST_NAME") == CALL_LIST))
        early = check(history, "record_counts", now=at_et(day, "06:40"))
        late = check(history, "record_counts", now=at_et(day, "08:05"))
    assert early.status == PASS and early.numbers["not_generated_yet"] == [CALL_LIST]
    assert f"Not generated yet (due by 08:00 ET): {CALL_LIST}." in early.evidence
    assert late.status == FAIL and f"{CALL_LIST} (CALL): 0 records is too low" in late.evidence


def test_the_checklist_judges_a_count_with_the_volume_band_and_words(history: History) -> None:
    """One judgment of a count: the checklist's item and the record-count check agree, word for word."""
    tables, day, now = history.settings.tables, history.day, history.after()

    def both(session: Any) -> tuple[Any, Any]:
        reads = facts.DayReads(day=day, read_at=now, lists=pipeline_data.list_counts(session, tables, day),
                               volume_history=facts._volume_history(session, history.settings, day))
        status = day_status(history.adapters, day, FrozenClock(now), reads=reads, history=[],
                            worker=facts.WorkerStatus(True, "w", now, 1.0, "alive"))
        return check(history, "record_counts"), checklist.check_list_counts(status)

    record, item = both(history.session)
    assert (record.status, item.outcome) == (PASS, checklist.PASS)
    assert item.evidence.endswith(f". {record.evidence}")
    with fault(history.session) as session:
        session.table(tables.outbound_lists).delete(
            (F.col("BUSINESS_DATE") == F.lit(day)) & (F.col("LIST_NAME") == CALL_LIST)
            & (hash_bucket("ACCOUNT_ID", modulo=100, salt="cut") < 40))
        record, item = both(session)
    assert (record.status, item.outcome) == (FAIL, checklist.FAIL)
    assert item.evidence == record.evidence and f"{CALL_LIST} (CALL): " in item.evidence


def test_a_list_missing_from_the_import_log(history: History) -> None:
    tables, day = history.settings.tables, history.day
    with fault(history.session) as session:
        session.table(tables.import_log).delete((F.col("BUSINESS_DATE") == F.lit(day))
                                                & (F.col("LIST_NAME") == CALL_LIST))
        before = rows_by_list(history, now=at_et(day, "08:45"))
        after = rows_by_list(history)
    assert before[CALL_LIST].STATUS == model.PENDING and before[CALL_LIST].REASON.startswith("Not uploaded yet")
    assert after[CALL_LIST].STATUS == model.MISMATCH
    assert after[CALL_LIST].REASON.startswith("List not uploaded: no Genesys import-log row after 09:00")
    assert {r.STATUS for name, r in after.items() if name != CALL_LIST} == {model.MATCHED}


def test_half_of_a_lists_results_missing_is_a_partial_export(history: History) -> None:
    tables, day = history.settings.tables, history.day
    with fault(history.session) as session:
        session.table(tables.campaign_results).delete(
            (F.col("BUSINESS_DATE") == F.lit(day)) & (F.col("LIST_NAME") == CALL_LIST)
            & (hash_bucket("ACCOUNT_ID", modulo=2, salt="half") == 0))
        rows = rows_by_list(history)
    row = rows[CALL_LIST]
    assert row.STATUS == model.MISMATCH and row.REASON.startswith("Partial export: results for")
    assert 0.4 < row.EXPORTED / row.ACCEPTED < 0.6


def test_more_results_than_contacts_and_an_upload_short_of_tolerance(history: History) -> None:
    tables, day = history.settings.tables, history.day
    with fault(history.session) as session:
        session.sql(f"UPDATE {tables.import_log} SET RECORDS_ACCEPTED = RECORDS_ACCEPTED - 5 "
                    f"WHERE BUSINESS_DATE = '{day}' AND LIST_NAME = '{CALL_LIST}'").collect()
        rows = rows_by_list(history)
    assert rows[CALL_LIST].REASON.startswith("More results than contacts")
    with fault(history.session) as session:
        session.sql(f"UPDATE {tables.import_log} SET RECORDS_ACCEPTED = RECORDS_ACCEPTED - 100 "
                    f"WHERE BUSINESS_DATE = '{day}' AND LIST_NAME = 'FUNNEL_CALL'").collect()
        rows = rows_by_list(history)
    assert rows["FUNNEL_CALL"].REASON.startswith("Partial upload: Genesys accepted")


def test_a_list_rewritten_smaller_after_its_upload_is_a_change_after_upload(history: History) -> None:
    tables, day = history.settings.tables, history.day
    log = history.session.table(tables.import_log).filter(
        (F.col("BUSINESS_DATE") == F.lit(day)) & (F.col("LIST_NAME") == CALL_LIST)).collect()[0].as_dict()
    with fault(history.session) as session:  # a rerun after 08:30 wrote a fifth fewer rows
        session.table(tables.outbound_lists).delete(
            (F.col("BUSINESS_DATE") == F.lit(day)) & (F.col("LIST_NAME") == CALL_LIST)
            & (hash_bucket("ACCOUNT_ID", modulo=100, salt="rewrite") < 20))
        rows = rows_by_list(history)
        early = rows_by_list(history, now=at_et(day, "09:30"))  # before the export: already a mismatch
    row = rows[CALL_LIST]
    assert row.GENERATED < row.ACCEPTED == log["RECORDS_ACCEPTED"]
    status, reason = row.STATUS, row.REASON
    assert status == model.MISMATCH
    assert reason == (f"List changed after upload: {row.GENERATED:,} generated now, {row.ACCEPTED:,} accepted by "
                      f"Genesys at {hhmm(as_utc(log['FINISHED_AT']))} ET; Genesys dials the list as it was uploaded.")
    before = early[CALL_LIST]
    assert before.STATUS == model.MISMATCH and before.REASON.startswith("List changed after upload")
    assert {r.STATUS for name, r in rows.items() if name != CALL_LIST} == {model.MATCHED}


def test_a_stale_loan_tape(history: History) -> None:
    tables, day = history.settings.tables, history.day
    with fault(history.session) as session:
        session.table(tables.loan_tape_loads).delete(F.col("AS_OF_DATE") == F.lit(day))
        early = check(history, "loan_tape_freshness", now=at_et(day, "05:30"))
        late = check(history, "loan_tape_freshness")
    assert early.status == "warn" and "has not landed yet" in early.evidence
    assert late.status == FAIL and late.evidence.startswith("Stale loan tape: the newest load is as of")
    assert late.numbers["business_days_behind"] == 1


def test_duplicates_missing_contacts_and_an_unproduced_list(history: History) -> None:
    tables, day = history.settings.tables, history.day
    with fault(history.session) as session:
        session.sql(f"INSERT INTO {tables.outbound_lists} SELECT * FROM {tables.outbound_lists} "
                    f"WHERE BUSINESS_DATE = '{day}' AND LIST_NAME = 'REMITTER' LIMIT 3").collect()
        session.sql(f"UPDATE {tables.outbound_lists} SET CONTACT = NULL WHERE BUSINESS_DATE = '{day}' "
                    f"AND LIST_NAME = 'PRESCREEN_EMAIL' AND PRIORITY <= 5").collect()
        session.table(tables.outbound_lists).delete((F.col("BUSINESS_DATE") == F.lit(day))
                                                    & (F.col("LIST_NAME") == "FUNNEL_SMS"))
        results = {c.name: c for c in run_checks(session, history.settings, day, history.after())}
    assert results["duplicate_accounts"].status == FAIL
    assert "REMITTER (CALL): 3 extra row(s)" in results["duplicate_accounts"].evidence
    assert results["contact_fields"].status == FAIL
    assert "PRESCREEN_EMAIL: 5 of" in results["contact_fields"].evidence
    assert results["genesys_coverage"].status == FAIL and "FUNNEL_SMS (SMS)" in results["genesys_coverage"].evidence
    before = {c.name: c for c in run_checks(history.session, history.settings, day, at_et(day, "07:00"))}
    assert before["results_landing"].status == "n/a"


def test_a_list_without_history_says_so(history: History) -> None:
    found = volumes.day_anomalies(history.session, history.settings, history.days[1])
    assert found and all(b.status == "not_enough_history" for b in found)
    assert "Not enough history: 0 earlier" in found[0].explanation


# ------------------------------------------------------------------------------------------------ stored runs
def test_reconcile_day_is_stored_and_a_failure_keeps_the_previous_result(history: History) -> None:
    adapters, day = history.adapters, history.day
    clock = FrozenClock(history.after())
    first = reconcile.reconcile_day(adapters, day, "ops@example.com", clock=clock)
    assert first.run_id is not None and first.match_rate == 1.0
    kept = facts.stored_reconciliation(adapters, day)
    assert kept is not None and kept.run_id == first.run_id and kept.requested_by == "ops@example.com"
    assert kept.rows.equals(first.rows) or kept.rows.to_dict("records") == first.rows.to_dict("records")
    assert [c.name for c in kept.checks] == [c.name for c in first.checks]

    broken = dataclasses.replace(adapters)
    broken.settings = dataclasses.replace(history.settings, tables=dataclasses.replace(
        history.settings.tables, import_log="GENESYS.NOWHERE.IMPORT_LOG"))
    with pytest.raises(Exception) as info:
        reconcile.reconcile_day(broken, day, "ops@example.com", clock=clock)
    assert "NOWHERE" in str(info.value) or "does not exist" in str(info.value).lower()
    after = facts.stored_reconciliation(adapters, day)
    assert after is not None and after.run_id == first.run_id and after.failure is not None
    assert after.failure["requested_by"] == "ops@example.com"
    trend = facts.reconciliation_history(adapters, history.days[0], day)
    assert list(trend["BUSINESS_DATE"]) == [day] and trend["MATCH_RATE"].iloc[0] == 1.0


def test_status_sections_give_checks_and_reconciliation(history: History) -> None:
    sections = reconcile.status_sections(history.adapters, history.day, FrozenClock(history.after()))
    assert sections["checks_error"] is None
    assert {c["name"] for c in sections["checks"]} >= {"loan_tape_freshness", "suppression_leaks", "results_landing"}
    assert all(set(c) == {"name", "status", "evidence"} for c in sections["checks"])
    item = next(i for i in sections["reconciliation"] if i["list_name"] == CALL_LIST)
    assert item["status"] == "matched" and item["generated"] >= item["uploaded"] >= item["exported"] > 0
    assert sections["anomalies"] == []
    short = history.days[-1 - by_kind("short_list")[0].days_ago]
    flagged = reconcile.status_sections(history.adapters, short, FrozenClock(history.after(short)))["anomalies"]
    assert [(a["list_name"], a["status"]) for a in flagged] == [(CALL_LIST, "too_low")]


# ------------------------------------------------------------------------------------------------ the CLI
def test_cli_reconcile_and_status_json(history: History, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from console.__main__ import main

    for key, value in history.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("USER", "cli-tester")  # not an identity: the embedded stack's CLI is its local user
    monkeypatch.delenv("CONSOLE_CLI_USER", raising=False)
    day = history.day
    assert main(["reconcile", "--date", day.isoformat(), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["requested_by"] == "local-admin" and out["match_rate"] == 1.0
    assert {c["name"] for c in out["checks"] if c["status"] == "fail"} == set()
    assert main(["status", "--date", day.isoformat(), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["business_date"] == day.isoformat() and status["checks_error"] is None
    assert {c["name"] for c in status["checks"]} >= {"loan_tape_freshness", "genesys_coverage"}
    assert all(set(i) >= {"list_name", "channel", "generated", "uploaded", "exported", "status"}
               for i in status["reconciliation"])


# ------------------------------------------------------------------------------------------------ classify
SETTINGS = load_settings(DEFAULT_SETTINGS, secrets={})
DAY = dt.date(2026, 11, 24)


@pytest.mark.parametrize(("generated", "accepted", "exported", "now", "status", "reason"), [
    (1200, 1500, 1400, "23:35", model.MISMATCH, "List changed after upload: 1,200 generated now, 1,500 accepted by "
                                                "Genesys at 08:30 ET; Genesys dials the list as it was uploaded."),
    (1200, 1201, 0, "09:30", model.MISMATCH, "List changed after upload: 1,200 generated now, 1,201 accepted"),
    (1500, 1500, 1495, "23:35", model.MATCHED, "Matched: 1,500 generated, 1,500 accepted, 1,495 exported."),
    (1500, 1490, 1485, "23:35", model.MATCHED, "Matched:"),  # Genesys rejected a few: within tolerance
    (1500, 1400, 1390, "23:35", model.MISMATCH, "Partial upload: Genesys accepted 1,400 of 1,500"),
    (1500, 1500, 0, "09:30", model.PENDING, "Uploaded (1,500 accepted)"),
])
def test_classify_compares_generated_and_accepted_both_ways(generated: int, accepted: int, exported: int, now: str,
                                                            status: str, reason: str) -> None:
    found = reconcile.classify(generated, True, False, accepted, exported, DAY, at_et(DAY, now), SETTINGS,
                               accepted_at=at_et(DAY, "08:30"))
    assert found[0] == status and found[1].startswith(reason), found


def test_a_changed_list_without_an_import_time_says_so_without_one() -> None:
    status, reason = reconcile.classify(1200, True, False, 1500, 0, DAY, at_et(DAY, "09:30"), SETTINGS)
    assert status == model.MISMATCH
    assert reason == ("List changed after upload: 1,200 generated now, 1,500 accepted by Genesys; Genesys dials "
                      "the list as it was uploaded.")


# ------------------------------------------------------------------------------------------------ settings
@pytest.mark.parametrize(("old", "new", "words"), [
    ("anomaly_k = 4.0", "anomaly_k = 0", "[checks] anomaly_k: expected a number from 1 to 20; got 0"),
    ("anomaly_min_history = 3", 'anomaly_min_history = "3"', "[checks] anomaly_min_history: expected an integer"),
    ("upload_tolerance = 0.03", "upload_tolerance = 3", "[checks] upload_tolerance: expected a number from 0 to 1"),
    ("results_grace_minutes = 60", "", "[checks] results_grace_minutes: expected an integer from 0 to 600; it is "
                                       "missing"),
])
def test_a_malformed_checks_setting_names_file_and_key(tmp_path: Path, old: str, new: str, words: str) -> None:
    from console.errors import ConfigError
    from console.settings import DEFAULT_SETTINGS, load_settings

    text = DEFAULT_SETTINGS.read_text()
    assert old in text
    path = tmp_path / "console.toml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_settings(path, secrets={})
    assert str(path) in str(info.value) and words in str(info.value)


# ------------------------------------------------------------------------------------------------ the worker
def test_the_worker_reconciles_after_9_and_after_the_export(history: History) -> None:
    import sqlalchemy as sa

    from console import worker
    from console.store import job_events, reconcile_runs

    scheduler = worker.build_scheduler(history.adapters, blocking=False)
    jobs = {job.id: str(job.trigger) for job in scheduler.get_jobs()}
    assert "hour='9', minute='5'" in jobs["reconcile_morning"] and "hour='23', minute='0'" in jobs["reconcile_evening"]

    worker._runtime = worker._Runtime(history.adapters, FrozenClock(at_et(history.day, "23:05")), "me:1",
                                      None)  # type: ignore[arg-type]
    try:
        worker.reconcile()
    finally:
        worker._runtime = None
    with history.adapters.store.connect() as conn:
        event = conn.execute(sa.select(job_events).where(job_events.c.job == "reconcile")).one()
        run = conn.execute(sa.select(reconcile_runs).order_by(reconcile_runs.c.id.desc())).first()
    assert (event.status, event.business_date) == ("succeeded", history.day) and "lists matched" in event.message
    assert run is not None and (run.requested_by, run.trigger, run.status) == ("worker", "SCHEDULE", "succeeded")



def test_no_daily_volume_table_yet_is_not_applicable(history: History) -> None:
    missing = dataclasses.replace(history.settings, tables=dataclasses.replace(
        history.settings.tables, daily_volumes="ANALYTICS.CRON_STORE.NO_DAILY_VOLUMES_YET"))
    results = {c.name: c for c in run_checks(history.session, missing, history.day, history.after())}
    assert results["record_counts"].status == "n/a"
    assert "built by the first reconciliation" in results["record_counts"].evidence
