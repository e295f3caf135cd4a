"""Who did what, and when: every confirmed action (reruns, cancels, ticks, sign-offs), newest first."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from console.auth import allowed
from console.clock import ET, at_et
from console.text import csv_frame
from console.ui import cached, queries
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

if allowed(page.who, "view_costs"):
    with guarded():
        st.subheader("The console's warehouse use today", divider="gray")
        today = page.now.astimezone(ET).date()
        suspend = page.adapters.settings.auto_suspend_seconds
        used = cached.warehouse_usage(page.adapters, at_et(today, "00:00"), page.now)
        kinds, woke = used["kinds"], used["awake"]
        first, second, third = st.columns(3)
        first.metric("Statements sent", f"{used['total']:,}",
                     help="By the UI, the worker and the CLI since 00:00 ET (console/adapters/meter.py).")
        second.metric("Needed a running warehouse", f"{kinds['compute']:,}",
                      help="The rest were answered without one: metadata (SHOW, describes) "
                           f"{kinds['metadata']:,}, Snowflake's result cache {kinds['result_cache']:,} (estimated).")
        third.metric("Warehouse kept awake (estimate)", f"{woke.billed_minutes:.0f} min",
                     help=f"{woke.resumes} resumes, each billed at least 60 s, suspending {suspend} s after the "
                          "last statement ([warehouse] auto_suspend_seconds).")
        per_process = ", ".join(f"{p} {n:,}" for p, n in sorted(used["per_process"].items())) or "none yet"
        pipeline = (f" Not counted: {used['pipeline']:,} statements of the demo's pipeline (list tasks, Genesys "
                    "simulator), which the embedded stack runs in the console's processes."
                    if used["pipeline"] else "")
        st.caption(f"By process: {per_process}.{pipeline} The console re-reads a table only when Snowflake's "
                   "metadata says it changed (`[warehouse] read_when_changed`); `bench/bench_warehouse_cost.py` "
                   "replays a day.")
