"""The daily monitoring checklist, judged: what the console verifies itself and each item's state.

Each item of ``[[checklist]]`` (settings) may name an automatic check. A check looks at the day's status
(run, lists, import log, results, Genesys config) and returns pass, fail or pending with its evidence in
words. People act on items: tick (a manual item, or an automatic one still pending), confirm an automatic
result, override an automatic fail (a reason is required), un-tick (a reason is required) or mark "not
applicable" (a reason is required). Each action is an event in ``checklist_events`` written in the same
transaction as its audit row; an item's state is its latest event, else its automatic result, else
pending/overdue by its due time. Pure: people's actions are ``console.checklist_actions``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from console import volumes
from console.clock import ET, at_et, hhmm
from console.facts import Event
from console.model import TaskState
from console.quality import in_range_words, no_baseline_words, out_of_range_words
from console.text import csv_text
from console.workflow import short_key

if TYPE_CHECKING:
    from console.settings import ChecklistItem
    from console.verdict import DayStatus

PASS, FAIL, PENDING = "pass", "fail", "pending"
AUTO_PASS, AUTO_FAIL, TICKED, OVERDUE, NOT_APPLICABLE = "auto-pass", "auto-fail", "ticked", "overdue", "n/a"
DONE_STATES = {AUTO_PASS, TICKED, NOT_APPLICABLE}
DAY_ITEM = "__day__"  # the sign-off's events
ACTIONS = ("tick", "confirm", "override", "untick", "na", "sign_off")
MAX_NOTE = 500


@dataclass(frozen=True)
class AutoResult:
    outcome: str  # pass | fail | pending
    evidence: str


@dataclass
class ItemState:
    item: ChecklistItem
    state: str  # auto-pass | auto-fail | ticked | overdue | pending | n/a
    evidence: str  # in words: the automatic evidence, or who did what
    auto: AutoResult | None
    last: Event | None = None

    @property
    def done(self) -> bool:
        return self.state in DONE_STATES


# ------------------------------------------------------------------------------------------------ checks
def _milestone(status: DayStatus, key: str) -> Any:
    return next((m for m in status.milestones if m.key == key), None)


def check_workflow_succeeded(status: DayStatus) -> AutoResult:
    run = status.run
    if run is None:
        return AutoResult(PENDING, f"No workflow run for {status.business_date} yet.")
    if run.state == TaskState.SUCCEEDED:
        return AutoResult(PASS, f"BI-2482 succeeded at {hhmm(run.end)} ET, run {run.run_id}.")
    if run.state.is_terminal:
        return AutoResult(FAIL, f"Run {run.run_id} {run.state.label} at {hhmm(run.end)} ET"
                                + (f": {run.state_message}." if run.state_message else "."))
    return AutoResult(PENDING, f"Run {run.run_id} is {run.state.label}: {run.done_count} of {len(run.tasks)} "
                               "tasks done.")


def check_no_task_failures(status: DayStatus) -> AutoResult:
    run = status.run
    if run is None:
        return AutoResult(PENDING, "No run yet.")
    failed = [t for t in run.tasks if t.state == TaskState.FAILED]
    if failed:
        return AutoResult(FAIL, "Failed: " + ", ".join(
            f"{short_key(t.task_key)} ({(t.error_message or 'no message').splitlines()[0][:120]})" for t in failed))
    retried = sorted({short_key(a.task_key) for a in run.attempts if a.state == TaskState.FAILED})
    if not run.state.is_terminal:
        return AutoResult(PENDING, f"No task has failed so far ({run.done_count} of {len(run.tasks)} done).")
    if retried:
        return AutoResult(PASS, f"No task failed in the end; recovered by a retry or repair: {', '.join(retried)}.")
    return AutoResult(PASS, f"No failed task attempt in run {run.run_id}.")


def check_list_counts(status: DayStatus) -> AutoResult:
    """Each list × channel against its same-weekday band: the volume anomalies' judgment and words."""
    if status.warehouse_error:
        return AutoResult(PENDING, f"Cannot read the lists: {status.warehouse_error[:200]}")
    if status.lists.empty:
        return AutoResult(PENDING, "No lists generated for this date yet.")
    today = status.lists.groupby(["LIST_NAME", "CHANNEL"], as_index=False)["RECORDS"].sum()
    lists = f"{len(today)} lists, {int(today['RECORDS'].sum()):,} records"
    history = status.reads.volume_history
    if history is None:
        return AutoResult(PASS, f"{lists}; no daily volume history was read to compare them with.")
    found = volumes.anomalies(history.frame, history.checks, status.business_date, today)
    flagged = {(b.list_name, b.channel) for b in found if b.flagged}
    empty = [f"{name} ({channel}) is empty." for name, channel, records in today.itertuples(index=False)
             if records <= 0 and (name, channel) not in flagged]  # a new list with no history yet
    if flagged or empty:
        return AutoResult(FAIL, " ".join(([out_of_range_words(found)] if flagged else []) + empty))
    if all(b.status == "not_enough_history" for b in found):
        return AutoResult(PASS, f"{lists}. {no_baseline_words(found)}")
    return AutoResult(PASS, f"{lists}. {in_range_words(found)}")


