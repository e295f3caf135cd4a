"""The morning's and evening's data-quality checks, each a function returning a ``CheckResult`` with evidence.

Every check reads aggregates computed in the warehouse (Snowpark group-bys over one business date); what
comes back to Python is a handful of rows per list and channel. ``read_day`` gathers the per-list facts
several checks and the reconciliation share, so the day's list rows are scanned once.

Statuses: ``pass``, ``warn`` (worth a look, not a failure), ``fail``, ``n/a`` (not due yet or nothing to
check). A warehouse error is not a status: it is raised, and the caller keeps the previous results.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from snowflake.snowpark import functions as F

from console.clock import ET, at_et, business_days, hhmm
from console.model import FAIL, NA, PASS, WARN, CheckResult
from console.settings import Settings
from console.volumes import Baseline, day_anomalies

logger = logging.getLogger(__name__)

GENESYS = "GENESYS"  # outbound_lists.DESTINATION of the lists uploaded to Genesys


# ------------------------------------------------------------------------------------------------ the day's facts
LIST_COLUMNS = ["LIST_NAME", "CHANNEL", "DESTINATION", "RECORDS", "ACCOUNTS", "BAD_CONTACTS"]
IMPORT_COLUMNS = ["LIST_NAME", "CHANNEL", "IMPORTS", "FAILED_IMPORTS", "SENT", "ACCEPTED", "REJECTED", "FINISHED"]
RESULT_COLUMNS = ["LIST_NAME", "CHANNEL", "CONTACTS", "RESULT_ROWS", "LANDED"]


@dataclass
class DayFacts:
    """Per list and channel for one business date: list rows, the Genesys import log, the results."""

    day: dt.date
    lists: pd.DataFrame
    imports: pd.DataFrame
    results: pd.DataFrame
    rows_transferred: int = 0


def _frame(rows: list[Any], columns: list[str], ints: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.DataFrame([r.as_dict() for r in rows], columns=columns)
    for column in ints:
        # SUM comes back as a float on the embedded warehouse: counts are whole numbers.
        frame[column] = pd.to_numeric(frame[column]).fillna(0).round().astype("int64")
    return frame


def _valid_contact() -> Any:
    """A usable address for the channel: an e-mail with ``@`` and a dot after it; a phone without ``@``."""
    contact, channel = F.col("CONTACT"), F.col("CHANNEL")
    present = contact.is_not_null() & (F.length(F.trim(contact)) > 0)
    email_ok = contact.like("%@%.%")
    phone_ok = ~contact.like("%@%") & (F.length(contact) >= 7)
    return present & F.iff(channel == F.lit("EMAIL"), email_ok, phone_ok)


def read_day(session: Any, settings: Settings, day: dt.date) -> DayFacts:
    """The day's per-list aggregates: three group-bys in the warehouse, O(lists) rows back."""
    tables = settings.tables
    on_day = F.col("BUSINESS_DATE") == F.lit(day)
    lists = _frame(
        session.table(tables.outbound_lists).filter(on_day)
        .group_by("LIST_NAME", "CHANNEL", "DESTINATION")
        .agg(F.count(F.lit(1)).alias("RECORDS"), F.count_distinct("ACCOUNT_ID").alias("ACCOUNTS"),
             F.sum(F.iff(_valid_contact(), F.lit(0), F.lit(1))).alias("BAD_CONTACTS"))
        .collect(), LIST_COLUMNS, ("RECORDS", "ACCOUNTS", "BAD_CONTACTS"))
    imports = _frame(
        session.table(tables.import_log).filter(on_day).group_by("LIST_NAME", "CHANNEL")
        .agg(F.count(F.lit(1)).alias("IMPORTS"),
             F.sum(F.iff(F.col("STATUS") == F.lit("FAILED"), F.lit(1), F.lit(0))).alias("FAILED_IMPORTS"),
             F.sum("RECORDS_SENT").alias("SENT"), F.sum("RECORDS_ACCEPTED").alias("ACCEPTED"),
             F.sum("RECORDS_REJECTED").alias("REJECTED"), F.max("FINISHED_AT").alias("FINISHED"))
        .collect(), IMPORT_COLUMNS, ("IMPORTS", "FAILED_IMPORTS", "SENT", "ACCEPTED", "REJECTED"))
    results = _frame(
        session.table(tables.campaign_results).filter(on_day).group_by("LIST_NAME", "CHANNEL")
        .agg(F.count_distinct("ACCOUNT_ID").alias("CONTACTS"), F.count(F.lit(1)).alias("RESULT_ROWS"),
             F.max("INGESTED_AT").alias("LANDED"))
        .collect(), RESULT_COLUMNS, ("CONTACTS", "RESULT_ROWS"))
    return DayFacts(day, lists, imports, results, len(lists) + len(imports) + len(results))


