"""The day's reconciliation: each Genesys list followed from generated → accepted by Genesys → exported.

Per business date × list × channel: records generated (``outbound_lists``), records Genesys accepted (the
import log), distinct contacts in the exported results. Each stage has a tolerance (``[checks]``); a
mismatch is classified in words. ``reconcile_day`` runs it with the quality checks and keeps the result in
the state DB (``reconcile_runs``, ``reconcile_rows``): a run that fails records why and leaves the previous
result in place. The worker runs it after 09:00 and after 22:30; people run it from the CLI or the page.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import pandas as pd

from console import audit, releases, volumes
from console.adapters.protocols import Adapters
from console.auth import authorise
from console.clock import Clock, SystemClock, at_et, hhmm
from console.errors import ConsoleError, NotAuthorised, NotFound, WarehouseUnavailable
from console.facts import stored_reconciliation
from console.gate import HELD
from console.model import MATCHED, MISMATCH, PENDING, ROW_COLUMNS, Reconciliation
from console.pipeline_data import list_releases
from console.quality import GENESYS, DayFacts, as_utc, read_day, run_checks
from console.settings import Settings
from console.store import reconcile_rows, reconcile_runs

logger = logging.getLogger(__name__)



def _pct(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "—"


def classify(generated: int, imported: bool, failed: bool, accepted: int, exported: int, day: dt.date,
             now: dt.datetime, settings: Settings, accepted_at: dt.datetime | None = None) -> tuple[str, str]:
    """``(status, reason)`` of one list × channel from its stage counts, as seen at ``now``.

    ``accepted_at`` is when the Genesys import finished (named in the reason when the list changed after it).
    """
    ready = at_et(day, settings.milestone("ready").time)
    export_due = at_et(day, settings.milestone("results_export").time)
    grace = dt.timedelta(minutes=int(settings.checks["results_grace_minutes"]))
    up_tol, ex_tol = settings.checks["upload_tolerance"], settings.checks["export_tolerance"]
    if generated == 0:
        return MISMATCH, "Nothing generated for this list, yet Genesys or the results have rows for it."
    if not imported:
        if now < ready:
            return PENDING, f"Not uploaded yet: the Genesys upload is due by {ready:%H:%M} ET."
        return MISMATCH, (f"List not uploaded: no Genesys import-log row after {ready:%H:%M} ET "
                          f"for the {generated:,} records generated.")
    if failed or accepted == 0:
        return MISMATCH, f"List not uploaded: the Genesys import failed (0 of {generated:,} records accepted)."
    if accepted > generated:
        # Genesys cannot accept more than it was sent: the list was rewritten (a rerun) after the upload, so
        # the dialer works from a list the warehouse no longer holds. No tolerance: one row is a change.
        when = f" at {hhmm(accepted_at)} ET" if accepted_at is not None else ""
        return MISMATCH, (f"List changed after upload: {generated:,} generated now, {accepted:,} accepted by "
                          f"Genesys{when}; Genesys dials the list as it was uploaded.")
    short = generated - accepted
    if short > up_tol * generated:
        return MISMATCH, (f"Partial upload: Genesys accepted {accepted:,} of {generated:,} records "
                          f"({_pct(short, generated)} short; tolerance {up_tol:.1%}).")
    if exported > accepted:
        return MISMATCH, (f"More results than contacts: {exported:,} accounts in the results, only "
                          f"{accepted:,} accepted by Genesys.")
    if now < export_due:
        return PENDING, f"Uploaded ({accepted:,} accepted); the results export is due at {export_due:%H:%M} ET."
    if exported == 0:
        if now < export_due + grace:
            return PENDING, f"Uploaded; waiting for the {export_due:%H:%M} ET results to land."
        return MISMATCH, (f"Export missing: no results for the {accepted:,} contacts Genesys accepted "
                          f"(export due {export_due:%H:%M} ET).")
    missing = accepted - exported
    if missing > ex_tol * accepted:
        return MISMATCH, (f"Partial export: results for {exported:,} of {accepted:,} accepted contacts "
                          f"({_pct(missing, accepted)} missing; tolerance {ex_tol:.1%}).")
    return MATCHED, (f"Matched: {generated:,} generated, {accepted:,} accepted, {exported:,} exported.")


def reconcile_counts(facts: DayFacts, settings: Settings, now: dt.datetime) -> pd.DataFrame:
    """One row per Genesys list × channel of the day (``ROW_COLUMNS``), from the day's aggregates."""
    lists = facts.lists[facts.lists["DESTINATION"] == GENESYS]
    keys = sorted({(r.LIST_NAME, r.CHANNEL) for frame in (lists, facts.imports, facts.results)
                   for r in frame.itertuples()})
    generated = {(r.LIST_NAME, r.CHANNEL): int(r.RECORDS) for r in lists.itertuples()}
    imports = {(r.LIST_NAME, r.CHANNEL): r for r in facts.imports.itertuples()}
    exported = {(r.LIST_NAME, r.CHANNEL): int(r.CONTACTS) for r in facts.results.itertuples()}
    rows = []
    for key in keys:
        log = imports.get(key)
        sent = int(log.SENT) if log is not None else None
        accepted = int(log.ACCEPTED) if log is not None else None
        failed = bool(log is not None and log.FAILED_IMPORTS and log.FAILED_IMPORTS == log.IMPORTS)
        status, reason = classify(generated.get(key, 0), log is not None, failed, accepted or 0,
                                  exported.get(key, 0), facts.day, now, settings,
                                  as_utc(log.FINISHED) if log is not None else None)
        rows.append([key[0], key[1], generated.get(key, 0), sent, accepted, exported.get(key, 0), status, reason])
    frame = pd.DataFrame(rows, columns=ROW_COLUMNS)
    for column in ("SENT", "ACCEPTED"):
        frame[column] = frame[column].astype("Int64")
    return frame


