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

from console.clock import last_business_days
from console.model import Run
from console.settings import Adapters
from console.ui import cached
from console.ui.fmt import duration, hhmm
from console.ui.frame import guarded

DRIVER_EVENTS = {"DRIVER_NOT_RESPONDING", "DRIVER_UNAVAILABLE", "SPARK_EXCEPTION", "METASTORE_DOWN", "DBFS_DOWN"}
RESIZE_EVENTS = {"RESIZING", "UPSIZE_COMPLETED", "AUTOSCALING_STATS_REPORT", "AUTOSCALING_FAILED",
                 "AUTOSCALING_BACKOFF", "ADD_NODES_FAILED"}


def meaning(event: dict[str, Any]) -> str:
    """What an event says about the run, in words."""
    kind, reason, cause = event["type"], event["reason"], event["cause"]
    workers = ""
    if event.get("current_workers") is not None:
        workers = f" ({event['current_workers']} → {event.get('target_workers') or event['current_workers']} workers)"
    if kind == "NODES_LOST" and reason == "SPOT_INSTANCE_TERMINATION":
        return "Spot instances reclaimed by the cloud: workers lost, their tasks retried (slower run)" + workers
    if kind == "NODES_LOST":
        return f"Workers lost ({reason or 'reason not given'})" + workers
    if kind in RESIZE_EVENTS:
        why = "autoscaling" if cause.startswith("AUTOSCALE") else (cause.lower().replace("_", " ") or "resize")
        return f"Cluster resizing ({why})" + workers
    if kind in DRIVER_EVENTS:
        return "Driver problem: often memory pressure or long GC pauses on the driver"
    if kind in ("CREATING", "STARTING", "RUNNING", "INIT_SCRIPTS_STARTED", "INIT_SCRIPTS_FINISHED"):
        return "Cluster start-up"
    if kind == "UNKNOWN":
        return "An event type this console does not know yet"
    return kind.replace("_", " ").capitalize()


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
