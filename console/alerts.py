"""Alerts that fire once and say what to do.

``conditions`` turns a business date's status into the conditions that hold now (one per rule and
subject, with a severity, a summary and the evidence). Each rule in ``RULES`` is evaluated on its own: one
that raises is logged and becomes a single ``console_error`` condition naming it, and every other rule
still alerts. ``sync`` reconciles them with the ``alerts``
table in one transaction: a new condition opens an alert and writes its notifications to the outbox; a
condition that got worse (warning → critical) notifies again; an open alert whose condition no longer
holds is resolved by the console. Re-running ``sync`` with the same conditions changes nothing and sends
nothing. People acknowledge (with a note) and resolve (with a reason); both are audited in the same
transaction. Delivery of the outbox is ``console.notify``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy as sa

from console import audit, notify
from console.auth import User, authorise
from console.clock import FrozenClock, at_et, business_date, hhmm
from console.cluster_facts import judged_for_alerts
from console.errors import InvalidRequest, NotFound
from console.facts import alert_rows, stored_reconciliation
from console.model import TaskState
from console.status import day_status
from console.store import alerts, outbox

if TYPE_CHECKING:
    from console.adapters.protocols import Adapters
    from console.verdict import DayStatus

logger = logging.getLogger(__name__)

WARNING, CRITICAL = "warning", "critical"
SEVERITY_RANK = {WARNING: 1, CRITICAL: 2}
OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
CONSOLE_ERROR = "console_error"  # a rule that raised: its subject is the rule's name
RULE_TITLES = {
    "task_failed": "Task failed",
    "workflow_target": "Workflow and the 08:00 target",
    "upload_missing": "Genesys upload missing",
    "export_missing": "Results export missing",
    "worker_down": "Console worker down",
    "reconciliation_mismatch": "Import/export volume mismatch",
    "volume_anomaly": "Volume anomaly",
    "quality_check": "Data quality check failed",
    "cluster_usage": "Job cluster utilization",
    CONSOLE_ERROR: "Alert rule could not be evaluated",
}
PAGES = {"task_failed": "Workflow", "workflow_target": "Timeline", "upload_missing": "Reconciliation",
         "export_missing": "Reconciliation", "worker_down": "",
         "reconciliation_mismatch": "Reconciliation", "volume_anomaly": "Volumes", "quality_check": "Reconciliation",
         "cluster_usage": "Workflow", CONSOLE_ERROR: ""}


@dataclass(frozen=True)
class Condition:
    rule: str
    business_date: dt.date
    subject: str
    severity: str
    summary: str
    evidence: str

    @property
    def key(self) -> str:
        return f"{self.rule}:{self.business_date}:{self.subject}"


# ------------------------------------------------------------------------------------------------ rules
@dataclass(frozen=True)
class RuleInput:
    """What every rule reads: the adapter set (settings, spec), the day's status, its stored reconciliation."""

    adapters: Adapters
    status: DayStatus
    reconciliation: Any  # console.model.Reconciliation, or None when the day has not been reconciled yet

    @property
    def day(self) -> dt.date:
        return self.status.business_date


def task_failed(r: RuleInput) -> list[Condition]:
    """A task that failed for good (or Databricks' "succeeded with failures")."""
    run, found = r.status.run, []
    if run is None:
        return []
    spec = r.adapters.spec
    for t in run.tasks:
        short = spec.task(t.task_key).short_key if t.task_key in spec.keys else t.task_key
        tries = f"after {t.attempt + 1} attempt(s)"
        if t.state == TaskState.FAILED and (run.state.is_terminal or t.life_cycle_state == "TERMINATED"):
            error = (t.error_message or "no error message").splitlines()[0][:300]
            found.append(Condition("task_failed", r.day, short, CRITICAL,
                                   f"{short} failed {tries} at {hhmm(t.end)} ET (run {run.run_id}).",
                                   f"Error: {error}"))
        elif t.result_state == "SUCCESS_WITH_FAILURES":
            found.append(Condition("task_failed", r.day, short, WARNING,
                                   f"{short} succeeded with failures {tries} (run {run.run_id}).",
                                   "Databricks counts this as success; some of the task's work failed."))
    return found


