"""One-click workflow actions on the Workflow page: buttons, the confirmation dialog, then progress.

The dialog's open flag lives in ``session_state`` (a dialog opened straight from a button loses its
confirm click in AppTest) and is cleared by ``on_dismiss``. The plan (tasks that will run, the upload
warning, the idempotency key) is made once when the dialog opens, from the state the person is looking at,
and kept while it is open. Permission, the engine's current state and duplicates are checked again by
``console.actions.request_action`` — the page only mirrors those checks by disabling buttons.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from console import actions
from console.auth import User
from console.errors import ConsoleError
from console.model import RERUNNABLE
from console.status import DayStatus
from console.ui import cached
from console.ui.frame import Page, guarded, show_error

OPEN_KEY = "workflow_action"
RESULT_KEY = "workflow_action_result"
ACK_KEY = "action_ack"
TERMINAL_REQUEST = {"done", "failed"}


def _open(kind: str, task_key: str | None = None) -> None:
    st.session_state[OPEN_KEY] = {"kind": kind, "task_key": task_key, "plan": None, "error": None}
    st.session_state.pop(ACK_KEY, None)


def _dismiss() -> None:
    st.session_state.pop(OPEN_KEY, None)


def _plan(page: Page, status: DayStatus, pending: dict[str, Any]) -> actions.ActionPlan | None:
    if pending["plan"] is None and pending["error"] is None:
        try:
            pending["plan"] = actions.plan_action(page.adapters, pending["kind"], page.day, status.run, status.now,
                                                  task_key=pending["task_key"], uploaded_at=_uploaded_at(status))
        except ConsoleError as exc:
            pending["error"] = exc
    return pending["plan"]


def _uploaded_at(status: DayStatus) -> Any:
    return next((m.actual for m in status.milestones if m.key == "genesys_upload"), None)


@st.dialog("Confirm action", on_dismiss=_dismiss, width="medium")
def _confirm(page: Page, who: User, status: DayStatus) -> None:
    pending = st.session_state.get(OPEN_KEY)
    if not pending:
        return
    plan = _plan(page, status, pending)
    if plan is None:
        show_error(pending["error"])
        if st.button("Close", key="action_close"):
            _dismiss()
            st.rerun()
        return
    spec = page.adapters.spec
    st.markdown(f"**{plan.title}**")
    st.write(plan.description)
    if plan.tasks:
        st.markdown(f"These {len(plan.tasks)} task(s) will run, in this order:")
        st.markdown("\n".join(f"{i}. **{spec.task(k).short_key}** · `{k}`" for i, k in enumerate(plan.tasks, 1)))
    warning = actions.upload_warning(plan)
    acknowledged = False
    if warning:
        st.warning(warning, icon=":material/cloud_upload:")
        acknowledged = st.checkbox("I understand that lists already uploaded to Genesys will change", key=ACK_KEY)
    carrier = "Databricks carries it out" if page.adapters.engine.kind == "databricks" else \
        "The worker carries it out within seconds"
    st.caption(f"Requested as {who.name} ({who.role}). {carrier}.")
    confirm, back = st.columns(2)
    if confirm.button("Confirm", type="primary", key="action_confirm", disabled=bool(warning) and not acknowledged):
        try:
            result = actions.request_action(page.adapters, who, plan, acknowledged, now=status.now)
            st.session_state[RESULT_KEY] = {"ok": result.ok, "message": result.message,
                                            "request_id": result.request_id, "day": page.day, "seen_done": False}
        except ConsoleError as exc:
            st.session_state[RESULT_KEY] = {"ok": False, "message": exc.message, "hint": exc.hint,
                                            "request_id": None, "day": page.day}
        cached.after_action()
        _dismiss()
        st.rerun()
    if back.button("Back", key="action_back"):
        _dismiss()
        st.rerun()


def action_bar(page: Page, who: User, status: DayStatus) -> None:
    """Run now / rerun failed / cancel, enabled when the action makes sense and the user may do it."""
    run = status.run
    broken = run is not None and run.state.is_terminal and any(t.state in RERUNNABLE for t in run.tasks)
    active = run is not None and not run.state.is_terminal
    role_note = f"Your role ({who.role}) may not do this; it needs engineer."
    may = {kind: actions.can_act(who, kind) for kind in actions.KINDS}
    repair, trigger, cancel = st.columns(3)
    repair.button(actions.KINDS["repair"][1], key="action_repair", disabled=not (broken and may["repair"]),
                  icon=":material/replay:", on_click=_open, args=("repair",),
                  help=(role_note if not may["repair"] else "Reruns the failed tasks and everything downstream of "
                        "them, inside the same run." if broken else "Nothing to rerun: no ended run with failed "
                        "tasks for this date."))
    trigger.button(actions.KINDS["trigger"][1], key="action_trigger", disabled=not (run is None and may["trigger"]),
                   icon=":material/play_arrow:", on_click=_open, args=("trigger",),
                   help=(role_note if not may["trigger"] else "Starts the workflow for this date." if run is None
                         else "This date already has a run: rerun its tasks instead."))
    cancel.button(actions.KINDS["cancel"][1], key="action_cancel", disabled=not (active and may["cancel"]),
                  icon=":material/stop:", on_click=_open, args=("cancel",),
                  help=(role_note if not may["cancel"] else "Stops the running run." if active
                        else "No run in progress for this date."))
    if st.session_state.get(OPEN_KEY):
        _confirm(page, who, status)
    result = st.session_state.get(RESULT_KEY)
    if result and result["day"] == page.day:  # the last request made for this date
        with guarded():
            _show_result(page, result)


def rerun_from_button(page: Page, who: User, status: DayStatus, task_key: str) -> None:
    run = status.run
    ended = run is not None and run.state.is_terminal
    may = actions.can_act(who, "rerun_from")
    st.button(f"{actions.KINDS['rerun_from'][1]} ({page.adapters.spec.task(task_key).short_key})",
              key="action_rerun_from", icon=":material/fast_forward:", disabled=not (ended and may),
              on_click=_open, args=("rerun_from", task_key),
              help=(f"Your role ({who.role}) may not do this; it needs engineer." if not may else
                    "Reruns this task and everything downstream of it, inside the same run." if ended else
                    "The run has not ended (or there is none): nothing to rerun yet."))


def _show_result(page: Page, result: dict[str, Any]) -> None:
    if not result["ok"]:
        st.error(result["message"], icon=":material/error:")
        if result.get("hint"):
            st.info(result["hint"], icon=":material/lightbulb:")
        return
    st.success(result["message"], icon=":material/send:")
    if result.get("request_id") is None:
        return
    if result.get("seen_done"):  # finished and shown: no more polling
        request = page.adapters.engine.request_status(result["request_id"])
        st.markdown(f"Request {request['id']} ({request['kind']}): **{request['status']}** — {request['message']}")
    else:
        _progress(page, result)


@st.fragment(run_every="2s")
def _progress(page: Page, result: dict[str, Any]) -> None:
    """The request's progress until the worker has finished it; then the whole page shows the new states."""
    request = page.adapters.engine.request_status(result["request_id"])
    text = f"Request {request['id']} ({request['kind']}): **{request['status']}**"
    if request.get("message"):
        text += f" — {request['message']}"
    if request["status"] in TERMINAL_REQUEST:
        st.markdown(text)
        if not result.get("seen_done"):
            result["seen_done"] = True
            cached.after_action()
            st.rerun(scope="app")
        return
    with st.status(text, state="running"):
        st.caption("The worker picks requests up within a few seconds; this updates by itself.")