def check_genesys_upload(status: DayStatus) -> AutoResult:
    m = _milestone(status, "genesys_upload")
    if status.warehouse_error:
        return AutoResult(PENDING, f"Cannot read the import log: {status.warehouse_error[:200]}")
    if status.uploaded:
        return AutoResult(PASS, f"{len(status.uploaded)} lists in the Genesys import log, finished "
                                f"{hhmm(m.actual if m else None)} ET; {sum(status.uploaded.values()):,} records "
                                "accepted.")
    if m is not None and status.now > m.planned + dt.timedelta(minutes=30):
        return AutoResult(FAIL, f"Nothing in the Genesys import log for {status.business_date} (upload due "
                                f"{hhmm(m.planned)} ET).")
    return AutoResult(PENDING, "The upload has not landed in the import log yet.")


def check_campaign_activation(status: DayStatus) -> AutoResult:
    if status.warehouse_error:
        return AutoResult(PENDING, f"Cannot read the Genesys config: {status.warehouse_error[:200]}")
    if not status.uploaded:
        return AutoResult(PENDING, "Waits for the Genesys upload.")
    active = sorted({name for name, _ in status.active_lists})
    missing = [name for name in active if status.uploaded.get(name, 0) <= 0]
    if missing:
        return AutoResult(FAIL, f"{len(missing)} of {len(active)} active Genesys lists have no accepted records: "
                                f"{', '.join(missing)}.")
    return AutoResult(PASS, f"All {len(active)} active lists of the Genesys list-automation config were uploaded.")


def check_results_export(status: DayStatus) -> AutoResult:
    m = _milestone(status, "results_export")
    if m is None:
        return AutoResult(PENDING, "The results-export milestone is not configured.")
    if m.actual is not None:
        return AutoResult(PASS, f"{m.detail} Landed {hhmm(m.actual)} ET.")
    if m.status == "late":
        return AutoResult(FAIL, m.detail)
    return AutoResult(PENDING, m.detail)


def check_volume_matching(status: DayStatus) -> AutoResult:
    """The day's stored reconciliation: generated → accepted by Genesys → exported, per list and channel."""
    result = status.reconciliation
    if result is None or result.run_id is None:
        return AutoResult(PENDING, "Not reconciled yet (the worker reconciles at 09:05 and 23:00; the "
                                   "Reconciliation page can run it now).")
    when = f"reconciled {hhmm(result.at)} ET"
    mismatches = result.mismatches
    if len(mismatches):
        names = "; ".join(f"{r.LIST_NAME}/{r.CHANNEL}: {r.REASON}" for r in mismatches.itertuples())
        return AutoResult(FAIL, f"{len(mismatches)} of {result.pairs} lists do not match ({when}): {names}.")
    pending = int((result.rows["STATUS"] == "pending").sum()) if len(result.rows) else 0
    if pending:
        return AutoResult(PENDING, f"{result.matched} of {result.pairs} lists match so far; {pending} wait for the "
                                   f"export ({when}).")
    return AutoResult(PASS, f"All {result.pairs} Genesys lists match: generated, accepted and exported ({when}).")


def check_alerts_reviewed(status: DayStatus) -> AutoResult:
    """Not a pass by itself: a person reviews; the evidence lists the day's open alerts."""
    if not status.open_alerts:
        return AutoResult(PENDING, "No open alert for this date; review the anomalies on the Volumes page.")
    names = "; ".join(f"[{a['severity']}] {a['summary']}" for a in status.open_alerts[:5])
    return AutoResult(PENDING, f"{len(status.open_alerts)} open alert(s): {names}")


