"""Who asked the console to do what, and when: the action requests, newest first."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from console.ui import queries
from console.ui.about import stack_and_settings
from console.ui.frame import frame, guarded

page = frame("Audit", ":material/history:", pick_date=False)
stack_and_settings(page.adapters)

with guarded():
    today = page.today
    chosen = st.columns([1, 2])[0].date_input("Requested between (ET)", value=(today - dt.timedelta(days=30), today),
                                              max_value=today, key="audit_range", format="YYYY-MM-DD")
    if not isinstance(chosen, tuple) or len(chosen) != 2:
        st.info("Pick the last day of the range.")
        st.stop()
    start, end = chosen
    log = queries.action_log(page.adapters, start, end)
    if log.empty:
        st.info(f"No actions requested from {start} to {end}.")
    else:
        st.dataframe(log, hide_index=True, column_config={"Message": st.column_config.TextColumn(width="large")})
        st.download_button("Download CSV", log.to_csv(index=False).encode(), file_name=f"actions_{start}_{end}.csv",
                           mime="text/csv", icon=":material/download:", key="audit_csv")
        st.caption(f"{len(log)} request(s). Sign-offs and alert acknowledgements join this log with their issues.")