def compute(session: Any, settings: Settings, day: dt.date, now: dt.datetime) -> Reconciliation:
    """Reconciliation and quality checks for ``day`` as seen at ``now`` (reads only)."""
    facts = read_day(session, settings, day)
    rows = reconcile_counts(facts, settings, now)
    checks = run_checks(session, settings, day, now, facts)
    return Reconciliation(day, mark_held(rows, held_lists(session, settings, day)), checks, now,
                          rows_transferred=facts.rows_transferred)


def held_lists(session: Any, settings: Settings, day: dt.date) -> dict[tuple[str, str], str]:
    """(list, channel) → why, for the lists the upload gate holds on ``day``."""
    return {(d["list_name"], d["channel"]): d["reason"] for d in list_releases(session, settings.tables, day)
            if d["state"] == HELD}


def mark_held(rows: pd.DataFrame, held: dict[tuple[str, str], str]) -> pd.DataFrame:
    """A held list that is not uploaded is waiting on the gate, not a mismatch: say so instead."""
    out = rows.copy()
    for index, r in out.iterrows():
        reason = held.get((r.LIST_NAME, r.CHANNEL))
        if reason is not None and pd.isna(r.SENT):
            out.loc[index, ["STATUS", "REASON"]] = [PENDING, f"On hold, not uploaded: {reason}."]
    return out


# ------------------------------------------------------------------------------------------------ persisted runs
def reconcile_day(adapters: Adapters, day: dt.date, user: str, trigger: str = "MANUAL",
                  clock: Clock | None = None) -> Reconciliation:
    """Run and store the reconciliation of ``day`` on behalf of ``user`` (who is recorded).

    Also refreshes the day's row of the daily volume aggregate. A failure is recorded on the run and
    raised as a console error; the date's previous result stays its current one.
    """

    clock = clock or SystemClock()
    now = clock.now()
    with adapters.store.begin() as conn:
        run_id = int(conn.execute(reconcile_runs.insert().values(
            business_date=day, trigger=trigger, requested_by=user, started_at=now, status="running",
            message="")).inserted_primary_key[0])
    try:
        with adapters.warehouse.session() as session:
            volumes.refresh_daily_volumes(session, adapters.settings.tables, [day])
            facts = read_day(session, adapters.settings, day)
            rows = reconcile_counts(facts, adapters.settings, now)
            checks = run_checks(session, adapters.settings, day, now, facts)
            # The gate, then the rows in its light. Only a list Genesys has not imported yet can be held.
            releases.apply(adapters, session, Reconciliation(day, rows[rows["SENT"].isna()], checks, now), now)
            result = Reconciliation(day, mark_held(rows, held_lists(session, adapters.settings, day)), checks, now,
                                    rows_transferred=facts.rows_transferred)
    except Exception as exc:
        message = exc.message if isinstance(exc, ConsoleError) else f"{type(exc).__name__}: {str(exc)[:500]}"
        logger.warning("reconciliation of %s failed: %s", day, message)
        with adapters.store.begin() as conn:
            conn.execute(reconcile_runs.update().where(reconcile_runs.c.id == run_id).values(
                status="failed", message=message[:2000], finished_at=dt.datetime.now(dt.UTC)))
        if isinstance(exc, ConsoleError):
            raise
        raise WarehouseUnavailable(f"Reconciliation of {day} failed: {message}",
                                   "The previous result is kept; retry when the warehouse is back.") from None
    mismatches = len(result.mismatches)
    with adapters.store.begin() as conn:
        if len(result.rows):
            conn.execute(reconcile_rows.insert(), [
                {"run_id": run_id, "list_name": r.LIST_NAME, "channel": r.CHANNEL, "generated": int(r.GENERATED),
                 "sent": None if pd.isna(r.SENT) else int(r.SENT),
                 "accepted": None if pd.isna(r.ACCEPTED) else int(r.ACCEPTED), "exported": int(r.EXPORTED),
                 "status": r.STATUS, "reason": r.REASON} for r in result.rows.itertuples()])
        conn.execute(reconcile_runs.update().where(reconcile_runs.c.id == run_id).values(
            status="succeeded", finished_at=dt.datetime.now(dt.UTC),
            message=f"{result.matched} of {result.pairs} matched, {mismatches} mismatch(es)",
            generated=int(result.rows["GENERATED"].sum()), exported=int(result.rows["EXPORTED"].sum()),
            pairs=result.pairs, matched=result.matched, checks=json.dumps([c.to_json() for c in result.checks])))
    result.run_id, result.requested_by = run_id, user
    return result


