"""The cluster panel of the Workflow page (Databricks only): the job cluster's events and the run's setup time.

The guide's "cluster startup delays", "memory issues" and "auto-scaling behaviour" show here as cluster
events (spot instances lost, resizing, driver problems) beside the run's setup time against its history.
"""

from __future__ import annotations

import datetime as dt
import statistics
from typing import Any

import pandas as pd
import streamlit as st

from console.adapters.protocols import Adapters
from console.clock import last_business_days
from console.clusters import DRIVER_EVENTS, meaning
from console.model import Run
from console.ui import cached
from console.ui.fmt import duration, hhmm
from console.ui.frame import guarded


@st.cache_data(ttl=60, show_spinner=False)
def _events(_adapters: Adapters, stack: str, run_id: int, clusters: tuple[str, ...], _run: Run) -> list[dict[str, Any]]:
    return list(_adapters.engine.cluster_events(_run))


def run_setup_seconds(run: Run) -> float | None:
    """The longest setup of the run's tasks: the job cluster's start (every task waits for it)."""
    setups = [t.setup_seconds for t in run.tasks if t.setup_seconds is not None]
    return max(setups) if setups else None


def cluster_panel(adapters: Adapters, run: Run | None, day: dt.date, history_days: int) -> None:
    """Shown only when the engine is Databricks and there is a run; setup time against ``history_days``."""
    if getattr(adapters.engine, "kind", "") != "databricks" or run is None:
        return
    st.subheader("Cluster")
    with guarded():
        days = last_business_days(day, history_days)
        history = cached.runs(adapters, days[0], days[-1])  # the page's run history: the same cached read
        events = _events(adapters, str(adapters.settings.data_dir), run.run_id, tuple(run.cluster_ids), run)
        setup = run_setup_seconds(run)
        past = [s for r in history if r.run_id != run.run_id and (s := run_setup_seconds(r)) is not None]
        median = statistics.median(past) if past else None
        setup_col, spot_col, resize_col, driver_col = st.columns(4)
        setup_col.metric("Cluster setup", duration(setup),
                         f"{(setup - median) / median:+.0%} vs median" if setup is not None and median else None,
                         delta_color="inverse", help=f"Median over {len(past)} earlier runs: {duration(median)}.")
        spot_col.metric("Spot losses", sum(e["type"] == "NODES_LOST" for e in events))
        resize_col.metric("Resizes", sum(e["type"] in ("RESIZING", "UPSIZE_COMPLETED") for e in events))
        driver_col.metric("Driver problems", sum(e["type"] in DRIVER_EVENTS for e in events))
        if not events:
            st.caption(f"No events for the run's job cluster ({', '.join(run.cluster_ids) or 'none recorded'}).")
            return
        table = pd.DataFrame([{"Time (ET)": hhmm(e["time"]), "Event": e["type"], "What it means": meaning(e),
                               "Cluster": e["cluster_id"]} for e in events])
        st.dataframe(table, hide_index=True, column_config={
            "What it means": st.column_config.TextColumn(width="large")})
