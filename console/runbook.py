"""The runbook: one entry per alert type, from the operations guide's "Common Daily Issues" and "Key
Monitoring Points", with the live evidence the console can fetch for it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from console import pipeline_data
from console.clock import ET
from console.clusters import notable


@dataclass(frozen=True)
class Entry:
    title: str
    means: str
    check: tuple[str, ...]  # what to look at, in order
    evidence: str  # which live evidence fetcher applies


RUNBOOK: dict[str, Entry] = {
    "task_failed": Entry(
        "A workflow task failed",
        "A task of BI-2482 failed after its final retry; its dependents did not run and their lists are missing.",
        ("Read the task's error on the Workflow page (Task detail).",
         "Cluster startup delays: check AWS spot pricing and the job cluster's events (spot loss, resizing).",
         "Memory issues: look at the cluster's scaling and the task's execution time against its median.",
         "Data pipeline delays: verify the source data (loan-tape freshness below, the SFTP drop for DI-749).",
         "Rerun the failed task and its dependents from the Workflow page; before 08:30 nothing downstream "
         "has used the lists."),
        "loan_tape"),
    "workflow_target": Entry(
        "The workflow will miss, or missed, 08:00",
        "The lists are due in Snowflake by 08:00 so the 08:30 Genesys upload can take them.",
        ("Find the slow task on the Timeline page: the critical path and the task running longer than usual.",
         "Cluster startup delays and auto-scaling: the run's setup time against its history.",
         "Tell Divya (Genesys upload owner) if the lists will not be ready by 08:30."),
        "loan_tape"),
    "upload_missing": Entry(
        "The Genesys upload has not happened",
        "Nothing is in the Genesys import log for the day after the 08:30 upload window: campaigns cannot start.",
        ("Check that the workflow succeeded (the upload takes its lists).",
         "Genesys connectivity: the upload job's logs (owner: Divya, engineering).",
         "Once uploaded, the Reconciliation page shows generated against accepted per list."),
        "import_log"),
    "export_missing": Entry(
        "The campaign results have not landed",
        "The 22:30 export (Genesys → Kafka → Snowflake) has not delivered results for the day.",
        ("Export failures: check Genesys connectivity.",
         "Kafka processing: monitor the data flow to Snowflake — the landing table's newest record below.",
         "Volume mismatches: once results land, compare import and export on the Reconciliation page."),
        "results"),
    "reconciliation_mismatch": Entry(
        "Import and export volumes do not match",
        "A list's records generated, accepted by Genesys and exported as results disagree beyond tolerance.",
        ("Volume mismatches: validate campaign execution — was the campaign live for the whole day?",
         "A partial upload: Genesys rejected records (format, duplicates, internal DNC); see the import log.",
         "A partial or missing export: check Genesys connectivity and the Kafka flow to Snowflake.",
         "The reconciliation row below has the three counts."),
        "results"),
    "volume_anomaly": Entry(
        "A list's volume is out of its usual range",
        "Today's records for a list are outside its same-weekday range (median ± k·MAD).",
        ("Record counts: was the loan tape complete (freshness below)?",
         "Did a suppression rule change, or a list's filter? Compare with the same weekday on the Volumes page.",
         "A holiday or month-end can move volumes honestly: say so when acknowledging."),
        "loan_tape"),
    "quality_check": Entry(
        "A data-quality check failed",
        "The loan tape, the suppression logic, duplicates, contact fields or the Genesys config coverage failed.",
        ("Loan tape freshness: ensure current data (below).",
         "Suppression logic: a leak means a suppressed account is on a list for that channel — stop the "
         "upload for that list until the task is fixed and rerun.",
         "Missing or corrupted data: the check's evidence names the list and the count."),
        "loan_tape"),
    "cluster_usage": Entry(
        "The job cluster struggled",
        "The run's job cluster ran out of headroom: memory issues, autoscaling pinned at its maximum, a slow "
        "start, or a run that cost far more than usual. The alert's evidence has the node, the minutes and the "
        "figures against the [cluster] thresholds of console.toml.",
        ("Memory issues: monitor cluster scaling — the Workflow page's Cluster utilization panel shows memory per "
         "node; one hot node is a skewed partition (repartition the task's input), every node high wants a larger "
         "node type or more workers.",
         "Autoscaling pinned at max for most of the run: consider a larger max_workers or node type in "
         "jobs/outbound_lists.job.yml, then `python -m console deploy-job`.",
         "Cluster startup delays: check AWS spot pricing and capacity (the cluster events: spot losses); "
         "first_on_demand or an on-demand fallback shortens the start.",
         "A run costing over twice its median: compare its DBUs and node-minutes with the trend; a retry or a "
         "repair runs tasks twice."),
        "none"),
    "worker_down": Entry(
        "The console's worker is down",
        "No heartbeat from the worker: schedules, reruns and alert delivery are not running.",
        ("Start it: `python -m console worker` (or the service that runs it).",
         "Its log says why it stopped; a second worker on the same state DB is refused by design."),
        "none"),
    "console_error": Entry(
        "An alert rule could not be evaluated",
        "One of the console's alert rules raised an error: the other rules still alert, but this one's "
        "condition is unknown until it evaluates again (its alert then resolves itself).",
        ("The alert names the rule and the error; the log of the process that ran the cycle (usually the "
         "worker) has the traceback, logger console.alerts.",
         "Meanwhile check by hand what that rule watches, on the page its alerts link to.",
         "A bad row in the day's facts is the usual cause: the Reconciliation page shows the stored rows."),
        "none"),
}


def live_evidence(adapters: Any, rule: str, day: dt.date) -> list[str]:
    """The evidence the console can fetch now for an alert of ``rule`` on ``day``, in words."""
    entry = RUNBOOK.get(rule)
    if entry is None or entry.evidence == "none":
        return []
    facts = _cluster_evidence(adapters, day) if rule in ("task_failed", "workflow_target") else []
    return facts + _warehouse_evidence(adapters, entry, day)


def _cluster_evidence(adapters: Any, day: dt.date) -> list[str]:
    """The job cluster's notable events of the day's run, where the engine has clusters (Databricks)."""
    events = getattr(adapters.engine, "cluster_events", None)
    if events is None:
        return []
    try:
        run = adapters.engine.run_for_date(day)
        found = notable(events(run)) if run is not None else []
    except Exception as exc:  # evidence helps; it never fails the page
        return [f"Could not read the cluster events: {type(exc).__name__}: {str(exc)[:200]}"]
    return [f"Cluster: {line}" for line in found] or ["Cluster: no spot loss, resizing or driver problem."]


def _warehouse_evidence(adapters: Any, entry: Entry, day: dt.date) -> list[str]:
    tables = adapters.settings.tables
    try:
        with adapters.warehouse.session() as session:
            if entry.evidence == "loan_tape":
                load = pipeline_data.loan_tape_load(session, tables, day)
                if load is None:
                    return [f"Loan tape: no load for {day} has arrived."]
                loaded = load.get("LOADED_AT")
                when = loaded.astimezone(ET).strftime("%H:%M ET") if isinstance(loaded, dt.datetime) else loaded
                return [f"Loan tape: as of {load.get('AS_OF_DATE')}, loaded {when}, "
                        f"{int(load.get('ACCOUNTS') or 0):,} accounts."]
            if entry.evidence == "import_log":
                finished, lists = pipeline_data.upload_summary(session, tables, day)
                return [f"Import log: {lists} list(s) for {day}"
                        + (f", last finished {finished.astimezone(ET):%H:%M} ET." if finished else ".")]
            if entry.evidence == "results":
                landed, rows = pipeline_data.export_summary(session, tables, day)
                return [f"Results landing table: {rows:,} row(s) for {day}"
                        + (f", newest landed {landed.astimezone(ET):%H:%M} ET." if landed else ".")]
    except Exception as exc:  # the evidence is a help, never a reason for the page to fail
        return [f"Could not fetch the evidence: {type(exc).__name__}: {str(exc)[:200]}"]
    return []
