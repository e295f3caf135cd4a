"""Untrusted text on the way out: into Markdown (every st.markdown/st.warning/... renders it) and into CSV.

Notes, reasons, error text from Databricks or a task, and a bad ``?date=`` come from people and systems: shown
through Markdown they could become links, remote images or layout; opened from a CSV in a spreadsheet a cell
starting with ``=``, ``+``, ``-`` or ``@`` becomes a formula (CSV injection). ``plain`` and ``csv_*`` are the
one way each leaves the console.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from typing import Any

# What makes Markdown more than text here: links and images ([...](...), <...>), HTML, code, Streamlit's LaTeX
# ($) and tables (|). Emphasis is left alone (cosmetic); so are ":" "(" "." so that the source stays readable.
_MARKDOWN = re.compile(r"([\\`\[\]<>$|])")
# Bare addresses that GitHub-flavoured Markdown turns into links by itself.
_AUTOLINK = re.compile(r"(?i)(://|\bwww\.)")
# OWASP's list of characters that start a formula in Excel, LibreOffice and Google Sheets.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def plain(text: object) -> str:
    """``text`` as literal characters inside Markdown: no link, image, HTML, code, formula or line break."""
    escaped = _MARKDOWN.sub(r"\\\1", str(text if text is not None else "")).replace("\n", " ")
    return _AUTOLINK.sub(lambda m: m.group(1).replace("/", "\\/").replace(".", "\\."), escaped)


def csv_cell(value: Any) -> Any:
    """A cell that a spreadsheet shows as text: a string starting a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_text(rows: Iterable[Mapping[str, Any]], fieldnames: list[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fieldnames)
    writer.writeheader()
    writer.writerows({k: csv_cell(v) for k, v in row.items()} for row in rows)
    return out.getvalue()


def csv_frame(frame: Any) -> bytes:
    """A pandas frame as CSV bytes with every text cell made safe."""
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object:
            safe[column] = safe[column].map(csv_cell)
    return str(safe.to_csv(index=False)).encode()
