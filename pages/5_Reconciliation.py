"""Generated records per Genesys list against the Genesys import log and the exported campaign results."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from console.ui import queries
from console.ui.frame import frame, guarded

page = frame("Reconciliation", ":material/balance:")


@st.cache_data(ttl=60, show_spinner="Reading the warehouse…")
def reconciliation(_adapters: object, day: dt.date, source: str) -> pd.DataFrame:
    return queries.reconciliation(_adapters, day)


st.caption("Tolerances and the matched / partial / missing classification arrive with the reconciliation issue; "
           "this page shows the counts side by side.")
with guarded():
    table = reconciliation(page.adapters, page.day, page.adapters.warehouse.label)
    st.subheader(f"Genesys lists for {page.day}")
    if table.empty:
        st.info("No data for this date yet: nothing generated, uploaded or exported.",
                icon=":material/hourglass_empty:")
    else:
        st.dataframe(table, hide_index=True, column_config={
            c: st.column_config.NumberColumn(format="localized")
            for c in ("Generated", "Sent", "Accepted", "Rejected", "Results accounts")})
        totals = table[["Generated", "Sent", "Accepted", "Rejected"]].sum()
        st.caption(f"Generated {int(totals['Generated']):,} · sent {int(totals['Sent']):,} · accepted "
                   f"{int(totals['Accepted']):,} · rejected {int(totals['Rejected']):,}. "
                   "Generated: rows in the outbound lists bound for Genesys; sent/accepted/rejected: the Genesys "
                   "import log; results accounts: distinct accounts in the exported campaign results.")