# ------------------------------------------------------------------------------------------------ helpers
def as_utc(value: Any) -> dt.datetime | None:
    """A warehouse timestamp as an aware datetime (a naive one is UTC); None when there is none."""
    if value is None or (not isinstance(value, dt.datetime) and pd.isna(value)):
        return None
    moment = pd.Timestamp(value).to_pydatetime()
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def _hhmm(moment: dt.datetime) -> str:
    return f"{hhmm(moment)} ET"


def _milestone(settings: Settings, day: dt.date, key: str) -> dt.datetime:
    return at_et(day, settings.milestone(key).time)


def _names(items: list[str], limit: int = 6) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


@dataclass
class CheckInput:
    session: Any
    settings: Settings
    day: dt.date
    now: dt.datetime
    facts: DayFacts

    @property
    def lists_due(self) -> bool:
        """Whether the workflow's lists should exist by now (its 08:00 target has passed)."""
        return self.now >= _milestone(self.settings, self.day, "workflow_target")


# ------------------------------------------------------------------------------------------------ the checks
def loan_tape_freshness(c: CheckInput) -> CheckResult:
    """The newest tape load: as of the business date, landed before the 06:00 start, and complete."""
    name, title = "loan_tape_freshness", "Loan tape freshness"
    tables = c.settings.tables
    rows = (c.session.table(tables.loan_tape_loads).filter(F.col("AS_OF_DATE") <= F.lit(c.day))
            .sort(F.col("AS_OF_DATE").desc(), F.col("LOADED_AT").desc()).limit(2)
            .select("AS_OF_DATE", "LOADED_AT", "ACCOUNTS").collect())
    start = _milestone(c.settings, c.day, "workflow_start")
    if not rows:
        return CheckResult(name, title, FAIL, f"No loan-tape load as of {c.day} or earlier.", {})
    newest = rows[0].as_dict()
    as_of = pd.Timestamp(newest["AS_OF_DATE"]).date()
    loaded = as_utc(newest["LOADED_AT"])
    accounts = int(newest["ACCOUNTS"] or 0)
    numbers: dict[str, Any] = {"as_of_date": as_of.isoformat(), "loaded_at": loaded.isoformat() if loaded else None,
                               "accounts": accounts}
    if as_of < c.day:
        behind = len(business_days(as_of + dt.timedelta(days=1), c.day))
        numbers["business_days_behind"] = behind
        if c.now < start:
            return CheckResult(name, title, WARN, f"Today's tape has not landed yet: the newest load is as of {as_of}; "
                               f"it is due before the {_hhmm(start)} start.", numbers)
        return CheckResult(name, title, FAIL, f"Stale loan tape: the newest load is as of {as_of}, {behind} business "
                           f"day(s) behind {c.day}; the lists were built on old balances and delinquency.", numbers)
    if len(rows) > 1:
        previous = int(rows[1]["ACCOUNTS"] or 0)
        numbers["previous_accounts"] = previous
        tolerance = c.settings.checks["tape_drop_tolerance"]
        if previous and accounts < previous * (1 - tolerance):
            return CheckResult(name, title, FAIL, f"Partial loan tape: the load as of {as_of} has {accounts:,} "
                               f"accounts against {previous:,} in the previous load "
                               f"({1 - accounts / previous:.0%} fewer; tolerance {tolerance:.0%}).", numbers)
    if loaded is not None and loaded > start:
        return CheckResult(name, title, WARN, f"The tape as of {as_of} landed at {_hhmm(loaded)}, after the "
                           f"{_hhmm(start)} start: lists that ran before it used the previous tape.", numbers)
    when = f", landed {_hhmm(loaded)}" if loaded else ""
    return CheckResult(name, title, PASS, f"Tape as of {as_of}{when}, before the {_hhmm(start)} start; "
                       f"{accounts:,} accounts.", numbers)