def workflow_target(r: RuleInput) -> list[Condition]:
    """The workflow missed its target, or its ETA says it will."""
    adapters, status, day = r.adapters, r.status, r.day
    target = at_et(day, adapters.settings.milestone("workflow_target").time)
    run, eta, now = status.run, status.eta, status.now
    done = run is not None and run.state == TaskState.SUCCEEDED
    if done and run is not None and run.end is not None and run.end > target:
        return [Condition("workflow_target", day, "08:00", CRITICAL,
                          f"The workflow missed the {hhmm(target)} target: it finished at {hhmm(run.end)} ET.",
                          f"Run {run.run_id} ({run.trigger.lower()}) started {hhmm(run.start)} ET.")]
    if not done and now > target:
        return [Condition("workflow_target", day, "08:00", CRITICAL,
                          f"The workflow missed the {hhmm(target)} target.",
                          f"{run.done_count if run else 0} of {len(adapters.spec.keys)} tasks done at "
                          f"{hhmm(now)} ET" + (f"; expected finish {hhmm(eta.expected_finish)} ET."
                                               if eta and eta.expected_finish else "."))]
    if not done and eta is not None and eta.verdict == "will_miss" and eta.expected_finish:
        path = " → ".join(adapters.spec.task(k).short_key for k in eta.critical_path)
        return [Condition("workflow_target", day, "08:00", WARNING,
                          f"The workflow will miss the {hhmm(target)} target: expected finish "
                          f"{hhmm(eta.expected_finish)} ET.",
                          f"Critical path {path}; at worst {hhmm(eta.pessimistic_finish)} ET. " + " ".join(eta.notes))]
    return []


def upload_missing(r: RuleInput) -> list[Condition]:
    """Nothing in the Genesys import log by the upload's due time."""
    status, day = r.status, r.day
    if status.warehouse_error:
        return []
    due = at_et(day, r.adapters.settings.alerts["upload_due"])
    upload = next((m for m in status.milestones if m.key == "genesys_upload"), None)
    if status.now > due and not status.uploaded and (upload is None or upload.actual is None):
        return [Condition("upload_missing", day, "Genesys import log", CRITICAL,
                          f"No list was uploaded to Genesys by {hhmm(due)} ET.",
                          f"The Genesys import log has no row for {day}.")]
    return []


def export_missing(r: RuleInput) -> list[Condition]:
    """No campaign results landed within the grace period after the export."""
    status, day = r.status, r.day
    if status.warehouse_error:
        return []
    export = next((m for m in status.milestones if m.key == "results_export"), None)
    if export is None:
        return []
    due = export.planned + dt.timedelta(minutes=r.adapters.settings.alerts["export_grace_minutes"])
    if status.now > due and export.actual is None:
        return [Condition("export_missing", day, "campaign results", CRITICAL,
                          f"No campaign results have landed by {hhmm(due)} ET (export at {hhmm(export.planned)} ET).",
                          f"The results landing table has no row for {day}.")]
    return []


def _count(value: Any) -> str:
    """A stage count in words: "none" where the stage has no number (None, NaN or pd.NA)."""
    return "none" if pd.isna(value) else f"{int(value):,}"


def _reconciled(result: Any) -> str:
    return f"reconciled {hhmm(result.at)} ET" + (f" by {result.requested_by}" if result.requested_by else "")


def reconciliation_mismatch(r: RuleInput) -> list[Condition]:
    """Each list × channel whose generated → accepted → exported counts do not match."""
    result = r.reconciliation
    if result is None:
        return []
    when = _reconciled(result)
    return [Condition("reconciliation_mismatch", r.day, f"{row.LIST_NAME}/{row.CHANNEL}", CRITICAL,
                      f"{row.LIST_NAME} ({row.CHANNEL}): {row.REASON}",
                      f"Generated {_count(row.GENERATED)} → accepted {_count(row.ACCEPTED)} → exported "
                      f"{_count(row.EXPORTED)} ({when}).")
            for row in result.mismatches.itertuples()]


def _failed_checks(r: RuleInput, rule: str, severity: str, volume: bool) -> list[Condition]:
    """The failed quality checks of the stored reconciliation: the volume check, or every other one."""
    result = r.reconciliation
    if result is None:
        return []
    when = _reconciled(result)
    return [Condition(rule, r.day, check.title, severity, f"{check.title}: failed.", f"{check.evidence} ({when})")
            for check in result.checks if check.status == "fail" and (check.name == "record_counts") == volume]


def volume_anomaly(r: RuleInput) -> list[Condition]:
    """The record-count check failed: a list out of its same-weekday range."""
    return _failed_checks(r, "volume_anomaly", WARNING, volume=True)


def quality_check(r: RuleInput) -> list[Condition]:
    """Every other failed data-quality check (tape, suppressions, duplicates, contacts, coverage, results)."""
    return _failed_checks(r, "quality_check", CRITICAL, volume=False)


