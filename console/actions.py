"""One-click workflow actions: plan what will run, then request it — checked, idempotent, audited.

``plan_action`` says exactly which tasks an action will run, whether the 08:30 Genesys upload has already
started for the date (then the lists it uploaded will change and the person must acknowledge it), and the
idempotency key. The key is derived from the state the person saw (run, number of repairs, tasks), not
from the click: a double click, or two people confirming the same rerun of the same state at once, queue
one request. ``request_action`` checks the permission itself, looks at the engine again (the page may be
seconds old), refuses what no longer makes sense with the reason, and writes every confirmed attempt to
the audit log with its outcome.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from console import audit
from console.adapters.protocols import Adapters
from console.auth import User, allowed, authorise
from console.clock import ET, at_et
from console.errors import ConsoleError, InvalidRequest, NotAuthorised
from console.model import RERUNNABLE, ActionResult, Run

KINDS = {
    "repair": ("repair", "Rerun failed tasks and their dependents"),
    "rerun_from": ("repair", "Rerun from this task"),
    "trigger": ("trigger", "Run now"),
    "cancel": ("cancel", "Cancel the run"),
}


@dataclass(frozen=True)
class ActionPlan:
    kind: str  # repair | rerun_from | trigger | cancel
    business_date: dt.date
    run_id: int | None
    selected: tuple[str, ...]  # task keys handed to the engine
    tasks: tuple[str, ...]  # every task that will run, in DAG order
    upload_started: bool
    idempotency_key: str
    description: str
    repairs_seen: int = 0  # repairs the run had when the plan was made (a newer one means it changed since)
    upload_in: dt.timedelta | None = None  # how long the date's upload was away when the plan was made

    @property
    def engine_kind(self) -> str:
        return KINDS[self.kind][0]

    @property
    def title(self) -> str:
        return KINDS[self.kind][1]


def upload_started(adapters: Adapters, day: dt.date, now: dt.datetime, uploaded_at: dt.datetime | None) -> bool:
    """The Genesys upload for ``day`` has started: its scheduled time has passed or the import log has rows."""
    return uploaded_at is not None or now >= at_et(day, adapters.settings.milestone("genesys_upload").time)


def plan_action(adapters: Adapters, kind: str, day: dt.date, run: Run | None, now: dt.datetime,
                task_key: str | None = None, uploaded_at: dt.datetime | None = None) -> ActionPlan:
    """What ``kind`` would do to ``day``'s ``run``; ``InvalidRequest`` saying why when it makes no sense."""
    if kind not in KINDS:
        raise InvalidRequest(f"Unknown action '{kind}'.", f"Use one of {', '.join(KINDS)}.")
    started = upload_started(adapters, day, now, uploaded_at)
    upload_in = None if started else at_et(day, adapters.settings.milestone("genesys_upload").time) - now
    plan = _plan(adapters, kind, day, run, started, task_key)
    return dataclasses.replace(plan, upload_in=upload_in)


def _plan(adapters: Adapters, kind: str, day: dt.date, run: Run | None, started: bool,
          task_key: str | None) -> ActionPlan:
    spec = adapters.spec
    if kind == "trigger":
        if run is not None:
            raise InvalidRequest(f"{day} already has run {run.run_id} ({run.state.label}).",
                                 "Rerun its failed tasks, or rerun from the first task to run everything again.")
        return ActionPlan(kind, day, None, (), tuple(spec.keys), started, f"trigger:{day}:first",
                          f"Start the workflow for {day}: all {len(spec.keys)} tasks.")
    if run is None:
        raise InvalidRequest(f"{day} has no run yet.", "Use Run now to start one.")
    if kind == "cancel":
        if run.state.is_terminal:
            raise InvalidRequest(f"Run {run.run_id} has already ended ({run.state.label}); nothing to cancel.")
        running = [t.task_key for t in run.tasks if not t.state.is_terminal]
        return ActionPlan(kind, day, run.run_id, (), (), started, f"cancel:{run.run_id}",
                          f"Stop run {run.run_id}: {len(running)} unfinished task(s) will not complete; running "
                          "tasks finish their current attempt.")
    if not run.state.is_terminal:
        raise InvalidRequest(f"Run {run.run_id} is still {run.state.label}; a rerun can start once it has ended.",
                             "Wait for it to end, or cancel it first.")
    if kind == "repair":
        broken = {t.task_key for t in run.tasks if t.state in RERUNNABLE}
        # Hand the engine the first broken task of each chain: their dependents rerun anyway.
        selected = tuple(k for k in spec.topological_order()
                         if k in broken and k not in spec.descendants(broken - {k}))
        if not selected:
            raise InvalidRequest(f"Run {run.run_id} has no failed task to rerun.",
                                 "Pick a task and use Rerun from this task.")
    else:
        if not task_key:
            raise InvalidRequest("Pick the task to rerun from.")
        selected = (spec.task(task_key).key,)  # NotFound for a task not in the spec
    chosen = spec.descendants(set(selected))
    tasks = tuple(k for k in spec.topological_order() if k in chosen)
    names = ", ".join(spec.task(k).short_key for k in tasks)
    # Same run, same repair count, same tasks → same key, whichever button or person asked for it.
    key = f"repair:{run.run_id}:r{len(run.repairs)}:{','.join(sorted(selected))}"
    return ActionPlan(kind, day, run.run_id, selected, tasks, started, key,
                      f"Rerun {len(tasks)} task(s) of run {run.run_id} ({day}) inside the same run: {names}.",
                      repairs_seen=len(run.repairs))


