"""Plotly figures for the pages (pure functions of DataFrames; times already in ET wall-clock)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from console.model import TaskState
from console.ui.fmt import STATE_COLOURS

PROJECTED_COLOUR = "#90caf9"
CHANNEL_COLOURS = {"CALL": "#1565c0", "SMS": "#2e7d32", "EMAIL": "#ef6c00"}
_BY_LABEL = {**{s.label: c for s, c in STATE_COLOURS.items()}, "projected": PROJECTED_COLOUR}


def _vertical_line(fig: go.Figure, x: dt.datetime, text: str, colour: str, dash: str) -> None:
    # add_vline with annotation_text does arithmetic on the x value, which fails for datetimes: draw it apart.
    fig.add_shape(type="line", x0=x, x1=x, y0=0, y1=1, yref="paper", line={"color": colour, "width": 2,
                                                                              "dash": dash})
    fig.add_annotation(x=x, y=1, yref="paper", text=text, showarrow=False, yanchor="bottom",
                       font={"color": colour, "size": 11})


def task_gantt(frame: pd.DataFrame, task_order: list[str], target: dt.datetime,
               now: dt.datetime | None = None) -> go.Figure:
    """Task attempts as bars (ET), with the target line and, for today, a "now" line."""
    fig = px.timeline(frame, x_start="Start", x_end="End", y="Task", color="State",
                      color_discrete_map=_BY_LABEL, hover_data={"Try": True, "Repair": True, "Duration": True,
                                                                "Error": True, "Task": False})
    fig.update_yaxes(categoryorder="array", categoryarray=list(reversed(task_order)), title=None)
    fig.update_xaxes(tickformat="%H:%M", title="Eastern time")
    _vertical_line(fig, target, f"target {target:%H:%M}", "#c62828", "dash")
    if now is not None:
        _vertical_line(fig, now, f"now {now:%H:%M}", "#1565c0", "dot")
    fig.update_layout(height=80 + 32 * max(len(task_order), 1), margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      legend_title_text="State")
    return fig


def history_heatmap(matrix: pd.DataFrame, hover: pd.DataFrame | None = None) -> go.Figure:
    """Business days × (run, tasks) as a colour grid with the state written in each cell."""
    states = list(STATE_COLOURS)
    codes = {s: i for i, s in enumerate(states)}
    none_code = len(states)
    z = [[codes[v] if isinstance(v, TaskState) else none_code for v in row] for row in matrix.itertuples(index=False)]
    text = [[_short(v) for v in row] for row in matrix.itertuples(index=False)]
    colours = [*STATE_COLOURS.values(), "#f5f5f5"]
    n = len(colours)
    scale = []
    for i, colour in enumerate(colours):
        scale += [(i / n, colour), ((i + 1) / n, colour)]
    fig = go.Figure(go.Heatmap(
        z=z, x=list(matrix.columns), y=list(matrix.index), text=text, texttemplate="%{text}",
        textfont={"size": 10}, colorscale=scale, zmin=-0.5, zmax=n - 0.5, xgap=2, ygap=2,
        customdata=hover.values.tolist() if hover is not None else text,
        hovertemplate="%{y} · %{x}: %{customdata}<extra></extra>",
        colorbar={"tickvals": list(range(n)), "ticktext": [*[s.label for s in states], "no run"],
                  "title": {"text": "State"}},
    ))
    fig.update_yaxes(autorange="reversed", type="category", title=None)
    fig.update_xaxes(side="top", type="category", title=None)
    fig.update_layout(height=120 + 22 * len(matrix.index), margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


_SHORT = {TaskState.SUCCEEDED: "ok", TaskState.FAILED: "failed", TaskState.UPSTREAM_FAILED: "upstream",
          TaskState.RUNNING: "running", TaskState.QUEUED: "queued", TaskState.PENDING: "pending",
          TaskState.CANCELED: "canceled", TaskState.SKIPPED: "skipped", TaskState.UNKNOWN: "?"}


def _short(value: object) -> str:
    return _SHORT.get(value, "?") if isinstance(value, TaskState) else ""


def volume_bars(lists: pd.DataFrame) -> go.Figure:
    """Records per list, coloured by channel (``lists`` as from ``views.list_table``)."""
    fig = px.bar(lists, x="List", y="Records", color="Channel", text="Records",
                 color_discrete_map=CHANNEL_COLOURS)  # the channel colours of every volume chart
    fig.update_traces(texttemplate="%{text:,}", textposition="outside", cliponaxis=False)
    fig.update_layout(margin={"l": 10, "r": 10, "t": 30, "b": 10}, xaxis_title=None, yaxis_title="Records")
    return fig


def landing_chart(frame: pd.DataFrame, target: str) -> go.Figure:
    """The workflow's finish time (ET) per business day against the target line."""
    fig = px.scatter(frame, x="Business date", y="Finished", color="State", color_discrete_map=_BY_LABEL,
                     hover_data={"Finished": False, "Finished (ET)": True, "Repairs": True})
    fig.update_traces(marker={"size": 9})
    fig.add_scatter(x=frame["Business date"], y=frame["Finished"], mode="lines", line={"color": "#bdbdbd", "width": 1},
                    showlegend=False, hoverinfo="skip")
    hour, minute = (int(p) for p in target.split(":"))
    line = dt.datetime(2000, 1, 1, hour, minute)
    fig.add_shape(type="line", xref="paper", x0=0, x1=1, y0=line, y1=line,
                  line={"color": "#c62828", "width": 2, "dash": "dash"})
    fig.add_annotation(xref="paper", x=1, y=line, text=f"target {target}", showarrow=False, xanchor="right",
                       yanchor="bottom", font={"color": "#c62828", "size": 11})
    fig.update_xaxes(type="category", title=None)
    fig.update_yaxes(tickformat="%H:%M", title="Finished (ET)")
    fig.update_layout(height=320, margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend_title_text="Run")
    return fig


