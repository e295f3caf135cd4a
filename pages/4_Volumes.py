"""Records per list and channel for the date, its anomalies, and the trend with the same-weekday band."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from console import volumes
from console.clock import last_business_days
from console.text import csv_frame
from console.ui import cached, charts, queries, views
from console.ui.frame import frame, guarded

page = frame("Volumes", ":material/bar_chart:")
checks = page.settings.checks


@st.cache_data(ttl=300, show_spinner="Reading the daily volumes…")
def history(_adapters: object, start: dt.date, end: dt.date, source: str) -> pd.DataFrame:
    """Aggregate rows, cached per range and warehouse; ``_adapters`` is not hashed."""
    return queries.volume_history(_adapters, start, end)


@st.cache_data(ttl=300, show_spinner=False)
def baselines(rows: pd.DataFrame, dates: tuple[dt.date, ...], settings_key: str) -> pd.DataFrame:
    return volumes.with_baselines(rows, checks, dates)


# The trend's table and figure are kept as objects (cache_resource: no copy per rerun); nothing mutates them.
@st.cache_resource(ttl=300, max_entries=16, show_spinner="Computing the baselines…")
def trend_table(_adapters: object, _today: pd.DataFrame, start: dt.date, end: dt.date, day: dt.date,
                today_key: tuple, settings_key: str, source: str) -> pd.DataFrame:
    rows = history(_adapters, volumes.history_start(page.settings, start), end, source)
    if day == end:
        rows = volumes.with_day(rows, end, _today)
    shown = tuple(sorted(d for d in set(rows["BUSINESS_DATE"]) if start <= d <= end))
    return volumes.with_baselines(rows, checks, shown)


@st.cache_resource(ttl=300, max_entries=16, show_spinner="Drawing the trend…")
def trend_view(_table: pd.DataFrame, key: tuple, lists: tuple[str, ...], channels: tuple[str, ...]
               ) -> tuple[pd.DataFrame, object, bytes]:
    """The filtered rows, their figure and their CSV (``key`` identifies ``_table``)."""
    trend = _table
    if lists:
        trend = trend[trend["LIST_NAME"].isin(lists)]
    if channels:
        trend = trend[trend["CHANNEL"].isin(channels)]
    shown = pd.DataFrame({
        "Business date": trend["BUSINESS_DATE"], "List": trend["LIST_NAME"], "Channel": trend["CHANNEL"],
        "Records": trend["RECORDS"], "Change vs previous day": trend["CHANGE"].astype("Int64"),
        "Expected low": trend["BASE_LOW"].round(), "Expected high": trend["BASE_HIGH"].round(),
        "Status": trend["STATUS"].str.replace("_", " "),
    })
    return shown, charts.volume_bands(trend), csv_frame(shown)


lists_today = pd.DataFrame()
with guarded():
    reads = cached.day_reads(page.adapters, page.day, page.clock)  # the status pages' shared read of the day
    lists_today, warehouse_error = reads.lists, reads.warehouse_error
    st.subheader(f"Lists generated for {page.day}")
    note = views.warehouse_note(warehouse_error)
    if note:
        st.warning(note, icon=":material/database:")
    elif lists_today.empty:
        st.info("No lists generated for this date yet.", icon=":material/hourglass_empty:")
    else:
        table = views.list_table(lists_today)
        left, right = st.columns([1, 1])
        left.dataframe(table, hide_index=True,
                       column_config={"Records": st.column_config.NumberColumn(format="localized")})
        left.caption(f"{len(table)} lists, {int(table['Records'].sum()):,} records.")
        right.plotly_chart(charts.volume_bars(table), key="bars")

        st.subheader("Against the same weekday")
        start = volumes.history_start(page.settings, page.day)
        rows = volumes.with_day(history(page.adapters, start, page.day, page.adapters.warehouse.label),
                                page.day, lists_today)
        today = baselines(rows, (page.day,), repr(sorted(checks.items())))
        flagged = today[today["STATUS"].isin(["too_high", "too_low"])]
        if len(flagged):
            st.error(f"{len(flagged)} list(s) outside their expected range: "
                     + "; ".join(f"**{r.LIST_NAME}** ({r.CHANNEL}) {r.EXPLANATION}" for r in flagged.itertuples()),
                     icon=":material/warning:")
        else:
            st.success("No list is outside its same-weekday range.", icon=":material/check_circle:")
        st.dataframe(pd.DataFrame({
            "List": today["LIST_NAME"], "Channel": today["CHANNEL"], "Records": today["RECORDS"],
            "Change vs previous day": today["CHANGE"].astype("Int64"),
            "Status": today["STATUS"].str.replace("_", " "), "Expected": today["EXPLANATION"],
        }), hide_index=True, column_config={"Records": st.column_config.NumberColumn(format="localized")})
        st.caption(f"Expected range: median ± {checks['anomaly_k']:g}·MAD of the same weekday over the last "
                   f"{int(checks['anomaly_window_weeks'])} weeks (never narrower than ±{checks['anomaly_min_band']:.0%}"
                   f" or the count's own noise); {int(checks['anomaly_min_history'])} such days needed.")

with guarded():
    st.subheader("Trend")
    default_start = last_business_days(page.day, 60)[0]
    picked = st.date_input("Dates", value=(default_start, page.day), max_value=page.today, key="trend_dates")
    start, end = (picked[0], picked[-1]) if isinstance(picked, tuple) and picked else (default_start, page.day)
    settings_key = repr(sorted(checks.items()))
    today_key = tuple(map(tuple, lists_today[["LIST_NAME", "CHANNEL", "RECORDS"]].itertuples(index=False))) \
        if not lists_today.empty else ()
    source = page.adapters.warehouse.label
    full = trend_table(page.adapters, lists_today, start, end, page.day, today_key, settings_key, source)
    if full.empty:
        st.info("No lists in the warehouse for these dates yet.")
    else:
        left, right = st.columns(2)
        lists = left.multiselect("Lists", sorted(full["LIST_NAME"].unique()), key="trend_lists",
                                 placeholder="All lists")
        channels = right.multiselect("Channels", sorted(full["CHANNEL"].unique()), key="trend_channels",
                                     placeholder="All channels")
        key = (start, end, page.day, today_key, settings_key, source)
        shown, figure, csv = trend_view(full, key, tuple(lists), tuple(channels))
        st.plotly_chart(figure, key="trend")
        days_shown = shown["Business date"].nunique()
        st.caption(f"{days_shown} business days, {len(shown):,} rows, read from the daily aggregate "
                   "table (not the list rows). Grey band: the same-weekday expected range; red ×: outside it.")
        with st.expander("The numbers"):
            st.dataframe(shown, hide_index=True)
        st.download_button("Download CSV", csv, key="trend_csv", file_name=f"volumes_{start}_{end}.csv",
                           mime="text/csv")