def record_counts(c: CheckInput) -> CheckResult:
    """Each list's records against its same-weekday baseline (see ``console.volumes``)."""
    name, title = "record_counts", "Record counts in expected range"
    if c.facts.lists.empty and not c.lists_due:
        return CheckResult(name, title, NA, f"No lists for {c.day} yet (the workflow's target is "
                           f"{_hhmm(_milestone(c.settings, c.day, 'workflow_target'))}).", {})
    today = c.facts.lists.groupby(["LIST_NAME", "CHANNEL"], as_index=False)["RECORDS"].sum()
    try:
        found = day_anomalies(c.session, c.settings, c.day, today)
    except Exception as exc:
        if "does not exist" not in str(exc).lower():
            raise
        # A warehouse seeded before the aggregate existed: the first reconcile builds it.
        return CheckResult(name, title, NA, f"No daily volume history yet ({c.settings.tables.daily_volumes} "
                           "is built by the first reconciliation).", {})
    pending: list[Baseline] = []
    if not c.lists_due:  # before the target a list not generated yet is pending (its task may be failing: that
        present = set(zip(today["LIST_NAME"], today["CHANNEL"], strict=True))  # alerts on its own), not an anomaly
        pending = [b for b in found if (b.list_name, b.channel) not in present]
        found = [b for b in found if (b.list_name, b.channel) in present]
    flagged = [b for b in found if b.flagged]
    thin = [b for b in found if b.status == "not_enough_history"]
    numbers = {"lists": len(found), "flagged": len(flagged), "not_enough_history": len(thin),
               "anomalies": [b.to_json() for b in flagged], "not_generated_yet": [b.list_name for b in pending]}
    if flagged:
        return CheckResult(name, title, FAIL, out_of_range_words(found), numbers)
    if not found:
        return CheckResult(name, title, FAIL, f"No lists generated for {c.day}.", numbers)
    if len(thin) == len(found):
        return CheckResult(name, title, NA, no_baseline_words(found), numbers)
    waiting = (f" Not generated yet (due by {_hhmm(_milestone(c.settings, c.day, 'workflow_target'))}): "
               f"{_names([b.list_name for b in pending])}.") if pending else ""
    return CheckResult(name, title, PASS, in_range_words(found) + waiting, numbers)


# How a day's counts against their same-weekday bands are worded, here and in the checklist's count check.
def out_of_range_words(found: list[Baseline]) -> str:
    """The lists of ``found`` outside their band, each with its count, band and how far off."""
    flagged = [b for b in found if b.flagged]
    words = "; ".join(f"{b.list_name} ({b.channel}): {b.explanation}" for b in flagged)
    return f"{len(flagged)} of {len(found)} list(s) out of range. {words}"


def in_range_words(found: list[Baseline]) -> str:
    thin = [b for b in found if b.status == "not_enough_history"]
    note = f" ({len(thin)} without enough history: {_names([b.list_name for b in thin])})" if thin else ""
    return f"All {len(found) - len(thin)} list(s) with a baseline are within their same-weekday range{note}."


def no_baseline_words(found: list[Baseline]) -> str:
    return f"Not enough history for a baseline yet: {found[0].explanation}"


