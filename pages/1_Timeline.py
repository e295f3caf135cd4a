"""The day's milestones planned against actual, and the task runs of the day's run as a Gantt chart."""

from __future__ import annotations

import streamlit as st

from console.clock import at_et
from console.status import day_status
from console.ui import charts, views
from console.ui.fmt import et_naive, state_icon
from console.ui.frame import frame, guarded

page = frame("Timeline", ":material/timeline:")

with guarded():
    status = day_status(page.adapters, page.day, page.clock)
    st.markdown(f"{state_icon(status.run.state if status.run else None)} {views.workflow_sentence(status)}")

    st.subheader("Milestones: planned vs actual (ET)")
    st.dataframe(views.styled(views.milestone_table(status), ["Status"]), hide_index=True)
    note = views.warehouse_note(status.warehouse_error)
    if note:
        st.warning(f"The Genesys and results milestones cannot be judged: {note}", icon=":material/database:")

    st.subheader("Task runs")
    gantt = views.gantt_frame(status.run, page.adapters.spec)
    if gantt.empty:
        st.info(f"No task has run for {page.day} yet.", icon=":material/hourglass_empty:")
    else:
        target = page.settings.milestone("workflow_target").time
        order = [t.short_key for t in page.adapters.spec.tasks]
        figure = charts.task_gantt(gantt, order, et_naive(at_et(page.day, target)),
                                   et_naive(page.now) if page.is_today else None)
        st.plotly_chart(figure, key="gantt")
        not_run = sorted(set(order) - set(gantt["Task"]), key=order.index)
        st.caption(f"Run {status.run.run_id if status.run else '—'}: every attempt, retries and repairs included; "
                   f"times in Eastern time. The red line is the {target} target."
                   + (f" Not started: {', '.join(not_run)}." if not_run else ""))
