"""Who did what, and when: every confirmed action (reruns, cancels, ticks, sign-offs), newest first."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from console.clock import ET
from console.text import csv_frame
from console.ui import queries
from console.ui.about import stack_and_settings
from console.ui.frame import frame, guarded

page = frame("Audit", ":material/history:", pick_date=False)
stack_and_settings(page.adapters, page.who)

with guarded():
    # Entries are filtered by the ET calendar day they happened on, so the range ends today in ET: after
    # midnight the night shift's actions belong to the new calendar day even before the business date rolls.
    today = page.now.astimezone(ET).date()
    left, middle, right = st.columns([1, 1, 1])
    chosen = left.date_input("Between (ET)", value=(today - dt.timedelta(days=30), today), max_value=today,
                             key="audit_range", format="YYYY-MM-DD")
    if not isinstance(chosen, tuple) or len(chosen) != 2:
        st.info("Pick the last day of the range.")
        st.stop()
    start, end = chosen
    log = queries.audit_frame(page.adapters, start, end)
    users = middle.multiselect("Who", sorted(log["Who"].unique()), key="audit_users")
    kinds = right.multiselect("Action", sorted(log["Action"].unique()), key="audit_actions")
    keep = log["Who"].isin(users or log["Who"]) & log["Action"].isin(kinds or log["Action"])
    shown = log[keep]
    if shown.empty:
        st.info(f"No confirmed actions from {start} to {end}" + (" with these filters." if users or kinds else "."))
    else:
        st.dataframe(shown, hide_index=True, column_config={"Detail": st.column_config.TextColumn(width="large")})
        st.download_button("Download CSV", csv_frame(shown), file_name=f"audit_{start}_{end}.csv",
                           mime="text/csv", icon=":material/download:", key="audit_csv")
    st.caption(f"{len(shown)} of {len(log)} entries. The audit log is append-only: the console has no code path "
               "that edits or deletes an entry, and the database refuses it.")