def request_reconcile(adapters: Adapters, who: Any, day: dt.date, clock: Clock | None = None,
                      trigger: str = "MANUAL") -> Reconciliation:
    """A person's "run it now" (the page's button, or the CLI with ``trigger="CLI"``): operator and up, audited
    with its outcome, a refusal included."""
    try:
        authorise(who, "tick")
    except NotAuthorised as exc:
        audit.record(adapters.store, who.name, who.role, "reconcile", "denied", business_date=day,
                     detail={"message": exc.message, "via": trigger.lower()})
        raise
    try:
        result = reconcile_day(adapters, day, who.name, trigger=trigger, clock=clock)
    except ConsoleError as exc:
        audit.record(adapters.store, who.name, who.role, "reconcile", "failed", business_date=day,
                     detail={"message": exc.message})
        raise
    audit.record(adapters.store, who.name, who.role, "reconcile", "accepted", business_date=day,
                 detail={"matched": result.matched, "pairs": result.pairs, "run": result.run_id})
    return result


def current(adapters: Adapters, day: dt.date, clock: Clock | None = None) -> Reconciliation:
    """What to show for ``day``: the stored result, or a live computation (not stored) when none exists."""
    kept = stored_reconciliation(adapters, day)
    if kept is not None and kept.run_id is not None:
        return kept
    now = (clock or SystemClock()).now()
    try:
        with adapters.warehouse.session() as session:
            live = compute(session, adapters.settings, day, now)
    except ConsoleError:
        raise
    except Exception as exc:
        if "does not exist" in str(exc).lower():
            raise NotFound(f"No data for {day} yet: a warehouse table the reconciliation reads is missing.",
                           "Seed the demo (`python -m console seed`) or wait for the workflow to run.") from None
        logger.warning("live reconciliation of %s failed: %s", day, exc)
        raise WarehouseUnavailable(f"Could not reconcile {day}: {type(exc).__name__}: {str(exc)[:300]}",
                                   "Check the warehouse and retry.") from None
    live.notes.append("Not reconciled by the worker yet: computed now and not stored.")
    if kept is not None:
        live.failure = kept.failure
    return live


def status_sections(adapters: Adapters, day: dt.date, clock: Clock | None = None) -> dict[str, Any]:
    """``checks``, ``reconciliation`` and the volume ``anomalies`` (lists out of their same-weekday range) for
    ``status --json``, computed now; a warehouse error is reported in ``checks_error``, not raised."""
    now = (clock or SystemClock()).now()
    try:
        with adapters.warehouse.session() as session:
            result = compute(session, adapters.settings, day, now)
    except Exception as exc:
        message = exc.message if isinstance(exc, ConsoleError) else f"{type(exc).__name__}: {str(exc)[:300]}"
        logger.warning("checks for %s failed: %s", day, message)
        return {"checks": [], "reconciliation": [], "anomalies": [], "checks_error": message}
    data = result.to_json()
    counts = next((c for c in result.checks if c.name == "record_counts"), None)
    return {"checks": [{k: c[k] for k in ("name", "status", "evidence")} for c in data["checks"]],
            "reconciliation": [{k: item[k] for k in ("list_name", "channel", "generated", "uploaded", "exported",
                                                      "status", "reason")} for item in data["lists"]],
            "anomalies": counts.numbers.get("anomalies", []) if counts else [],
            "checks_error": None}
