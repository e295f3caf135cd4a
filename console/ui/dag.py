"""The workflow DAG as Graphviz DOT text, drawn from the job spec and coloured by a run's live states."""

from __future__ import annotations

from typing import Any

from console.model import Run, TaskState
from console.ui.fmt import STATE_COLOURS

NO_RUN = "no run"
NO_RUN_COLOUR = "#eeeeee"
_DARK = {TaskState.SUCCEEDED, TaskState.FAILED, TaskState.UPSTREAM_FAILED, TaskState.RUNNING, TaskState.QUEUED,
         TaskState.CANCELED, TaskState.UNKNOWN}


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def workflow_dot(spec: Any, run: Run | None) -> str:
    """DOT for ``st.graphviz_chart``: one box per task (ticket id and state), one edge per dependency."""
    lines = [
        "digraph workflow {",
        "  rankdir=LR; nodesep=0.25; ranksep=0.6;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11, margin="0.15,0.06"];',
        '  edge [color="#9e9e9e", arrowsize=0.7];',
    ]
    for task in spec.tasks:
        t = run.task(task.key) if run else None
        if t is None:
            label, fill, font = NO_RUN, NO_RUN_COLOUR, "#424242"
        else:
            label, fill = t.state.label, STATE_COLOURS.get(t.state, "#616161")
            font = "white" if t.state in _DARK else "#212121"
            if t.attempt:
                label += f" ({t.attempt + 1} tries)"
        text = f"{task.short_key}\n{label}"
        lines.append(f"  {_quote(task.key)} [label={_quote(text)}, fillcolor={_quote(fill)}, "
                     f"fontcolor={_quote(font)}, tooltip={_quote(task.key)}];")
    for task in spec.tasks:
        for dep in task.depends_on:
            lines.append(f"  {_quote(dep)} -> {_quote(task.key)};")
    lines.append("}")
    return "\n".join(lines)


def legend_html(states: list[TaskState] | None = None) -> str:
    """Colour chips with the state names, matching the DAG's fill colours."""
    states = states or [TaskState.SUCCEEDED, TaskState.RUNNING, TaskState.QUEUED, TaskState.PENDING,
                        TaskState.FAILED, TaskState.UPSTREAM_FAILED, TaskState.CANCELED, TaskState.SKIPPED]
    chips = [(s.label, STATE_COLOURS[s]) for s in states] + [(NO_RUN, NO_RUN_COLOUR)]
    return " ".join(
        f'<span style="display:inline-block;padding:1px 8px;margin:2px;border-radius:6px;background:{colour};'
        f'color:{"white" if colour not in (NO_RUN_COLOUR, STATE_COLOURS[TaskState.SKIPPED]) else "#212121"};'
        f'font-size:0.85em">{label}</span>'
        for label, colour in chips)
