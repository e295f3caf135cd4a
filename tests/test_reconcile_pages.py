"""The Volumes and Reconciliation pages on a seeded stack (AppTest): anomalies, trend, funnel, checks, button."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from console import facts

from .test_pages import Stack, app, frames, fresh_caches, running_stack, texts  # noqa: F401 (fresh_caches: autouse)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("recon-pages"), seed_days=5) as running:
        yield running


def test_volumes_shows_the_day_its_baseline_and_the_trend_from_the_aggregate(stack: Stack) -> None:
    at = app("pages/4_Volumes.py").run()
    at.date_input(key="business_date").set_value(stack.failed_day).run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 2  # bars and the banded trend
    anomalies = frames(at)[1]
    assert set(anomalies["Status"]) == {"not enough history"}  # 5 seeded days: no same weekday before
    assert "Not enough history" in " ".join(anomalies["Expected"])
    assert "read from the daily aggregate" in texts(at)
    assert at.get("download_button")
    at.multiselect(key="trend_lists").set_value(["GR_CALL_LIST"]).run()
    assert not at.exception


def test_reconciliation_page_runs_stores_and_shows_checks(stack: Stack) -> None:
    at = app("pages/5_Reconciliation.py").run()
    at.date_input(key="business_date").set_value(stack.failed_day).run()
    assert not at.exception
    assert "Not reconciled by the worker yet" in texts(at)
    funnel = frames(at)[0]
    assert set(funnel["Status"]) <= {"matched", "mismatch"} and funnel["Reason"].str.len().min() > 0
    checks = frames(at)[-1]
    assert "Suppression rules held" in set(checks["Check"])
    at.button(key="reconcile_now").click().run()
    assert not at.exception
    assert "Reconciled" in " ".join(s.value for s in at.success)
    kept = facts.stored_reconciliation(stack.adapters, stack.failed_day)
    assert kept is not None and kept.requested_by == stack.adapters.settings.local_user
    assert len(at.get("plotly_chart")) == 2  # funnel and the match-rate history