def worker_down(r: RuleInput) -> list[Condition]:
    """The worker has no fresh heartbeat (judged for the current business date only)."""
    status = r.status
    if status.worker is None or status.worker.alive:
        return []
    if status.business_date != business_date(status.now, r.adapters.settings.day_rolls_at):
        return []
    return [Condition("worker_down", r.day, "worker", CRITICAL, "The console's worker is not running.",
                      status.worker.message)]


def cluster_usage(r: RuleInput) -> list[Condition]:
    """The finished run's job cluster: memory, autoscaling pinned at max, setup time, cost (``[cluster]``)."""
    run = r.status.run
    if run is None or not run.state.is_terminal:
        return []
    judged = judged_for_alerts(r.adapters, run, r.day)
    if judged is None:
        return []
    return [Condition("cluster_usage", r.day, check.name.removeprefix("cluster_"), WARNING,
                      f"Run {run.run_id}: {check.title.lower()}: failed.", check.evidence)
            for check in judged.failed]


# Every rule by name, in the order its conditions are listed (and notified). Each is evaluated on its own:
# one that raises becomes a console_error condition and the others still run.
RULES: dict[str, Callable[[RuleInput], list[Condition]]] = {
    "task_failed": task_failed,
    "workflow_target": workflow_target,
    "upload_missing": upload_missing,
    "export_missing": export_missing,
    "reconciliation_mismatch": reconciliation_mismatch,
    "volume_anomaly": volume_anomaly,
    "quality_check": quality_check,
    "cluster_usage": cluster_usage,
    "worker_down": worker_down,
}


def conditions(adapters: Adapters, status: DayStatus, reconciliation: Any = None,
               rules: set[str] | None = None) -> list[Condition]:
    """The alert conditions that hold for the status's business date at its ``now``.

    ``reconciliation`` is the day's stored ``console.reconcile.Reconciliation`` (mismatches, the quality
    checks and the volume check), or None when the day has not been reconciled yet. With ``rules``, only
    those rules are evaluated. A rule that raises is logged and gives one ``console_error`` condition
    naming it; the other rules' conditions are unaffected.
    """
    off = set(adapters.settings.alerts["disabled_rules"])
    given = RuleInput(adapters, status, reconciliation)
    found: list[Condition] = []
    for name, rule in RULES.items():
        if name in off or (rules is not None and name not in rules):
            continue
        try:
            found += rule(given)
        except Exception as exc:  # one broken rule must not silence the others
            logger.exception("alert rule %s failed for %s", name, status.business_date)
            if CONSOLE_ERROR not in off:
                found.append(Condition(
                    CONSOLE_ERROR, status.business_date, name, CRITICAL,
                    f"The alert rule {name} could not be evaluated: {type(exc).__name__}: {str(exc)[:300]}",
                    "Every other alert rule still ran; this one's alerts are unknown (and left as they were) "
                    "until it evaluates again. The console's log has the traceback."))
    return found


# ------------------------------------------------------------------------------------------------ lifecycle
def sync(adapters: Adapters, day: dt.date, found: list[Condition], now: dt.datetime,
         rules: set[str] | None = None) -> dict[str, int]:
    """Open, escalate, reopen and resolve the alerts of ``day`` so they match ``found``; notify in the outbox.

    With ``rules``, only alerts of those rules were evaluated: the others are left as they are. A
    ``console_error`` alert belongs to the rule it names: it resolves when that rule was evaluated without
    raising. The alerts of a rule that raised (a ``console_error`` in ``found``) are left as they are.
    """
    counts = {"opened": 0, "escalated": 0, "resolved": 0, "reopened": 0}
    wanted = {c.key: c for c in found}
    raised = {c.subject for c in found if c.rule == CONSOLE_ERROR}
    with adapters.store.begin() as conn:
        existing = {r.key: r for r in conn.execute(sa.select(alerts).where(alerts.c.business_date == day))}
        for key, c in wanted.items():
            row = existing.get(key)
            values = dict(severity=c.severity, summary=c.summary, evidence=c.evidence, updated_at=now)
            if row is None:
                alert_id = conn.execute(alerts.insert().values(
                    key=key, rule=c.rule, business_date=day, subject=c.subject, state=OPEN,
                    notified_severity=c.severity, page=PAGES.get(c.rule, ""), opened_at=now, **values)
                ).inserted_primary_key[0]
                _notify(adapters, conn, alert_id, c, "opened", now)
                counts["opened"] += 1
            elif row.state == RESOLVED:
                conn.execute(alerts.update().where(alerts.c.id == row.id).values(
                    state=OPEN, notified_severity=c.severity, resolved_by=None, resolved_at=None, resolution="",
                    **values))
                _notify(adapters, conn, row.id, c, f"reopened-{row.updated_at.timestamp():.0f}", now)
                counts["reopened"] += 1
            elif SEVERITY_RANK[c.severity] > SEVERITY_RANK.get(row.notified_severity or WARNING, 1):
                conn.execute(alerts.update().where(alerts.c.id == row.id).values(notified_severity=c.severity,
                                                                                 **values))
                _notify(adapters, conn, row.id, c, f"escalated-{c.severity}", now)
                counts["escalated"] += 1
            elif (row.summary, row.evidence) != (c.summary, c.evidence):
                conn.execute(alerts.update().where(alerts.c.id == row.id).values(**values))  # fresher evidence
        for key, row in existing.items():
            if key not in wanted and row.state != RESOLVED and _evaluated(row, rules, raised):
                conn.execute(alerts.update().where(alerts.c.id == row.id).values(
                    state=RESOLVED, resolved_by="console", resolved_at=now, updated_at=now,
                    resolution="The condition cleared."))
                counts["resolved"] += 1
    return counts


