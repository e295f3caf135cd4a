"""Alerts that fire once and say what to do.

``conditions`` turns a business date's status into the conditions that hold now (one per rule and
subject, with a severity, a summary and the evidence). ``sync`` reconciles them with the ``alerts``
table in one transaction: a new condition opens an alert and writes its notifications to the outbox; a
condition that got worse (warning → critical) notifies again; an open alert whose condition no longer
holds is resolved by the console. Re-running ``sync`` with the same conditions changes nothing and sends
nothing. People acknowledge (with a note) and resolve (with a reason); both are audited in the same
transaction. Delivery of the outbox is ``console.notify``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy as sa

from console import audit, notify
from console.auth import User, authorise
from console.clock import FrozenClock, at_et, business_date, hhmm
from console.errors import InvalidRequest, NotFound
from console.facts import alert_rows, stored_reconciliation
from console.model import TaskState
from console.status import day_status
from console.store import alerts, outbox

if TYPE_CHECKING:
    from console.adapters.protocols import Adapters
    from console.verdict import DayStatus

WARNING, CRITICAL = "warning", "critical"
SEVERITY_RANK = {WARNING: 1, CRITICAL: 2}
OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
RULE_TITLES = {
    "task_failed": "Task failed",
    "workflow_target": "Workflow and the 08:00 target",
    "upload_missing": "Genesys upload missing",
    "export_missing": "Results export missing",
    "worker_down": "Console worker down",
    "reconciliation_mismatch": "Import/export volume mismatch",
    "volume_anomaly": "Volume anomaly",
    "quality_check": "Data quality check failed",
}
PAGES = {"task_failed": "Workflow", "workflow_target": "Timeline", "upload_missing": "Reconciliation",
         "export_missing": "Reconciliation", "worker_down": "",
         "reconciliation_mismatch": "Reconciliation", "volume_anomaly": "Volumes", "quality_check": "Reconciliation"}


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
def conditions(adapters: Adapters, status: DayStatus, reconciliation: Any = None) -> list[Condition]:
    """The alert conditions that hold for the status's business date at its ``now``.

    ``reconciliation`` is the day's stored ``console.reconcile.Reconciliation`` (mismatches, the quality
    checks and the volume check), or None when the day has not been reconciled yet.
    """
    settings, day, now = adapters.settings, status.business_date, status.now
    off = set(settings.alerts["disabled_rules"])
    found: list[Condition] = []
    run = status.run

    if "task_failed" not in off and run is not None:
        for t in run.tasks:
            short = adapters.spec.task(t.task_key).short_key if t.task_key in adapters.spec.keys else t.task_key
            tries = f"after {t.attempt + 1} attempt(s)"
            if t.state == TaskState.FAILED and (run.state.is_terminal or t.life_cycle_state == "TERMINATED"):
                error = (t.error_message or "no error message").splitlines()[0][:300]
                found.append(Condition("task_failed", day, short, CRITICAL,
                                       f"{short} failed {tries} at {hhmm(t.end)} ET (run {run.run_id}).",
                                       f"Error: {error}"))
            elif t.result_state == "SUCCESS_WITH_FAILURES":
                found.append(Condition("task_failed", day, short, WARNING,
                                       f"{short} succeeded with failures {tries} (run {run.run_id}).",
                                       "Databricks counts this as success; some of the task's work failed."))

    if "workflow_target" not in off:
        target = at_et(day, settings.milestone("workflow_target").time)
        done = run is not None and run.state == TaskState.SUCCEEDED
        eta = status.eta
        if done and run is not None and run.end is not None and run.end > target:
            found.append(Condition("workflow_target", day, "08:00", CRITICAL,
                                   f"The workflow missed the {hhmm(target)} target: it finished at {hhmm(run.end)} ET.",
                                   f"Run {run.run_id} ({run.trigger.lower()}) started {hhmm(run.start)} ET."))
        elif not done and now > target:
            found.append(Condition("workflow_target", day, "08:00", CRITICAL,
                                   f"The workflow missed the {hhmm(target)} target.",
                                   f"{run.done_count if run else 0} of {len(adapters.spec.keys)} tasks done at "
                                   f"{hhmm(now)} ET" + (f"; expected finish {hhmm(eta.expected_finish)} ET."
                                                       if eta and eta.expected_finish else ".")))
        elif not done and eta is not None and eta.verdict == "will_miss" and eta.expected_finish:
            path = " → ".join(adapters.spec.task(k).short_key for k in eta.critical_path)
            found.append(Condition("workflow_target", day, "08:00", WARNING,
                                   f"The workflow will miss the {hhmm(target)} target: expected finish "
                                   f"{hhmm(eta.expected_finish)} ET.",
                                   f"Critical path {path}; at worst {hhmm(eta.pessimistic_finish)} ET. "
                                   + " ".join(eta.notes)))

    if "upload_missing" not in off and not status.warehouse_error:
        due = at_et(day, settings.alerts["upload_due"])
        upload = next((m for m in status.milestones if m.key == "genesys_upload"), None)
        if now > due and not status.uploaded and (upload is None or upload.actual is None):
            found.append(Condition("upload_missing", day, "Genesys import log", CRITICAL,
                                   f"No list was uploaded to Genesys by {hhmm(due)} ET.",
                                   f"The Genesys import log has no row for {day}."))

    if "export_missing" not in off and not status.warehouse_error:
        export = next((m for m in status.milestones if m.key == "results_export"), None)
        if export is not None:
            due = export.planned + dt.timedelta(minutes=settings.alerts["export_grace_minutes"])
            if now > due and export.actual is None:
                found.append(Condition("export_missing", day, "campaign results", CRITICAL,
                                       f"No campaign results have landed by {hhmm(due)} ET "
                                       f"(export at {hhmm(export.planned)} ET).",
                                       f"The results landing table has no row for {day}."))

    if reconciliation is not None:
        found += _reconciliation_conditions(off, day, reconciliation)

    if "worker_down" not in off and status.worker is not None and not status.worker.alive \
            and status.business_date == business_date(now, settings.day_rolls_at):
        found.append(Condition("worker_down", day, "worker", CRITICAL, "The console's worker is not running.",
                               status.worker.message))
    return found


def _reconciliation_conditions(off: set[str], day: dt.date, result: Any) -> list[Condition]:
    """Mismatches per list and channel, the volume check, and every other failed quality check."""
    found: list[Condition] = []
    when = f"reconciled {hhmm(result.at)} ET" + (f" by {result.requested_by}" if result.requested_by else "")
    if "reconciliation_mismatch" not in off:
        for r in result.mismatches.itertuples():
            found.append(Condition("reconciliation_mismatch", day, f"{r.LIST_NAME}/{r.CHANNEL}", CRITICAL,
                                   f"{r.LIST_NAME} ({r.CHANNEL}): {r.REASON}",
                                   f"Generated {_count(r.GENERATED)} → accepted {_count(r.ACCEPTED)} → exported "
                                   f"{_count(r.EXPORTED)} ({when})."))
    for check in result.checks:
        if check.status != "fail":
            continue
        rule = "volume_anomaly" if check.name == "record_counts" else "quality_check"
        if rule in off:
            continue
        found.append(Condition(rule, day, check.title, CRITICAL if rule == "quality_check" else WARNING,
                               f"{check.title}: failed.", f"{check.evidence} ({when})"))
    return found


def _count(value: Any) -> str:
    """A stage count in words: "none" where the stage has no number (None, NaN or pd.NA)."""
    return "none" if pd.isna(value) else f"{int(value):,}"


# ------------------------------------------------------------------------------------------------ lifecycle
def sync(adapters: Adapters, day: dt.date, found: list[Condition], now: dt.datetime,
         rules: set[str] | None = None) -> dict[str, int]:
    """Open, escalate, reopen and resolve the alerts of ``day`` so they match ``found``; notify in the outbox.

    With ``rules``, only alerts of those rules were evaluated: the others are left as they are.
    """
    counts = {"opened": 0, "escalated": 0, "resolved": 0, "reopened": 0}
    wanted = {c.key: c for c in found}
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
            if key not in wanted and row.state != RESOLVED and (rules is None or row.rule in rules):
                conn.execute(alerts.update().where(alerts.c.id == row.id).values(
                    state=RESOLVED, resolved_by="console", resolved_at=now, updated_at=now,
                    resolution="The condition cleared."))
                counts["resolved"] += 1
    return counts


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
            conn.execute(alerts.update().where(alerts.c.id == alert_id, alerts.c.state == OPEN).values(
                state=ACKNOWLEDGED, acknowledged_by=who.name, acknowledged_at=now, note=text, updated_at=now))
        else:
            conn.execute(alerts.update().where(alerts.c.id == alert_id).values(
                state=RESOLVED, resolved_by=who.name, resolved_at=now, resolution=text, updated_at=now))
        audit.record(adapters.store, who.name, who.role, f"alert.{action}", "accepted",
                     business_date=row.business_date, target=row.key, conn=conn, detail={"note": text})


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
              status: DayStatus | None = None, only: set[str] | None = None) -> dict[str, int]:
    """One evaluation: the day's conditions → alerts and outbox, the digest when due, then delivery.

    The worker runs it every few minutes and after each milestone; the UI runs it for ``worker_down`` only
    (``only``), since a worker that is down cannot report itself.
    """

    now = now or dt.datetime.now(dt.UTC)
    day = day or business_date(now, adapters.settings.day_rolls_at)
    status = status or day_status(adapters, day, FrozenClock(now))
    found = conditions(adapters, status, stored_reconciliation(adapters, day))
    if only is not None:
        found = [c for c in found if c.rule in only]
    counts = sync(adapters, day, found, now, rules=only)
    if only is None and now >= at_et(day, adapters.settings.alerts["digest_time"]):
        counts["digest"] = int(digest(adapters, day, now))
    counts.update(notify.deliver(adapters, now))
    return counts
