"""The list tasks on the embedded warehouse: real Snowpark against the fakesnow server, seeded demo data."""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib

import pytest
from snowflake.snowpark import functions as F

from console.clock import next_business_day
from console.workflow import load_workflow
from jobs.common import SourceDataMissing, active_suppressions, calendar
from jobs.context import TaskContext
from jobs.demo.anomalies import by_kind
from jobs.demo.seed import anomaly_day, prepare_day, run_tasks
from jobs.tasks import di_749

pytestmark = pytest.mark.warehouse

LISTS = {  # list name -> (task module, channel)
    "GR_CALL_LIST": ("bi_737", "CALL"),
    "GR_EMAIL_HIGH_RISK_LETTER": ("bi_2609", "EMAIL"),
    "REMITTER": ("bi_813", "CALL"),
    "SIMM_PLACEMENT": ("di_862", "CALL"),
    "FUNNEL_EMAIL_NON_OPENERS": ("di_749", "EMAIL"),
    "FUNNEL_CALL": ("di_986", "CALL"),
    "FUNNEL_SMS": ("di_986", "SMS"),
    "GR_TEXT_ELIGIBLE": ("bi_820", "SMS"),
    "PIF_TO_SFMC": ("di_1049", "EMAIL"),
    "PRESCREEN_EMAIL": ("di_977", "EMAIL"),
}


def context(demo, day: dt.date, **changes) -> TaskContext:
    settings = demo.settings
    ctx = TaskContext(session=demo.session, business_date=day, tables=settings.tables,
                      sftp_outbox=settings.sftp_outbox, sftp_inbox=settings.sftp_inbox)
    return dataclasses.replace(ctx, **changes)


def run(demo, module: str, day: dt.date, **changes) -> dict:
    return importlib.import_module(f"jobs.tasks.{module}").run(context(demo, day, **changes))


def lists(demo):
    return demo.session.table(demo.settings.tables.outbound_lists)


def counts_by(frame, *keys: str) -> dict:
    rows = frame.group_by(*keys).agg(F.count(F.lit(1)).alias("N")).collect()
    return {tuple(row[k] for k in keys): int(row["N"]) for row in rows}


def normal_days(demo) -> list[dt.date]:
    odd = {anomaly_day(demo.days, a.days_ago) for a in by_kind("short_list")}
    return [day for day in demo.days if day not in odd]


def test_every_list_has_rows_on_every_normal_day(demo):
    counts = counts_by(lists(demo), "BUSINESS_DATE", "LIST_NAME")
    for day in normal_days(demo):
        for name in LISTS:
            assert counts.get((day, name), 0) > 0, (day, name)


def test_rows_carry_their_list_channel_and_task(demo):
    rows = lists(demo).select("LIST_NAME", "CHANNEL", "DESTINATION", "TASK_KEY").distinct().collect()
    found = {row["LIST_NAME"]: (row["CHANNEL"], row["TASK_KEY"]) for row in rows}
    assert len(found) == len(rows) == len(LISTS)
    for name, (module, channel) in LISTS.items():
        assert found[name] == (channel, importlib.import_module(f"jobs.tasks.{module}").TASK_KEY)
    destinations = {row["LIST_NAME"]: row["DESTINATION"] for row in rows}
    assert destinations["SIMM_PLACEMENT"] == "SFTP_SIMM"
    assert destinations["PIF_TO_SFMC"] == "SFTP_SFMC"
    assert {destinations[name] for name in LISTS if name not in ("SIMM_PLACEMENT", "PIF_TO_SFMC")} == {"GENESYS"}


def test_lists_only_hold_accounts_of_that_days_base_population(demo):
    base = demo.session.table(demo.settings.tables.base_population)
    base_size = counts_by(base, "BUSINESS_DATE")
    for (day, _name), n in counts_by(lists(demo), "BUSINESS_DATE", "LIST_NAME").items():
        assert n <= base_size[(day,)]
    outside = lists(demo).join(base, on=["BUSINESS_DATE", "ACCOUNT_ID"], how="left_anti")
    assert outside.count() == 0


def test_no_list_holds_an_account_suppressed_for_its_channel(demo):
    session, tables = demo.session, demo.settings.tables
    suppressed = active_suppressions(session, tables, calendar(session, demo.days))
    assert suppressed.count() > 0
    rows = lists(demo).select("BUSINESS_DATE", "ACCOUNT_ID", F.col("CHANNEL").alias("LIST_CHANNEL"))
    hits = rows.join(suppressed, on=["BUSINESS_DATE", "ACCOUNT_ID"]).filter(
        (F.col("CHANNEL") == "ALL") | (F.col("CHANNEL") == F.col("LIST_CHANNEL")))
    assert hits.count() == 0


def test_every_contact_is_the_accounts_valid_phone_or_email(demo):
    accounts = demo.session.table(demo.settings.tables.accounts)
    joined = lists(demo).join(accounts, on="ACCOUNT_ID")
    phone_ok = (F.col("CHANNEL") != "EMAIL") & F.col("PHONE_VALID") & (F.col("CONTACT") == F.col("PHONE"))
    email_ok = (F.col("CHANNEL") == "EMAIL") & F.col("EMAIL_VALID") & (F.col("CONTACT") == F.col("EMAIL"))
    assert joined.filter(~(phone_ok | email_ok)).count() == 0


def test_priorities_run_one_to_n_without_duplicate_accounts(demo):
    per_list = lists(demo).group_by("BUSINESS_DATE", "LIST_NAME").agg(
        F.count(F.lit(1)).alias("N"), F.count_distinct("ACCOUNT_ID").alias("ACCOUNTS"),
        F.min("PRIORITY").alias("LO"), F.max("PRIORITY").alias("HI")).collect()
    for row in per_list:
        assert (row["LO"], row["HI"]) == (1, row["N"]) and row["ACCOUNTS"] == row["N"], row


