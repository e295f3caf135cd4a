"""The conditions visible for the date: failed tasks, late milestones, the worker, the warehouse."""

from __future__ import annotations

import streamlit as st

from console.status import day_status
from console.ui import views
from console.ui.frame import frame, guarded

page = frame("Alerts", ":material/notifications:")

SHOW = {"error": (st.error, ":material/error:"), "warning": (st.warning, ":material/warning:"),
        "info": (st.info, ":material/info:")}

st.caption("Alert rules, notifications (e-mail, Slack) and acknowledgements arrive with the alerts issue; "
           "these are the facts the console sees now.")
with guarded():
    status = day_status(page.adapters, page.day, page.clock)
    found = views.conditions(status, page.adapters.spec)
    if not [c for c in found if c.severity != "info"]:
        st.success(f"Nothing wrong visible for {page.day}.", icon=":material/check_circle:")
    for condition in found:
        show, icon = SHOW[condition.severity]
        show(f"**{condition.subject}** · {condition.text}", icon=icon)