def suppression_leaks(c: CheckInput) -> CheckResult:
    """Rows in any list whose account has a suppression active that day for the list's channel (or ALL)."""
    name, title = "suppression_leaks", "Suppression rules held"
    tables = c.settings.tables
    day = F.lit(c.day)
    active = (c.session.table(tables.suppressions)
              .filter((F.col("START_DATE") <= day) & (F.col("END_DATE").is_null() | (F.col("END_DATE") >= day)))
              .select(F.col("ACCOUNT_ID").alias("S_ACCOUNT_ID"), F.col("CHANNEL").alias("S_CHANNEL"),
                      F.col("REASON").alias("REASON")))
    # No narrowing selects before the joins: each would cost the embedded warehouse a DESCRIBE round trip.
    lists = c.session.table(tables.outbound_lists).filter(F.col("BUSINESS_DATE") == day)
    blocks = (F.col("ACCOUNT_ID") == F.col("S_ACCOUNT_ID")) & (
        (F.col("S_CHANNEL") == F.col("CHANNEL")) | (F.col("S_CHANNEL") == F.lit("ALL")))
    leaks = [r.as_dict() for r in lists.join(active, blocks).group_by("LIST_NAME", "REASON")
             .agg(F.count_distinct("ACCOUNT_ID").alias("ACCOUNTS")).sort("LIST_NAME", "REASON").collect()]
    base = c.session.table(tables.base_population).filter(F.col("BUSINESS_DATE") == day)
    removed = {r["REASON"]: int(r["ACCOUNTS"]) for r in
               base.join(active, F.col("ACCOUNT_ID") == F.col("S_ACCOUNT_ID")).group_by("REASON")
               .agg(F.count_distinct("ACCOUNT_ID").alias("ACCOUNTS")).collect()}
    per_list = [{"list_name": r["LIST_NAME"], "reason": r["REASON"], "accounts": int(r["ACCOUNTS"])} for r in leaks]
    numbers = {"leaks": per_list, "removed_by_reason": dict(sorted(removed.items()))}
    removed_words = ", ".join(f"{reason} {n:,}" for reason, n in sorted(removed.items(), key=lambda kv: -kv[1]))
    removed_words = f" Accounts kept off by each reason: {removed_words}." if removed_words else ""
    if c.facts.lists.empty:
        return CheckResult(name, title, NA, f"No lists for {c.day} yet.{removed_words}", numbers)
    if per_list:
        total = sum(item["accounts"] for item in per_list)
        words = "; ".join(f"{i['list_name']}: {i['accounts']:,} ({i['reason']})" for i in per_list)
        return CheckResult(name, title, FAIL, f"{total:,} suppressed account(s) on lists: {words}.{removed_words}",
                           numbers)
    return CheckResult(name, title, PASS, f"No list holds a suppressed account.{removed_words}", numbers)


def duplicate_accounts(c: CheckInput) -> CheckResult:
    """An account on a list more than once (records against distinct accounts, per list)."""
    name, title = "duplicate_accounts", "No duplicate accounts within a list"
    lists = c.facts.lists
    if lists.empty:
        return CheckResult(name, title, NA, f"No lists for {c.day} yet.", {})
    dups = lists[lists["RECORDS"] > lists["ACCOUNTS"]]
    numbers = {"duplicates": {f"{r.LIST_NAME}/{r.CHANNEL}": int(r.RECORDS - r.ACCOUNTS) for r in dups.itertuples()}}
    if len(dups):
        words = "; ".join(f"{r.LIST_NAME} ({r.CHANNEL}): {int(r.RECORDS - r.ACCOUNTS):,} extra row(s)"
                          for r in dups.itertuples())
        return CheckResult(name, title, FAIL, f"Duplicate accounts: {words}.", numbers)
    return CheckResult(name, title, PASS, f"Each of the {len(lists)} list(s) holds every account once.", numbers)


def contact_fields(c: CheckInput) -> CheckResult:
    """The contact the channel needs: a phone for call and SMS lists, an e-mail address for e-mail lists."""
    name, title = "contact_fields", "Contact fields present for the channel"
    lists = c.facts.lists
    if lists.empty:
        return CheckResult(name, title, NA, f"No lists for {c.day} yet.", {})
    bad = lists[lists["BAD_CONTACTS"] > 0]
    numbers = {"missing": {f"{r.LIST_NAME}/{r.CHANNEL}": int(r.BAD_CONTACTS) for r in bad.itertuples()}}
    if len(bad):
        words = "; ".join(f"{r.LIST_NAME}: {int(r.BAD_CONTACTS):,} of {int(r.RECORDS):,} rows without a valid "
                          f"{'e-mail address' if r.CHANNEL == 'EMAIL' else 'phone number'}" for r in bad.itertuples())
        return CheckResult(name, title, FAIL, f"Missing contact fields: {words}.", numbers)
    return CheckResult(name, title, PASS, f"All {int(lists['RECORDS'].sum()):,} rows carry the contact their channel "
                       "needs (phone for call/SMS, e-mail for e-mail).", numbers)


