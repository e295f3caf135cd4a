"""The verdict of a business date: ``DayStatus`` (the day's facts and what is concluded from them) and the
one overall verdict (failed / late / at risk / on track / done) with its reason in words.

Pure: nothing here reads; ``console.status.day_status`` gathers the facts and calls these.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

import pandas as pd

from console import eta as eta_module
from console.clock import ET, hhmm, hhmm_of
from console.eta import Eta
from console.facts import DayReads, Event, VolumeHistory, WorkerStatus
from console.model import Reconciliation, Run, TaskState
from console.timeline import AT_RISK, DONE, FAILED, LATE, MilestoneState
from console.workflow import WorkflowSpec

T = TypeVar("T")

# The overall verdict of a business date, worst first.
OVERALL_FAILED, OVERALL_LATE, OVERALL_AT_RISK, OVERALL_ON_TRACK, OVERALL_DONE = (
    "failed", "late", "at_risk", "on_track", "done")
OVERALL_WORDS = {OVERALL_FAILED: "Failed", OVERALL_LATE: "Late", OVERALL_AT_RISK: "At risk",
                 OVERALL_ON_TRACK: "On track", OVERALL_DONE: "Done"}


@dataclass
class Overall:
    state: str  # failed | late | at_risk | on_track | done
    reason: str

    @property
    def words(self) -> str:
        return OVERALL_WORDS[self.state]


class _Fact(Generic[T]):
    """A ``DayStatus`` attribute that is one of its facts: read from (and written to) ``status.reads``."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, status: DayStatus, owner: type | None = None) -> T:
        return cast(T, getattr(status.reads, self.name))

    def __set__(self, status: DayStatus, value: T) -> None:
        setattr(status.reads, self.name, value)


