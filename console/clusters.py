"""What a Databricks cluster event says about a run, in words (the Workflow page's panel and the runbook)."""

from __future__ import annotations

from typing import Any

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


NOTABLE = ("Spot", "Workers lost", "Cluster resizing", "Driver problem")


def notable(events: list[dict[str, Any]], limit: int = 5) -> list[str]:
    """The events that explain a slow or failed run (spot loss, resizing, driver trouble), newest first."""
    out = []
    for event in events:
        words = meaning(event)
        if words.startswith(NOTABLE):
            when = event["time"].strftime("%H:%M UTC") if event.get("time") else "?"
            out.append(f"{when}: {words}")
    return out[:limit]
