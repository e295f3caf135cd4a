"""How states, times and numbers read on the pages: colour and words together, times in ET."""

from __future__ import annotations

import datetime as dt

from console.clock import ET, hhmm, hhmm_of  # noqa: F401 (re-exported: the pages import it from here)
from console.model import TaskState

# Each state has a colour (charts, DAG, table cells) and a word; markdown adds an icon. Never colour alone.
# Icons are Material Symbols (bundled with Streamlit's front end), so they render without emoji fonts.
STATE_COLOURS = {
    TaskState.SUCCEEDED: "#2e7d32",
    TaskState.FAILED: "#c62828",
    TaskState.UPSTREAM_FAILED: "#ef6c00",
    TaskState.RUNNING: "#1565c0",
    TaskState.QUEUED: "#6a1b9a",
    TaskState.PENDING: "#9e9e9e",
    TaskState.CANCELED: "#5d4037",
    TaskState.SKIPPED: "#bdbdbd",
    TaskState.UNKNOWN: "#616161",
}
_STATE_MD = {
    TaskState.SUCCEEDED: ("green", "check_circle"),
    TaskState.FAILED: ("red", "cancel"),
    TaskState.UPSTREAM_FAILED: ("orange", "block"),
    TaskState.RUNNING: ("blue", "autorenew"),
    TaskState.QUEUED: ("violet", "schedule"),
    TaskState.PENDING: ("gray", "radio_button_unchecked"),
    TaskState.CANCELED: ("gray", "do_not_disturb_on"),
    TaskState.SKIPPED: ("gray", "skip_next"),
    TaskState.UNKNOWN: ("gray", "help"),
}
MILESTONE_MD = {"done": ("green", "check_circle"), "late": ("orange", "warning"), "failed": ("red", "cancel"),
                "running": ("blue", "autorenew"), "pending": ("gray", "radio_button_unchecked"),
                "at_risk": ("orange", "error")}
# The day's overall verdict: colour, icon and the st.* callout that frames it.
OVERALL_MD = {"done": ("green", "task_alt", "success"), "on_track": ("green", "check_circle", "success"),
              "at_risk": ("orange", "error", "warning"), "late": ("orange", "warning", "warning"),
              "failed": ("red", "cancel", "error")}
# Table cells: background colour by the word in the cell.
CELL_COLOURS = {
    **{s.label: c for s, c in STATE_COLOURS.items()},
    "done": STATE_COLOURS[TaskState.SUCCEEDED], "late": STATE_COLOURS[TaskState.UPSTREAM_FAILED],
    "running": STATE_COLOURS[TaskState.RUNNING], "at risk": STATE_COLOURS[TaskState.UPSTREAM_FAILED],
    "ok": STATE_COLOURS[TaskState.SUCCEEDED],
    "attention": STATE_COLOURS[TaskState.UPSTREAM_FAILED], "not yet": STATE_COLOURS[TaskState.PENDING],
    "by hand": "#0277bd", "unknown": STATE_COLOURS[TaskState.UNKNOWN],
    "auto-pass": STATE_COLOURS[TaskState.SUCCEEDED], "ticked": STATE_COLOURS[TaskState.SUCCEEDED],
    "auto-fail": STATE_COLOURS[TaskState.FAILED], "overdue": STATE_COLOURS[TaskState.UPSTREAM_FAILED],
    "n/a": STATE_COLOURS[TaskState.SKIPPED],
}
_LIGHT_CELLS = {STATE_COLOURS[TaskState.SKIPPED]}


def _md(colour: str, icon: str, text: str) -> str:
    return f":{colour}[:material/{icon}: {text}]"


def state_md(state: TaskState | None) -> str:
    """``:green[:material/check_circle: succeeded]``; ``None`` (no run) reads "not started"."""
    if state is None:
        return _md("gray", "radio_button_unchecked", "not started")
    colour, icon = _STATE_MD.get(state, ("gray", "help"))
    return _md(colour, icon, state.label)


def state_icon(state: TaskState | None) -> str:
    """Just the coloured icon, for a line whose words already name the state."""
    colour, icon = _STATE_MD.get(state, ("gray", "help")) if state else ("gray", "radio_button_unchecked")
    return f":{colour}[:material/{icon}:]"


def milestone_md(status: str) -> str:
    colour, icon = MILESTONE_MD.get(status, ("gray", "help"))
    return _md(colour, icon, status.replace("_", " "))


def cell_style(value: object) -> str:
    """CSS for a table cell holding a state word (``pandas.Styler.map``); other cells are left alone."""
    colour = CELL_COLOURS.get(str(value))
    if colour is None:
        return ""
    text = "#212121" if colour in _LIGHT_CELLS else "white"
    return f"background-color: {colour}; color: {text}"


def et_naive(moment: dt.datetime | None) -> dt.datetime | None:
    """Eastern wall-clock time without the zone, for chart axes that should read in ET."""
    return moment.astimezone(ET).replace(tzinfo=None) if moment else None


def duration(seconds: float | None) -> str:
    """``12m 05s`` / ``45s`` / ``—``."""
    if seconds is None:
        return "—"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def long_date(day: dt.date) -> str:
    """``Friday 27 November 2026``."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{int(seconds)} s ago"
    if seconds < 7200:
        return f"{int(seconds // 60)} min ago"
    return f"{seconds / 3600:.1f} h ago"
