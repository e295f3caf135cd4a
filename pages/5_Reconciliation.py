"""Each Genesys list followed from generated → accepted → exported, the quality checks, and the history."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from console import auth, facts, reconcile
from console.clock import last_business_days
from console.ui import charts
from console.ui.frame import frame, guarded

page = frame("Reconciliation", ":material/balance:")
ICONS = {"pass": "✅", "warn": "⚠️", "fail": "❌", "n/a": "➖"}


@st.cache_data(ttl=60, show_spinner="Reading the reconciliation…")
def current(_adapters: object, day: dt.date, source: str) -> reconcile.Reconciliation:
    return reconcile.current(_adapters, day, page.clock)  # type: ignore[arg-type]


@st.cache_data(ttl=60, show_spinner=False)
def history(_adapters: object, start: dt.date, end: dt.date, source: str) -> pd.DataFrame:
    return facts.reconciliation_history(_adapters, start, end)  # type: ignore[arg-type]


def run_now() -> None:
    """The button's action: a stored run on behalf of the user (recorded as who ran it)."""
    try:
        result = reconcile.request_reconcile(page.adapters, page.who, page.day, clock=page.clock)
        st.session_state["reconcile_message"] = (
            "success", f"Reconciled {page.day}: {result.matched} of {result.pairs} lists matched.")
    except Exception as exc:  # shown on the page; the failed run is recorded in the state DB
        st.session_state["reconcile_message"] = ("error", str(exc))
    current.clear()
    history.clear()


with guarded():
    result = current(page.adapters, page.day, page.adapters.warehouse.label)
    top = st.columns([3, 1])
    top[0].subheader(f"Genesys lists for {page.day}")
    may = auth.allowed(page.who, "tick")
    top[1].button("Run reconciliation now", on_click=run_now, key="reconcile_now", icon=":material/refresh:",
                  disabled=not may, help=None if may else f"Your role ({page.who.role}) may not; it needs operator.")
    message = st.session_state.pop("reconcile_message", None)
    if message:
        (st.success if message[0] == "success" else st.error)(message[1])
    if result.failure:
        st.warning(f"The reconciliation run at {pd.Timestamp(result.failure['at']):%H:%M} UTC by "
                   f"{result.failure['requested_by']} failed: {result.failure['message']} "
                   "The previous result is shown.", icon=":material/error:")
    stamp = f"Reconciled at {result.at:%Y-%m-%d %H:%M} UTC by {result.requested_by}." if result.run_id else ""
    for note in [*result.notes, stamp]:
        if note:
            st.caption(note)
    rows = result.rows
    if rows.empty:
        st.info("No data for this date yet: nothing generated, uploaded or exported.",
                icon=":material/hourglass_empty:")
    else:
        exported = pd.to_numeric(rows["EXPORTED"]).astype("Int64")
        table = pd.DataFrame({
            "List": rows["LIST_NAME"], "Channel": rows["CHANNEL"], "Generated": rows["GENERATED"],
            "Sent": rows["SENT"], "Accepted": rows["ACCEPTED"],
            "Results accounts": exported.where(exported > 0),  # empty: no results landed
            "Status": rows["STATUS"], "Reason": rows["REASON"],
        })
        st.dataframe(table, hide_index=True, column_config={
            c: st.column_config.NumberColumn(format="localized")
            for c in ("Generated", "Sent", "Accepted", "Results accounts")})
        st.caption(f"{result.matched} of {result.pairs} lists matched. Generated: list rows bound for Genesys; "
                   "sent/accepted: the Genesys import log; results accounts: distinct contacts in the exported "
                   f"campaign results. Tolerances: upload {page.settings.checks['upload_tolerance']:.0%}, "
                   f"export {page.settings.checks['export_tolerance']:.0%}.")
        st.plotly_chart(charts.reconcile_funnel(rows), key="funnel")
        mismatches = result.mismatches
        st.subheader("Mismatches")
        if mismatches.empty:
            st.success("No mismatch.", icon=":material/check_circle:")
        else:
            st.dataframe(pd.DataFrame({"List": mismatches["LIST_NAME"], "Channel": mismatches["CHANNEL"],
                                       "Reason": mismatches["REASON"]}), hide_index=True)

with guarded():
    st.subheader("Quality checks")
    if not result.checks:
        st.info("No quality-check results for this date.")
    else:
        st.dataframe(pd.DataFrame({
            "Check": [c.title for c in result.checks],
            "Status": [f"{ICONS.get(c.status, '')} {c.status}" for c in result.checks],
            "Evidence": [c.evidence for c in result.checks],
        }), hide_index=True, column_config={"Evidence": st.column_config.TextColumn(width="large")})

with guarded():
    st.subheader("Match rate per day")
    days = last_business_days(page.day, 60)
    trend = history(page.adapters, days[0], page.day, page.adapters.warehouse.label)
    if trend.empty:
        st.info("No stored reconciliation in the last 60 business days yet: the worker runs it after 09:00 and "
                "after 22:30, or use the button above.")
    else:
        st.plotly_chart(charts.match_rate_history(trend), key="match_rate")
        st.caption("Share of Genesys lists matched, from the newest stored run of each date.")