def _evaluated(row: Any, rules: set[str] | None, raised: set[str]) -> bool:
    """Whether the rule behind an alert row was evaluated (a ``console_error`` row: the rule it names)."""
    rule = row.subject if row.rule == CONSOLE_ERROR else row.rule
    return (rules is None or rule in rules or row.rule in rules) and rule not in raised


def _notify(adapters: Adapters, conn: Any, alert_id: int, c: Condition, occasion: str, now: dt.datetime) -> None:
    """Write the notifications of one alert event to the outbox (delivered later by the worker)."""
    settings = adapters.settings.alerts
    recipients = settings["rule_recipients"].get(c.rule, settings["recipients"])
    link = _link(adapters, c)
    word = {"opened": "", "escalated-critical": "[now critical] "}.get(occasion, "")
    subject = f"[{c.severity.upper()}] {word}{RULE_TITLES[c.rule]}: {c.subject} · {c.business_date}"
    body = (f"{c.summary}\n\nBusiness date: {c.business_date}\nEvidence: {c.evidence}\n"
            f"Runbook and live evidence: {link}\n\nThis alert is sent once per condition; it is sent again only if "
            "it gets worse. Acknowledge it on the Alerts page.\n")
    if adapters.mode == "embedded":
        body += "\n(Demo data: the embedded stack with a synthetic portfolio.)\n"
    channels = []
    if settings["smtp"]["host"] and recipients:
        channels.append(("email", ",".join(recipients)))
    if settings["slack"]["enabled"]:
        channels.append(("slack", ""))
    for channel, to in channels:
        _insert_once(conn, dedupe=f"{c.key}:{occasion}:{channel}", channel=channel, recipients=to, subject=subject,
                     body=body, alert_id=alert_id, created_at=now, attempts=0, next_attempt_at=now, last_error="")


def _insert_once(conn: Any, **values: Any) -> bool:
    """Insert an outbox row unless one with the same ``dedupe`` exists (any database)."""
    if conn.execute(sa.select(outbox.c.id).where(outbox.c.dedupe == values["dedupe"])).first() is not None:
        return False
    try:
        with conn.begin_nested():
            conn.execute(outbox.insert().values(**values))
    except sa.exc.IntegrityError:  # written by another process a moment ago
        return False
    return True


def _link(adapters: Adapters, c: Condition) -> str:
    base = adapters.settings.console_url.rstrip("/")
    return f"{base}/Alerts?date={c.business_date}&alert={c.key}"


def acknowledge(adapters: Adapters, who: User, alert_id: int, note: str = "", now: dt.datetime | None = None) -> None:
    _change(adapters, who, alert_id, "acknowledge", note, now)


def resolve(adapters: Adapters, who: User, alert_id: int, reason: str, now: dt.datetime | None = None) -> None:
    if not (reason or "").strip():
        raise InvalidRequest("Resolving an alert by hand needs a reason.", "Say what was done or why it is fine.")
    _change(adapters, who, alert_id, "resolve", reason, now)


