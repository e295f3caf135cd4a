"""Records per list and channel for the date, and the trend over recent business days."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from console.status import day_status
from console.ui import charts, queries, views
from console.ui.frame import frame, guarded

page = frame("Volumes", ":material/bar_chart:")


@st.cache_data(ttl=60, show_spinner="Reading the trend…")
def volume_trend(_adapters: object, end: dt.date, days: int, source: str) -> pd.DataFrame:
    """Cached per (end, days, warehouse); ``_adapters`` is not hashed."""
    return queries.volume_trend(_adapters, end, days)


with guarded():
    status = day_status(page.adapters, page.day, page.clock)
    st.subheader(f"Lists generated for {page.day}")
    note = views.warehouse_note(status.warehouse_error)
    if note:
        st.warning(note, icon=":material/database:")
    elif status.lists.empty:
        st.info("No lists generated for this date yet.", icon=":material/hourglass_empty:")
    else:
        table = views.list_table(status.lists)
        left, right = st.columns([1, 1])
        left.dataframe(table, hide_index=True,
                       column_config={"Records": st.column_config.NumberColumn(format="localized")})
        left.caption(f"{len(table)} lists, {int(table['Records'].sum()):,} records.")
        right.plotly_chart(charts.volume_bars(table), key="bars")

with guarded():
    st.subheader("Trend")
    days = st.slider("Business days", min_value=5, max_value=60, value=20, step=5, key="trend_days")
    trend = volume_trend(page.adapters, page.day, days, page.adapters.warehouse.label)
    if trend.empty:
        st.info("No lists in the warehouse for these days yet.")
    else:
        st.plotly_chart(charts.volume_trend(trend), key="trend")
        st.caption("Records per list per business date. Expected-volume checks arrive with the data-quality issue.")