CHECKS: dict[str, Callable[[DayStatus], AutoResult]] = {
    "workflow_succeeded": check_workflow_succeeded,
    "no_task_failures": check_no_task_failures,
    "list_counts": check_list_counts,
    "genesys_upload": check_genesys_upload,
    "campaign_activation": check_campaign_activation,
    "results_export": check_results_export,
    "volume_matching": check_volume_matching,
    "open_alerts": check_alerts_reviewed,
}


# ------------------------------------------------------------------------------------------------ state
def _latest(events: list[Event]) -> dict[str, Event]:
    out: dict[str, Event] = {}
    for e in events:
        if e.item_key not in out or e.seq > out[e.item_key].seq:
            out[e.item_key] = e
    return out


def evaluate(items: tuple[ChecklistItem, ...], status: DayStatus, events: list[Event]) -> list[ItemState]:
    """Every item's state at ``status.now``."""
    latest = _latest(events)
    out = []
    for item in items:
        auto = CHECKS[item.check](status) if item.check else None
        last = latest.get(item.key)
        if last is not None and last.action in ("tick", "confirm", "override"):
            words = {"tick": "Ticked", "confirm": "Confirmed", "override": "Overridden (automatic fail)"}
            note = f": {last.note}" if last.note else ""
            out.append(ItemState(item, TICKED, f"{words[last.action]} by {last.actor} at {hhmm(last.at)} ET{note}",
                                 auto, last))
            continue
        if last is not None and last.action == "na":
            out.append(ItemState(item, NOT_APPLICABLE, f"Not applicable ({last.actor}, {hhmm(last.at)} ET): "
                                                        f"{last.note}", auto, last))
            continue
        if auto is not None and auto.outcome == PASS:
            out.append(ItemState(item, AUTO_PASS, auto.evidence, auto, last))
        elif auto is not None and auto.outcome == FAIL:
            out.append(ItemState(item, AUTO_FAIL, auto.evidence, auto, last))
        else:
            due = at_et(status.business_date, item.due)
            state = OVERDUE if status.now > due else "pending"
            why = auto.evidence if auto else ("A person checks this" + (f": {item.link}" if item.link else "."))
            out.append(ItemState(item, state, why, auto, last))
    return out


def signed_off(events: list[Event]) -> Event | None:
    day = [e for e in events if e.item_key == DAY_ITEM]
    last = max(day, key=lambda e: e.seq) if day else None
    return last if last is not None and last.action == "sign_off" else None


def group_overdue(states: list[ItemState], status: DayStatus) -> dict[str, bool]:
    """Per group: past its due time with an item not done."""
    out: dict[str, bool] = {}
    for s in states:
        late = status.now > at_et(status.business_date, s.item.due) and not s.done
        out[s.item.group] = out.get(s.item.group, False) or late
    return out


# ------------------------------------------------------------------------------------------------ day report
@dataclass
class DayReport:
    markdown: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def csv(self) -> str:
        return csv_text(self.rows, ["section", "name", "state", "time_et", "by", "detail"])


