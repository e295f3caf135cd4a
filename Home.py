"""Today at a glance: the business date, the workflow, the milestones, the lists and the worker."""

from __future__ import annotations

import streamlit as st

from console.status import day_status
from console.ui import views
from console.ui.fmt import hhmm, long_date, milestone_md, state_icon
from console.ui.frame import Page, frame, guarded, heartbeat
from console.ui.queries import demo_anomaly_dates
from jobs.demo.anomalies import ANOMALIES

page = frame("Today at a glance", ":material/today:", sidebar_heartbeat=False)


@st.fragment(run_every="30s")
def glance(page: Page) -> None:
    with guarded():
        status = day_status(page.adapters, page.day, page.clock)
        done, total = views.tasks_done(status)
        date_col, now_col, state_col, done_col = st.columns(4)
        date_col.metric("Business date", page.day.isoformat(), help=long_date(page.day))
        now_col.metric("Now (ET)", hhmm(status.now))
        state_col.metric("Workflow", views.workflow_headline(status.run))
        done_col.metric("Tasks done", f"{done} of {total}")
        st.markdown(f"**{long_date(page.day)}** · {state_icon(status.run.state if status.run else None)} "
                    f"{views.workflow_sentence(status)}")
        if not page.is_today:
            st.caption(f"Showing {page.day}, not today ({page.today}). Pick today's date in the sidebar for today.")

        st.subheader("Milestones")
        for column, m in zip(st.columns(len(status.milestones)), status.milestones, strict=True):
            with column.container(border=True):
                st.markdown(f"**{m.name}**")
                st.markdown(f"Planned {hhmm(m.planned)} · {milestone_md(m.status)}")
                st.caption(f"Actual {hhmm(m.actual)} · {m.detail}")

        st.subheader("Lists generated")
        note = views.warehouse_note(status.warehouse_error)
        if note:
            st.warning(note, icon=":material/database:")
        elif status.lists.empty:
            st.info("No lists generated for this date yet.", icon=":material/hourglass_empty:")
        else:
            table = views.list_table(status.lists)
            st.dataframe(table, hide_index=True,
                         column_config={"Records": st.column_config.NumberColumn(format="localized")})
            st.caption(f"{len(table)} lists, {int(table['Records'].sum()):,} records.")

        st.subheader("Worker")
        heartbeat(page.adapters)
        st.caption(f"Refreshes every 30 s · last refreshed {hhmm(status.now)} ET.")


glance(page)

if page.adapters.is_demo:
    with guarded(), st.expander("Demo data: the seeded anomalies", icon=":material/science:"):
        st.caption("The demo history contains these on purpose, so trends and alerts have something true to show.")
        for day, anomaly in demo_anomaly_dates(page.adapters, ANOMALIES):
            when = day.isoformat() if day else f"{anomaly.days_ago} business days before the last history day"
            st.markdown(f"- **{when}** ({anomaly.kind.replace('_', ' ')}): {anomaly.description}")