def genesys_coverage(c: CheckInput) -> CheckResult:
    """Every active list in the Genesys list-automation config was produced for the day."""
    name, title = "genesys_coverage", "Every active Genesys list produced"
    config = c.session.table(c.settings.tables.list_automation_config).filter(F.col("ACTIVE")) \
        .group_by("LIST_NAME", "CHANNEL").agg(F.count(F.lit(1)).alias("ROWS")).collect()
    active = sorted((r["LIST_NAME"], r["CHANNEL"]) for r in config)
    lists = c.facts.lists
    produced = {(r.LIST_NAME, r.CHANNEL) for r in lists[(lists["DESTINATION"] == GENESYS) & (lists["RECORDS"] > 0)]
                .itertuples()}
    missing = [f"{n} ({ch})" for n, ch in active if (n, ch) not in produced]
    extra = sorted(f"{n} ({ch})" for n, ch in produced - set(active))
    numbers = {"active": len(active), "produced": len(set(active) & produced), "missing": missing,
               "not_in_config": extra}
    if missing:
        if not c.lists_due:
            return CheckResult(name, title, NA, f"{len(missing)} of {len(active)} active list(s) not produced yet; "
                               f"the workflow's target is {_hhmm(_milestone(c.settings, c.day, 'workflow_target'))}.",
                               numbers)
        return CheckResult(name, title, FAIL, f"{len(missing)} of {len(active)} active Genesys list(s) not produced "
                           f"for {c.day}: {_names(missing)}.", numbers)
    if extra:
        return CheckResult(name, title, WARN, f"All {len(active)} active lists produced; {_names(extra)} went to "
                           "Genesys without an active config row (list automation will skip them).", numbers)
    return CheckResult(name, title, PASS, f"All {len(active)} active lists in the list-automation config were "
                       f"produced for {c.day}.", numbers)


def results_landing(c: CheckInput) -> CheckResult:
    """Kafka processing: the newest result landed after the 22:30 export, within the grace period."""
    name, title = "results_landing", "Results landed after the 22:30 export"
    due = _milestone(c.settings, c.day, "results_export")
    grace = dt.timedelta(minutes=int(c.settings.checks["results_grace_minutes"]))
    results = c.facts.results
    rows = int(results["RESULT_ROWS"].sum()) if len(results) else 0
    landed = max((t for t in (as_utc(v) for v in results["LANDED"]) if t is not None), default=None) if rows else None
    numbers = {"result_rows": rows, "contacts": int(results["CONTACTS"].sum()) if len(results) else 0,
               "newest_landed": landed.isoformat() if landed else None, "export_due": due.isoformat()}
    if c.now < due:
        return CheckResult(name, title, NA, f"The results export is due at {_hhmm(due)}.", numbers)
    if landed is None or landed < due:
        newest = f"the newest result landed at {landed.astimezone(ET):%Y-%m-%d %H:%M} ET" if landed else \
            "no result has landed"
        if c.now < due + grace:
            return CheckResult(name, title, WARN, f"Waiting for the {_hhmm(due)} export: {newest} "
                               f"(missing after {_hhmm(due + grace)} is a failure).", numbers)
        return CheckResult(name, title, FAIL, f"The {_hhmm(due)} results export has not landed in Snowflake for "
                           f"{c.day}: {newest}. Check the Genesys export and the Kafka connector.", numbers)
    lag = int((landed - due).total_seconds() // 60)
    late = landed > due + grace
    return CheckResult(name, title, WARN if late else PASS,
                       f"Newest result landed at {_hhmm(landed)}, {lag} min after the {_hhmm(due)} export"
                       f"{' (later than the grace period)' if late else ''}; {rows:,} rows for "
                       f"{numbers['contacts']:,} contacts.", numbers)


CHECKS: tuple[Callable[[CheckInput], CheckResult], ...] = (
    loan_tape_freshness, record_counts, suppression_leaks, duplicate_accounts, contact_fields, genesys_coverage,
    results_landing)


def run_checks(session: Any, settings: Settings, day: dt.date, now: dt.datetime,
               facts: DayFacts | None = None) -> list[CheckResult]:
    """Every check for ``day`` as seen at ``now``. A warehouse error propagates: no half set of results."""
    facts = facts or read_day(session, settings, day)
    given = CheckInput(session, settings, day, now, facts)
    return [check(given) for check in CHECKS]
