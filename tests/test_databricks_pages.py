"""Home and Workflow on the Databricks engine (the real SDK against the fake Jobs API), in AppTest.

No warehouse runs here (the pages say so in their list sections); what is under test is the engine side:
the run, its tasks, the cluster panel and the rerun flow as against the local engine, and a workspace that
answers 503 to everything: both pages render within 3 s with the last known state and its age.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from console.clock import FrozenClock, at_et
from console.ui.frame import CLOCK_KEY
from tests import dbxkit, prodkit
from tests.conftest import free_port
from tests.fake_databricks import FakeJobsAPI

ROOT = Path(__file__).resolve().parent.parent
DAY = dt.date(2026, 11, 24)  # a Tuesday
MORNING = at_et(DAY, "07:30")

# The read budget is 2 s, so a page gives up on a down workspace in ~2-2.5 s here (the 3 s). The bound
# below only guards against a hang: a shared CI machine under load must not turn a timing into a failure.
PAGE_WITHIN = 6.0


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    with FakeJobsAPI() as fake:
        spec = dbxkit.spec()
        job_id = dbxkit.deploy(fake, spec)
        dbxkit.at_six(fake, DAY)
        run_id = fake.new_run(job_id, {"business_date": DAY.isoformat()}, trigger="PERIODIC")
        fake.finish(run_id, fail={spec.task("DI-749").key: "FileNotFoundError: the SFTP drop is missing"})
        base = int(at_et(DAY, "06:05").timestamp() * 1000)
        fake.add_cluster_events(f"cluster-{run_id}", [
            {"cluster_id": f"cluster-{run_id}", "timestamp": base, "type": "RESIZING",
             "details": {"cause": "AUTOSCALE", "current_num_workers": 2, "target_num_workers": 8}},
            {"cluster_id": f"cluster-{run_id}", "timestamp": base + 60_000, "type": "NODES_LOST",
             "details": {"reason": {"code": "SPOT_INSTANCE_TERMINATION"}, "current_num_workers": 6}}])
        # Production mode (the embedded stack never drives Databricks): Snowflake names a port nothing listens on.
        warehouse_port = free_port()
        env = {**prodkit.production_env(tmp_path, warehouse_port), "CONSOLE_ENGINE": "databricks",
               "CONSOLE_DATABRICKS_HOST": fake.host, "DATABRICKS_TOKEN": "fake-token"}
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("CONSOLE_STATE_URL", raising=False)
        st.cache_data.clear()
        st.cache_resource.clear()
        try:
            yield SimpleNamespace(fake=fake, spec=spec, run_id=run_id, warehouse_port=warehouse_port)
        finally:
            st.cache_data.clear()
            st.cache_resource.clear()


def page(name: str, moment: dt.datetime = MORNING, secrets: dict[str, Any] | None = None) -> AppTest:
    """The page as the engineer signed in through OIDC (production mode)."""
    at = AppTest.from_file(str(ROOT / name), default_timeout=30)
    for key, value in (secrets or prodkit.production_secrets(0)).items():
        at.secrets[key] = value
    at.user = {"is_logged_in": True, "email": prodkit.ENGINEER, "email_verified": True}
    at.session_state[CLOCK_KEY] = FrozenClock(moment)
    return at


def test_workflow_shows_the_databricks_run_its_error_and_cluster_events(stack: SimpleNamespace) -> None:
    at = page("pages/2_Workflow.py").run()
    assert not at.exception, at.exception
    text = " ".join(str(m.value) for m in at.markdown)
    assert f"run {stack.run_id}" in text
    assert "Databricks Jobs at http://127.0.0.1" in " ".join(i.value for i in at.info)  # the banner
    errors = " ".join(e.value for e in at.error)
    assert "the SFTP drop is missing" in errors  # the failed task's error, from its run output
    assert not at.button(key="action_repair").disabled
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Spot losses"] == "1" and metrics["Resizes"] == "1"
    cluster = next(d.value for d in at.dataframe if "What it means" in d.value.columns)
    assert "Spot instances reclaimed" in cluster["What it means"].iloc[0]


def test_rerun_from_the_page_makes_one_repair_on_databricks(stack: SimpleNamespace) -> None:
    at = page("pages/2_Workflow.py").run()
    at.button(key="action_repair").click().run()
    assert "These 5 task(s) will run" in " ".join(str(m.value) for m in at.markdown)
    opened = dict(at.session_state["workflow_action"])
    at.button(key="action_confirm").click().run()
    assert not at.exception
    assert "Databricks is repairing run" in " ".join(s.value for s in at.success)
    at.session_state["workflow_action"] = opened  # the same confirmation clicked again
    at.run()
    at.button(key="action_confirm").click().run()
    # Databricks took the first at once: the run has a repair now, so the stale confirmation is refused
    refused = " ".join(e.value for e in at.error)
    assert "changed since you opened" in refused or "Already requested" in refused, refused
    repairs = [r for r in stack.fake.state.runs[stack.run_id]["repair_history"] if r["type"] == "REPAIR"]
    assert len(repairs) == 1


def test_a_workspace_answering_503_leaves_both_pages_up_with_the_last_known_state(stack: SimpleNamespace) -> None:
    home = page("Home.py").run()
    assert not home.exception
    assert "**Failed**" in " ".join(e.value for e in home.error)
    st.cache_data.clear()  # the 30 s cache expired: the next refresh reads again
    stack.fake.down = True
    try:
        home.session_state[CLOCK_KEY] = FrozenClock(MORNING + dt.timedelta(minutes=3))
        started = time.monotonic()
        home.run()
        took = time.monotonic() - started
        assert not home.exception
        warnings = " ".join(w.value for w in home.warning)
        assert "cannot be reached; showing its last known state from 07:30 ET (3 min ago)" in warnings, warnings
        assert "TEMPORARILY_UNAVAILABLE" in warnings or "fake: down" in warnings or "503" in warnings
        assert took < PAGE_WITHIN, took
        workflow = page("pages/2_Workflow.py", MORNING + dt.timedelta(minutes=3))
        started = time.monotonic()
        workflow.run()
        took = time.monotonic() - started
        assert not workflow.exception
        assert "showing its last known state" in " ".join(w.value for w in workflow.warning)
        assert took < PAGE_WITHIN, took
    finally:
        stack.fake.down = False


def test_the_audit_page_shows_the_stack_and_settings_without_secrets(stack: SimpleNamespace, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = prodkit.production_secrets(stack.warehouse_port, {**prodkit.AUTH, "client_secret": "s3cret-value"})
    secrets["smtp"] = {"host": "127.0.0.1", "password": "hunter2"}
    monkeypatch.setenv("CONSOLE_SECRETS", str(prodkit.write_secrets(tmp_path / "secrets.toml", secrets)))
    monkeypatch.setenv("CONSOLE_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    at = page("pages/7_Audit.py", secrets=secrets).run()
    assert not at.exception
    shown = " ".join(str(j.value) for j in at.json) + " ".join(str(m.value) for m in at.markdown)
    assert "Databricks Jobs at http://127.0.0.1" in shown and "read_budget_seconds" in shown
    assert "hunter2" not in shown and "s3cret-value" not in shown and "***" in shown


def test_a_viewer_sees_the_stack_but_not_the_resolved_settings(stack: SimpleNamespace, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Every viewer saw the resolved settings (hosts, accounts, users) on the Audit page (issue 14)."""
    secrets = prodkit.production_secrets(stack.warehouse_port)
    monkeypatch.setenv("CONSOLE_SECRETS", str(prodkit.write_secrets(tmp_path / "secrets.toml", secrets)))
    monkeypatch.setenv("CONSOLE_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    at = page("pages/7_Audit.py", secrets=secrets)
    at.user = {"is_logged_in": True, "email": prodkit.VIEWER, "email_verified": True}
    at.run()
    assert not at.exception
    assert not at.json  # no settings
    shown = " ".join(str(m.value) for m in at.markdown) + " ".join(str(c.value) for c in at.caption)
    assert "Databricks Jobs at http://127.0.0.1" in shown
    assert "shown to engineers and admins; you are a viewer" in shown