def _change(adapters: Adapters, who: User, alert_id: int, action: str, text: str, now: dt.datetime | None) -> None:
    authorise(who, "acknowledge")
    now = now or dt.datetime.now(dt.UTC)
    text = (text or "").strip()[:500]
    with adapters.store.begin() as conn:
        row = conn.execute(sa.select(alerts).where(alerts.c.id == alert_id)).first()
        if row is None:
            raise NotFound(f"There is no alert {alert_id}.")
        if row.state == RESOLVED:
            raise InvalidRequest(f"Alert {alert_id} is already resolved ({row.resolved_by}).")
        if action == "acknowledge":
            if row.state == ACKNOWLEDGED:
                raise InvalidRequest(f"Alert {alert_id} was already acknowledged by {row.acknowledged_by}.")
            changed = conn.execute(alerts.update().where(alerts.c.id == alert_id, alerts.c.state == OPEN).values(
                state=ACKNOWLEDGED, acknowledged_by=who.name, acknowledged_at=now, note=text, updated_at=now))
        else:
            changed = conn.execute(alerts.update().where(alerts.c.id == alert_id, alerts.c.state != RESOLVED)
                                   .values(state=RESOLVED, resolved_by=who.name, resolved_at=now, resolution=text,
                                           updated_at=now))
        won = changed.rowcount == 1
        if won:
            audit.record(adapters.store, who.name, who.role, f"alert.{action}", "accepted",
                         business_date=row.business_date, target=row.key, conn=conn, detail={"note": text})
    if not won:  # someone else changed it between our read and our write: theirs stands, ours is refused
        with adapters.store.connect() as conn:
            now_row = conn.execute(sa.select(alerts).where(alerts.c.id == alert_id)).first()
        by = (now_row.resolved_by or now_row.acknowledged_by) if now_row is not None else "someone else"
        audit.record(adapters.store, who.name, who.role, f"alert.{action}", "refused", business_date=row.business_date,
                     target=row.key, detail={"note": text, "message": f"changed at the same moment by {by}"})
        raise InvalidRequest(f"Alert {alert_id} was {now_row.state if now_row is not None else 'changed'} by {by} "
                             "at the same moment.", "Reload the Alerts page to see who did what.")


def digest(adapters: Adapters, day: dt.date, now: dt.datetime) -> bool:
    """Queue the day's digest once (returns whether it was queued now)."""
    settings = adapters.settings.alerts
    if not settings["digest"] or not settings["smtp"]["host"] or not settings["recipients"]:
        return False
    rows = alert_rows(adapters, day, day)
    if rows:
        lines = [f"- [{r['severity']}] {RULE_TITLES.get(r['rule'], r['rule'])}: {r['summary']} ({r['state']}"
                 + (f", acknowledged by {r['acknowledged_by']}" if r["acknowledged_by"] else "") + ")" for r in rows]
        body = f"{len(rows)} alert(s) for {day}:\n\n" + "\n".join(lines)
    else:
        body = f"No alerts for {day}: a clean day."
    body += f"\n\nAlerts page: {adapters.settings.console_url.rstrip('/')}/Alerts?date={day}\n"
    with adapters.store.begin() as conn:
        return _insert_once(conn, dedupe=f"digest:{day}:email", channel="email",
                            recipients=",".join(settings["recipients"]),
                            subject=f"Outbound lists: alert digest for {day} ({len(rows)} alert(s))", body=body,
                            alert_id=None, created_at=now, attempts=0, next_attempt_at=now, last_error="")


def to_json(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"rule": r["rule"], "severity": r["severity"], "state": r["state"], "subject": r["subject"],
             "summary": r["summary"], "business_date": r["business_date"].isoformat()} for r in rows]


def run_cycle(adapters: Adapters, now: dt.datetime | None = None, day: dt.date | None = None,
              status: DayStatus | None = None, only: set[str] | None = None, deliver: bool = True) -> dict[str, int]:
    """One evaluation: the day's conditions → alerts and outbox, the digest when due, then (``deliver``)
    delivery.

    The worker runs it every few minutes and after each milestone; the UI runs it for ``worker_down`` only
    (``only``), since a worker that is down cannot report itself, and delivers off the page's thread.
    """

    now = now or dt.datetime.now(dt.UTC)
    day = day or business_date(now, adapters.settings.day_rolls_at)
    status = status or day_status(adapters, day, FrozenClock(now))
    found = conditions(adapters, status, stored_reconciliation(adapters, day), rules=only)
    counts = sync(adapters, day, found, now, rules=only)
    if only is None and now >= at_et(day, adapters.settings.alerts["digest_time"]):
        counts["digest"] = int(digest(adapters, day, now))
    if deliver:
        counts.update(notify.deliver(adapters, now))
    return counts
