"""One-click workflow actions (repair, trigger, cancel) behind a confirmation dialog.

The dialog's open flag lives in ``session_state`` (a dialog opened straight from a button loses its
confirm click in AppTest) and is cleared by ``on_dismiss``. Each opening gets a token, so the
idempotency key is the action + date + run + token: a double click on "Confirm" queues the action once,
while a second, separately confirmed action is a new request.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import streamlit as st

from console.errors import ConsoleError
from console.model import Run
from console.ui import views
from console.ui.frame import Page, guarded

OPEN_KEY = "workflow_action"
RESULT_KEY = "workflow_action_result"

LABELS = {"repair": "Rerun failed tasks", "trigger": "Run workflow for this date", "cancel": "Cancel run"}


def idempotency_key(kind: str, day: dt.date, run_id: int | None, token: str) -> str:
    return f"ui:{kind}:{day.isoformat()}:{run_id if run_id is not None else '-'}:{token}"


def _open(kind: str, day: dt.date, run_id: int | None, task_keys: list[str]) -> None:
    st.session_state[OPEN_KEY] = {"kind": kind, "day": day, "run_id": run_id, "task_keys": task_keys,
                                  "token": uuid.uuid4().hex[:12]}


def _dismiss() -> None:
    st.session_state.pop(OPEN_KEY, None)


def describe(pending: dict[str, Any], spec: Any) -> str:
    kind, day, run_id = pending["kind"], pending["day"], pending["run_id"]
    if kind == "repair":
        names = ", ".join(views.short_key(spec, k) for k in pending["task_keys"])
        return (f"Rerun the failed tasks of run {run_id} ({day}) — {names} — inside the same run. Tasks downstream "
                "of them rerun too.")
    if kind == "trigger":
        return f"Start a new run of the whole workflow for {day} ({len(spec.tasks)} tasks)."
    return f"Stop run {run_id} ({day}): running tasks finish their current attempt, nothing new starts."


@st.dialog("Confirm action", on_dismiss=_dismiss)
def _confirm(page: Page) -> None:
    pending = st.session_state.get(OPEN_KEY)
    if not pending:
        return
    st.markdown(f"**{LABELS[pending['kind']]}**")
    st.write(describe(pending, page.adapters.spec))
    st.caption(f"Requested by {page.user}. The worker carries it out within seconds.")
    confirm, back = st.columns(2)
    if confirm.button("Confirm", type="primary", key="action_confirm"):
        key = idempotency_key(pending["kind"], pending["day"], pending["run_id"], pending["token"])
        try:
            result = page.adapters.engine.submit(pending["kind"], page.user, key, business_date=pending["day"],
                                                 run_id=pending["run_id"], task_keys=pending["task_keys"] or None)
            st.session_state[RESULT_KEY] = {"ok": result.ok, "message": result.message,
                                            "request_id": result.request_id, "hint": "", "day": pending["day"]}
        except ConsoleError as exc:
            st.session_state[RESULT_KEY] = {"ok": False, "message": exc.message, "request_id": None,
                                            "hint": exc.hint, "day": pending["day"]}
        st.session_state.pop(OPEN_KEY, None)
        st.rerun()
    if back.button("Back", key="action_back"):
        st.session_state.pop(OPEN_KEY, None)
        st.rerun()


def action_bar(page: Page, run: Run | None) -> None:
    """The three buttons, enabled only when the action makes sense, and the last request's status."""
    repairable = views.rerunnable(run)
    active = run is not None and not run.state.is_terminal
    repair, trigger, cancel = st.columns(3)
    repair.button(LABELS["repair"], key="action_repair", disabled=not repairable, icon=":material/replay:",
                  help="Reruns failed, upstream-failed and canceled tasks of the ended run." if repairable
                  else "Nothing to repair: no ended run with failed tasks for this date.",
                  on_click=_open, args=("repair", page.day, run.run_id if run else None, repairable))
    trigger.button(LABELS["trigger"], key="action_trigger", disabled=active, icon=":material/play_arrow:",
                   help="A run is in progress for this date." if active else "Starts a new run of every task.",
                   on_click=_open, args=("trigger", page.day, None, []))
    cancel.button(LABELS["cancel"], key="action_cancel", disabled=not active, icon=":material/stop:",
                  help="Stops the running run." if active else "No run in progress for this date.",
                  on_click=_open, args=("cancel", page.day, run.run_id if run else None, []))
    if st.session_state.get(OPEN_KEY):
        _confirm(page)
    result = st.session_state.get(RESULT_KEY)
    if result and result["day"] == page.day:  # the last request made for this date
        with guarded():
            _show_result(page, result)


def _show_result(page: Page, result: dict[str, Any]) -> None:
    if not result["ok"]:
        st.error(result["message"], icon=":material/error:")
        if result.get("hint"):
            st.info(result["hint"], icon=":material/lightbulb:")
        return
    st.success(result["message"], icon=":material/send:")
    if result.get("request_id") is None:
        return
    request = page.adapters.engine.request_status(result["request_id"])
    text = f"Request {request['id']} ({request['kind']}): **{request['status']}**"
    if request.get("message"):
        text += f" — {request['message']}"
    st.markdown(text)
    if request["status"] == "pending":
        st.caption("Waiting for the worker to pick it up; it polls every few seconds while it runs.")
    st.button("Refresh request status", key="action_refresh", icon=":material/refresh:")

