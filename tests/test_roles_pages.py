"""Roles through the pages (AppTest ``at.user`` as a signed-in OIDC identity) and the checklist page.

Settings: a copy of console.toml that maps one e-mail to engineer and a domain to operator; anyone else
signed in is a viewer. The pages disable what a role cannot do, and console/ refuses it anyway.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.test_pages import ROOT, Stack, running_stack

ENGINEER, OPERATOR, VIEWER = "eng@corp.example", "ops@corp.example", "someone@else.example"
TABLEAU = "Check Tableau monitoring dashboard"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("roles")) as running:
        yield running


@pytest.fixture(autouse=True)
def roles_settings(stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    text = (ROOT / "console.toml").read_text()
    text = text.replace('spec = "jobs/outbound_lists.job.yml"', f'spec = "{ROOT / "jobs/outbound_lists.job.yml"}"')
    text = text.replace('# "someone@example.com" = "operator"',
                        f'"{ENGINEER}" = "engineer"\n"@corp.example" = "operator"')
    (tmp_path / "console.toml").write_text(text)
    for key, value in stack.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CONSOLE_SETTINGS", str(tmp_path / "console.toml"))
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def as_user(page: str, email: str, day: dt.date | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=30)
    at.user = {"is_logged_in": True, "email": email}
    at.run()
    if day is not None:
        at.date_input(key="business_date").set_value(day).run()
    assert not at.exception, at.exception
    return at


def sidebar_text(at: AppTest) -> str:
    return " ".join(str(m.value) for m in at.sidebar.markdown)


@pytest.mark.parametrize("email, role, may_tick, may_rerun", [
    (VIEWER, "viewer", False, False), (OPERATOR, "operator", True, False), (ENGINEER, "engineer", True, True)])
def test_pages_show_the_role_and_disable_what_it_cannot_do(stack: Stack, email: str, role: str, may_tick: bool,
                                                           may_rerun: bool) -> None:
    workflow = as_user("pages/2_Workflow.py", email, stack.failed_day)
    assert f"Signed in as **{email}** ({role})" in sidebar_text(workflow)
    assert workflow.button(key="action_repair").disabled is not may_rerun
    assert workflow.button(key="action_rerun_from").disabled is not may_rerun
    checklist_page = as_user("pages/3_Checklist.py", email, stack.failed_day)
    assert any(b.disabled is not may_tick for b in checklist_page.button if "Apply" in str(b.label))
    assert checklist_page.get("button")  # the sign-out button is there for a signed-in user
    if not may_tick:
        assert f"You are signed in as a {role}" in " ".join(str(c.value) for c in checklist_page.caption)


def test_an_operator_ticks_with_a_note_and_home_and_audit_show_it(stack: Stack) -> None:
    home = as_user("Home.py", OPERATOR)
    before = {m.label: m.value for m in home.metric}["Checklist"]
    page = as_user("pages/3_Checklist.py", OPERATOR)
    note = "<script>alert('x')</script> **dashboard** green"
    key = next(i.key for i in stack.adapters.settings.checklist if i.text == TABLEAU)
    page.selectbox(key="check_item").set_value(key)
    page.radio(key="check_action").set_value("tick")
    page.text_area(key="check_note").input(note)
    next(b for b in page.button if "Apply" in str(b.label)).click().run()
    assert not page.exception
    assert any("ticked" in str(s.value) for s in page.success)
    row = next(d.value for d in page.dataframe if TABLEAU in list(d.value.get("Item", [])))
    evidence = row.set_index("Item").loc[TABLEAU, "Evidence"]
    assert evidence == f"Ticked by {OPERATOR} at {evidence.split(' at ')[1][:5]} ET: {note}"  # as text, verbatim
    assert row.set_index("Item").loc[TABLEAU, "State"] == "ticked"

    home = as_user("Home.py", OPERATOR)
    after = {m.label: m.value for m in home.metric}["Checklist"]
    assert int(after.split()[0]) == int(before.split()[0]) + 1

    audit = as_user("pages/7_Audit.py", OPERATOR)
    log = audit.dataframe[0].value
    first = log.iloc[0]
    assert (first["Who"], first["Role"], first["Action"], first["Target"]) == (
        OPERATOR, "operator", "checklist.tick", TABLEAU)
    audit.multiselect(key="audit_actions").set_value(["checklist.tick"]).run()
    assert set(audit.dataframe[0].value["Action"]) == {"checklist.tick"}
