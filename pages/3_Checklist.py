"""The daily monitoring checklist of the business date: automatic results, ticks, the sign-off, the report."""

from __future__ import annotations

import streamlit as st

from console import auth, checklist, checklist_actions
from console.errors import ConsoleError
from console.text import plain
from console.ui import cached, gate, views
from console.ui.fmt import hhmm
from console.ui.frame import Page, frame, guarded, show_error

page = frame("Checklist", ":material/checklist:")
FLASH_KEY = "checklist_flash"
ACTIONS = {"tick": "Tick (done)", "confirm": "Confirm the automatic result", "untick": "Un-tick (reason needed)",
           "na": "Not applicable (reason needed)"}



@st.fragment(run_every="30s")
def items(page: Page) -> None:
    """The items' states; re-runs on its own every 30 s so automatic results follow the day."""
    page = page.refreshed()
    with guarded():
        status = cached.status(page.adapters, page.day, page.clock)
        gate.held_lists(page, status)
        done, total = status.checklist_done
        st.progress(done / total if total else 0.0, text=f"{done} of {total} items done for {page.day}")
        overdue = checklist.group_overdue(status.checklist, status)
        for group, due, table in views.checklist_group_tables(status):
            st.subheader(f"{due} · {group}" + (" · :orange[overdue]" if overdue.get(group) else ""))
            st.dataframe(views.styled(table, ["State"]), hide_index=True,
                         column_config={"Item": st.column_config.TextColumn(width=260),
                                        "State": st.column_config.TextColumn(width=80),
                                        "Evidence": st.column_config.TextColumn(width=520),
                                        "By": st.column_config.TextColumn(width=150),
                                        "How": st.column_config.TextColumn(width=90)})


items(page)

with guarded():
    status = cached.status(page.adapters, page.day, page.clock)
    links = [i for i in page.settings.checklist if i.link]
    for item in links:
        st.link_button(f"Open: {item.text.removeprefix('Check ')}", item.link, icon=":material/open_in_new:")

    st.subheader("Act on an item")
    may = auth.allowed(page.who, "tick")
    if not may:
        st.caption(f"You are signed in as a {page.who.role}: ticking needs the operator role or higher.")
    with st.form("checklist_action", clear_on_submit=True):
        items = {i.key: f"{i.due_label} · {i.text}" for i in page.settings.checklist}
        key = st.selectbox("Item", list(items), format_func=items.__getitem__, key="check_item", disabled=not may)
        action = st.radio("Action", list(ACTIONS), format_func=ACTIONS.__getitem__, horizontal=True,
                          key="check_action", disabled=not may)
        note = st.text_area("Note (plain text; required to un-tick, to override an automatic fail, or for n/a)",
                            max_chars=checklist.MAX_NOTE, key="check_note", disabled=not may)
        submitted = st.form_submit_button("Apply", type="primary", disabled=not may)
    flash = st.session_state.pop(FLASH_KEY, None)
    if flash:
        st.success(flash, icon=":material/check:")
    if submitted:
        try:
            result = checklist_actions.act(page.adapters, page.who, page.day, key, action, note, status=status,
                                   now=status.now)
            cached.after_action()
            st.session_state[FLASH_KEY] = f"{result.item.text}: {result.state} · {plain(result.evidence)}"
            st.rerun()  # redraw the tables with the new state
        except ConsoleError as exc:
            show_error(exc)

with guarded():
    st.subheader("End of day")
    signed = checklist.signed_off(status.checklist_events)
    if signed:
        st.success(f"Signed off by {signed.actor} at {hhmm(signed.at)} ET" + (f": {plain(signed.note)}" if signed.note
                                                                                else "."), icon=":material/verified:")
    else:
        open_items = [s.item.text for s in status.checklist if not s.done]
        if open_items:
            st.caption(f"{len(open_items)} item(s) not done: {'; '.join(open_items)}. Signing off records them as "
                       "open in the day report.")
        may_sign = auth.allowed(page.who, "sign_off")
        with st.form("sign_off"):
            sign_note = st.text_input("Handoff note (optional)", max_chars=checklist.MAX_NOTE, disabled=not may_sign)
            if st.form_submit_button("Sign off the day", disabled=not may_sign, icon=":material/verified:"):
                try:
                    checklist_actions.sign_off(page.adapters, page.who, page.day, sign_note, now=status.now)
                    cached.after_action()
                    st.rerun()
                except ConsoleError as exc:
                    show_error(exc)
    report = checklist.day_report(status, status.checklist, status.checklist_events, page.adapters.spec,
                                  cached.alert_rows(page.adapters, page.day, page.day))
    left, right = st.columns(2)
    left.download_button("Day report (Markdown)", report.markdown.encode(), file_name=f"day-report-{page.day}.md",
                         mime="text/markdown", icon=":material/description:", key="report_md")
    right.download_button("Day report (CSV)", report.csv.encode(), file_name=f"day-report-{page.day}.csv",
                          mime="text/csv", icon=":material/table:", key="report_csv")