def day_report(status: DayStatus, states: list[ItemState], events: list[Event], spec: Any,
               alerts: list[dict[str, Any]] | None = None) -> DayReport:
    """The shift handoff: what ran and when, volumes, the checklist (automatic or by whom), the day's alerts
    (``alerts``: the rows of ``console.facts.alert_rows``; None when they could not be read), the sign-off."""
    run, day = status.run, status.business_date
    rows: list[dict[str, Any]] = []
    lines = [f"# Outbound lists: day report for {day:%A %d %B %Y}", ""]
    if status.mode == "embedded":
        lines += ["_Demo data: the embedded stack with a synthetic portfolio generated by code._", ""]
    lines += [f"**Verdict: {status.overall.words}.** {status.overall.reason}", "", "## Timeline (ET)", "",
              "| Milestone | Planned | Actual | State | Detail |", "|---|---|---|---|---|"]
    for m in status.milestones:
        lines.append(f"| {m.name} | {hhmm(m.planned)} | {hhmm(m.actual)} | {m.status.replace('_', ' ')} | "
                     f"{_cell(m.detail)} |")
        rows.append({"section": "milestone", "name": m.name, "state": m.status, "time_et": hhmm(m.actual),
                     "by": "", "detail": m.detail})
    lines += ["", "## Workflow", ""]
    if run is None:
        lines.append("No run for this date.")
    else:
        lines.append(f"Run {run.run_id} ({run.trigger.lower()}, by {run.requested_by}): {run.state.label}, "
                     f"{hhmm(run.start)}–{hhmm(run.end)} ET, {run.done_count} of {len(run.tasks)} tasks succeeded"
                     + (f", {len(run.repairs)} repair(s)" if run.repairs else "") + ".")
        lines += ["", "| Task | State | Start | End | Tries |", "|---|---|---|---|---|"]
        for t in run.tasks:
            short = spec.task(t.task_key).short_key if t.task_key in spec.keys else t.task_key
            lines.append(f"| {short} | {t.state.label} | {hhmm(t.start)} | {hhmm(t.end)} | "
                         f"{t.attempt + 1 if t.start else '—'} |")
            rows.append({"section": "task", "name": short, "state": t.state.value, "time_et": hhmm(t.end), "by": "",
                         "detail": t.error_message or ""})
    lines += ["", "## Volumes", ""]
    if status.lists.empty:
        lines.append(status.warehouse_error or "No lists generated.")
    else:
        lines += ["| List | Channel | Destination | Records |", "|---|---|---|---:|"]
        for r in status.lists.itertuples():
            lines.append(f"| {r.LIST_NAME} | {r.CHANNEL} | {r.DESTINATION} | {int(r.RECORDS):,} |")
            rows.append({"section": "volume", "name": f"{r.LIST_NAME}/{r.CHANNEL}", "state": "",
                         "time_et": "", "by": "", "detail": int(r.RECORDS)})
        lines.append(f"\n{len(status.lists)} lists, {int(status.lists['RECORDS'].sum()):,} records.")
    lines += ["", "## Checklist", "", "| Due | Item | State | How | Detail |", "|---|---|---|---|---|"]
    for s in states:
        how = ("automatic" if s.state in (AUTO_PASS, AUTO_FAIL) else
               f"{s.last.actor}" if s.last is not None and s.state in (TICKED, NOT_APPLICABLE) else "—")
        lines.append(f"| {s.item.due_label} | {s.item.text} | {s.state} | {how} | {_cell(s.evidence)} |")
        rows.append({"section": "checklist", "name": s.item.text, "state": s.state,
                     "time_et": hhmm(s.last.at) if s.last else "", "by": how, "detail": s.evidence})
    done = sum(s.done for s in states)
    lines += ["", f"{done} of {len(states)} items done."]
    lines += ["", "## Alerts", ""]
    if alerts is None:
        lines.append("The alerts could not be read; see the Alerts page.")
    elif not alerts:
        lines.append("No alerts for this date.")
    else:
        lines += ["| Opened | Severity | Alert | State | By |", "|---|---|---|---|---|"]
        for a in sorted(alerts, key=lambda a: a["opened_at"]):
            by = a.get("resolved_by") or a.get("acknowledged_by") or ""
            lines.append(f"| {hhmm(a['opened_at'])} | {a['severity']} | {_cell(a['summary'])} | {a['state']} | "
                         f"{_cell(by)} |")
            rows.append({"section": "alert", "name": a["subject"], "state": a["state"],
                         "time_et": hhmm(a["opened_at"]), "by": by, "detail": a["summary"]})
    lines += ["", "## Sign-off", ""]
    signed = signed_off(events)
    if signed:
        lines.append(f"Signed off by {signed.actor} ({signed.role}) at {hhmm(signed.at)} ET"
                     + (f": {signed.note}" if signed.note else "."))
        rows.append({"section": "sign_off", "name": "day", "state": "signed", "time_et": hhmm(signed.at),
                     "by": signed.actor, "detail": signed.note})
    else:
        lines.append("Not signed off.")
    lines += ["", f"_Generated {status.now.astimezone(ET):%Y-%m-%d %H:%M} {status.now.astimezone(ET).tzname()}._"]
    return DayReport("\n".join(lines) + "\n", rows)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell (no pipes, no line breaks, no HTML)."""
    return (text or "").replace("|", "/").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")