def test_call_list_is_ordered_by_days_past_due_then_balance(demo):
    day = demo.days[-1]
    rows = (lists(demo).filter((F.col("LIST_NAME") == "GR_CALL_LIST") & (F.col("BUSINESS_DATE") == F.lit(day)))
            .sort("PRIORITY").select("DAYS_PAST_DUE").collect())
    dpd = [int(row["DAYS_PAST_DUE"]) for row in rows]
    assert dpd == sorted(dpd, reverse=True)
    assert min(dpd) >= 1 and max(dpd) <= 119


@pytest.mark.parametrize("module", ["bi_737", "di_986", "bi_2482"])
def test_a_rerun_for_a_date_replaces_exactly_that_tasks_rows(demo, module):
    day = demo.days[-1]
    before = counts_by(lists(demo), "BUSINESS_DATE", "LIST_NAME", "TASK_KEY")
    base_before = demo.session.table(demo.settings.tables.base_population).count()
    result = run(demo, module, day)
    assert counts_by(lists(demo), "BUSINESS_DATE", "LIST_NAME", "TASK_KEY") == before
    assert demo.session.table(demo.settings.tables.base_population).count() == base_before
    assert result["rows"] > 0
    duplicates = (lists(demo).group_by("BUSINESS_DATE", "LIST_NAME", "ACCOUNT_ID")
                  .agg(F.count(F.lit(1)).alias("N")).filter(F.col("N") > 1))
    assert duplicates.count() == 0


def test_di_749_without_the_sftp_file_fails_clearly_and_writes_nothing(demo, tmp_path):
    day = demo.days[-1]
    before = counts_by(lists(demo).filter(F.col("TASK_KEY") == di_749.TASK_KEY), "BUSINESS_DATE")
    staged = demo.session.table(demo.settings.tables.email_non_openers).count()
    with pytest.raises(SourceDataMissing) as failure:
        run(demo, "di_749", day, sftp_inbox=tmp_path)
    message = str(failure.value)
    assert di_749.file_name(day) in message and "late" in message
    assert counts_by(lists(demo).filter(F.col("TASK_KEY") == di_749.TASK_KEY), "BUSINESS_DATE") == before
    assert demo.session.table(demo.settings.tables.email_non_openers).count() == staged


def test_bi_2482_without_a_tape_load_for_the_date_fails_clearly(demo):
    day = next_business_day(demo.days[-1])
    with pytest.raises(SourceDataMissing, match="verify source data availability"):
        run(demo, "bi_2482", day)
    assert demo.session.table(demo.settings.tables.base_population).filter(
        F.col("BUSINESS_DATE") == F.lit(day)).count() == 0


def test_sftp_files_for_simm_and_sfmc_match_their_lists(demo):
    day = demo.days[-1]
    for folder, name in (("simm", "SIMM_PLACEMENT"), ("sfmc", "PIF_TO_SFMC")):
        path = demo.settings.sftp_outbox / folder / f"{name}_{day:%Y%m%d}.csv"
        lines = path.read_text().strip().splitlines()
        listed = counts_by(lists(demo).filter(F.col("LIST_NAME") == name), "BUSINESS_DATE")[(day,)]
        assert len(lines) - 1 == listed


def test_the_next_day_prepared_twice_then_run_like_the_06_00_workflow(demo):
    """prepare_day is idempotent; then the whole workflow runs for the new business date."""
    session, settings = demo.session, demo.settings
    day = next_business_day(demo.days[-1])
    first = prepare_day(session, settings, day)
    tape = session.table(settings.tables.loan_tape).count()
    loads = session.table(settings.tables.loan_tape_loads).count()
    suppressions = session.table(settings.tables.suppressions).count()
    content = (settings.sftp_inbox / di_749.file_name(day)).read_bytes()
    second = prepare_day(session, settings, day)
    assert first["tape_loads"] >= 1 and second["tape_loads"] == 0
    assert session.table(settings.tables.loan_tape).count() == tape
    assert session.table(settings.tables.loan_tape_loads).count() == loads
    assert session.table(settings.tables.suppressions).count() == suppressions
    assert (settings.sftp_inbox / di_749.file_name(day)).read_bytes() == content

    results = run_tasks(session, settings, load_workflow(settings.workflow_spec), day, day)
    assert len(results) == 11
    new_lists = {name for (name,) in counts_by(lists(demo).filter(F.col("BUSINESS_DATE") == F.lit(day)), "LIST_NAME")}
    assert new_lists == set(LISTS)


def test_the_same_seed_gives_the_same_portfolio_and_a_new_seed_another(demo):
    from jobs.demo import portfolio

    start = dt.date(2026, 6, 1)
    first = portfolio.generate_accounts(demo.settings.demo_seed, 2_000, start)
    again = portfolio.generate_accounts(demo.settings.demo_seed, 2_000, start)
    other = portfolio.generate_accounts(demo.settings.demo_seed + 1, 2_000, start)
    assert first.equals(again)
    assert not first["RISK_SCORE"].equals(other["RISK_SCORE"])
    stored = demo.session.table(demo.settings.tables.accounts).sort("ACCOUNT_ID").limit(2_000).to_pandas()
    settings = demo.settings
    generated = portfolio.generate_accounts(settings.demo_seed, settings.demo_accounts,
                                            portfolio.start_date(demo.days[0]))
    assert stored["EMAIL"].tolist() == generated["EMAIL"][:2_000].tolist()
