"""The Databricks adapter wired to the fake Jobs API: the job deployed from the real spec, small budgets."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from console.adapters.databricks import DatabricksEngine
from console.clock import at_et
from console.settings import ROOT, DatabricksSettings
from console.store import StateStore
from console.workflow import WorkflowSpec, load_workflow
from tests.fake_databricks import FakeJobsAPI

# Reads give up after 2 s; an action's request times out after 1 s (the slow-POST fault replies after 1.5 s).
BUDGETS = DatabricksSettings(read_budget_seconds=2.0, action_budget_seconds=20, http_timeout_seconds=1.0)


def spec() -> WorkflowSpec:
    return load_workflow(ROOT / "jobs" / "outbound_lists.job.yml")


def deploy(fake: FakeJobsAPI, workflow: WorkflowSpec) -> int:
    """The job as deploy-job creates it (the spec's settings with the business_date parameter)."""
    from console.deploy import job_settings

    return fake.add_job(job_settings(workflow, DatabricksSettings()).as_dict())


def engine(fake: FakeJobsAPI, workflow: WorkflowSpec, store: StateStore,
           settings: DatabricksSettings = BUDGETS) -> DatabricksEngine:
    return DatabricksEngine(store, workflow, settings, config={"host": fake.host, "token": "fake-token"})


def store(tmp: Path) -> StateStore:
    return StateStore(f"sqlite:///{tmp / 'state.db'}")


def at_six(fake: FakeJobsAPI, day: dt.date, minutes: int = 0) -> None:
    """Stamp what the fake starts next at ``day`` 06:00 ET (+ minutes)."""
    moment = (at_et(day, "06:00") + dt.timedelta(minutes=minutes)).timestamp()
    fake.clock = lambda: moment


def replace(settings: DatabricksSettings, **changes: float) -> DatabricksSettings:
    return dataclasses.replace(settings, **changes)  # type: ignore[arg-type]