def duration_trend(frame: pd.DataFrame) -> go.Figure:
    """Minutes per task per business day."""
    fig = px.line(frame, x="Business date", y="Minutes", color="Task", markers=True)
    fig.update_xaxes(type="category", title=None)
    fig.update_layout(height=320, margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return fig


# ------------------------------------------------------------------------------------------------ issue 5


def volume_bands(table: pd.DataFrame) -> go.Figure:
    """One panel per list: records stacked by channel, the same-weekday baseline band, anomalies in red.

    ``table`` as from ``console.volumes.with_baselines`` (BUSINESS_DATE, LIST_NAME, CHANNEL, RECORDS,
    BASE_LOW, BASE_HIGH, STATUS, EXPLANATION).
    """

    # ISO strings, not date objects: the figure's JSON encodes several times faster.
    table = table.assign(BUSINESS_DATE=[str(d) for d in table["BUSINESS_DATE"]])
    lists = sorted(table["LIST_NAME"].unique())
    fig = make_subplots(rows=max(len(lists), 1), cols=1, shared_xaxes=True, vertical_spacing=0.02,
                        subplot_titles=lists)
    shown: set[str] = set()
    for row, name in enumerate(lists, start=1):
        part = table[table["LIST_NAME"] == name]
        band = part.groupby("BUSINESS_DATE", as_index=False)[["BASE_LOW", "BASE_HIGH"]].sum(min_count=1)
        fig.add_trace(go.Scatter(x=band["BUSINESS_DATE"], y=band["BASE_HIGH"], mode="lines", line={"width": 0},
                                 hoverinfo="skip", showlegend=False), row=row, col=1)
        fig.add_trace(go.Scatter(x=band["BUSINESS_DATE"], y=band["BASE_LOW"], mode="lines", line={"width": 0},
                                 fill="tonexty", fillcolor="rgba(120,120,120,0.18)", name="same-weekday range",
                                 legendgroup="band", showlegend="band" not in shown, hoverinfo="skip"),
                      row=row, col=1)
        shown.add("band")
        for channel, lines in part.groupby("CHANNEL"):
            fig.add_trace(go.Scatter(
                x=lines["BUSINESS_DATE"], y=lines["RECORDS"], mode="lines", stackgroup=f"s{row}", name=str(channel),
                legendgroup=str(channel), showlegend=channel not in shown,
                line={"color": CHANNEL_COLOURS.get(str(channel), "#555"), "width": 1.5},
                hovertemplate=f"%{{x}}: %{{y:,}} records<extra>{name} {channel}</extra>"), row=row, col=1)
            shown.add(str(channel))
        odd = part[part["STATUS"].isin(["too_high", "too_low"])]
        if len(odd):
            totals = part.groupby("BUSINESS_DATE")["RECORDS"].sum()
            fig.add_trace(go.Scatter(x=odd["BUSINESS_DATE"], y=[totals[d] for d in odd["BUSINESS_DATE"]],
                                     mode="markers", marker={"color": "#c62828", "size": 9, "symbol": "x"},
                                     name="anomaly", legendgroup="anomaly", showlegend="anomaly" not in shown,
                                     customdata=odd[["EXPLANATION"]],
                                     hovertemplate="%{customdata[0]}<extra>anomaly</extra>"), row=row, col=1)
            shown.add("anomaly")
    fig.update_layout(height=60 + 150 * max(len(lists), 1), margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      legend={"orientation": "h", "y": 1.0, "yanchor": "bottom"})
    fig.update_annotations(font={"size": 12})
    return fig


def reconcile_funnel(rows: pd.DataFrame) -> go.Figure:
    """Generated → accepted by Genesys → exported, per list and channel (``console.reconcile`` rows)."""
    labels = rows["LIST_NAME"] + " (" + rows["CHANNEL"] + ")"
    fig = go.Figure()
    for column, stage, colour in (("GENERATED", "Generated", "#90a4ae"), ("ACCEPTED", "Accepted by Genesys",
                                                                           "#1565c0"),
                                  ("EXPORTED", "Results exported", "#2e7d32")):
        values = pd.to_numeric(rows[column], errors="coerce").fillna(0)
        fig.add_trace(go.Bar(y=labels, x=values, name=stage, orientation="h", marker_color=colour,
                             hovertemplate="%{y}: %{x:,}<extra>" + stage + "</extra>"))
    fig.update_layout(barmode="group", height=120 + 60 * max(len(rows), 1),
                      margin={"l": 10, "r": 10, "t": 30, "b": 10}, xaxis_title="Records / contacts",
                      legend={"orientation": "h", "y": 1.0, "yanchor": "bottom"})
    fig.update_yaxes(autorange="reversed")
    return fig


def match_rate_history(frame: pd.DataFrame) -> go.Figure:
    """Share of Genesys lists matched per reconciled business date (``console.reconcile.history``)."""
    fig = px.bar(frame, x="BUSINESS_DATE", y="MATCH_RATE", hover_data=["MATCHED", "PAIRS"],
                 labels={"BUSINESS_DATE": "Business date", "MATCH_RATE": "Lists matched"})
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    fig.update_xaxes(type="category")
    fig.update_layout(height=260, margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return fig