@dataclass
class DayStatus:
    """A business date judged at ``now``: its facts (``reads``) and what the console concludes from them."""

    mode: str
    business_date: dt.date
    now: dt.datetime
    reads: DayReads
    milestones: list[MilestoneState]
    worker: WorkerStatus | None
    task_order: list[str] = field(default_factory=list)
    eta: Eta | None = None
    overall: Overall = field(default_factory=lambda: Overall(OVERALL_ON_TRACK, ""))
    checklist: list[Any] = field(default_factory=list)  # checklist.ItemState per configured item

    # The facts, as read (not copies): the same objects as in ``reads``.
    run = _Fact[Run | None]()
    lists = _Fact[pd.DataFrame]()
    warehouse_error = _Fact[str | None]()
    engine_error = _Fact[str | None]()
    read_at = _Fact[dt.datetime]()
    stale_since = _Fact[dt.datetime | None]()
    uploaded = _Fact[dict[str, int]]()
    active_lists = _Fact[list[tuple[str, str]]]()
    volume_history = _Fact[VolumeHistory | None]()
    checklist_events = _Fact[list[Event]]()
    reconciliation = _Fact[Reconciliation | None]()
    open_alerts = _Fact[list[dict[str, Any]]]()
    releases = _Fact[list[dict[str, Any]]]()

    def gate(self) -> list[dict[str, Any]]:
        """Each Genesys list of the day with its gate state (``pending`` until the checks decide), for JSON."""
        decided = {(r["list_name"], r["channel"]): r for r in self.releases}
        genesys = [(r.LIST_NAME, r.CHANNEL) for r in self.lists.itertuples() if r.DESTINATION == "GENESYS"]
        out = []
        for key in sorted(set(genesys) | set(decided)):
            r = decided.get(key)
            out.append({"list_name": key[0], "channel": key[1], "state": r["state"] if r else "pending",
                        "reason": r["reason"] if r else "", "by": r["by"] if r else None,
                        "at": r["at"].astimezone(ET).isoformat() if r and r["at"] else None})
        return out

    @property
    def held(self) -> list[dict[str, Any]]:
        """The day's lists on hold from the upload (the gate), with why."""
        return [r for r in self.releases if r["state"] == "held"]

    @property
    def checklist_done(self) -> tuple[int, int]:
        return sum(1 for s in self.checklist if s.done), len(self.checklist)

    @property
    def workflow_state(self) -> str:
        if self.run is None:
            return "not_started"
        return self.run.state.value

    def to_json(self) -> dict[str, Any]:
        def iso(moment: dt.datetime | None) -> str | None:
            return moment.astimezone(ET).isoformat() if moment else None

        run = self.run
        tasks = run.tasks if run else []
        eta = self.eta
        return {
            "mode": self.mode,
            "demo_data": self.mode == "embedded",
            "business_date": self.business_date.isoformat(),
            "generated_at": iso(self.now),
            "overall": {"state": self.overall.state, "reason": self.overall.reason},
            "workflow": {
                "state": self.workflow_state,
                "run_id": run.run_id if run else None,
                "start": iso(run.start) if run else None,
                "end": iso(run.end) if run else None,
                "message": run.state_message if run else "No run for this business date yet.",
                "tasks_done": run.done_count if run else 0,
                "tasks_total": len(self.task_order),
                "tasks": [{"task_key": t.task_key, "state": t.state.value, "attempt": t.attempt,
                           "start": iso(t.start), "end": iso(t.end), "error": t.error_message} for t in tasks],
            },
            "eta": None if eta is None else {
                "verdict": eta.verdict, "target": iso(eta.target), "expected_finish": iso(eta.expected_finish),
                "pessimistic_finish": iso(eta.pessimistic_finish), "critical_path": eta.critical_path,
                "notes": eta.notes, "history_runs": eta.samples},
            "lists": [{"list_name": r.LIST_NAME, "channel": r.CHANNEL, "destination": r.DESTINATION,
                       "records": int(r.RECORDS)} for r in self.lists.itertuples()],
            "milestones": [{"key": m.key, "name": m.name, "planned": iso(m.planned), "status": m.status,
                            "actual": iso(m.actual), "detail": m.detail} for m in self.milestones],
            "worker": None if self.worker is None else {
                "alive": self.worker.alive, "message": self.worker.message, "heartbeat": iso(self.worker.beat_at)},
            "checklist": [{
                "group": c.item.group, "item": c.item.text, "due": c.item.due_label, "state": c.state,
                "automatic": c.item.check or None,
                "by": c.last.actor if c.last is not None and c.state in ("ticked", "n/a") else None,
                "at": iso(c.last.at) if c.last is not None and c.state in ("ticked", "n/a") else None,
                "evidence": c.evidence} for c in self.checklist],
            "warehouse_error": self.warehouse_error,
            "engine_error": self.engine_error,
            "stale_since": iso(self.stale_since),
            # The upload gate per Genesys list: released / held, or pending before the checks decided.
            "gate": self.gate(),
        }


