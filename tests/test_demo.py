"""The demo data: deterministic, realistic enough, with the anomalies the console is meant to find."""

from __future__ import annotations

import dataclasses
import datetime as dt
import statistics

import numpy as np
import pytest
from snowflake.snowpark import functions as F

from console.clock import ET, business_days, is_business_day
from console.workflow import load_workflow
from jobs.demo import genesys, portfolio
from jobs.demo.anomalies import by_kind
from jobs.demo.seed import anomaly_day, build_warehouse

from .conftest import fingerprint

pytestmark = pytest.mark.warehouse


def list_counts(demo, list_name: str) -> dict[dt.date, int]:
    rows = (demo.session.table(demo.settings.tables.outbound_lists).filter(F.col("LIST_NAME") == list_name)
            .group_by("BUSINESS_DATE").agg(F.count(F.lit(1)).alias("N")).collect())
    return {row["BUSINESS_DATE"]: int(row["N"]) for row in rows}


def test_the_tape_extended_day_by_day_equals_one_long_simulation():
    start = dt.date(2026, 9, 1)
    accounts = portfolio.generate_accounts(7, 3_000, start)
    first = portfolio.day_number(start) + 1
    whole = portfolio.initial_state(accounts, 7, start)
    one_pass = portfolio.simulate(whole, 7, first, first + 29)
    stepwise = portfolio.initial_state(accounts, 7, start)
    parts = [portfolio.simulate(stepwise, 7, day, day) for day in range(first, first + 30)]
    assert len(one_pass) == sum(len(p) for p in parts) > 0
    for field in dataclasses.fields(one_pass):
        np.testing.assert_array_equal(getattr(one_pass, field.name),
                                      np.concatenate([getattr(p, field.name) for p in parts]))
    for field in dataclasses.fields(whole):
        np.testing.assert_array_equal(getattr(whole, field.name), getattr(stepwise, field.name))


def test_the_state_read_back_from_the_warehouse_is_the_simulated_state(demo):
    """extend_loan_tape continues from the stored tape: the round trip must lose nothing (cents, days)."""
    settings = demo.settings
    start = portfolio.start_date(demo.days[0])
    accounts = portfolio.generate_accounts(settings.demo_seed, settings.demo_accounts, start)
    stored = portfolio.stored_state(demo.session, settings.tables)
    assert stored is not None and stored[1] >= demo.days[-1]  # later if a test has prepared the next day
    simulated = portfolio.initial_state(accounts, settings.demo_seed, start)
    portfolio.simulate(simulated, settings.demo_seed, portfolio.day_number(start) + 1, portfolio.day_number(stored[1]))
    for field in dataclasses.fields(simulated):
        np.testing.assert_allclose(getattr(stored[0], field.name), getattr(simulated, field.name), err_msg=field.name)


def test_about_nine_percent_of_open_accounts_are_delinquent(demo):
    tape = demo.session.table(demo.settings.tables.loan_tape)
    latest = portfolio.stored_state(demo.session, demo.settings.tables)
    assert latest is not None
    state, _ = latest
    open_accounts = state.status <= portfolio.DELINQUENT
    share = np.count_nonzero(state.status == portfolio.DELINQUENT) / np.count_nonzero(open_accounts)
    assert 0.07 <= share <= 0.11
    assert tape.filter(F.col("LOAN_STATUS") == "CHARGED_OFF").count() > 0
    assert tape.filter(F.col("LOAN_STATUS") == "PAID_IN_FULL").count() > 0


def test_a_rebuild_with_the_same_seed_gives_the_same_data(demo):
    build_warehouse(demo.session, demo.settings, load_workflow(demo.settings.workflow_spec), demo.days)
    assert fingerprint(demo.session, demo.settings) == demo.fingerprint


def test_the_short_list_day_is_visibly_short_and_the_tape_load_shows_why(demo):
    (anomaly,) = by_kind("short_list")
    day = anomaly_day(demo.days, anomaly.days_ago)
    counts = list_counts(demo, anomaly.subject)
    neighbours = [counts[d] for d in demo.days if d != day and abs(demo.days.index(d) - demo.days.index(day)) <= 3]
    assert counts[day] < 0.7 * statistics.median(neighbours)
    loads = {row["AS_OF_DATE"]: int(row["ACCOUNTS"]) for row in
             demo.session.table(demo.settings.tables.loan_tape_loads).collect()}
    assert loads[day] < 0.7 * loads[demo.days[demo.days.index(day) - 1]]


def test_the_missing_export_day_has_no_results_but_was_uploaded(demo):
    (anomaly,) = by_kind("missing_export")
    day = anomaly_day(demo.days, anomaly.days_ago)
    results = demo.session.table(demo.settings.tables.campaign_results)
    imports = demo.session.table(demo.settings.tables.import_log)
    assert results.filter(F.col("BUSINESS_DATE") == F.lit(day)).count() == 0
    assert imports.filter(F.col("BUSINESS_DATE") == F.lit(day)).count() > 0
    for other in demo.days:
        if other != day:
            assert results.filter(F.col("BUSINESS_DATE") == F.lit(other)).count() > 0, other


