"""The workflow DAG with live states, one task in detail, one-click actions, and the run history."""

from __future__ import annotations

import statistics

import streamlit as st

from console.clock import last_business_days
from console.text import plain
from console.ui import actions, cached, charts, views
from console.ui.cluster import cluster_panel
from console.ui.dag import legend_html, workflow_dot
from console.ui.fmt import duration, hhmm, state_md
from console.ui.frame import engine_note, frame, guarded
from console.ui.utilization import utilization_panel

HISTORY_DAYS = 30

page = frame("Workflow", ":material/account_tree:")
spec = page.adapters.spec
who = page.who

with guarded():
    status = cached.status(page.adapters, page.day, page.clock)
    run = status.run
    engine_note(status)
    about = (f"run {run.run_id} ({run.trigger.lower()}, by {run.requested_by}) · {state_md(run.state)}"
             if run else f"no run for {page.day} yet")
    st.markdown(f"**{spec.job_name}** · {len(spec.tasks)} tasks · {about}")
    if run and run.run_page_url:
        st.link_button("Open the run in Databricks", run.run_page_url, icon=":material/open_in_new:")
    st.graphviz_chart(workflow_dot(spec, run))
    st.markdown(legend_html(), unsafe_allow_html=True)

    st.subheader("Actions")
    actions.action_bar(page, who, status)
    st.caption(f"Signed in as {who.name} ({who.role}). Reruns and cancels need the engineer role; every confirmed "
               "action is in the audit log.")

    st.subheader("Task detail")
    labels = {t.key: f"{t.short_key} · {t.key}" for t in spec.tasks}
    failed = next((t.task_key for t in (run.tasks if run else []) if t.state.value == "failed"), None)
    chosen = st.selectbox("Task", list(labels), format_func=labels.__getitem__, key="task_pick",
                          index=list(labels).index(failed) if failed else 0)
    t = run.task(chosen) if run else None
    past = [r["duration_seconds"] for r in cached.history_rows(page.adapters, page.day)
            if r["task_key"] == chosen and r["state"] == "succeeded" and r["duration_seconds"] is not None]
    median = statistics.median(past) if past else None
    state_col, took_col, median_col, tries_col = st.columns(4)
    state_col.markdown(f"**State**  \n{state_md(t.state if t else None)}")
    took = t.duration_seconds if t else None
    took_col.metric("Duration", duration(took) if took is not None else "—",
                    f"{(took - median) / median:+.0%} vs median" if took is not None and median else None,
                    delta_color="inverse")
    median_col.metric("Historical median", duration(median) if median else "—",
                      help=f"Over {len(past)} successful runs in the last "
                           f"{int(page.settings.eta['history_days'])} business days.")
    tries_col.metric("Tries", (t.attempt + 1) if t and t.start else "—")
    if t:
        st.caption(f"Start {hhmm(t.start)} ET · end {hhmm(t.end)} ET"
                   + (f" · setup {duration(t.setup_seconds)}, execution {duration(t.execution_seconds)}"
                      if t.setup_seconds is not None and t.execution_seconds is not None else ""))
        if t.error_message and t.state.value != "succeeded":
            st.error(f"{spec.task(chosen).short_key}: {plain(t.error_message)}", icon=":material/error:")
        attempts = views.attempts_table(run, chosen) if run else None
        if attempts is not None and len(attempts) > 1:
            st.dataframe(views.styled(attempts, ["State"]), hide_index=True)
        traced = [a for a in run.attempts if a.task_key == chosen and a.error_trace] if run else []
        if traced:
            short = spec.task(chosen).short_key
            with st.expander(f"Stack trace ({len(traced)} failed {'try' if len(traced) == 1 else 'tries'})",
                             icon=":material/bug_report:"):
                pick = traced[-1] if len(traced) == 1 else st.selectbox(
                    "Try", traced, index=len(traced) - 1, key="trace_try",
                    format_func=lambda a: f"try {a.attempt + 1}" + (f" (repair {a.repair_id})" if a.repair_id else ""))
                needle = st.text_input("Search the trace", key="trace_search", placeholder="e.g. FileNotFoundError")
                text, count = views.trace_lines(pick.error_trace or "", needle)
                st.code(text or "(no line matches)", language="text")
                st.caption(f"{count} line(s). `python -m console logs --date {page.day} --task {short}` prints it.")
                st.download_button("Download the trace", pick.error_trace or "", key="trace_download",
                                   file_name=f"{short}_{page.day}_try{pick.attempt + 1}.txt", mime="text/plain",
                                   icon=":material/download:")
    actions.rerun_from_button(page, who, status, chosen)

    st.subheader("Tasks")
    tasks = views.task_table(run, spec)
    st.dataframe(views.styled(tasks, ["State"]), hide_index=True, height=36 * (len(tasks) + 1) + 2,
                 column_config={"Full name": st.column_config.TextColumn(width="medium"),
                                "Error": st.column_config.TextColumn(width="large")})
    if run and run.repairs:
        st.caption(f"{len(run.repairs)} repair(s) of this run; the table shows each task's latest attempt.")
    cluster_panel(page.adapters, run, page.day, HISTORY_DAYS)
    utilization_panel(page.adapters, run, page.day)

with guarded():
    st.subheader(f"Run history: last {HISTORY_DAYS} business days")
    days = last_business_days(page.day, HISTORY_DAYS)
    runs = cached.runs(page.adapters, days[0], days[-1])
    if not runs:
        st.info("No runs recorded in this window yet.", icon=":material/hourglass_empty:")
    else:
        st.plotly_chart(charts.history_heatmap(views.history_matrix(runs, spec, days),
                                               views.history_hover(runs, spec, days)), key="history")
        st.caption(f"{len(views.latest_runs_by_day(runs))} of {len(days)} business days have a run "
                   f"({days[0]:%Y-%m-%d} to {days[-1]:%Y-%m-%d}); each cell is the task's state in the day's "
                   "latest run (repairs included); hover for duration and tries.")
        target = page.settings.milestone("workflow_target").time
        landing, trend = st.columns(2)
        with landing:
            st.markdown(f"**When the workflow finished** (ET), against the {target} target")
            st.plotly_chart(charts.landing_chart(views.landing_frame(runs, days), target), key="landing")
        with trend:
            st.markdown("**Task durations** (minutes, successful runs)")
            durations = views.duration_frame(runs, spec, days)
            medians = durations.groupby("Task")["Minutes"].median().to_dict()
            _, path = spec.critical_path({t.key: medians.get(t.short_key, 0.0) for t in spec.tasks})
            shown = st.multiselect("Tasks", [t.short_key for t in spec.tasks], key="trend_tasks",
                                   default=[spec.task(k).short_key for k in path],
                                   help="Starts with the critical path: the chain of tasks that decides the finish.")
            st.plotly_chart(charts.duration_trend(durations[durations["Task"].isin(shown)]), key="durations")
