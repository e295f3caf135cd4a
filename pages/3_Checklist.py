"""The guide's daily monitoring checklist, read-only, with what the console can already see for each item."""

from __future__ import annotations

import streamlit as st

from console.status import day_status
from console.ui import views
from console.ui.frame import frame, guarded

page = frame("Checklist", ":material/checklist:")

st.caption("Ticking items and signing the day off arrive with the checklist issue; this page is read-only.")
with guarded():
    status = day_status(page.adapters, page.day, page.clock)
    for title, due, table in views.checklist_table(status, page.adapters.spec):
        st.subheader(f"{due} — {title}")
        st.dataframe(views.styled(table, ["Status"]), hide_index=True,
                     column_config={"Item": st.column_config.TextColumn(width="medium"),
                                    "Status": st.column_config.TextColumn(width="small"),
                                    "What the console sees": st.column_config.TextColumn(width="large")})
