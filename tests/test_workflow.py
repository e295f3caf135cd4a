"""The workflow file: the guide's DAG exactly, and a clear error for each kind of broken file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from console.errors import ConfigError
from console.settings import ROOT
from console.workflow import load_workflow

SPEC = ROOT / "jobs" / "outbound_lists.job.yml"


def test_the_spec_is_the_guides_dag() -> None:
    spec = load_workflow(SPEC)
    assert spec.job_name == "BI-2482_Outbound_List_Generation_for_GR"
    deps = {t.short_key: {spec.task(d).short_key for d in t.depends_on} for t in spec.tasks}
    assert deps == {
        "BI-2482": set(),
        "BI-2584": {"BI-2482"}, "BI-2609": {"BI-2482"}, "BI-737": {"BI-2482"}, "BI-813": {"BI-2482"},
        "DI-862": {"BI-2482"}, "DI-749": {"BI-2482"},
        "DI-986": {"DI-749"},
        "BI-820": {"DI-986"}, "DI-1049": {"DI-986"}, "DI-977": {"DI-986"},
    }
    assert spec.schedule_cron == "0 0 6 ? * MON-FRI" and spec.schedule_timezone == "America/New_York"
    assert [len(level) for level in spec.levels()] == [1, 6, 1, 3]


def test_the_spec_loads_as_databricks_job_settings() -> None:
    from databricks.sdk.service.jobs import JobSettings

    job = JobSettings.from_dict(yaml.safe_load(SPEC.read_text())["resources"]["jobs"]["outbound_lists"])
    assert len(job.tasks) == len(load_workflow(SPEC).tasks)
    assert job.job_clusters[0].new_cluster.node_type_id == "i3.xlarge"
    assert job.job_clusters[0].new_cluster.autoscale.max_workers >= 2


def test_critical_path_is_the_slowest_chain() -> None:
    spec = load_workflow(SPEC)
    durations = {t.key: 1.0 for t in spec.tasks}
    durations[spec.task("BI-737").key] = 10.0
    length, path = spec.critical_path(durations)
    assert length == 11.0
    assert [spec.task(k).short_key for k in path] == ["BI-2482", "BI-737"]


def _write(tmp_path: Path, mutate) -> Path:
    doc = yaml.safe_load(SPEC.read_text())
    mutate(doc["resources"]["jobs"]["outbound_lists"]["tasks"])
    path = tmp_path / "bad.job.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize(("mutate", "words"), [
    (lambda t: t[0].update(depends_on=[{"task_key": "DI-977_prescreen_email_list_upload"}]), "cycle"),
    (lambda t: t[3].update(depends_on=[{"task_key": "BI-9999_Nope"}]), "BI-9999_Nope"),
    (lambda t: t.append(dict(t[4])), "defined twice"),
    (lambda t: t[5]["python_wheel_task"]["named_parameters"].update(task="no_such_task"), "no code at"),
    (lambda t: t[2].update(run_if="SOMETIMES"), "run_if"),
    # issue 14: "one" gave "unexpected ValueError"; -2 and a negative timeout mean nothing to the Jobs API
    (lambda t: t[0].update(max_retries="one"), "max_retries must be a whole number, -1 (retry until it succeeds)"),
    (lambda t: t[0].update(max_retries=-2), "got -2"),
    (lambda t: t[1].update(timeout_seconds=-5), "timeout_seconds must be a whole number, 0 (no limit) or more"),
    (lambda t: t[1].update(min_retry_interval_millis=1.5), "min_retry_interval_millis must be a whole number"),
])
def test_a_broken_spec_names_the_file_and_the_problem(tmp_path: Path, mutate, words: str) -> None:
    path = _write(tmp_path, mutate)
    with pytest.raises(ConfigError) as info:
        load_workflow(path)
    assert str(path) in str(info.value)
    assert words in str(info.value)


def test_malformed_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.yml"
    bad.write_text("resources: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_workflow(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_workflow(tmp_path / "missing.yml")
    with pytest.raises(ConfigError, match="exactly one job"):
        bad.write_text("resources: {jobs: {}}")
        load_workflow(bad)
