"""The upload gate on a page: each list held from the Genesys upload, why, and the engineer's release."""

from __future__ import annotations

import streamlit as st

from console import releases
from console.auth import allowed
from console.errors import ConsoleError
from console.text import plain
from console.ui import cached
from console.ui.fmt import hhmm
from console.ui.frame import Page, show_error
from console.verdict import DayStatus

FLASH_KEY = "gate_flash"


def held_lists(page: Page, status: DayStatus) -> None:
    """A red line per held list ("GR_CALL_LIST held: 3 suppressed account(s) (CEASE_AND_DESIST)") and, for an
    engineer, a release with a reason (audited in ``console.releases``)."""
    flash = st.session_state.pop(FLASH_KEY, None)
    if flash:
        st.success(flash, icon=":material/check_circle:")
    may = allowed(page.who, "release")
    for row in status.held:
        name, channel = row["list_name"], row["channel"]
        st.error(f"**{name} held** from the Genesys upload: {plain(row['reason'])} (held by the checks at "
                 f"{hhmm(row['at'])} ET). Rerun its task from the Workflow page once the data is fixed (the hold "
                 "clears when the checks pass), or release it with a reason.", icon=":material/block:")
        with st.form(key=f"release_{name}_{channel}", border=False, clear_on_submit=True):
            left, right = st.columns([4, 1], vertical_alignment="bottom")
            reason = left.text_input(f"Why {name} may be uploaded as it is", key=f"release_reason_{name}_{channel}",
                                     max_chars=releases.MAX_REASON, disabled=not may,
                                     placeholder="the reason, for the audit log")
            clicked = right.form_submit_button(f"Release {name}", disabled=not may, type="primary",
                                               help=None if may else "Releasing a held list needs the engineer role.")
        if clicked:
            try:
                message = releases.release(page.adapters, page.who, page.day, name, channel, reason)
            except ConsoleError as exc:
                show_error(exc)
                continue
            cached.after_action()
            st.session_state[FLASH_KEY] = message
            st.rerun()
