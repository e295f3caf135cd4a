"""Planned against actual for every milestone, the workflow's ETA, and the task runs as a Gantt chart."""

from __future__ import annotations

import streamlit as st

from console.clock import at_et
from console.ui import cached, charts, gate, views
from console.ui.fmt import et_naive, hhmm
from console.ui.frame import engine_note, frame, guarded, overall_callout

page = frame("Timeline", ":material/timeline:")
spec = page.adapters.spec

with guarded():
    status = cached.status(page.adapters, page.day, page.clock)
    overall_callout(status)
    gate.held_lists(page, status)
    engine_note(status)
    zone = views.zone_name(status.now)

    st.subheader("When will the workflow finish?")
    eta = status.eta
    if eta is None:
        st.info("No ETA while the engine cannot be reached.", icon=":material/cloud_off:")
    else:
        left, middle, right = st.columns(3)
        value, delta, help_text = views.eta_metric(status, spec)
        left.metric("Expected finish (ET)", value, delta, delta_color=views.delta_color(delta),
                    delta_arrow="off", help=help_text)
        middle.metric("At worst (p90)", hhmm(eta.pessimistic_finish) if eta.verdict not in ("failed",) else "—")
        right.metric("Against the target", f"{eta.words}", help=f"Target {hhmm(eta.target)} ET.")
        st.markdown(views.eta_sentence(eta, spec))
        for note in eta.notes:
            st.caption(note)

    st.subheader(f"Milestones: planned vs actual ({zone})")
    st.dataframe(views.styled(views.milestone_table(status), ["Status"]), hide_index=True,
                 column_config={"Detail": st.column_config.TextColumn(width="large")})
    note = views.warehouse_note(status.warehouse_error)
    if note:
        st.warning(f"The Genesys and results milestones cannot be judged: {note}", icon=":material/database:")

    st.subheader("Task runs")
    gantt = views.gantt_frame(status.run, spec, status.now, eta)
    if gantt.empty:
        st.info(f"No task has run for {page.day} yet.", icon=":material/hourglass_empty:")
    else:
        target = page.settings.milestone("workflow_target").time
        order = [t.short_key for t in spec.tasks]
        # The "now" line while the run is under way; after it ended, a line at 19:30 only squeezed its bars.
        running = page.is_today and not (status.run and status.run.state.is_terminal)
        figure = charts.task_gantt(gantt, order, et_naive(at_et(page.day, target)),
                                   et_naive(status.now) if running else None)
        st.plotly_chart(figure, key="gantt")
        ran = set(gantt.loc[gantt["State"] != views.PROJECTED, "Task"])
        not_run = sorted(set(order) - ran, key=order.index)
        st.caption(f"Run {status.run.run_id if status.run else '—'}: every attempt, retries and repairs included; "
                   f"times in Eastern time ({zone}). The red line is the {target} target"
                   + (", light bars are the projection from past durations" if views.PROJECTED in
                      set(gantt["State"]) else "") + "."
                   + (f" Not started: {', '.join(not_run)}." if not_run else ""))