def overall(spec: WorkflowSpec, run: Run | None, milestones: list[MilestoneState], estimate: Eta | None,
            now: dt.datetime, reconciliation: Reconciliation | None = None,
            releases: list[dict[str, Any]] | None = None) -> Overall:
    """One verdict for the day, the worst that applies, with the reason in words.

    Worst first: failed tasks or milestones; a list held from the upload; a failed data-quality check; a
    reconciliation mismatch; a late milestone; a milestone at risk or a check that warns; on track; done.
    """

    def short(key: str) -> str:
        return spec.task(key).short_key if key in spec.keys else key

    by_status: dict[str, list[MilestoneState]] = {}
    for m in milestones:
        by_status.setdefault(m.status, []).append(m)
    if by_status.get(FAILED) or (estimate is not None and estimate.verdict == eta_module.FAILED):
        failed = [t for t in (run.tasks if run else []) if t.state == TaskState.FAILED]
        if failed:
            first = failed[0]
            error = f": {first.error_message.splitlines()[0][:160]}" if first.error_message else ""
            when = f" at {hhmm(first.end)} ET" if first.end else ""
            others = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
            return Overall(OVERALL_FAILED, f"{short(first.task_key)} failed{when}{others}{error}. "
                                           "Rerun it and its dependents from the Workflow page.")
        first_failed = by_status[FAILED][0] if by_status.get(FAILED) else None
        return Overall(OVERALL_FAILED, f"{first_failed.name}: {first_failed.detail}" if first_failed
                       else "The workflow run did not succeed.")
    data = data_quality(reconciliation, releases or [])
    if data is not None and data.state == OVERALL_FAILED:
        return data
    if by_status.get(LATE):
        m = by_status[LATE][0]
        expected = ""
        if m.key == "workflow_target" and estimate is not None and estimate.expected_finish and not m.actual:
            expected = f" Expected to finish at {hhmm(estimate.expected_finish)} ET."
        done_late = f"done at {hhmm_of(m.actual, m.planned.astimezone(ET).date())} ET, " if m.actual else ""
        return Overall(OVERALL_LATE, f"{m.name} (due {hhmm(m.planned)} ET) is late: {done_late}{m.detail}"
                                     f"{expected}")
    if data is not None:
        return data
    if by_status.get(AT_RISK):
        m = by_status[AT_RISK][0]
        return Overall(OVERALL_AT_RISK, f"{m.name} (due {hhmm(m.planned)} ET): {m.detail}")
    if all(m.status == DONE for m in milestones):
        return Overall(OVERALL_DONE, "Every milestone of the day was met on time.")
    upcoming = next((m for m in milestones if m.status != DONE), None)
    if estimate is not None and estimate.verdict in (eta_module.ON_TRACK,) and estimate.expected_finish:
        return Overall(OVERALL_ON_TRACK,
                       f"Expected to finish at {hhmm(estimate.expected_finish)} ET (at worst "
                       f"{hhmm(estimate.pessimistic_finish)}), before the {hhmm(estimate.target)} target.")
    if upcoming is not None:
        what = "in progress" if upcoming.status == "running" else "next"
        return Overall(OVERALL_ON_TRACK, f"{upcoming.name} {what}, due {hhmm(upcoming.planned)} ET. "
                                         f"{upcoming.detail}")
    return Overall(OVERALL_ON_TRACK, "Nothing is overdue.")


def data_quality(reconciliation: Reconciliation | None, releases: list[dict[str, Any]]) -> Overall | None:
    """The day's lists judged: a hold, a failed check or a mismatch fails the day; a check that warns puts it
    at risk; None when the stored checks found nothing (or the day has not been checked yet)."""
    held = [r for r in releases if r["state"] == "held"]
    if held:
        first = held[0]
        more = f" (and {len(held) - 1} more list(s) held)" if len(held) > 1 else ""
        return Overall(OVERALL_FAILED, f"{first['reason']} on {first['list_name']}; upload held{more}. Rerun its "
                                       "task, or an engineer releases it with a reason.")
    if reconciliation is None:
        return None
    failed = [c for c in reconciliation.checks if c.status == "fail"]
    if failed:
        more = f" (and {len(failed) - 1} more failed check(s))" if len(failed) > 1 else ""
        return Overall(OVERALL_FAILED, f"{failed[0].title}: {failed[0].evidence}{more}")
    mismatches = reconciliation.mismatches
    if len(mismatches):
        r = mismatches.iloc[0]
        more = f" (and {len(mismatches) - 1} more)" if len(mismatches) > 1 else ""
        return Overall(OVERALL_FAILED, f"{r.LIST_NAME} ({r.CHANNEL}): {r.REASON}{more}")
    if reconciliation.failure:  # could not check: never a pass, never a hold by itself
        return Overall(OVERALL_AT_RISK, f"The checks could not run: {reconciliation.failure['message']}")
    warned = [c for c in reconciliation.checks if c.status == "warn"]
    if warned:
        return Overall(OVERALL_AT_RISK, f"{warned[0].title}: {warned[0].evidence}")
    return None
