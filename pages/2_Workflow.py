"""The workflow DAG with live states, the task table, 30 business days of history and one-click actions."""

from __future__ import annotations

import streamlit as st

from console.clock import last_business_days
from console.ui import actions, charts, views
from console.ui.dag import legend_html, workflow_dot
from console.ui.fmt import state_md
from console.ui.frame import frame, guarded

HISTORY_DAYS = 30

page = frame("Workflow", ":material/account_tree:")
spec = page.adapters.spec

with guarded():
    run = page.adapters.engine.run_for_date(page.day)
    about = (f"run {run.run_id} ({run.trigger.lower()}, by {run.requested_by}) · {state_md(run.state)}"
             if run else f"no run for {page.day} yet")
    st.markdown(f"**{spec.job_name}** · {len(spec.tasks)} tasks · {about}")
    st.graphviz_chart(workflow_dot(spec, run))
    st.markdown(legend_html(), unsafe_allow_html=True)

    st.subheader("Actions")
    actions.action_bar(page, run)
    st.caption(f"Actions run as {page.user}; permissions by role arrive with the roles issue.")

    st.subheader("Tasks")
    tasks = views.task_table(run, spec)
    st.dataframe(views.styled(tasks, ["State"]), hide_index=True, height=36 * (len(tasks) + 1) + 2,
                 column_config={"Full name": st.column_config.TextColumn(width="medium"),
                                "Error": st.column_config.TextColumn(width="large")})
    if run and run.repairs:
        st.caption(f"{len(run.repairs)} repair(s) of this run; the table shows each task's latest attempt.")

with guarded():
    st.subheader(f"Run history: last {HISTORY_DAYS} business days")
    days = last_business_days(page.day, HISTORY_DAYS)
    runs = page.adapters.engine.list_runs(days[0], days[-1])
    if not runs:
        st.info("No runs recorded in this window yet.", icon=":material/hourglass_empty:")
    else:
        st.plotly_chart(charts.history_heatmap(views.history_matrix(runs, spec, days)), key="history")
        st.caption(f"{len(views.latest_runs_by_day(runs))} of {len(days)} business days have a run "
                   f"({days[0]:%Y-%m-%d} to {days[-1]:%Y-%m-%d}); each cell is the task's state in the day's "
                   "latest run.")