def upload_warning(plan: ActionPlan) -> str | None:
    if not plan.upload_started or plan.engine_kind == "cancel":
        return None
    return (f"The 08:30 Genesys upload for {plan.business_date} has started: the lists these tasks write were "
            "already uploaded and will change. Genesys keeps what it imported until the lists are uploaded again.")


def can_act(who: User, kind: str) -> bool:
    return allowed(who, KINDS[kind][0])


def request_action(adapters: Adapters, who: User, plan: ActionPlan, acknowledged: bool,
                   now: dt.datetime | None = None) -> ActionResult:
    """Hand a planned action to the engine. Raises ``NotAuthorised``/``InvalidRequest`` with the reason."""
    now = now or dt.datetime.now(dt.UTC)
    target = ",".join(plan.tasks)

    def log(outcome: str, message: str, request_id: int | None = None) -> None:
        audit.record(adapters.store, who.name, who.role, plan.kind, outcome, business_date=plan.business_date,
                     run_id=plan.run_id, target=target, request_id=request_id,
                     detail={"message": message, "idempotency_key": plan.idempotency_key,
                             "upload_acknowledged": acknowledged if plan.upload_started else None})

    try:
        authorise(who, plan.engine_kind)
    except NotAuthorised as exc:
        log("denied", exc.message)
        raise
    try:
        duplicate = _check_current(adapters, plan, acknowledged)
    except ConsoleError as exc:
        log("refused", exc.message)
        raise
    if duplicate is not None:
        log("duplicate", duplicate.message, duplicate.request_id)
        return duplicate
    # Asked before the upload without its acknowledgement: it must not run once the upload has started (a
    # worker that is late or was down would otherwise change uploaded lists nobody agreed to change).
    # (the time left until the upload when the plan was made, from now on the machine's clock, the engine's)
    not_after = None if plan.upload_in is None or plan.engine_kind == "cancel" else \
        dt.datetime.now(dt.UTC) + plan.upload_in
    result = adapters.engine.submit(plan.engine_kind, who.name, plan.idempotency_key,
                                    business_date=plan.business_date, run_id=plan.run_id,
                                    task_keys=list(plan.selected) or None, not_after=not_after)
    # An engine that calls its API at once (Databricks) may report that the call failed: audited as such.
    outcome = "duplicate" if result.duplicate else "accepted" if result.ok else "failed"
    log(outcome, result.message, result.request_id)
    return result


def _check_current(adapters: Adapters, plan: ActionPlan, acknowledged: bool) -> ActionResult | None:
    """Look at the engine again: a duplicate returns the existing request; a changed state is refused."""
    engine = adapters.engine
    for request in engine.open_requests(plan.business_date):
        if request["idempotency_key"] == plan.idempotency_key:
            return ActionResult(True, f"Already requested by {request['requested_by']} (request {request['id']}, "
                                      f"{request['status']}); not queued twice.", request["id"], plan.run_id,
                                duplicate=True)
        if plan.engine_kind != "cancel":
            at = request["requested_at"].astimezone(ET).strftime("%H:%M")
            raise InvalidRequest(f"A {request['kind']} requested by {request['requested_by']} at {at} ET is still "
                                 f"{request['status']} for {plan.business_date}.",
                                 "Wait for it to finish, then look at the run again.")
    current = engine.run_for_date(plan.business_date)
    if plan.kind == "trigger" and current is not None:
        raise InvalidRequest(f"{plan.business_date} has had run {current.run_id} since you looked.",
                             "Look at the run and rerun what needs it.")
    if plan.engine_kind == "repair":
        if current is None or current.run_id != plan.run_id or len(current.repairs) != plan.repairs_seen:
            raise InvalidRequest("The run has changed since you opened this (another rerun or a new run).",
                                 "Look at the run again and retry if it still needs it.")
        if not current.state.is_terminal:
            raise InvalidRequest(f"Run {current.run_id} is {current.state.label} now; a rerun can start once it "
                                 "has ended.", "Wait for it to end, or cancel it first.")
    if plan.upload_started and plan.engine_kind != "cancel" and not acknowledged:
        raise InvalidRequest("The Genesys upload for this date has started: acknowledge that the uploaded lists "
                             "will change before rerunning.", "Tick the acknowledgement and confirm again.")
    return None


def trigger_from_cli(adapters: Adapters, who: User, day: dt.date, rerun: bool) -> Run:
    """``python -m console run-workflow``: the run of ``day`` (a new one with ``rerun``), authorised and audited
    as from the UI; the CLI then executes it in its own process."""
    kind = "repair" if rerun else "trigger"  # a rerun rebuilds a date's lists: an engineer's decision
    try:
        authorise(who, kind)
    except NotAuthorised as exc:
        audit.record(adapters.store, who.name, who.role, kind, "denied", business_date=day,
                     detail={"message": exc.message, "via": "cli"})
        raise
    run = adapters.engine.trigger(day, who.name, trigger="MANUAL", rerun=rerun)
    audit.record(adapters.store, who.name, who.role, kind, "accepted", business_date=day, run_id=run.run_id,
                 detail={"via": "cli", "rerun": rerun, "state": run.state.value})
    return run