def test_genesys_imports_every_active_list_with_a_small_share_rejected(demo):
    tables = demo.settings.tables
    active = {name for name, _, _, on in genesys.LISTS if on}
    imports = demo.session.table(tables.import_log).collect()
    assert {(row["BUSINESS_DATE"], row["LIST_NAME"]) for row in imports} == {
        (day, name) for day in demo.days for name in active}
    sent = sum(int(row["RECORDS_SENT"]) for row in imports)
    rejected = sum(int(row["RECORDS_REJECTED"]) for row in imports)
    assert 0.003 <= rejected / sent <= 0.01
    for row in imports:  # small lists can cross the 2 % line by chance; the status follows the rule
        partial = int(row["RECORDS_REJECTED"]) > genesys.PARTIAL_REJECT_SHARE * int(row["RECORDS_SENT"])
        assert row["STATUS"] == ("PARTIAL" if partial else "COMPLETED")
        assert int(row["RECORDS_ACCEPTED"]) + int(row["RECORDS_REJECTED"]) == int(row["RECORDS_SENT"])
    generated = (demo.session.table(tables.outbound_lists).filter(F.col("DESTINATION") == "GENESYS")
                 .group_by("BUSINESS_DATE", "LIST_NAME").agg(F.count(F.lit(1)).alias("N")).collect())
    assert {(r["BUSINESS_DATE"], r["LIST_NAME"]): int(r["N"]) for r in generated} == {
        (r["BUSINESS_DATE"], r["LIST_NAME"]): int(r["RECORDS_SENT"]) for r in imports}


def test_every_accepted_contact_has_outcomes_and_reruns_change_nothing(demo):
    tables, session = demo.settings.tables, demo.session
    day = demo.days[-2]
    before = fingerprint(session, demo.settings)
    genesys.upload(session, tables, [day])
    genesys.export(session, tables, [day])
    assert fingerprint(session, demo.settings) == before
    accepted = {(r["LIST_NAME"]): int(r["RECORDS_ACCEPTED"]) for r in
                session.table(tables.import_log).filter(F.col("BUSINESS_DATE") == F.lit(day)).collect()}
    contacted = (session.table(tables.campaign_results).filter(F.col("BUSINESS_DATE") == F.lit(day))
                 .group_by("LIST_NAME").agg(F.count_distinct("ACCOUNT_ID").alias("N"),
                                            F.count(F.lit(1)).alias("ROWS")).collect())
    assert {r["LIST_NAME"]: int(r["N"]) for r in contacted} == accepted
    assert all(int(r["ROWS"]) >= int(r["N"]) for r in contacted)
    outcomes = {(r["CHANNEL"], r["OUTCOME"]) for r in session.table(tables.campaign_results)
                .select("CHANNEL", "OUTCOME").distinct().collect()}
    assert {("CALL", "PROMISE_TO_PAY"), ("SMS", "REPLIED"), ("EMAIL", "CLICKED")} <= outcomes


def test_history_lists_carry_the_times_of_scheduled_runs(demo):
    tables = demo.settings.tables
    stamps = (demo.session.table(tables.outbound_lists).group_by("BUSINESS_DATE", "TASK_KEY")
              .agg(F.min("GENERATED_AT").alias("FIRST"), F.max("GENERATED_AT").alias("LAST")).collect())
    for row in stamps:
        assert row["FIRST"] == row["LAST"]
        local = row["FIRST"].replace(tzinfo=dt.UTC).astimezone(ET)
        assert local.date() == row["BUSINESS_DATE"]
        assert dt.time(6, 0) < local.time() < dt.time(8, 0)


def test_lists_exist_for_business_days_only(demo):
    days = {row["BUSINESS_DATE"] for row in demo.session.table(demo.settings.tables.outbound_lists)
            .select("BUSINESS_DATE").distinct().collect()}
    assert set(business_days(demo.days[0], demo.days[-1])) <= days
    assert all(is_business_day(day) for day in days)


def test_the_demos_failed_task_day_carries_the_real_tasks_error_and_traceback() -> None:
    """The failed-task anomaly (the SFTP drop late) is raised by DI-749's own code, so its stack trace on the
    Workflow page reads as a real failure would."""
    from console import demo
    from console.settings import load_settings
    from jobs.demo.anomalies import ANOMALIES

    spec = load_workflow(load_settings(secrets={}).workflow_spec)
    anomaly = next(a for a in ANOMALIES if a.kind == "failed_task")
    model = demo.model_day(spec, dt.date(2026, 11, 18), 7, anomaly)
    failed = [a for a in model.attempts if a["result_state"] == "FAILED"]
    assert len(failed) == spec.task(anomaly.subject).max_retries + 1
    for attempt in failed:
        assert attempt["error_message"].startswith("SourceDataMissing: DI-749: SFTP drop is late: "
                                                   "email_non_openers_20261118.csv not found in sftp/inbound")
        assert 'jobs/tasks/di_749.py", line' in attempt["error_trace"]
        assert "/tmp" not in attempt["error_trace"]  # the scratch folder it was raised in is not shown
