"""Today at a glance: one verdict for the day, the milestones, the workflow's progress and ETA, the lists."""

from __future__ import annotations

import streamlit as st

from console.ui import cached, gate, views
from console.ui.fmt import hhmm, hhmm_of, long_date, milestone_md
from console.ui.frame import Page, engine_note, frame, guarded, heartbeat, overall_callout
from console.ui.queries import demo_anomaly_dates
from jobs.demo.anomalies import ANOMALIES

page = frame("Today at a glance", ":material/today:", sidebar_heartbeat=False)


@st.fragment(run_every="30s")
def glance(page: Page) -> None:
    """Re-runs on its own every 30 s (only this part of the page); reads come from the shared cache."""
    page = page.refreshed()
    with guarded():
        status = cached.status(page.adapters, page.day, page.clock)
        overall_callout(status)
        gate.held_lists(page, status)
        engine_note(status)
        done, total = views.tasks_done(status)
        date_col, now_col, done_col, eta_col, alerts_col, checklist_col = st.columns(6)
        date_col.metric("Business date", page.day.strftime("%d %b"), help=f"{long_date(page.day)} ({page.day})")
        now_col.metric(f"Now ({views.zone_name(status.now)})", hhmm(status.now))
        done_col.metric("Tasks done", f"{done} of {total}")
        eta_value, eta_delta, eta_help = views.eta_metric(status, page.adapters.spec)
        eta_col.metric("Workflow finish", eta_value, eta_delta, delta_color=views.delta_color(eta_delta),
                       delta_arrow="off", help=eta_help)
        if page.is_today:
            cached.watchdog(page.adapters, status)
        alerts_col.metric("Open alerts", cached.open_alerts(page.adapters),
                          help="Open and acknowledged alerts, all days; see the Alerts page.")
        ticked, items = status.checklist_done
        checklist_col.metric("Checklist", f"{ticked} of {items}", help="Items done today (automatic or ticked); "
                                                                       "see the Checklist page.")
        if not page.is_today:
            st.caption(f"Showing {long_date(page.day)}, not today's business date ({page.today}). "
                       "Pick a date in the sidebar.")

        st.subheader("Milestones (ET)")
        for column, m in zip(st.columns(len(status.milestones)), status.milestones, strict=True):
            with column.container(border=True):
                st.markdown(f"**{hhmm(m.planned)}** · {m.name}")
                st.markdown(milestone_md(m.status))
                st.caption(f"Actual {hhmm_of(m.actual, page.day)} · {m.detail}")

        st.subheader("Workflow")
        st.progress(done / total if total else 0.0, text=views.workflow_sentence(status))
        for note in status.eta.notes if status.eta else []:
            st.caption(note)

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
        st.caption(f"Refreshes every 30 s · last refreshed {hhmm(status.now)} {views.zone_name(status.now)}"
                   f"{views.warehouse_freshness(status.reads)}.")


glance(page)

if page.adapters.is_demo:
    with guarded(), st.expander("Demo data: the seeded anomalies", icon=":material/science:"):
        st.caption("The demo history contains these on purpose, so trends and alerts have something true to show.")
        for day, anomaly in demo_anomaly_dates(page.adapters, ANOMALIES):
            when = day.isoformat() if day else f"{anomaly.days_ago} business days before the last history day"
            st.markdown(f"- **{when}** ({anomaly.kind.replace('_', ' ')}): {anomaly.description}")
