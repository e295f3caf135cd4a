"""Alerts: open, acknowledged and resolved, with the runbook and the live evidence for each."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import plotly.express as px
import streamlit as st

from console import alerts, auth, runbook
from console.clock import ET
from console.errors import ConsoleError
from console.text import plain
from console.ui import cached, views
from console.ui.frame import frame, guarded, show_error

page = frame("Alerts", ":material/notifications:")
SHOW = {"error": (st.error, ":material/error:"), "warning": (st.warning, ":material/warning:"),
        "info": (st.info, ":material/info:")}

with guarded():
    left, right = st.columns([1, 2])
    days = left.selectbox("Window", [1, 7, 30, 90], index=2, format_func=lambda n: f"{n} day(s) up to {page.day}",
                          key="alert_window")
    states = right.multiselect("State", [alerts.OPEN, alerts.ACKNOWLEDGED, alerts.RESOLVED],
                               default=[alerts.OPEN, alerts.ACKNOWLEDGED], key="alert_states")
    rows = cached.alert_rows(page.adapters, page.day - dt.timedelta(days=days - 1), page.day)
    shown = [r for r in rows if r["state"] in states] if states else rows
    focus = st.query_params.get("alert")
    may = auth.allowed(page.who, "acknowledge")
    if not shown:
        st.success(f"No {' or '.join(states) or ''} alerts in this window.", icon=":material/check_circle:")
    for r in shown:
        title = (f"{r['business_date']} · [{r['severity']}] {alerts.RULE_TITLES.get(r['rule'], r['rule'])}: "
                 f"{r['subject']} · {r['state']}")
        with st.expander(title, expanded=r["key"] == focus or (r["state"] == alerts.OPEN and len(shown) <= 3),
                         icon=":material/error:" if r["severity"] == alerts.CRITICAL else ":material/warning:"):
            st.markdown(f"**{plain(r['summary'])}**")
            st.text(f"Evidence: {r['evidence']}")
            opened = r["opened_at"].astimezone(ET).strftime("%Y-%m-%d %H:%M")
            line = f"Opened {opened} ET."
            if r["acknowledged_by"]:
                line += f" Acknowledged by {r['acknowledged_by']} at {r['acknowledged_at'].astimezone(ET):%H:%M} ET"
                line += f": {plain(r['note'])}" if r["note"] else "."
            if r["resolved_by"]:
                line += f" Resolved by {r['resolved_by']} at {r['resolved_at'].astimezone(ET):%H:%M} ET: " \
                        f"{r['resolution']}"
            st.caption(line)
            entry = runbook.RUNBOOK.get(r["rule"])
            if entry is not None:
                st.markdown(f"**Runbook: {entry.title}.** {entry.means}")
                st.markdown("\n".join(f"{i}. {step}" for i, step in enumerate(entry.check, 1)))
                for fact in cached.runbook_evidence(page.adapters, r["rule"], r["business_date"]):
                    st.info(fact, icon=":material/database:")
            if r["page"]:
                st.page_link(f"pages/{views.PAGE_FILES[r['page']]}", label=f"Open the {r['page']} page for "
                             f"{r['business_date']}", icon=":material/arrow_forward:",
                             query_params={"date": r["business_date"].isoformat()})
            if r["state"] != alerts.RESOLVED:
                with st.form(f"alert_{r['id']}"):
                    text = st.text_input("Note (acknowledge) or reason (resolve)", key=f"alert_note_{r['id']}",
                                         max_chars=500, disabled=not may)
                    ack, res = st.columns(2)
                    do_ack = ack.form_submit_button("Acknowledge", disabled=not may or r["state"] != alerts.OPEN)
                    do_res = res.form_submit_button("Resolve", disabled=not may)
                if do_ack or do_res:
                    try:
                        if do_ack:
                            alerts.acknowledge(page.adapters, page.who, r["id"], text)
                        else:
                            alerts.resolve(page.adapters, page.who, r["id"], text)
                        cached.after_action()
                        st.rerun()
                    except ConsoleError as exc:
                        show_error(exc)
    if not may:
        st.caption(f"Signed in as a {page.who.role}: acknowledging and resolving need the operator role.")

    if rows:
        per_day = pd.DataFrame([{"Business date": r["business_date"].isoformat(), "Severity": r["severity"]}
                                for r in rows]).value_counts().rename("Alerts").reset_index()
        figure = px.bar(per_day, x="Business date", y="Alerts", color="Severity",
                        color_discrete_map={"warning": "#ef6c00", "critical": "#c62828"})
        figure.update_xaxes(type="category")
        figure.update_layout(height=260, margin={"l": 10, "r": 10, "t": 30, "b": 10})
        st.subheader("Alerts per day")
        st.plotly_chart(figure, key="alerts_per_day")

with guarded():
    st.subheader(f"What the console sees for {page.day}")
    status = cached.status(page.adapters, page.day, page.clock)
    found = views.conditions(status, page.adapters.spec)
    if not [c for c in found if c.severity != "info"]:
        st.success(f"Nothing wrong visible for {page.day}.", icon=":material/check_circle:")
    for condition in found:
        show, icon = SHOW[condition.severity]
        show(f"**{condition.subject}** · {condition.text}", icon=icon)
